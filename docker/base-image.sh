#!/usr/bin/env bash
# Makes the local base image IMAGE (default localhost/debian:bookworm-slim) when podman
# does not have it: a minimal Debian 12 root file system from the machine's own Debian
# mirror (mmdebstrap), imported as an image. For machines that reach no image registry;
# pass it as RUNTIME_IMAGE. Like debian:bookworm-slim it leaves out documentation, man
# pages and locales. About a minute, once; later runs reuse it.
set -euo pipefail
IMAGE=${1:-localhost/debian:bookworm-slim}

if podman image exists "$IMAGE"; then
  exit 0
fi
command -v mmdebstrap >/dev/null 2>&1 || { echo "base image: mmdebstrap is not installed" >&2; exit 1; }
# The first deb822 source of the machine: the mirror apt itself uses.
sources=/etc/apt/sources.list.d/debian.sources
mirror=$(awk '/^URIs:/ { print $2; exit }' "$sources" 2>/dev/null || true)
[ -n "$mirror" ] || { echo "base image: no URIs: line in $sources" >&2; exit 1; }
mmdebstrap --variant=minbase --quiet \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  bookworm - "$mirror" | podman import --quiet - "$IMAGE" >/dev/null
echo "base image: made $IMAGE from the machine's Debian mirror"
