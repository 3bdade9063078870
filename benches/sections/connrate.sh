# shellcheck shell=bash
# connrate: short connections (connect, 64 B request, 256 B response, close), 16 at a
# time, loadgen connrate through failoverd, through haproxy, and direct to the respond
# server (benches/sections/proxies.sh). Sourced by benches/compare.sh.

section_connrate() {
    setup_proxies
    log "== connrate: ${CONN_SECONDS}s, 16 concurrent, 64 B request, 256 B response"
    local r c port out
    for r in $(seq 1 "$ROUNDS"); do
        rotate "$r" failoverd haproxy direct
        for c in "${ORDER[@]}"; do
            port=$(proxy_port "$c" resp)
            out="$WORK/connrate.json"
            bounded $((CONN_SECONDS + 30)) "$LOADGEN" connrate --target "127.0.0.1:$port" --seconds "$CONN_SECONDS" \
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
