# shellcheck shell=bash
# health-scale: HC_GROUPS groups x 2 targets, tcp checks every second, nothing else
# (benches/peers/failoverd-health-scale-group.toml, haproxy-health-scale*.cfg): the
# proxy's CPU (utime+stime from /proc/PID/stat over HC_SECONDS, as % of one core) and
# RSS. Sourced by benches/compare.sh.

section_health_scale() {
    log "== health-scale: $HC_GROUPS groups x 2 targets, tcp check every 1s; ${HC_SECONDS}s measured after ${HC_WARMUP}s"
    local p0 p1 p2 p3 hp adm hadm listen=() i r c pid echo_pid
    ports p0 p1 p2 p3 adm hadm
    hp=("$p0" "$p1" "$p2" "$p3")
    for i in 0 1 2 3; do listen+=(--listen "127.0.0.2:${hp[$i]}" --listen "127.0.0.3:${hp[$i]}"); done
    start echo-hc "$LOADGEN" --threads 1 echo "${listen[@]}"
    echo_pid=$SPID
    wait_tcp 127.0.0.3 "${hp[3]}" || die "health-check echo listeners did not start"
    {
        failoverd_head "$adm" failoverd-hc
        hc_groups "${hp[@]}" | render_rows failoverd-health-scale-group.toml
    } > "$WORK/failoverd-hc.toml"
    {
        # One descriptor per check besides the connections: fewer connections, as none come.
        haproxy_global 1000
        render haproxy-health-scale.cfg ADMIN_PORT="$hadm"
        hc_groups "${hp[@]}" | render_rows haproxy-health-scale-backend.cfg
    } > "$WORK/haproxy-hc.cfg"
    "$FAILOVERD" check --config "$WORK/failoverd-hc.toml" > /dev/null || die "failoverd health-scale config invalid"
    "$HAPROXY" -c -q -f "$WORK/haproxy-hc.cfg" || die "haproxy health-scale config invalid"
    for r in $(seq 1 "$ROUNDS"); do
        rotate "$r" failoverd haproxy
        for c in "${ORDER[@]}"; do
            start_proxy "$c" hc warn
            pid=$SPID
            if [ "$c" = failoverd ]; then
                wait_tcp 127.0.0.1 "$adm" 20 || die "failoverd (health-scale) did not start"
            fi
            health_scale_run "$c" "$pid" "$adm"
            stop "$pid"
        done
    done
    stop "$echo_pid"
    row "Health checks: CPU, $HC_GROUPS groups x 2 targets / 1 s" hc.failoverd.cpu "haproxy (reference)" hc.haproxy.cpu lower "% of a core"
    row "Health checks: RSS, $HC_GROUPS groups x 2 targets" hc.failoverd.rss "haproxy (reference)" hc.haproxy.rss lower "MiB"
}

# hc_groups PORT...: one template row per group: I, and PORT, the given ports in turn.
hc_groups() {
    local i p=("$@")
    for ((i = 0; i < HC_GROUPS; i++)); do printf 'I=%d\tPORT=%s\n' "$i" "${p[$((i % ${#p[@]}))]}"; done
}

# health_scale_run CONTENDER PID ADMIN_PORT: one measurement of the running proxy PID.
health_scale_run() {
    local c=$1 pid=$2 adm=$3 c0 c1 t0 t1 rss up
    sleep "$HC_WARMUP"
    kill -0 "$pid" 2> /dev/null || { cat "$WORK/$c-hc.log" >&2; die "$c (health-scale) died"; }
    c0=$(cpu_ticks "$pid")
    t0=$(date +%s.%N)
    sleep "$HC_SECONDS"
    c1=$(cpu_ticks "$pid")
    t1=$(date +%s.%N)
    rss=$(rss_kib "$pid")
    if [ "$c" = failoverd ]; then
        up=$(curl -s --max-time 5 "http://127.0.0.1:$adm/v1/groups" | jq '[.groups[].targets[] | select(.health == "up")] | length' 2> /dev/null || echo "?")
        log "  failoverd: $up of $((HC_GROUPS * 2)) targets up"
        [ "$up" = $((HC_GROUPS * 2)) ] || log "  WARNING: not every target is up: the checks are not all succeeding"
    fi
    add "hc.$c.cpu" "$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz / (e - s) * 100 }')"
    add "hc.$c.rss" "$(awk -v k="$rss" 'BEGIN { printf "%.2f", k / 1024 }')"
    log "  $c: CPU $(last "hc.$c.cpu")% of one core, RSS $rss KiB"
}
