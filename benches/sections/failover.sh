# shellcheck shell=bash
# failover: FO_RATE new connections per second for FO_SECONDS through the proxy
# (benches/peers/failoverd-failover.toml, haproxy-failover.cfg) to a main and a backup
# echo server that say their name; the main is stopped (SIGTERM, which it does not
# handle: it dies at once) after FO_KILL_AFTER seconds, by loadgen failover-load, which
# reports the failed connections and how long until every new one lands on the backup.
# Default health settings on both sides. Sourced by benches/compare.sh.

section_failover() {
    stop_proxies
    log "== failover: $FO_RATE new connections/s for ${FO_SECONDS}s, main killed (SIGTERM, unhandled: it dies at once) after ${FO_KILL_AFTER}s; default health settings"
    local bp f_port h_port adm r c port per_run total_f total_h
    ports bp f_port h_port adm
    {
        failoverd_head "$adm" failoverd-fo
        render failoverd-failover.toml PORT="$f_port" BACKEND_PORT="$bp"
    } > "$WORK/failoverd-fo.toml"
    {
        haproxy_global
        render haproxy-failover.cfg PORT="$h_port" BACKEND_PORT="$bp"
    } > "$WORK/haproxy-fo.cfg"
    for r in $(seq 1 "$ROUNDS"); do
        rotate "$r" failoverd haproxy
        for c in "${ORDER[@]}"; do
            if [ "$c" = failoverd ]; then port=$f_port; else port=$h_port; fi
            failover_run "$c" "$port" "$bp"
        done
    done
    per_run=$(awk -v s="$FO_SECONDS" -v r="$FO_RATE" 'BEGIN { print s * r }')
    total_f=$(echo "${RES[fo.failoverd.failed]}" | awk '{ for (i = 1; i <= NF; i++) t += $i; print t + 0 }')
    total_h=$(echo "${RES[fo.haproxy.failed]}" | awk '{ for (i = 1; i <= NF; i++) t += $i; print t + 0 }')
    note "Failover, all $ROUNDS rounds together: failoverd $total_f failed of $((per_run * ROUNDS)) connections, haproxy $total_h failed of $((per_run * ROUNDS))."
    row "Failover under load (default health settings): failed connections per run (of $per_run)" fo.failoverd.failed haproxy fo.haproxy.failed lower "count"
    row "Failover: time until every new connection lands on the backup" fo.failoverd.settle haproxy fo.haproxy.settle lower "ms"
    row "Failover: time until every new connection is served by the backup within 100 ms" fo.failoverd.prompt haproxy fo.haproxy.prompt lower "ms"
    row "Failover: p99 connection time after the kill" fo.failoverd.p99lat haproxy fo.haproxy.p99lat lower "ms"
    row "Failover: slowest connection after the kill" fo.failoverd.maxlat haproxy fo.haproxy.maxlat lower "ms"
}

# failover_run CONTENDER PORT BACKEND_PORT: fresh backends and a fresh proxy, one run.
failover_run() {
    local c=$1 port=$2 bp=$3 pid main_pid backup_pid out="$WORK/fo.json" served_main final
    start echo-main "$LOADGEN" --threads 1 echo --listen "127.0.0.2:$bp" --name main
    main_pid=$SPID
    start echo-backup "$LOADGEN" --threads 1 echo --listen "127.0.0.3:$bp" --name backup
    backup_pid=$SPID
    { wait_tcp 127.0.0.2 "$bp" && wait_tcp 127.0.0.3 "$bp"; } || die "failover backends did not start"
    rm -f "$WORK"/failoverd-fo.state*
    start_proxy "$c" fo info
    pid=$SPID
    wait_tcp 127.0.0.1 "$port" 15 || die "$c did not open :$port"
    sleep 3 # both targets up (rise 2 x 1s)
    bounded $((FO_SECONDS + 30)) "$LOADGEN" failover-load --target "127.0.0.1:$port" --seconds "$FO_SECONDS" \
        --rate "$FO_RATE" --kill-pid "$main_pid" --kill-after "$FO_KILL_AFTER" > "$out" || true
    jq -e .connections "$out" > /dev/null 2>&1 || die "failover-load through $c gave no result"
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
}
