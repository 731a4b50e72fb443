#!/bin/sh
# Init step on the global (it shares the global's network namespace, so kumactl's default
# http://localhost:5681 reaches the global as a local admin): the lab mesh, a TrafficPermission,
# and one zone token, scope cp, into the `tokens` volume for each zone named as an argument.
set -eu
kumactl apply -f /lab/mesh.yaml
kumactl apply -f /lab/traffic-permission.yaml
# zone-3 (wrong CA) and rogue (outside the allowlist) get valid tokens of their own, so only the
# CA or the allowlist can stop them; zone-4 is handed zone-1's token (see docker-compose.yml).
for zone in "$@"; do
  kumactl generate zone-token --zone "$zone" --scope cp --valid-for 720h >"/tokens/$zone.token.new"
  mv "/tokens/$zone.token.new" "/tokens/$zone.token"
done
echo "global-init: mesh applied, zone tokens written"
