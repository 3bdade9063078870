#!/usr/bin/env bash
# Builds the container image from docker/Dockerfile (target runtime-prebuilt) with podman,
# without any image registry, runs it on loopback and checks it as an operator would:
# /ready and the health check answer, DNS answers on port 53 (the one capability), the
# process is not root and holds no other capability, and SIGTERM stops it cleanly within
# 5 s. Prints the build time, image size, time to ready and stop time.
#
#   bash docker/test-image.sh                              # the release binary
#   BIN=target/debug/failoverd bash docker/test-image.sh   # any failoverd binary (CI)
#
# Needs root, podman with runc, and (once, to make the Debian base image from the
# machine's Debian mirror) mmdebstrap; dig asks the DNS. Without them it says SKIP and
# exits 0, except with CI=true, where a missing tool or privilege fails.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-target/release/failoverd}
BASE=localhost/debian:bookworm-slim
IMAGE=localhost/failoverd:image-test
NAME=failoverd-image-test-$$
# Addresses of this test alone on loopback: DNS on the privileged port, admin on the default.
DNS_IP=127.0.79.53
ADMIN=127.0.79.54:8439
TARGET_IP=127.0.79.2

skip() {
  if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then
    echo "image test: needs $1, which CI must provide (CI=true: no skipping)" >&2
    exit 1
  fi
  echo "SKIP image test: needs $1"
  exit 0
}
fail() { echo "image test: FAILED: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

[ "$(id -u)" = 0 ] || skip "root (podman as root with runc)"
for tool in podman runc dig; do
  command -v "$tool" >/dev/null 2>&1 || skip "$tool"
done
[ -x "$BIN" ] || fail "$BIN is not built (cargo build --release --locked, or set BIN)"

work=$(mktemp -d)
cleanup() {
  podman rm -f -v "$NAME" >/dev/null 2>&1 || true
  podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# This machine's settings, not the host's: runc (crun refuses its hybrid cgroups), cgroupfs,
# file events, and rlimits within the hard limit a container may have here.
cat > "$work/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_CONF="$work/containers.conf"

bash docker/base-image.sh "$BASE" || fail "cannot make the base image $BASE"

# The build context: the repository (its .dockerignore keeps it to a few files) when the
# binary is the release one the Dockerfile copies; else a context holding just that binary.
context=.
if [ "$(realpath "$BIN")" != "$(realpath -m target/release/failoverd)" ]; then
  context="$work/context"
  mkdir -p "$context/target/release"
  cp "$BIN" "$context/target/release/failoverd"
fi
started=$(now)
podman build --quiet --pull=never --network=host --format docker --layers=false \
  -f docker/Dockerfile --target runtime-prebuilt \
  --build-arg "RUNTIME_IMAGE=$BASE" --build-arg "BUILD_IMAGE=$BASE" \
  -t "$IMAGE" "$context" >/dev/null || fail "podman build"
build_s=$(since "$started")
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
base_size=$(podman image inspect --format '{{.Size}}' "$BASE")

bash docker/test-image-run.sh "$IMAGE" "$NAME" "$work" "$BIN" "$DNS_IP" "$ADMIN" "$TARGET_IP"

awk -v b="$build_s" -v s="$size" -v base="$base_size" 'BEGIN {
  printf "image test: build %ss, image %.1f MB (base %.1f MB, failoverd layers %.1f MB)\n",
    b, s / 1e6, base / 1e6, (s - base) / 1e6 }'
echo "image test: ok"
