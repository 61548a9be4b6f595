#!/usr/bin/env bash
# Build the container image with podman on a machine without a Docker engine or a registry (CI).
#
#   scripts/image.sh base      the Python base image, made from Debian's packages with debootstrap
#   scripts/image.sh build     the image (Dockerfile) on that base, tagged $AQM_IMAGE
#
# Users build with `docker build .` on python:3.11-slim and need none of this. Here no registry is
# reachable, so the base is debootstrapped (about 1 minute) and its rootfs kept as a tarball under
# AQM_IMAGE_CACHE (default ~/.cache/aqm-image), keyed by the suite, the packages and the host's CA
# certificates: a warm run imports it in seconds and rebuilds only the layers that changed.
# Every podman setting below was needed on these machines (../shared/reference/containers.md):
# a containers.conf without default ulimits, the vfs storage driver, chroot isolation and the
# cgroupfs manager for builds, runc for runs.
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=${AQM_IMAGE_SUITE:-bookworm}
BASE_TAG=localhost/aqm-base-python:$SUITE
IMAGE=${AQM_IMAGE:-localhost/aqm:test}
CACHE=${AQM_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aqm-image}
PACKAGES=python3,python3-venv,ca-certificates
STANDARD_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
MIRROR=${AQM_DEBIAN_MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)

mkdir -p "$CACHE"
export CONTAINERS_CONF="$CACHE/containers.conf"
printf '[containers]\ndefault_ulimits = []\n' > "$CONTAINERS_CONF"
PODMAN=($SUDO env CONTAINERS_CONF="$CONTAINERS_CONF" podman --storage-driver vfs --cgroup-manager cgroupfs)

need() {  # the tools this script uses, from Debian's packages
  local missing=()
  for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if ((${#missing[@]})); then $SUDO apt-get update -q && $SUDO apt-get install -y -q "${missing[@]}"; fi
}

base() {
  local key tarball
  key=$(cat <(echo "$SUITE|$PACKAGES|2") /etc/ssl/certs/ca-certificates.crt | sha256sum | cut -c1-12)
  tarball="$CACHE/base-$SUITE-$key.tar"
  if [[ ! -s "$tarball" ]]; then
    echo "debootstrap: a $SUITE base with Python (about 1 minute; cached in $tarball)"
    ROOTFS=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    trap 'rm -rf "${ROOTFS:-}"' EXIT
    $SUDO debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" >/dev/null
    # this machine's HTTPS goes through a proxy whose CA the host trusts: so must pip in the build
    $SUDO cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
    $SUDO rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
    $SUDO chmod 0755 "$ROOTFS"  # mktemp made it 0700: the image's / would shut out its non-root user
    $SUDO tar -C "$ROOTFS" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -f "$CACHE"/base-"$SUITE"-*.tar.imported
  fi
  if [[ ! -e "$tarball.imported" ]] || ! "${PODMAN[@]}" image exists "$BASE_TAG"; then
    # an imported rootfs has no environment: give it the PATH the official python images have
    "${PODMAN[@]}" import --change "ENV PATH=$STANDARD_PATH" "$tarball" "$BASE_TAG" >/dev/null
    touch "$tarball.imported"
  fi
  echo "$BASE_TAG"
}

build() {
  "${PODMAN[@]}" build --isolation chroot --layers --network host --format docker \
    --build-arg BASE="$BASE_TAG" ${AQM_IMAGE_BUILD_ARGS:-} -t "$IMAGE" -f Dockerfile .
  echo "$IMAGE"
}

need
case "${1:-}" in
  base) base ;;
  build) base >/dev/null && build ;;
  *) echo "usage: scripts/image.sh base|build" >&2; exit 2 ;;
esac
