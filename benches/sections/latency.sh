# shellcheck shell=bash
# latency: 1-byte ping-pong round trips on one connection, loadgen pingpong through
# failoverd, through haproxy, and direct to the echo server (benches/sections/proxies.sh).
# Sourced by benches/compare.sh.

section_latency() {
    setup_proxies
    log "== latency: 1-byte ping-pong ${PING_SECONDS}s on one connection"
    local r c port out
    for r in $(seq 1 "$ROUNDS"); do
        rotate "$r" failoverd haproxy direct
        for c in "${ORDER[@]}"; do
            port=$(proxy_port "$c" echo)
            out="$WORK/ping.json"
            bounded $((PING_SECONDS + 30)) "$LOADGEN" pingpong --target "127.0.0.1:$port" --seconds "$PING_SECONDS" > "$out" || true
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
