# shellcheck shell=bash
# tcp-throughput: iperf3 with 1 and 8 streams through failoverd, through haproxy, and
# direct (benches/sections/proxies.sh). Sourced by benches/compare.sh.

section_throughput() {
    setup_proxies
    log "== tcp-throughput: iperf3 ${TP_SECONDS}s, 1 and 8 streams"
    local r c streams port out gbps
    for r in $(seq 1 "$ROUNDS"); do
        for streams in 1 8; do
            rotate "$r" failoverd haproxy direct
            for c in "${ORDER[@]}"; do
                port=$(proxy_port "$c" iperf)
                out="$WORK/iperf.json"
                bounded $((TP_SECONDS + 30)) iperf3 -c 127.0.0.1 -p "$port" -t "$TP_SECONDS" -P "$streams" -J > "$out" 2> /dev/null || true
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
