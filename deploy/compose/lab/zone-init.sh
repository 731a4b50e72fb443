#!/bin/sh
# Init step on a zone (it shares the zone CP's network namespace): waits until the mesh and its
# DP token signing key arrived from the global, then mints a dataplane token per proxy into the
# zone's `dp` volume, next to the zone CP certificate the proxies verify.
set -eu
zone=$1; shift
cp "/certs/$zone.crt" /dp/ca.crt
for dp in "$@"; do
  tries=0
  until kumactl generate dataplane-token --mesh default --name "$dp" --valid-for 720h \
      >"/dp/$dp.token.new" 2>/dp/last-error; do
    tries=$((tries + 1))
    [ "$tries" -lt 120 ] || { cat /dp/last-error >&2; exit 1; }
    sleep 1
  done
  mv "/dp/$dp.token.new" "/dp/$dp.token"
done
echo "$zone-init: tokens for $* written"
