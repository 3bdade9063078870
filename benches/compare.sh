#!/usr/bin/env bash
# failoverd side by side with HAProxy, Knot DNS and NSD on this machine: one command.
#
#   bash benches/compare.sh [SECTION ...]          (from any directory)
#
# Sections (default: all of them, in this order):
#   dns-udp         dnsperf over UDP: qps at saturation, and p50/p99 latency at a fixed
#                   rate, failoverd vs knotd and vs nsd (same zone, same query file)
#   dns-tcp         the same over TCP, fewer clients
#   tcp-throughput  iperf3, 1 and 8 streams: through failoverd vs through haproxy vs direct
#   connrate        short connections per second (64 B request, 256 B response), loadgen
#   latency         1-byte ping-pong round trips p50/p99 on one connection, loadgen
#   memory          RSS per idle proxied connection (9,000 connections, loadgen idle)
#   health-scale    1,000 groups x 2 tcp-checked targets every 1 s: CPU and RSS
#   failover        steady new connections, main backend killed mid-run: failures and time
#                   until every new connection lands on the backup
#
# Environment:
#   ROUNDS=3      rounds; in each round every contender runs once, the order rotating
#   QUICK=1       short runs (1 round, 2-3 s each, 2,000 idle connections): a smoke test
#   NO_BUILD=1    use the binaries already in target/release (no cargo build)
#   KEEP=1        keep the temporary directory (configs, logs, raw outputs)
#   CARGO_TARGET_DIR  as for cargo (default target)
#   Finer knobs (defaults in brackets): DNS_SECONDS [10] UDP_RATE [20000] TCP_RATE [10000]
#   TP_SECONDS [10] CONN_SECONDS [10] PING_SECONDS [10] IDLE_CONNS [10000, or what ulimit -n allows] IDLE_HOLD [6]
#   HC_GROUPS [1000] HC_WARMUP [5] HC_SECONDS [20] FO_SECONDS [12] FO_KILL_AFTER [4]
#   FO_RATE [200] HAPROXY_SPLICE [auto; or always, off]
#   DNS_LATENCY_ONLY=1  dns-udp / dns-tcp measure only the latency at the fixed rate (no
#                 saturation runs): more rounds of that step in less time
#
# What it does: installs missing peers with apt-get when root (dnsperf, knot, knot-dnsutils,
# nsd, haproxy, iperf3, jq, curl); builds failoverd and examples/loadgen.rs in release mode;
# makes a temporary directory with equivalent configurations for every contender; starts
# every server in the foreground on loopback, on free ports (20000-31999, below the
# ephemeral range), each in its own process group; runs every measurement under `timeout`,
# alternating the contenders, ROUNDS times; prints ONE markdown table of medians and ratios
# failoverd/peer, with the machine and the versions, then the raw values of every round.
# Everything it started is stopped by PID (process group) on exit, Ctrl-C or failure, and
# the temporary directory is removed. Progress goes to stderr, the report to stdout.
#
# How each number is made:
# - DNS qps: dnsperf's "Queries per second" at saturation (UDP -c 8 -T 2 -q 400; TCP -m tcp
#   -c 4 -T 2 -q 100), same query file for all. DNS p50/p99: a second run at a fixed rate
#   (-Q UDP_RATE / TCP_RATE) with -v, which prints every response with its latency;
#   those latencies are sorted and the nearest-rank 50th/99th percentiles taken (dnsperf
#   2.10 has no latency histogram option); timeouts are counted apart (logged).
# - Memory: VmRSS of the proxy with N idle proxied connections minus its VmRSS before
#   them (after a 100-connection warm-up), divided by N.
# - Health-check CPU: utime+stime from /proc/PID/stat over HC_SECONDS, as % of one core.
# - Failover: failoverd's default health settings (tcp check every 1s, timeout 500ms,
#   rise 2, fall 2, connect_timeout 1s; a failed connect is retried on the next target at
#   once and counts as a failed check), haproxy given the same (inter 1s fall 2 rise 2,
#   timeout check 500ms, timeout connect 1s, retries 3, option redispatch 1, and
#   "observe layer4 error-limit 2 on-error mark-down" for the passive health). The main
#   is stopped with SIGTERM, which the echo server does not handle (it dies at once, its
#   port then refuses), half a period after a connection start.
# Everything (servers, load generators) shares this machine's cores: read the ratios of
# medians, not the absolute numbers.
set -euo pipefail
SCRIPT=$(realpath "$0")
cd "$(dirname "$SCRIPT")/.."
export RUST_BACKTRACE=0

usage() { sed -n '2,/^set -euo/p' "$SCRIPT" | sed '$d' | sed 's/^# \{0,1\}//'; }

ALL_SECTIONS=(dns-udp dns-tcp tcp-throughput connrate latency memory health-scale failover)
SECTIONS=()
for a in "$@"; do
    case "$a" in
        -h | --help | help) usage; exit 0 ;;
        all) SECTIONS+=("${ALL_SECTIONS[@]}") ;;
        *)
            if [[ " ${ALL_SECTIONS[*]} " == *" $a "* ]]; then
                SECTIONS+=("$a")
            else
                echo "unknown section: $a" >&2
                usage >&2
                exit 64
            fi
            ;;
    esac
done
[ ${#SECTIONS[@]} -eq 0 ] && SECTIONS=("${ALL_SECTIONS[@]}")
want() { [[ " ${SECTIONS[*]} " == *" $1 "* ]]; }

QUICK=${QUICK:-}
if [ -n "$QUICK" ]; then
    ROUNDS=${ROUNDS:-1}
    : "${DNS_SECONDS:=3}" "${TP_SECONDS:=3}" "${CONN_SECONDS:=3}" "${PING_SECONDS:=3}"
    : "${IDLE_CONNS:=2000}" "${IDLE_HOLD:=2}" "${HC_WARMUP:=3}" "${HC_SECONDS:=5}"
    : "${FO_SECONDS:=8}" "${FO_KILL_AFTER:=3}"
fi
ROUNDS=${ROUNDS:-3}
DNS_SECONDS=${DNS_SECONDS:-10}
DNS_LATENCY_ONLY=${DNS_LATENCY_ONLY:-}
UDP_RATE=${UDP_RATE:-20000}
TCP_RATE=${TCP_RATE:-10000}
TP_SECONDS=${TP_SECONDS:-10}
CONN_SECONDS=${CONN_SECONDS:-10}
PING_SECONDS=${PING_SECONDS:-10}
IDLE_HOLD=${IDLE_HOLD:-6}
HC_GROUPS=${HC_GROUPS:-1000}
HC_WARMUP=${HC_WARMUP:-5}
HC_SECONDS=${HC_SECONDS:-20}
FO_SECONDS=${FO_SECONDS:-12}
FO_KILL_AFTER=${FO_KILL_AFTER:-4}
FO_RATE=${FO_RATE:-200}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
# Descriptors: each idle session holds two in each proxy, one in the load generator and
# one in the echo backend (all children of this shell). Root may raise the hard limit.
ulimit -n 65536 2> /dev/null || ulimit -n "$(ulimit -Hn)" 2> /dev/null || true
NOFILE=$(ulimit -n)
# 10,000 idle sessions need 20,000 descriptors in each proxy, plus its listeners and
# checks. Where the hard limit is lower and cannot be raised (a container without
# CAP_SYS_RESOURCE), the count is what fits, and the report says so.
IDLE_MAX=$(((NOFILE - 200) / 2))
if [ -z "${IDLE_CONNS:-}" ]; then
    IDLE_CONNS=$((IDLE_MAX < 10000 ? IDLE_MAX : 10000))
    [ "$IDLE_CONNS" -eq 10000 ] || IDLE_NOTE="$IDLE_CONNS idle connections, not 10,000: ulimit -n is $NOFILE here and cannot be raised"
fi
ZONE=bench.test.
NAMES=50
T0=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

log() { printf '[%s +%ss] %s\n' "$(date +%H:%M:%S)" "$(($(date +%s) - T0))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- processes: each server in its own process group, stopped by PID at exit ------------
PIDS=()
CURRENT=
WORK=
stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    # Children left in the group (nsd's server processes) go with it.
    kill -KILL -- "-$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$CURRENT" ]; then stop_pid "$CURRENT"; fi
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${PIDS[$i]}"
    done
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ -n "${KEEP:-}" ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT
trap 'log terminated; exit 143' TERM

# start NAME cmd...: starts a server in its own session/process group, logs to
# $WORK/NAME.log; sets SPID.
start() {
    local name=$1
    shift
    setsid "$@" > "$WORK/$name.log" 2>&1 < /dev/null &
    SPID=$!
    PIDS+=("$SPID")
}
# stop PID: stops one server started by start() and forgets it.
stop() {
    local pid=$1 keep=() p
    stop_pid "$pid"
    for p in "${PIDS[@]}"; do [ "$p" != "$pid" ] && keep+=("$p"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
}
# bounded SECONDS cmd...: runs a client under timeout, interruptible (Ctrl-C stops it).
bounded() {
    local t=$1
    shift
    setsid timeout -k 5 "$t" "$@" < /dev/null &
    CURRENT=$!
    local rc=0
    wait "$CURRENT" || rc=$?
    CURRENT=
    return "$rc"
}

wait_tcp() { # HOST PORT [SECONDS]
    local i
    for i in $(seq 1 $((${3:-10} * 10))); do
        if (exec 3<> "/dev/tcp/$1/$2") 2> /dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}
wait_log() { # FILE PATTERN PID [SECONDS]
    local i
    for i in $(seq 1 $((${4:-15} * 10))); do
        grep -q -- "$2" "$1" 2> /dev/null && return 0
        kill -0 "$3" 2> /dev/null || { cat "$1" >&2; return 1; }
        sleep 0.1
    done
    cat "$1" >&2
    return 1
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
cpu_ticks() { # utime + stime of the process (all threads), in clock ticks
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
# RSS of a process group's members summed (nsd forks; the others are one process).
# --- results ---------------------------------------------------------------------------
declare -A RES
add() { RES[$1]="${RES[$1]:-} $2"; } # add KEY VALUE
median() {
    # shellcheck disable=SC2086
    printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "" } else if (NR % 2) { print v[(NR + 1) / 2] } else { print (v[NR / 2] + v[NR / 2 + 1]) / 2 } }'
}
ROWS=()
NOTES=()
# row "measurement" failoverd-key peer-name peer-key higher|lower unit
row() { ROWS+=("$1|$2|$3|$4|$5|$6"); }

fmt() { # a number for the table
    awk -v v="$1" 'BEGIN { if (v == "") { print "n/a"; exit }
        a = (v < 0) ? -v : v
        if (a >= 1000) printf "%.0f", v; else if (a >= 100) printf "%.1f", v; else if (a >= 10) printf "%.2f", v; else printf "%.3g", v }'
}

# --- tools -------------------------------------------------------------------------------
need() {
    local missing=() c p
    for c in dnsperf:dnsperf knotd:knot kdig:knot-dnsutils nsd:nsd haproxy:haproxy \
        iperf3:iperf3 jq:jq curl:curl python3:python3 setsid:util-linux; do
        p=${c#*:}
        c=${c%%:*}
        command -v "$c" > /dev/null || [ -x "/usr/sbin/$c" ] || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        [ "$(id -u)" = 0 ] || die "missing tools (install them, or run as root): ${missing[*]}"
        log "installing: ${missing[*]}"
        timeout 300 apt-get update -qq
        DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq "${missing[@]}" > /dev/null
    fi
}
need
export PATH="$PATH:/usr/sbin:/sbin"
KNOTD=$(command -v knotd)
NSD=$(command -v nsd)
HAPROXY=$(command -v haproxy)

if [ -z "${NO_BUILD:-}" ]; then
    log "building failoverd and loadgen (release)"
    timeout 1800 cargo build --release --locked --quiet
    timeout 1800 cargo build --release --locked --quiet --example loadgen
fi
FAILOVERD="$TARGET_DIR/release/failoverd"
LOADGEN="$TARGET_DIR/release/examples/loadgen"
[ -x "$FAILOVERD" ] || die "$FAILOVERD not built"
[ -x "$LOADGEN" ] || die "$LOADGEN not built"
FAILOVERD=$(realpath "$FAILOVERD")
LOADGEN=$(realpath "$LOADGEN")

WORK=$(mktemp -d /tmp/failoverd-compare.XXXXXX)
mapfile -t FREE < <("$LOADGEN" free-ports --count 64)
port() { PORT=${FREE[0]}; FREE=("${FREE[@]:1}"); } # sets PORT

# rotated ORDER for round $1 of the contenders given after it
rotate() {
    local r=$1 n i
    shift
    local c=("$@")
    n=${#c[@]}
    ORDER=()
    for ((i = 0; i < n; i++)); do ORDER+=("${c[$(((i + r) % n))]}"); done
}

# ======================================================================================
# failoverd and haproxy configurations
# ======================================================================================
CLK_TCK=$(getconf CLK_TCK)

# HAPROXY_SPLICE=auto (default: "option splice-auto", haproxy decides per direction),
# always ("option splice-request" + "option splice-response"), or off.
haproxy_splice() {
    case "${HAPROXY_SPLICE:-auto}" in
        auto) echo "    option splice-auto" ;;
        always) printf '    option splice-request\n    option splice-response\n' ;;
        off) echo "    # no splice" ;;
        *) die "HAPROXY_SPLICE must be auto, always or off" ;;
    esac
}
# haproxy_global FILE [MAXCONN]: the settings shared by every haproxy run.
haproxy_global() {
    local maxconn=${2:-9400} maxpipes=${3:-500}
    cat > "$1" << EOF
global
    nbthread 2
    # haproxy needs 2 x maxconn + 2 x maxpipes descriptors + listeners and checks; the
    # default maxpipes (maxconn/4) would not fit a limit of 20,000 with 9,400 connections.
    maxconn $maxconn
    maxpipes $maxpipes
    # no log: failoverd logs no line per connection either

defaults
    mode tcp
    maxconn $maxconn
$(haproxy_splice)
    timeout connect 1s
    timeout client 10m
    timeout server 10m
    timeout check 500ms
    retries 3
    option redispatch 1
    default-server inter 1s fall 2 rise 2 observe layer4 error-limit 2 on-error mark-down
    # failoverd keeps TCP keepalive on both legs (60 s idle, then a probe every 10 s).
    option clitcpka
    option srvtcpka
    clitcpka-idle 60s
    clitcpka-intvl 10s
    srvtcpka-idle 60s
    srvtcpka-intvl 10s
EOF
}
# failoverd_head FILE ADMINPORT NAME: [admin], [state], [proxy].
failoverd_head() {
    cat > "$1" << EOF
[admin]
listen = "127.0.0.1:$2"
[state]
path = "$WORK/$3.state"
[proxy]
drain_timeout = "1s"
EOF
}

# ======================================================================================
# DNS
# ======================================================================================
DNS_UP=
setup_dns() {
    [ -n "$DNS_UP" ] && return 0
    port; FDNS=$PORT
    port; KDNS=$PORT
    port; NDNS=$PORT
    port; FADMIN=$PORT
    # The zone, three times: failoverd groups, a Knot/NSD zone file.
    {
        echo "[dns]"
        echo "listen = [\"127.0.0.1:$FDNS\"]"
        echo "zone = \"$ZONE\""
        echo "nameservers = [{ name = \"ns1.$ZONE\", addresses = [\"127.0.0.1\"] }]"
        echo "soa_ttl = \"1h\""
        echo "negative_ttl = \"5s\""
    } > "$WORK/failoverd-dns.toml"
    failoverd_head "$WORK/head.toml" "$FADMIN" failoverd-dns
    cat "$WORK/head.toml" >> "$WORK/failoverd-dns.toml"
    {
        echo "\$ORIGIN $ZONE"
        echo "\$TTL 3600"
        echo "@ IN SOA ns1.$ZONE hostmaster.$ZONE 1 14400 3600 1209600 5"
        echo "@ IN NS ns1.$ZONE"
        echo "ns1 IN A 127.0.0.1"
    } > "$WORK/zone"
    local i a addr
    for i in $(seq 0 $((NAMES - 1))); do
        a="127.0.1.$i"
        addr="\"$a\""
        echo "g$i 5 IN A $a" >> "$WORK/zone"
        if [ $((i % 5)) -eq 0 ]; then
            addr="[\"$a\", \"::ffff:$a\"]"
            echo "g$i 5 IN AAAA ::ffff:$a" >> "$WORK/zone"
        fi
        # Single-target groups: the answer never changes, whatever the checks say.
        cat >> "$WORK/failoverd-dns.toml" << TOML
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
    mkdir -p "$WORK/knot/run" "$WORK/knot/db" "$WORK/nsd"
    cat > "$WORK/knot.conf" << KNOT
server:
    rundir: "$WORK/knot/run"
    listen: 127.0.0.1@$KDNS
    udp-workers: 2
    tcp-workers: 2
    background-workers: 1
    tcp-max-clients: 1000
    tcp-idle-timeout: 10s
log:
  - target: stderr
    any: error
database:
    storage: "$WORK/knot/db"
control:
    listen: "$WORK/knot/run/knot.sock"
zone:
  - domain: $ZONE
    storage: "$WORK"
    file: "zone"
    journal-content: none
    zonefile-sync: -1
KNOT
    cat > "$WORK/nsd.conf" << NSDCONF
server:
    ip-address: 127.0.0.1@$NDNS
    port: $NDNS
    server-count: 2
    reuseport: yes
    tcp-count: 1000
    tcp-timeout: 10
    minimal-responses: yes
    refuse-any: no
    username: ""
    chroot: ""
    database: ""
    zonesdir: "$WORK"
    zonelistfile: "$WORK/nsd/zone.list"
    xfrdfile: "$WORK/nsd/xfrd.state"
    xfrdir: "$WORK/nsd"
    pidfile: "$WORK/nsd/nsd.pid"
    logfile: "$WORK/nsd/nsd.log"
    verbosity: 0
    hide-version: yes
    # Debian's NSD has response rate limiting on (200 qps per /24): off, as in Knot
    # (its rrl module is not loaded) and failoverd (no RRL).
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: $ZONE
    zonefile: "zone"
NSDCONF
    # The query mix: 80% A of failover names, 10% AAAA (half NODATA), 5% MX (NODATA),
    # 5% NXDOMAIN; the same file for every server.
    python3 - "$NAMES" "$ZONE" > "$WORK/queries" << 'PY'
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
    "$FAILOVERD" check --config "$WORK/failoverd-dns.toml" > /dev/null || die "failoverd DNS config invalid"
    start failoverd-dns "$FAILOVERD" --log-level warn run --config "$WORK/failoverd-dns.toml"
    FDNS_PID=$SPID
    start knotd "$KNOTD" -c "$WORK/knot.conf"
    KDNS_PID=$SPID
    start nsd "$NSD" -d -c "$WORK/nsd.conf"
    NDNS_PID=$SPID
    local p
    for p in "$FDNS" "$KDNS" "$NDNS"; do
        for i in $(seq 1 100); do
            if kdig +timeout=1 +retry=0 -p "$p" @127.0.0.1 "g0.$ZONE" A +short 2> /dev/null | grep -q 127.0.1.0; then
                break
            fi
            [ "$i" = 100 ] && { cat "$WORK"/failoverd-dns.log "$WORK"/knotd.log "$WORK"/nsd.log "$WORK"/nsd/nsd.log >&2 2>/dev/null; die "DNS server on port $p did not answer"; }
            sleep 0.1
        done
    done
    # Same answers from all three (sections and rcodes; SOA serials differ by design).
    local q f o
    for q in "g0.$ZONE A" "g0.$ZONE AAAA" "g1.$ZONE AAAA" "g1.$ZONE MX" "nx1.$ZONE A" "$ZONE NS" "$ZONE SOA"; do
        f=$(dns_answer "$FDNS" $q)
        for p in "$KDNS" "$NDNS"; do
            o=$(dns_answer "$p" $q)
            if [ "$f" != "$o" ]; then
                log "answers differ for $q (failoverd port $FDNS vs port $p):"
                printf 'failoverd:\n%s\nother:\n%s\n' "$f" "$o" >&2
                die "not equivalent"
            fi
        done
    done
    log "DNS: failoverd :$FDNS, knotd :$KDNS, nsd :$NDNS serve the same answers"
    DNS_UP=1
}
dns_answer() { # PORT NAME TYPE: sections and rcode, SOA serial masked, sorted
    local p=$1
    shift
    kdig +timeout=1 +retry=0 -p "$p" @127.0.0.1 "$@" +norec | awk '/status:/ { print $0 ~ /NOERROR/ ? "NOERROR" : ($0 ~ /NXDOMAIN/ ? "NXDOMAIN" : "OTHER") }'
    kdig +timeout=1 +retry=0 -p "$p" @127.0.0.1 "$@" +norec +noall +answer +authority +additional |
        sed -E 's/SOA[[:space:]]+(\S+ \S+) [0-9]+/SOA \1 N/' | sort
}
stop_dns() {
    [ -z "$DNS_UP" ] && return 0
    stop "$FDNS_PID"; stop "$KDNS_PID"; stop "$NDNS_PID"
    DNS_UP=
}

# dnsperf_run PORT MODE KEY: saturation qps -> RES[KEY.qps]; lost % -> RES[KEY.lost]
dnsperf_run() {
    local p=$1 mode=$2 key=$3 flags out="$WORK/dnsperf.out"
    if [ "$mode" = udp ]; then flags=(-c 8 -T 2 -q 400); else flags=(-m tcp -c 4 -T 2 -q 100); fi
    bounded $((DNS_SECONDS + 30)) dnsperf -s 127.0.0.1 -p "$p" -d "$WORK/queries" -l "$DNS_SECONDS" "${flags[@]}" > "$out" 2>&1 || true
    local qps lost
    qps=$(awk '/Queries per second:/ { print $4 }' "$out")
    lost=$(awk '/Queries lost:/ { gsub(/[()%]/, "", $4); print $4 }' "$out")
    [ -n "$qps" ] || { cat "$out" >&2; die "dnsperf gave no result against port $p"; }
    add "$key.qps" "$qps"
    add "$key.lost" "${lost:-0}"
    log "  $key: $qps qps, ${lost:-?}% lost, $(grep -o 'NOERROR [0-9]* ([0-9.]*%)\|NXDOMAIN [0-9]* ([0-9.]*%)' "$out" | tr '\n' ' ')"
}
# dnsperf_latency PORT MODE RATE KEY: p50/p99 latency (us) at a fixed rate, from dnsperf -v
# (one line per response with its latency in seconds); lost queries count as the timeout.
dnsperf_latency() {
    local p=$1 mode=$2 rate=$3 key=$4 flags out="$WORK/dnsperf-v.out"
    if [ "$mode" = udp ]; then flags=(-c 8 -T 2 -q 400); else flags=(-m tcp -c 4 -T 2 -q 100); fi
    bounded $((DNS_SECONDS + 30)) dnsperf -s 127.0.0.1 -p "$p" -d "$WORK/queries" -l "$DNS_SECONDS" "${flags[@]}" \
        -Q "$rate" -t 2 -v > "$out" 2>&1 || true
    local stats
    # Response lines: "> NOERROR g1.bench.test. A 0.000081" (latency last); timeouts "> T ...".
    stats=$(awk '$1 == ">" { if ($2 == "T") t++; else { n++; print $NF } }
                 END { print "TIMEOUTS", t + 0 > "/dev/stderr" }' "$out" 2> "$WORK/timeouts" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) { print "0 0 0"; exit }
             i50 = int(NR * 0.50 + 0.999999); i99 = int(NR * 0.99 + 0.999999)
             printf "%d %.1f %.1f\n", NR, v[i50] * 1e6, v[i99] * 1e6 }')
    local n p50 p99 achieved
    read -r n p50 p99 <<< "$stats"
    achieved=$(awk '/Queries per second:/ { print $4 }' "$out")
    [ "$n" -gt 0 ] || { head -20 "$out" >&2; die "dnsperf -v gave no latencies against port $p"; }
    add "$key.p50" "$p50"
    add "$key.p99" "$p99"
    log "  $key at $rate qps: $n responses ($achieved qps), $(cat "$WORK/timeouts"), p50 ${p50} us, p99 ${p99} us"
}

dns_port() {
    case $1 in failoverd) echo "$FDNS" ;; knotd) echo "$KDNS" ;; nsd) echo "$NDNS" ;; esac
}

section_dns() { # udp|tcp
    local mode=$1 rate r c
    if [ "$mode" = udp ]; then rate=$UDP_RATE; else rate=$TCP_RATE; fi
    setup_dns
    log "== dns-$mode: $ROUNDS rounds, ${DNS_SECONDS}s runs, fixed rate $rate qps"
    # In each round the latency runs come first, then the saturation runs: right after its
    # own saturation run a server's latency is still settling (failoverd's p50 was 2-4 us
    # higher for about 6 s), and the fixed-rate latency is meant in steady state. Every
    # contender's latency run follows the same kind of run: another server's.
    for r in $(seq 1 "$ROUNDS"); do
        rotate "$r" failoverd knotd nsd
        for c in "${ORDER[@]}"; do
            dnsperf_latency "$(dns_port "$c")" "$mode" "$rate" "dns-$mode.$c"
        done
        [ -n "$DNS_LATENCY_ONLY" ] && continue
        for c in "${ORDER[@]}"; do
            dnsperf_run "$(dns_port "$c")" "$mode" "dns-$mode.$c"
        done
    done
    local peer
    for peer in knotd nsd; do
        [ -n "$DNS_LATENCY_ONLY" ] && break
        row "DNS ${mode^^}: queries/s at saturation" "dns-$mode.failoverd.qps" "$peer" "dns-$mode.$peer.qps" higher "qps"
    done
    for peer in knotd nsd; do
        row "DNS ${mode^^}: p50 latency at $rate qps" "dns-$mode.failoverd.p50" "$peer" "dns-$mode.$peer.p50" lower "us"
        row "DNS ${mode^^}: p99 latency at $rate qps" "dns-$mode.failoverd.p99" "$peer" "dns-$mode.$peer.p99" lower "us"
    done
}

# ======================================================================================
# The proxy stack: failoverd and haproxy in front of iperf3, an echo and a respond server
# ======================================================================================
PROXY_UP=
setup_proxies() {
    [ -n "$PROXY_UP" ] && return 0
    port; B_IPERF=$PORT
    port; B_ECHO=$PORT
    port; B_RESP=$PORT
    port; B_CHECK=$PORT
    port; F_IPERF=$PORT
    port; F_ECHO=$PORT
    port; F_RESP=$PORT
    port; H_IPERF=$PORT
    port; H_ECHO=$PORT
    port; H_RESP=$PORT
    port; F_ADMIN=$PORT
    # Backends on 127.0.0.1. Health checks of both proxies go to a separate echo listener
    # (B_CHECK) so that they never disturb iperf3's control connection.
    start iperf3 iperf3 -s -B 127.0.0.1 -p "$B_IPERF"
    start echo "$LOADGEN" --threads 1 echo --listen "127.0.0.1:$B_ECHO" --listen "127.0.0.1:$B_CHECK"
    start respond "$LOADGEN" --threads 1 respond --listen "127.0.0.1:$B_RESP" --bytes 256 --request-bytes 64
    wait_tcp 127.0.0.1 "$B_ECHO" || die "echo backend did not start"
    wait_tcp 127.0.0.1 "$B_RESP" || die "respond backend did not start"
    sleep 0.3
    failoverd_head "$WORK/failoverd-proxy.toml" "$F_ADMIN" failoverd-proxy
    cat >> "$WORK/failoverd-proxy.toml" << EOF
[[group]]
name = "bench"
[group.health]
kind = "tcp"
port = $B_CHECK
interval = "1s"
timeout = "500ms"
rise = 2
fall = 2
[[group.listener]]
listen = "127.0.0.1:$F_IPERF"
target_port = $B_IPERF
connect_timeout = "1s"
idle_timeout = "10m"
max_connections = 10000
[[group.listener]]
listen = "127.0.0.1:$F_ECHO"
target_port = $B_ECHO
connect_timeout = "1s"
idle_timeout = "10m"
max_connections = 10000
[[group.listener]]
listen = "127.0.0.1:$F_RESP"
target_port = $B_RESP
connect_timeout = "1s"
idle_timeout = "10m"
max_connections = 10000
[[group.target]]
name = "main"
address = "127.0.0.1"
priority = 1
EOF
    haproxy_global "$WORK/haproxy-proxy.cfg"
    cat >> "$WORK/haproxy-proxy.cfg" << EOF

frontend f_iperf
    bind 127.0.0.1:$H_IPERF
    default_backend b_iperf
backend b_iperf
    server main 127.0.0.1:$B_IPERF check port $B_CHECK

frontend f_echo
    bind 127.0.0.1:$H_ECHO
    default_backend b_echo
backend b_echo
    server main 127.0.0.1:$B_ECHO track b_iperf/main

frontend f_resp
    bind 127.0.0.1:$H_RESP
    default_backend b_resp
backend b_resp
    server main 127.0.0.1:$B_RESP track b_iperf/main
EOF
    "$FAILOVERD" check --config "$WORK/failoverd-proxy.toml" > /dev/null || die "failoverd proxy config invalid"
    "$HAPROXY" -c -q -f "$WORK/haproxy-proxy.cfg" || die "haproxy config invalid"
    start failoverd-proxy "$FAILOVERD" --log-level warn run --config "$WORK/failoverd-proxy.toml"
    FP_PID=$SPID
    start haproxy-proxy "$HAPROXY" -db -f "$WORK/haproxy-proxy.cfg"
    HP_PID=$SPID
    local p
    for p in "$F_IPERF" "$F_ECHO" "$F_RESP" "$H_IPERF" "$H_ECHO" "$H_RESP" "$B_IPERF"; do
        wait_tcp 127.0.0.1 "$p" 15 || { cat "$WORK"/*proxy.log >&2; die "port $p did not open"; }
    done
    sleep 2.5 # first health verdicts (rise 2)
    log "proxies: failoverd :$F_IPERF/:$F_ECHO/:$F_RESP, haproxy :$H_IPERF/:$H_ECHO/:$H_RESP"
    PROXY_UP=1
}
stop_proxies() {
    [ -z "$PROXY_UP" ] && return 0
    local p
    for p in "$FP_PID" "$HP_PID"; do stop "$p"; done
    PROXY_UP=
}
proxy_port() { # CONTENDER KIND(iperf|echo|resp) -> PORT
    case "$1.$2" in
        failoverd.iperf) PORT=$F_IPERF ;; failoverd.echo) PORT=$F_ECHO ;; failoverd.resp) PORT=$F_RESP ;;
        haproxy.iperf) PORT=$H_IPERF ;; haproxy.echo) PORT=$H_ECHO ;; haproxy.resp) PORT=$H_RESP ;;
        direct.iperf) PORT=$B_IPERF ;; direct.echo) PORT=$B_ECHO ;; direct.resp) PORT=$B_RESP ;;
    esac
}
check_alive() {
    kill -0 "$FP_PID" 2> /dev/null || { cat "$WORK/failoverd-proxy.log" >&2; die "failoverd (proxy) died"; }
    kill -0 "$HP_PID" 2> /dev/null || { cat "$WORK/haproxy-proxy.log" >&2; die "haproxy died"; }
}

section_throughput() {
    setup_proxies
    log "== tcp-throughput: iperf3 ${TP_SECONDS}s, 1 and 8 streams"
    local r c streams out gbps
    for r in $(seq 1 "$ROUNDS"); do
        for streams in 1 8; do
            rotate "$r" failoverd haproxy direct
            for c in "${ORDER[@]}"; do
                proxy_port "$c" iperf
                out="$WORK/iperf.json"
                bounded $((TP_SECONDS + 30)) iperf3 -c 127.0.0.1 -p "$PORT" -t "$TP_SECONDS" -P "$streams" -J > "$out" 2> /dev/null || true
                gbps=$(jq -r '(.end.sum_received.bits_per_second // 0) / 1e9' "$out" 2> /dev/null || echo 0)
                [ "$gbps" != 0 ] || { head -c 2000 "$out" >&2; die "iperf3 through $c gave no result"; }
                add "tp$streams.$c" "$gbps"
                log "  $c, $streams stream(s): $gbps Gbit/s"
            done
            check_alive
        done
    done
    row "TCP throughput, iperf3 1 stream" tp1.failoverd haproxy tp1.haproxy higher "Gbit/s"
    row "TCP throughput, iperf3 1 stream" tp1.failoverd direct tp1.direct higher "Gbit/s"
    row "TCP throughput, iperf3 8 streams" tp8.failoverd haproxy tp8.haproxy higher "Gbit/s"
    row "TCP throughput, iperf3 8 streams" tp8.failoverd direct tp8.direct higher "Gbit/s"
}

section_connrate() {
    setup_proxies
    log "== connrate: ${CONN_SECONDS}s, 16 concurrent, 64 B request, 256 B response"
    local r c out
    for r in $(seq 1 "$ROUNDS"); do
        rotate "$r" failoverd haproxy direct
        for c in "${ORDER[@]}"; do
            proxy_port "$c" resp
            out="$WORK/connrate.json"
            bounded $((CONN_SECONDS + 30)) "$LOADGEN" connrate --target "127.0.0.1:$PORT" --seconds "$CONN_SECONDS" \
                --concurrency 16 --request-bytes 64 --response-bytes 256 > "$out" || true
            jq -e .connections_per_sec "$out" > /dev/null 2>&1 || die "connrate through $c gave no result"
            add "conn.$c" "$(jq .connections_per_sec "$out")"
            add "conn.$c.p99" "$(jq .p99_ms "$out")"
            add "conn.$c.failed" "$(jq .failed "$out")"
            log "  $c: $(cat "$out")"
            # Let TIME_WAIT sockets of this run not weigh on the next contender.
            sleep 1
        done
        check_alive
    done
    row "Connection rate (connect, 64 B, 256 B, close)" conn.failoverd haproxy conn.haproxy higher "conn/s"
    row "Connection rate (connect, 64 B, 256 B, close)" conn.failoverd direct conn.direct higher "conn/s"
    row "Connection rate: p99 connection time" conn.failoverd.p99 haproxy conn.haproxy.p99 lower "ms"
    row "Connection rate: failed connections" conn.failoverd.failed haproxy conn.haproxy.failed lower "count"
}

section_latency() {
    setup_proxies
    log "== latency: 1-byte ping-pong ${PING_SECONDS}s on one connection"
    local r c out
    for r in $(seq 1 "$ROUNDS"); do
        rotate "$r" failoverd haproxy direct
        for c in "${ORDER[@]}"; do
            proxy_port "$c" echo
            out="$WORK/ping.json"
            bounded $((PING_SECONDS + 30)) "$LOADGEN" pingpong --target "127.0.0.1:$PORT" --seconds "$PING_SECONDS" > "$out" || true
            jq -e .p50_us "$out" > /dev/null 2>&1 || die "pingpong through $c gave no result"
            add "ping.$c.p50" "$(jq .p50_us "$out")"
            add "ping.$c.p99" "$(jq .p99_us "$out")"
            log "  $c: $(cat "$out")"
        done
        check_alive
    done
    row "Round trip 1 byte, p50" ping.failoverd.p50 haproxy ping.haproxy.p50 lower "us"
    row "Round trip 1 byte, p99" ping.failoverd.p99 haproxy ping.haproxy.p99 lower "us"
    row "Round trip 1 byte, p50" ping.failoverd.p50 direct ping.direct.p50 lower "us"
    row "Round trip 1 byte, p99" ping.failoverd.p99 direct ping.direct.p99 lower "us"
}

# ======================================================================================
# Memory with idle connections: fresh proxies each run
# ======================================================================================
section_memory() {
    stop_proxies
    log "== memory: $IDLE_CONNS idle proxied connections, fresh proxy each run"
    [ "$IDLE_CONNS" -le "$IDLE_MAX" ] ||
        die "memory: $IDLE_CONNS idle connections need $((2 * IDLE_CONNS + 200)) open files per proxy; ulimit -n is $NOFILE (raise it, or lower IDLE_CONNS)"
    [ -z "${IDLE_NOTE:-}" ] || log "  $IDLE_NOTE"
    local b_echo f_port h_port adm r c pid before after out ready
    port; b_echo=$PORT
    port; f_port=$PORT
    port; h_port=$PORT
    port; adm=$PORT
    start echo-idle "$LOADGEN" --threads 1 echo --listen "127.0.0.1:$b_echo"
    local echo_pid=$SPID
    wait_tcp 127.0.0.1 "$b_echo" || die "echo backend did not start"
    failoverd_head "$WORK/failoverd-mem.toml" "$adm" failoverd-mem
    cat >> "$WORK/failoverd-mem.toml" << EOF
[[group]]
name = "idle"
[group.health]
kind = "tcp"
interval = "1s"
timeout = "500ms"
[[group.listener]]
listen = "127.0.0.1:$f_port"
target_port = $b_echo
connect_timeout = "1s"
idle_timeout = "10m"
max_connections = $((IDLE_CONNS + 10))
[[group.target]]
name = "main"
address = "127.0.0.1"
EOF
    # Idle sessions never splice: few pipes, so that the descriptors fit (0 would mean
    # the default, maxconn/4).
    haproxy_global "$WORK/haproxy-mem.cfg" $((IDLE_CONNS + 10)) 10
    cat >> "$WORK/haproxy-mem.cfg" << EOF

frontend f_idle
    bind 127.0.0.1:$h_port
    default_backend b_idle
backend b_idle
    server main 127.0.0.1:$b_echo check
EOF
    for r in $(seq 1 "$ROUNDS"); do
        rotate "$r" failoverd haproxy
        for c in "${ORDER[@]}"; do
            if [ "$c" = failoverd ]; then
                start failoverd-mem "$FAILOVERD" --log-level warn run --config "$WORK/failoverd-mem.toml"
                pid=$SPID
                PORT=$f_port
            else
                start haproxy-mem "$HAPROXY" -db -f "$WORK/haproxy-mem.cfg"
                pid=$SPID
                PORT=$h_port
            fi
            wait_tcp 127.0.0.1 "$PORT" 15 || die "$c did not open :$PORT"
            sleep 1.5
            # Warm-up: 100 connections opened, proven and closed (thread pools, allocator arenas).
            bounded 30 "$LOADGEN" idle --target "127.0.0.1:$PORT" --count 100 --hold-seconds 0 > /dev/null 2>&1 || true
            sleep 1
            before=$(rss_kib "$pid")
            out="$WORK/idle.out"
            : > "$out"
            setsid timeout -k 5 $((IDLE_HOLD + 90)) "$LOADGEN" idle --target "127.0.0.1:$PORT" --count "$IDLE_CONNS" \
                --hold-seconds "$IDLE_HOLD" > "$out" 2> "$WORK/idle.err" < /dev/null &
            CURRENT=$!
            local i
            for i in $(seq 1 600); do
                grep -q '^READY' "$out" && break
                kill -0 "$CURRENT" 2> /dev/null || break
                sleep 0.1
            done
            ready=$(awk '/^READY/ { print $2 }' "$out")
            [ -n "$ready" ] || { cat "$WORK/idle.err" >&2; die "idle connections through $c never became ready"; }
            sleep 1
            after=$(rss_kib "$pid")
            wait "$CURRENT" || true
            CURRENT=
            [ "$ready" -gt 0 ] || die "no idle connection through $c"
            add "mem.$c.kib" "$(awk -v a="$after" -v b="$before" -v n="$ready" 'BEGIN { printf "%.3f", (a - b) / n }')"
            add "mem.$c.before" "$(awk -v b="$before" 'BEGIN { printf "%.2f", b / 1024 }')"
            add "mem.$c.after" "$(awk -v a="$after" 'BEGIN { printf "%.2f", a / 1024 }')"
            log "  $c: RSS $before KiB before, $after KiB with $ready idle connections; $(tail -1 "$out")"
            [ "$ready" -eq "$IDLE_CONNS" ] || log "  WARNING: only $ready of $IDLE_CONNS connections opened through $c"
            stop "$pid"
        done
    done
    stop "$echo_pid"
    row "Memory per idle proxied connection ($IDLE_CONNS open)" mem.failoverd.kib haproxy mem.haproxy.kib lower "KiB"
    row "Memory: RSS before the idle connections" mem.failoverd.before haproxy mem.haproxy.before lower "MiB"
    row "Memory: RSS with $IDLE_CONNS idle connections" mem.failoverd.after haproxy mem.haproxy.after lower "MiB"
}

# ======================================================================================
# Health-check scale: HC_GROUPS groups x 2 targets, tcp checks every second
# ======================================================================================
section_health_scale() {
    log "== health-scale: $HC_GROUPS groups x 2 targets, tcp check every 1s; ${HC_SECONDS}s measured after ${HC_WARMUP}s"
    local hp=() i adm listen=() r c pid t0 t1 c0 c1 rss
    for i in 0 1 2 3; do port; hp+=("$PORT"); done
    port; adm=$PORT
    for i in 0 1 2 3; do listen+=(--listen "127.0.0.2:${hp[$i]}" --listen "127.0.0.3:${hp[$i]}"); done
    start echo-hc "$LOADGEN" --threads 1 echo "${listen[@]}"
    local echo_pid=$SPID
    wait_tcp 127.0.0.3 "${hp[3]}" || die "health-check echo listeners did not start"
    failoverd_head "$WORK/failoverd-hc.toml" "$adm" failoverd-hc
    # One descriptor per check besides the connections: fewer connections, as none come.
    haproxy_global "$WORK/haproxy-hc.cfg" 1000
    {
        for i in $(seq 0 $((HC_GROUPS - 1))); do
            cat << EOF
[[group]]
name = "g$i"
[group.health]
kind = "tcp"
port = ${hp[$((i % 4))]}
interval = "1s"
timeout = "500ms"
rise = 2
fall = 2
[[group.target]]
name = "main"
address = "127.0.0.2"
priority = 1
[[group.target]]
name = "backup"
address = "127.0.0.3"
priority = 2
EOF
        done
    } >> "$WORK/failoverd-hc.toml"
    port; local hadm=$PORT
    {
        # haproxy does not start without a listener: one that refuses everything (the
        # counterpart of failoverd's admin listener).
        printf '\nfrontend admin\n    bind 127.0.0.1:%d\n    tcp-request connection reject\n\n' "$hadm"
        for i in $(seq 0 $((HC_GROUPS - 1))); do
            printf 'backend g%d\n    server main 127.0.0.2:%d check\n    server backup 127.0.0.3:%d check backup\n' \
                "$i" "${hp[$((i % 4))]}" "${hp[$((i % 4))]}"
        done
    } >> "$WORK/haproxy-hc.cfg"
    "$FAILOVERD" check --config "$WORK/failoverd-hc.toml" > /dev/null || die "failoverd health-scale config invalid"
    "$HAPROXY" -c -q -f "$WORK/haproxy-hc.cfg" || die "haproxy health-scale config invalid"
    for r in $(seq 1 "$ROUNDS"); do
        rotate "$r" failoverd haproxy
        for c in "${ORDER[@]}"; do
            if [ "$c" = failoverd ]; then
                start failoverd-hc "$FAILOVERD" --log-level warn run --config "$WORK/failoverd-hc.toml"
                pid=$SPID
                wait_tcp 127.0.0.1 "$adm" 20 || die "failoverd (health-scale) did not start"
            else
                start haproxy-hc "$HAPROXY" -db -f "$WORK/haproxy-hc.cfg"
                pid=$SPID
            fi
            sleep "$HC_WARMUP"
            kill -0 "$pid" 2> /dev/null || { cat "$WORK/$c-hc.log" >&2; die "$c (health-scale) died"; }
            c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
            sleep "$HC_SECONDS"
            c1=$(cpu_ticks "$pid"); t1=$(date +%s.%N)
            rss=$(rss_kib "$pid")
            if [ "$c" = failoverd ]; then
                local up
                up=$(curl -s --max-time 5 "http://127.0.0.1:$adm/v1/groups" | jq '[.groups[].targets[] | select(.health == "up")] | length' 2> /dev/null || echo "?")
                log "  failoverd: $up of $((HC_GROUPS * 2)) targets up"
                [ "$up" = $((HC_GROUPS * 2)) ] || log "  WARNING: not every target is up: the checks are not all succeeding"
            fi
            add "hc.$c.cpu" "$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / hz / (e - s) * 100 }')"
            add "hc.$c.rss" "$(awk -v k="$rss" 'BEGIN { printf "%.2f", k / 1024 }')"
            log "  $c: CPU $(echo "${RES[hc.$c.cpu]}" | awk '{ print $NF }')% of one core, RSS $rss KiB"
            stop "$pid"
        done
    done
    stop "$echo_pid"
    row "Health checks: CPU, $HC_GROUPS groups x 2 targets / 1 s" hc.failoverd.cpu "haproxy (reference)" hc.haproxy.cpu lower "% of a core"
    row "Health checks: RSS, $HC_GROUPS groups x 2 targets" hc.failoverd.rss "haproxy (reference)" hc.haproxy.rss lower "MiB"
}

# ======================================================================================
# Failover under load
# ======================================================================================
section_failover() {
    stop_proxies
    log "== failover: $FO_RATE new connections/s for ${FO_SECONDS}s, main killed (SIGTERM, unhandled: it dies at once) after ${FO_KILL_AFTER}s; default health settings"
    local bp f_port h_port adm r c pid main_pid backup_pid out
    port; bp=$PORT
    port; f_port=$PORT
    port; h_port=$PORT
    port; adm=$PORT
    # failoverd's defaults: tcp check every 1s, timeout 500ms, rise 2, fall 2, on the
    # listener's target_port; connect_timeout 1s; a refused connect is retried on the next
    # target. haproxy: the same check settings, 3 retries, redispatch on every retry.
    failoverd_head "$WORK/failoverd-fo.toml" "$adm" failoverd-fo
    cat >> "$WORK/failoverd-fo.toml" << EOF
[[group]]
name = "app"
[[group.listener]]
listen = "127.0.0.1:$f_port"
target_port = $bp
[[group.target]]
name = "main"
address = "127.0.0.2"
priority = 1
[[group.target]]
name = "backup"
address = "127.0.0.3"
priority = 2
EOF
    haproxy_global "$WORK/haproxy-fo.cfg"
    cat >> "$WORK/haproxy-fo.cfg" << EOF

frontend f_app
    bind 127.0.0.1:$h_port
    default_backend b_app
backend b_app
    server main 127.0.0.2:$bp check
    server backup 127.0.0.3:$bp check backup
EOF
    for r in $(seq 1 "$ROUNDS"); do
        rotate "$r" failoverd haproxy
        for c in "${ORDER[@]}"; do
            start echo-main "$LOADGEN" --threads 1 echo --listen "127.0.0.2:$bp" --name main
            main_pid=$SPID
            start echo-backup "$LOADGEN" --threads 1 echo --listen "127.0.0.3:$bp" --name backup
            backup_pid=$SPID
            wait_tcp 127.0.0.2 "$bp" && wait_tcp 127.0.0.3 "$bp" || die "failover backends did not start"
            rm -f "$WORK"/failoverd-fo.state*
            if [ "$c" = failoverd ]; then
                start failoverd-fo "$FAILOVERD" --log-level info run --config "$WORK/failoverd-fo.toml"
                pid=$SPID
                PORT=$f_port
            else
                start haproxy-fo "$HAPROXY" -db -f "$WORK/haproxy-fo.cfg"
                pid=$SPID
                PORT=$h_port
            fi
            wait_tcp 127.0.0.1 "$PORT" 15 || die "$c did not open :$PORT"
            sleep 3 # both targets up (rise 2 x 1s)
            out="$WORK/fo.json"
            bounded $((FO_SECONDS + 30)) "$LOADGEN" failover-load --target "127.0.0.1:$PORT" --seconds "$FO_SECONDS" \
                --rate "$FO_RATE" --kill-pid "$main_pid" --kill-after "$FO_KILL_AFTER" > "$out" || true
            jq -e .connections "$out" > /dev/null 2>&1 || die "failover-load through $c gave no result"
            local served_main final
            served_main=$(jq '.names.main.served // 0' "$out")
            final=$(jq -r '.final_name' "$out")
            [ "$served_main" -gt 0 ] || log "  WARNING: main served nothing before the kill through $c"
            [ "$final" = backup ] || log "  WARNING: the last connection through $c was not served by the backup ($final)"
            add "fo.$c.failed" "$(jq .failed "$out")"
            add "fo.$c.settle" "$(jq '.all_on_final_after_ms // -1' "$out")"
            add "fo.$c.prompt" "$(jq '.all_prompt_on_final_after_ms // -1' "$out")"
            add "fo.$c.maxlat" "$(jq '.max_latency_after_kill_ms // -1' "$out")"
            add "fo.$c.p99lat" "$(jq '.p99_latency_after_kill_ms // -1' "$out")"
            log "  $c: $(jq -c '{connections, failed, names, kill_ms, all_on_final_after_ms, all_prompt_on_final_after_ms, max_latency_after_kill_ms, p99_latency_after_kill_ms}' "$out")"
            [ "$(jq .failed "$out")" = 0 ] || log "  $c: failures (started at, relative to the kill): $(jq -c '.kill_ms as $k | [.failures[] | {after_kill_ms: ((.at_ms - $k) * 1000 | round / 1000), error}]' "$out")"
            stop "$pid"
            stop "$main_pid"
            stop "$backup_pid"
        done
    done
    local per_run total_f total_h
    per_run=$(awk -v s="$FO_SECONDS" -v r="$FO_RATE" 'BEGIN { print s * r }')
    total_f=$(echo "${RES[fo.failoverd.failed]}" | awk '{ for (i = 1; i <= NF; i++) t += $i; print t + 0 }')
    total_h=$(echo "${RES[fo.haproxy.failed]}" | awk '{ for (i = 1; i <= NF; i++) t += $i; print t + 0 }')
    NOTES+=("Failover, all $ROUNDS rounds together: failoverd $total_f failed of $((per_run * ROUNDS)) connections, haproxy $total_h failed of $((per_run * ROUNDS)).")
    row "Failover under load (default health settings): failed connections per run (of $per_run)" fo.failoverd.failed haproxy fo.haproxy.failed lower "count"
    row "Failover: time until every new connection lands on the backup" fo.failoverd.settle haproxy fo.haproxy.settle lower "ms"
    row "Failover: time until every new connection is served by the backup within 100 ms" fo.failoverd.prompt haproxy fo.haproxy.prompt lower "ms"
    row "Failover: p99 connection time after the kill" fo.failoverd.p99lat haproxy fo.haproxy.p99lat lower "ms"
    row "Failover: slowest connection after the kill" fo.failoverd.maxlat haproxy fo.haproxy.maxlat lower "ms"
}

# ======================================================================================
if want dns-udp; then section_dns udp; fi
if want dns-tcp; then section_dns tcp; fi
stop_dns
if want tcp-throughput; then section_throughput; fi
if want connrate; then section_connrate; fi
if want latency; then section_latency; fi
stop_proxies
if want memory; then section_memory; fi
if want health-scale; then section_health_scale; fi
if want failover; then section_failover; fi

# --- the report ---------------------------------------------------------------------------
ELAPSED=$(($(date +%s) - T0))
echo
echo "## failoverd vs HAProxy / Knot / NSD ($(date -u +%Y-%m-%d), ROUNDS=$ROUNDS${QUICK:+, QUICK=1})"
echo
echo "Machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)."
echo "Versions: failoverd $("$FAILOVERD" --version | awk '{ print $2 }') ($(git rev-parse --short HEAD 2> /dev/null || echo '?')$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2> /dev/null || echo ' + uncommitted changes to src')), HAProxy $("$HAPROXY" -v | awk 'NR == 1 { print $3 }'), knotd $("$KNOTD" --version | awk '{ print $NF }'), NSD $("$NSD" -v 2>&1 | awk 'NR == 1 { print $3 }'), dnsperf $(dnsperf -h 2>&1 | awk '/^Version/ { print $2 }'), iperf3 $(iperf3 --version | awk 'NR == 1 { print $2 }')."
echo "Load generators and servers share the cores; medians of $ROUNDS alternating rounds; run took ${ELAPSED}s; load average (1/5/15 min) at the start $LOAD_START, at the end $(cut -d' ' -f1-3 /proc/loadavg) (anything above what this script runs is other work on the machine)."
if want memory && [ -n "${IDLE_NOTE:-}" ]; then
    echo "Memory rows: $IDLE_NOTE (an idle session holds two descriptors in the proxy)."
fi
echo
echo "| measurement | unit | failoverd | peer | peer value | failoverd/peer | better | ahead |"
echo "|---|---|---|---|---|---|---|---|"
for rw in "${ROWS[@]}"; do
    IFS='|' read -r name fkey peer pkey better unit <<< "$rw"
    fm=$(median "${RES[$fkey]:-}")
    pm=$(median "${RES[$pkey]:-}")
    ratio=$(awk -v f="$fm" -v p="$pm" 'BEGIN { if (f == "" || p == "") print "n/a"; else if (p == 0) print (f == 0 ? "= (both 0)" : "inf"); else if (f / p < 0.1) printf "%.3f", f / p; else printf "%.2f", f / p }')
    ahead=$(awk -v f="$fm" -v p="$pm" -v b="$better" 'BEGIN {
        if (f == "" || p == "") { print "n/a"; exit }
        if (f == p) { print "tie"; exit }
        if ((b == "higher") == (f > p)) print "failoverd"; else print "peer" }')
    [ "$ahead" = peer ] && ahead="${peer% (*}"
    echo "| $name | $unit | $(fmt "$fm") | $peer | $(fmt "$pm") | $ratio | $better | $ahead |"
done
echo
for n in "${NOTES[@]+"${NOTES[@]}"}"; do echo "$n"; done
echo
echo "Raw values per round (in run order; keys: section.contender.metric):"
echo
for k in $(printf '%s\n' "${!RES[@]}" | sort); do
    echo "- $k:${RES[$k]}"
done
