#!/bin/sh
# Init step: the lab's certificates, made once into the `certs` volume with kumactl.
#   kds.crt/key        the global's KDS certificate, SAN `global` (zones verify it with kds.crt)
#   wrong-ca.crt/key   a certificate from an unrelated CA, for the zone that must never connect
#   zone-N.crt/key     each zone CP's certificate (SAN zone-N); its DPs verify it with zone-N.crt
#   global-pg.crt/key  the `postgres` profile's global's KDS certificate (SAN global-pg)
#   postgres.crt/key   the `postgres` profile's server (SAN postgres). kumactl self-signs each
#                      chain, so this file is also the CA the global verifies it with (verifyFull)

set -eu
cd /certs
gen() {
  [ -s "$1.crt" ] && return 0
  kumactl generate tls-certificate --type server --key-type ecdsa --hostname "$2" \
    --cert-file "$1.crt" --key-file "$1.key"
  echo "certs: made $1.crt for $2"
}
gen kds global
gen wrong-ca global
gen zone-1 zone-1
gen zone-2 zone-2
gen global-pg global-pg
gen postgres postgres

