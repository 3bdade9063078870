#!/usr/bin/env bash
# The run half of docker/test-image.sh (which sets the scene): starts IMAGE as container
# NAME with a config on loopback and checks it. Arguments: IMAGE NAME WORKDIR BIN DNS_IP
# ADMIN(IP:PORT) TARGET_IP. The caller removes the container on its way out.
set -euo pipefail
IMAGE=$1 NAME=$2 WORK=$3 BIN=$4 DNS_IP=$5 ADMIN=$6 TARGET_IP=$7

fail() {
  echo "image test: FAILED: $*" >&2
  podman logs "$NAME" 2>&1 | tail -n 30 >&2 || true
  exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
# Polls "$@" until it succeeds, for up to $1 seconds.
until_ok() {
  local end=$(($(date +%s) + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.2
  done
}

# One group whose only target has nothing listening: on a first start DNS answers with
# the best-priority target (fail_static) whatever its health, which is what is asked.
cat > "$WORK/failoverd.toml" <<TOML
[dns]
listen = ["$DNS_IP:53"]
zone = "image.test."
nameservers = [{ name = "ns1.image.test.", addresses = ["$DNS_IP"] }]

[admin]
listen = "$ADMIN"

[state]
path = "/var/lib/failoverd/failoverd.state"

[[group]]
name = "web"
dns_name = "www"

[group.health]
kind = "tcp"
port = 18001
interval = "1s"
timeout = "500ms"

[[group.target]]
name = "main"
address = "$TARGET_IP"
priority = 1
TOML
chmod 0644 "$WORK/failoverd.toml"

started=$(now)
podman run -d --name "$NAME" --network host \
  --cap-drop ALL --cap-add NET_BIND_SERVICE --read-only \
  --health-interval disable \
  -e "FAILOVERD_ADMIN=http://$ADMIN" \
  -v "$WORK/failoverd.toml:/etc/failoverd/failoverd.toml:ro" \
  "$IMAGE" >/dev/null || fail "podman run"
until_ok 30 "$BIN" ctl --admin "http://$ADMIN" ready || fail "/ready did not answer 200 within 30 s"
ready_s=$(since "$started")

answer() { [ "$(dig +short +time=1 +tries=1 -p 53 "@$DNS_IP" www.image.test. A)" = "$TARGET_IP" ]; }
until_ok 10 answer || fail "DNS on $DNS_IP:53 did not answer www.image.test. with $TARGET_IP"
# (Run by hand: podman's timer for it needs systemd, which this machine lacks.)
podman inspect --format '{{.Config.Healthcheck.Test}}' "$NAME" | grep -q 'ctl' ||
  fail "the image has no HEALTHCHECK"
podman healthcheck run "$NAME" >/dev/null || fail "the image's HEALTHCHECK (ctl ready) failed"

# Who runs: tini as PID 1 and failoverd under it, neither root, failoverd with exactly
# CAP_NET_BIND_SERVICE (bit 10) in effect.
init=$(podman inspect --format '{{.State.Pid}}' "$NAME")
main=$(awk '{ print $1 }' "/proc/$init/task/$init/children")
[ -n "$main" ] || fail "tini (pid $init) has no child"
for pid in "$init" "$main"; do
  uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
  [ "$uid" != 0 ] || fail "pid $pid ($(cat "/proc/$pid/comm")) runs as root"
done
[ "$(cat "/proc/$main/comm")" = failoverd ] || fail "tini's child is $(cat "/proc/$main/comm")"
capeff=$(awk '/^CapEff:/ { print $2 }' "/proc/$main/status")
[ "$capeff" = 0000000000000400 ] || fail "failoverd's effective capabilities are $capeff"
user=$(podman exec "$NAME" id -un)
[ "$user" = failoverd ] || fail "the image's user is $user"

# SIGTERM through tini: failoverd drains (nothing open) and exits 0, well within 5 s.
started=$(now)
podman stop --time 10 "$NAME" >/dev/null || fail "podman stop"
stop_s=$(since "$started")
code=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
[ "$code" = 0 ] || fail "exit code $code after SIGTERM"
awk -v s="$stop_s" 'BEGIN { exit !(s < 5) }' || fail "stopping took ${stop_s}s (limit 5 s)"
echo "image test: ready ${ready_s}s after podman run; DNS on port 53, health check, user $user (uid $uid), CapEff $capeff; stopped in ${stop_s}s, exit $code"
