#!/usr/bin/env bash
# DNS queries per second: failoverd against knotd, serving the same zone, side by side.
#
# Run from the repository root:   bash benches/dns_vs_knot.sh
# Knobs (environment):  ROUNDS=3  SECONDS_PER_RUN=10  CLIENTS=8  THREADS=2  OUTSTANDING=400
#                       NAMES=50
#                       CARGO_TARGET_DIR (default target)
#
# What it does: installs dnsperf and knot with apt-get when missing; builds failoverd in
# release mode; writes one zone (bench.test.: SOA, NS + glue, NAMES failover names with an
# A record, every fifth also an AAAA) as a failoverd config and as a Knot zone file; starts
# both servers in the foreground on loopback (free ports), checks they give the same
# answers, then runs dnsperf over UDP against each in turn, alternating, ROUNDS times,
# with the same query file (80% A of failover names, 10% AAAA (half NODATA), 5% MX
# NODATA, 5% NXDOMAIN). Every run is bounded by `timeout`; both servers are stopped by
# PID at exit. Prints a markdown table of the runs, the medians and the ratio.
#
# Both servers and dnsperf share this machine's cores: compare the ratio, not absolutes.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CLIENTS=${CLIENTS:-8}
THREADS=${THREADS:-2}
OUTSTANDING=${OUTSTANDING:-400}
NAMES=${NAMES:-50}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
ZONE=bench.test.

need() {
    local missing=()
    command -v dnsperf >/dev/null || missing+=(dnsperf)
    command -v knotd >/dev/null || [ -x /usr/sbin/knotd ] || missing+=(knot)
    command -v kdig >/dev/null || missing+=(knot-dnsutils)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing: ${missing[*]}" >&2
        timeout 300 apt-get update -qq
        DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

free_port() {
    python3 -c 'import socket
for _ in range(50):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0)); p = u.getsockname()[1]
    t = socket.socket(); 
    try:
        t.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        t.close(); u.close()'
}

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    [ -n "${WORK:-}" ] && [ -z "${KEEP:-}" ] && rm -rf "$WORK"
}
trap cleanup EXIT

need
KNOTD=$(command -v knotd || echo /usr/sbin/knotd)
timeout 900 cargo build --release --locked --quiet
FAILOVERD="$TARGET_DIR/release/failoverd"

WORK=$(mktemp -d)
FPORT=$(free_port)
KPORT=$(free_port)
while [ "$KPORT" = "$FPORT" ]; do KPORT=$(free_port); done

# --- the zone, twice ------------------------------------------------------------------
{
    echo "[dns]"
    echo "listen = [\"127.0.0.1:$FPORT\"]"
    echo "zone = \"$ZONE\""
    echo "nameservers = [{ name = \"ns1.$ZONE\", addresses = [\"127.0.0.1\"] }]"
    echo "soa_ttl = \"1h\""
    echo "negative_ttl = \"5s\""
    echo "[admin]"
    echo "listen = \"127.0.0.1:0\""
    echo "[state]"
    echo "path = \"$WORK/failoverd.state\""
} > "$WORK/failoverd.toml"
{
    echo "\$ORIGIN $ZONE"
    echo "\$TTL 3600"
    echo "@ IN SOA ns1.$ZONE hostmaster.$ZONE 1 14400 3600 1209600 5"
    echo "@ IN NS ns1.$ZONE"
    echo "ns1 IN A 127.0.0.1"
} > "$WORK/zone"
for i in $(seq 0 $((NAMES - 1))); do
    a="127.0.1.$i"
    addr="\"$a\""
    echo "g$i 5 IN A $a" >> "$WORK/zone"
    if [ $((i % 5)) -eq 0 ]; then
        addr="[\"$a\", \"::ffff:$a\"]"
        echo "g$i 5 IN AAAA ::ffff:$a" >> "$WORK/zone"
    fi
    # Single-target groups: the answer never changes, whatever the (loopback) checks say.
    cat >> "$WORK/failoverd.toml" <<TOML
[[group]]
name = "g$i"
ttl = "5s"
[group.health]
port = 1
interval = "1s"
timeout = "500ms"
[[group.target]]
name = "main"
address = $addr
TOML
done
cat > "$WORK/knot.conf" <<KNOT
server:
    rundir: "$WORK/run"
    listen: 127.0.0.1@$KPORT
log:
  - target: stderr
    any: error
database:
    storage: "$WORK/db"
control:
    listen: "$WORK/run/knot.sock"
zone:
  - domain: $ZONE
    storage: "$WORK"
    file: "zone"
    journal-content: none
    zonefile-sync: -1
KNOT
mkdir -p "$WORK/run" "$WORK/db"

# --- the query mix ----------------------------------------------------------------------
python3 - "$NAMES" "$ZONE" > "$WORK/queries" <<'PY'
import random, sys
groups, zone = int(sys.argv[1]), sys.argv[2]
rng = random.Random(42)
for i in range(100_000):
    r = rng.random()
    g = f"g{rng.randrange(groups)}.{zone}"
    if r < 0.80:
        print(g, "A")
    elif r < 0.90:
        print(f"g{rng.randrange(0, groups, 5) if r < 0.85 else rng.randrange(groups)}.{zone}", "AAAA")
    elif r < 0.95:
        print(g, "MX")
    else:
        print(f"nx{rng.randrange(1000)}.{zone}", "A")
PY

# --- servers ----------------------------------------------------------------------------
"$FAILOVERD" --log-level warn run --config "$WORK/failoverd.toml" 2> "$WORK/failoverd.log" &
PIDS+=($!)
"$KNOTD" -c "$WORK/knot.conf" 2> "$WORK/knotd.log" &
PIDS+=($!)

wait_up() {
    for _ in $(seq 1 100); do
        if kdig +timeout=1 +retry=0 -p "$1" @127.0.0.1 "g0.$ZONE" A +short 2>/dev/null | grep -q 127.0.1.0; then
            return 0
        fi
        sleep 0.1
    done
    echo "server on port $1 did not answer; logs:" >&2
    cat "$WORK"/*.log >&2
    exit 1
}
wait_up "$FPORT"
wait_up "$KPORT"
# Let every health check settle (unknown -> down takes fall x interval) before measuring.
sleep 3

# Same answers from both (sections and rcodes; SOA serials differ by design).
for q in "g0.$ZONE A" "g0.$ZONE AAAA" "g1.$ZONE AAAA" "g1.$ZONE MX" "nx1.$ZONE A" "$ZONE NS"; do
    f=$(kdig +timeout=1 +retry=0 -p "$FPORT" @127.0.0.1 $q +noall +answer +authority +additional | sed -E 's/SOA[[:space:]]+(\S+ \S+) [0-9]+/SOA \1 N/' | sort)
    k=$(kdig +timeout=1 +retry=0 -p "$KPORT" @127.0.0.1 $q +noall +answer +authority +additional | sed -E 's/SOA[[:space:]]+(\S+ \S+) [0-9]+/SOA \1 N/' | sort)
    if [ "$f" != "$k" ]; then
        echo "answers differ for $q:" >&2
        echo "failoverd: $f" >&2
        echo "knotd:     $k" >&2
        exit 1
    fi
done

# Prints the run's queries per second; keeps dnsperf's full report in $WORK/last.txt.
run() {
    timeout $((SECONDS_PER_RUN + 30)) dnsperf -s 127.0.0.1 -p "$1" -d "$WORK/queries" \
        -l "$SECONDS_PER_RUN" -c "$CLIENTS" -T "$THREADS" -q "$OUTSTANDING" > "$WORK/last.txt" 2>&1 || true
    # Both servers must give the same mix of answers (about 95% NOERROR, 5% NXDOMAIN).
    grep -E "Queries lost|Response codes" "$WORK/last.txt" | sed "s/^/    port $1: /" >&2
    awk '/Queries per second:/ { print int($4) }' "$WORK/last.txt"
}

declare -a F K
for r in $(seq 1 "$ROUNDS"); do
    F+=("$(run "$FPORT")")
    K+=("$(run "$KPORT")")
    echo "round $r: failoverd ${F[-1]} qps, knotd ${K[-1]} qps" >&2
done

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
FM=$(median "${F[@]}")
KM=$(median "${K[@]}")

echo
echo "dnsperf over UDP, ${SECONDS_PER_RUN}s runs, -c $CLIENTS -T $THREADS -q $OUTSTANDING, $NAMES failover names, $(nproc) cores shared"
echo
echo "| server | $(seq -s ' | ' -f 'run %g' 1 "$ROUNDS") | median qps |"
echo "|---|$(printf -- '---|%.0s' $(seq 1 "$ROUNDS"))---|"
echo "| failoverd $(${FAILOVERD} --version | awk '{print $2}') | $(IFS='|'; echo "${F[*]}" | sed 's/|/ | /g') | $FM |"
echo "| knotd $("$KNOTD" --version | awk '{print $NF}') | $(IFS='|'; echo "${K[*]}" | sed 's/|/ | /g') | $KM |"
echo
awk -v f="$FM" -v k="$KM" 'BEGIN { printf "ratio failoverd / knotd: %.2f\n", (k > 0 ? f / k : 0) }'
