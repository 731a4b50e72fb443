#!/bin/sh
# Init step on the global (it shares the global's network namespace, so kumactl's default
# http://localhost:5681 reaches the global as a local admin): the lab mesh, a TrafficPermission,
# and one zone token per zone CP, scope cp, into the `tokens` volume.
set -eu
kumactl apply -f /lab/mesh.yaml
kumactl apply -f /lab/traffic-permission.yaml
# zone-3 (wrong CA) and rogue (outside the allowlist) get valid tokens of their own, so only the
# CA or the allowlist can stop them; zone-4 is handed zone-1's token.
for zone in zone-1 zone-2 zone-3 rogue; do
  kumactl generate zone-token --zone "$zone" --scope cp --valid-for 720h >"/tokens/$zone.token.new"
  mv "/tokens/$zone.token.new" "/tokens/$zone.token"
done
echo "global-init: mesh applied, zone tokens written"
