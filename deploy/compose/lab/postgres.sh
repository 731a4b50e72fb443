#!/bin/sh
# The `postgres` profile's server (image kuma-rs-lab-postgres, user postgres, uid 10001). On the
# first start it makes the cluster: the login $POSTGRES_USER with $POSTGRES_PASSWORD owning the
# database $POSTGRES_DB, and a pg_hba.conf with `hostssl` lines only, so every login is TLS plus
# a scram-sha-256 password and plain TCP is refused. The superuser has no password and there is
# no Unix socket: nobody logs in as it. The server certificate (SAN `postgres`) is the one the
# `certs` step made; its key is 0400 and owned by uid 10001, as PostgreSQL requires.
set -eu
data=/var/lib/postgresql/data
if [ ! -s "$data/PG_VERSION" ]; then
  initdb -D "$data" -U postgres --auth=reject --encoding=UTF8 --locale=C --no-sync >/dev/null
  # Single-user mode runs one statement per line, before any network login exists.
  printf "CREATE ROLE %s LOGIN PASSWORD '%s'\nCREATE DATABASE %s OWNER %s\n" \
    "$POSTGRES_USER" "$POSTGRES_PASSWORD" "$POSTGRES_DB" "$POSTGRES_USER" |
    postgres --single -D "$data" -c exit_on_error=true -c password_encryption=scram-sha-256 \
      postgres >/dev/null
  printf 'hostssl all all 0.0.0.0/0 scram-sha-256\nhostssl all all ::/0 scram-sha-256\n' \
    >"$data/pg_hba.conf"
  echo "postgres: cluster made, login $POSTGRES_USER on database $POSTGRES_DB"
fi
exec postgres -D "$data" \
  -c listen_addresses='*' \
  -c unix_socket_directories='' \
  -c ssl=on \
  -c ssl_cert_file=/certs/postgres.crt \
  -c ssl_key_file=/certs/postgres.key \
  -c ssl_min_protocol_version=TLSv1.2 \
  -c password_encryption=scram-sha-256 \
  -c jit=off
