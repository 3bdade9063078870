# shellcheck shell=bash
# The harness's shared library, sourced by benches/compare.sh before anything starts:
# logging, processes (each server in its own process group, every one stopped by PID on
# exit, Ctrl-C or failure), waiting, /proc readings, free ports, the contenders' order,
# the peer configs (templates of benches/peers/) and the peer tools.
# Uses BENCH (this directory), WORK (the temporary directory), LOADGEN, T0.

log() { printf '[%s +%ss] %s\n' "$(date +%H:%M:%S)" "$(($(date +%s) - T0))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- processes: each server in its own process group, stopped by PID at exit ------------
PIDS=()   # servers started by start, stopped in reverse order at exit
CURRENT=  # the client running now (bounded, start_client)
stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2> /dev/null || { wait "$pid" 2> /dev/null || true; return 0; }
    kill -TERM -- "-$pid" 2> /dev/null || kill -TERM "$pid" 2> /dev/null || true
    for i in $(seq 1 30); do
        kill -0 "$pid" 2> /dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2> /dev/null; then
        kill -KILL -- "-$pid" 2> /dev/null || kill -KILL "$pid" 2> /dev/null || true
    fi
    wait "$pid" 2> /dev/null || true
    # Children left in the group (nsd's server processes) go with it.
    kill -KILL -- "-$pid" 2> /dev/null || true
}
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    if [ -n "$CURRENT" ]; then stop_pid "$CURRENT"; fi
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${PIDS[$i]}"
    done
    if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
        if [ -n "${KEEP:-}" ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT
trap 'log terminated; exit 143' TERM

# start NAME CMD...: starts a server in its own session/process group, logs to
# $WORK/NAME.log; sets SPID.
start() {
    local name=$1
    shift
    setsid "$@" > "$WORK/$name.log" 2>&1 < /dev/null &
    SPID=$!
    PIDS+=("$SPID")
}
# stop PID: stops one server started by start and forgets it.
stop() {
    local pid=$1 keep=() p
    stop_pid "$pid"
    for p in "${PIDS[@]}"; do [ "$p" != "$pid" ] && keep+=("$p"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
}
# bounded SECONDS CMD...: runs a client under timeout, interruptible (Ctrl-C stops it).
bounded() {
    local t=$1 rc=0
    shift
    setsid timeout -k 5 "$t" "$@" < /dev/null &
    CURRENT=$!
    wait "$CURRENT" || rc=$?
    CURRENT=
    return "$rc"
}
# start_client SECONDS OUT ERR CMD...: a client under timeout in the background, its
# stdout in OUT and stderr in ERR, while the caller measures; finish_client waits for it.
start_client() {
    local t=$1 out=$2 err=$3
    shift 3
    setsid timeout -k 5 "$t" "$@" > "$out" 2> "$err" < /dev/null &
    CURRENT=$!
}
finish_client() {
    wait "$CURRENT" || true
    CURRENT=
}

# --- waiting ---------------------------------------------------------------------------
wait_tcp() { # HOST PORT [SECONDS]: until the port accepts a connection
    local i
    for i in $(seq 1 $((${3:-10} * 10))); do
        if (exec 3<> "/dev/tcp/$1/$2") 2> /dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}
wait_line() { # FILE PATTERN PID SECONDS: until FILE has a line matching PATTERN
    local i
    for i in $(seq 1 $(($4 * 10))); do
        grep -q -- "$2" "$1" 2> /dev/null && return 0
        kill -0 "$3" 2> /dev/null || return 1
        sleep 0.1
    done
    return 1
}

# --- /proc ------------------------------------------------------------------------------
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
cpu_ticks() { # utime + stime of the process (all threads), in clock ticks
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# --- ports and order ----------------------------------------------------------------------
# Free ports on 127.0.0.1-3 (TCP and UDP), 20000-31999: below the ephemeral range.
take_ports() { mapfile -t FREE < <("$LOADGEN" free-ports --count 64); }
ports() { # NAME...: sets each variable NAME to a port of its own
    local __name
    for __name in "$@"; do
        [ ${#FREE[@]} -gt 0 ] || die "out of free ports"
        printf -v "$__name" '%s' "${FREE[0]}"
        FREE=("${FREE[@]:1}")
    done
}
# rotate ROUND CONTENDER...: sets ORDER to the contenders rotated by ROUND, so that each
# one runs first in turn.
rotate() {
    local r=$1 n i
    shift
    local c=("$@")
    n=${#c[@]}
    ORDER=()
    for ((i = 0; i < n; i++)); do ORDER+=("${c[$(((i + r) % n))]}"); done
}

# --- peer configs: the templates of benches/peers/ ------------------------------------------
# render TEMPLATE [NAME=VALUE ...]: benches/peers/TEMPLATE with every @NAME@ filled in.
render() {
    local t=$1
    shift
    awk -f "$BENCH/lib/render.awk" "$BENCH/peers/$t" "$@"
}
# render_rows TEMPLATE [NAME=VALUE ...] < ROWS: the template once per line of ROWS, each
# line NAME=VALUE pairs separated by tabs.
render_rows() {
    local t=$1
    shift
    awk -f "$BENCH/lib/render.awk" -v rows=1 "$BENCH/peers/$t" "$@"
}
# haproxy_global [MAXCONN] [MAXPIPES]: the global and defaults sections of every haproxy
# config. HAPROXY_SPLICE=auto (default: "option splice-auto", haproxy decides per
# direction), always ("option splice-request" + "option splice-response"), or off.
haproxy_global() {
    local splice
    case "${HAPROXY_SPLICE:-auto}" in
        auto) splice="    option splice-auto" ;;
        always) splice=$'    option splice-request\n    option splice-response' ;;
        off) splice="    # no splice" ;;
        *) die "HAPROXY_SPLICE must be auto, always or off" ;;
    esac
    render haproxy-global.cfg MAXCONN="${1:-9400}" MAXPIPES="${2:-500}" SPLICE="$splice"
}
# start_proxy CONTENDER NAME LOG_LEVEL: starts failoverd (failoverd-NAME.toml, at that
# log level) or haproxy (haproxy-NAME.cfg) from $WORK; sets SPID.
start_proxy() {
    if [ "$1" = failoverd ]; then
        start "failoverd-$2" "$FAILOVERD" --log-level "$3" run --config "$WORK/failoverd-$2.toml"
    else
        start "haproxy-$2" "$HAPROXY" -db -f "$WORK/haproxy-$2.cfg"
    fi
}
# failoverd_head ADMIN_PORT NAME: [admin], [state] (in $WORK/NAME.state), [proxy].
failoverd_head() { render failoverd-head.toml ADMIN_PORT="$1" STATE="$WORK/$2.state"; }

# --- peer tools ----------------------------------------------------------------------------
PEER_TOOLS=(dnsperf:dnsperf knotd:knot kdig:knot-dnsutils nsd:nsd haproxy:haproxy
    iperf3:iperf3 jq:jq curl:curl python3:python3 setsid:util-linux) # command:Debian package
missing_tools() { # the packages of the commands not found, one a line
    local c
    for c in "${PEER_TOOLS[@]}"; do
        command -v "${c%%:*}" > /dev/null || [ -x "/usr/sbin/${c%%:*}" ] || echo "${c#*:}"
    done
}
# need_tools: installs the missing ones with apt-get when root; a tool still missing is
# an error, never a skip (CI runs this as root on a fresh machine).
need_tools() {
    local missing=()
    mapfile -t missing < <(missing_tools)
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || die "missing tools (install them, or run as root): ${missing[*]}"
    log "installing: ${missing[*]}"
    timeout 300 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq "${missing[@]}" > /dev/null
    mapfile -t missing < <(missing_tools)
    [ ${#missing[@]} -eq 0 ] || die "still missing after apt-get install: ${missing[*]}"
}
