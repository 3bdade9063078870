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
#   memory          RSS per idle proxied connection (10,000 connections, or what ulimit -n
#                   allows; loadgen idle)
#   health-scale    1,000 groups x 2 tcp-checked targets every 1 s: CPU and RSS
#   failover        steady new connections, main backend killed mid-run: failures and time
#                   until every new connection lands on the backup
#
# Environment:
#   ROUNDS=3      rounds; in each round every contender runs once, the order rotating
#   QUICK=1       short runs (1 round, 3 s each, 2,000 idle connections held 2 s, health
#                 checks measured 5 s after 3 s, failover 8 s): a smoke test
#   PROFILE=release  the build of failoverd and loadgen to use: release, or debug (cargo's
#                 dev profile, `cargo build --locked --bin failoverd --example loadgen`,
#                 which reuses what `cargo test` built, the tests' fault-injection feature
#                 included, inert unless asked for). Debug figures mean nothing, and the
#                 report's title says PROFILE=debug. CI runs every section this way,
#                 with QUICK=1 and shorter finer knobs, after its tests (.ci/run).
#   NO_BUILD=1    use the binaries already in target/release (target/debug with
#                 PROFILE=debug): no cargo build
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
# nsd, haproxy, iperf3, jq, curl); a tool still missing stops it with an error, never a
# skip; builds failoverd and examples/loadgen/ (release unless PROFILE=debug); makes a
# temporary directory with equivalent configurations for every contender, filled in from
# the templates in benches/peers/; starts every server in the foreground on loopback, on
# free ports (20000-31999, below the ephemeral range), each in its own process group; runs
# every measurement under `timeout`, alternating the contenders, ROUNDS times; prints ONE
# markdown table of medians and ratios failoverd/peer, with the machine and the versions,
# then the raw values of every round. Everything it started is stopped by PID (process
# group) on exit, Ctrl-C or failure, and the temporary directory is removed. Progress goes
# to stderr, the report to stdout.
#
# Where things are (this script parses the command line, sources the rest and runs the
# sections in order; the section files are sourced, not run, so that they share one set of
# started processes and results):
#   benches/lib.sh          processes and cleanup, waiting, /proc readings, ports, the
#                           contenders' order, filling in templates, the peer tools
#   benches/lib/report.sh   results (add, row, note) and the report: the one place where
#                           the table is made (its rows by benches/lib/table.awk)
#   benches/lib/            render.awk (templates), percentiles.awk (dnsperf latencies),
#                           queries.py (the DNS query file)
#   benches/sections/       one file per measurement: dns.sh (dns-udp and dns-tcp),
#                           throughput.sh, connrate.sh, latency.sh (these three share the
#                           proxy stack of proxies.sh), memory.sh, health-scale.sh, failover.sh
#   benches/peers/          the configurations of failoverd, haproxy, knotd and nsd, with
#                           @NAME@ placeholders for ports and paths
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
BENCH=$(dirname "$SCRIPT")
cd "$BENCH/.."
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
PROFILE=${PROFILE:-release}
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
case "$PROFILE" in
    release | debug) ;;
    *) echo "PROFILE must be release or debug" >&2; exit 64 ;;
esac
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
T0=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
WORK=

# shellcheck source=benches/lib.sh
. "$BENCH/lib.sh"
# shellcheck source=benches/lib/report.sh
. "$BENCH/lib/report.sh"
for f in dns proxies throughput connrate latency memory health-scale failover; do
    # shellcheck source=/dev/null # each file is checked on its own
    . "$BENCH/sections/$f.sh"
done

need_tools
export PATH="$PATH:/usr/sbin:/sbin"
KNOTD=$(command -v knotd)
NSD=$(command -v nsd)
HAPROXY=$(command -v haproxy)

if [ -z "${NO_BUILD:-}" ]; then
    log "building failoverd and loadgen ($PROFILE)"
    if [ "$PROFILE" = release ]; then
        timeout 1800 cargo build --release --locked --quiet
        timeout 1800 cargo build --release --locked --quiet --example loadgen
    else
        timeout 1800 cargo build --locked --quiet --bin failoverd --example loadgen
    fi
fi
FAILOVERD="$TARGET_DIR/$PROFILE/failoverd"
LOADGEN="$TARGET_DIR/$PROFILE/examples/loadgen"
[ -x "$FAILOVERD" ] || die "$FAILOVERD not built"
[ -x "$LOADGEN" ] || die "$LOADGEN not built"
FAILOVERD=$(realpath "$FAILOVERD")
LOADGEN=$(realpath "$LOADGEN")

WORK=$(mktemp -d /tmp/failoverd-compare.XXXXXX)
take_ports

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

report
