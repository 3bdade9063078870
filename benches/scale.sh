#!/usr/bin/env bash
# Scale: failoverd with N DNS-only groups, from start to a mass failover, and HAProxy's
# checks of the same N backends where it can run them. One command:
#
#   bash benches/scale.sh                 (from any directory)
#
# For each N in SCALE_GROUPS, examples/scale/ starts failoverd with N groups (main
# 127.0.0.2, backup 127.0.0.3, one tcp-checked port; checks every SCALE_INTERVAL s, timeout
# SCALE_TIMEOUT s, rise 2, fall 2) and measures: seconds until every group is primary with
# both targets up (goal: rise x interval + 2 s), CPU (% of one core) and RSS of steady
# checking, a reload of the same config under DNS and proxy load (seconds, failed queries
# and connections), and seconds from closing every main's port until every group is failed
# over (goal: fall x interval + timeout + 2 s); then HAProxy with N backends of two servers
# and the same check settings, its CPU and RSS (or why it did not start). Prints one
# markdown table; the raw JSON lines go to stderr.
#
# Environment:
#   SCALE_GROUPS="1000 10000 100000"   the N to run, in order
#   SCALE_INTERVAL=5000 SCALE_TIMEOUT=1000   check interval and timeout, milliseconds
#   SCALE_STEADY=20                    seconds of steady checking measured
#   QUICK=1       a smoke run: N=200, checks every second (timeout 500 ms), 2 s measured
#   PROFILE=release  or debug: which build to use (debug reuses what cargo test built)
#   NO_BUILD=1    use the binaries already built
#   HAPROXY=/usr/sbin/haproxy          empty: no HAProxy runs
# Everything runs on loopback; the driver stops every process it starts by PID.
set -euo pipefail
cd "$(dirname "$(realpath "$0")")/.."

if [ "${QUICK:-}" = 1 ]; then
    : "${SCALE_GROUPS:=200}" "${SCALE_INTERVAL:=1000}" "${SCALE_TIMEOUT:=500}" "${SCALE_STEADY:=2}"
fi
SCALE_GROUPS=${SCALE_GROUPS:-1000 10000 100000}
SCALE_INTERVAL=${SCALE_INTERVAL:-5000}
SCALE_TIMEOUT=${SCALE_TIMEOUT:-1000}
export RUST_BACKTRACE=0
SCALE_STEADY=${SCALE_STEADY:-20}
PROFILE=${PROFILE:-release}
HAPROXY=${HAPROXY-$(command -v haproxy || true)}
TARGET=${CARGO_TARGET_DIR:-target}/$PROFILE

if [ "${NO_BUILD:-}" != 1 ]; then
    if [ "$PROFILE" = release ]; then
        # Apart: built together with an example, the binary would get the tests'
        # fault-injection feature (the package dev-depends on itself).
        cargo build --locked --release --example scale --example loadgen >&2
        cargo build --locked --release --bin failoverd >&2
    else
        # Together, as cargo test built them: its dependencies are reused (the feature is
        # inert unless its environment variable asks for a fault).
        cargo build --locked --bin failoverd --example scale --example loadgen >&2
    fi
fi
if ! [ -x "$TARGET/failoverd" ] || ! [ -x "$TARGET/examples/scale" ] ||
    ! [ -x "$TARGET/examples/loadgen" ]; then
    echo "scale: no $TARGET/failoverd, $TARGET/examples/scale or $TARGET/examples/loadgen" >&2
    exit 1
fi
if [ -n "$HAPROXY" ] && ! [ -x "$HAPROXY" ]; then
    echo "scale: HAPROXY=$HAPROXY is not executable" >&2
    exit 1
fi

rows=()
for n in $SCALE_GROUPS; do
    args=(--failoverd "$TARGET/failoverd" --groups "$n" --interval-ms "$SCALE_INTERVAL"
        --timeout-ms "$SCALE_TIMEOUT" --steady-seconds "$SCALE_STEADY")
    [ -n "$HAPROXY" ] && args+=(--haproxy "$HAPROXY")
    echo "== scale: $n groups" >&2
    line=$(timeout -k 30 1800 "$TARGET/examples/scale" "${args[@]}")
    echo "$line" >&2
    rows+=("$line")
done

up_goal=$(awk -v i="$SCALE_INTERVAL" 'BEGIN { print (2 * i + 2000) / 1000 }')
fo_goal=$(awk -v i="$SCALE_INTERVAL" -v t="$SCALE_TIMEOUT" 'BEGIN { print (2 * i + t + 2000) / 1000 }')
echo "| groups | all primary, both up (goal ${up_goal} s) | steady CPU, % of a core | RSS, MiB | reload, s | failed during reload (DNS / proxy) | every main dies: all failed over (goal ${fo_goal} s) | names answering the backup | HAProxy: CPU % / RSS MiB |"
echo "|---|---|---|---|---|---|---|---|---|"
for line in "${rows[@]}"; do
    python3 - "$line" << 'PY'
import json, sys
r = json.loads(sys.argv[1])
f = lambda v, d=1: "not reached" if v is None else f"{v:.{d}f}"
hap = r.get("haproxy_error") or (
    f"{r['haproxy_cpu_pct']:.1f} / {r['haproxy_rss_mib']:.1f}" if "haproxy_cpu_pct" in r else "not run")
if len(hap) > 80:
    hap = hap[:77] + "..."
print(f"| {r['groups']:,} | {f(r['up_s'])} | {f(r['cpu_pct'])} | {f(r['rss_mib'])} | "
      f"{f(r['reload_s'], 2)} | {r['reload_dns_failed']} of {r['reload_dns_ok'] + r['reload_dns_failed']} / "
      f"{r['reload_proxy_failed']} of {r['reload_proxy_ok'] + r['reload_proxy_failed']} | "
      f"{f(r['failover_s'])} | {r['dns_backup']:,} of {r['groups']:,} | {hap} |")
PY
done

# The kernel's own part: the system calls of the same checks in a bare loop (up to 10,000
# groups; a Python loop cannot keep the pace of more), against loadgen's echo server.
echo
echo "| groups | checks a second | a bare loop of the checks' system calls: kernel / user, % of a core |"
echo "|---|---|---|"
echo_pid=
trap '[ -n "$echo_pid" ] && kill "$echo_pid" 2> /dev/null; true' EXIT
for n in $SCALE_GROUPS; do
    [ "$n" -le 10000 ] || continue
    rate=$((2 * n * 1000 / SCALE_INTERVAL))
    port=$("$TARGET/examples/loadgen" free-ports --count 1)
    "$TARGET/examples/loadgen" echo --listen "127.0.0.2:$port" --listen "127.0.0.3:$port" \
        --threads 1 --max-seconds 120 > /dev/null 2>&1 &
    echo_pid=$!
    sleep 0.5
    floor=$(python3 benches/lib/check_floor.py "127.0.0.2:$port" "127.0.0.3:$port" \
        --rate "$rate" --seconds "$SCALE_STEADY")
    kill "$echo_pid" 2> /dev/null || true
    wait "$echo_pid" 2> /dev/null || true
    echo_pid=
    echo "$floor" >&2
    python3 - "$n" "$floor" << 'PY'
import json, sys
r = json.loads(sys.argv[2])
print(f"| {int(sys.argv[1]):,} | {r['checks_per_sec']:,} | {r['kernel_pct']} / {r['user_pct']} |")
PY
done
