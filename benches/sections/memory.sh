# shellcheck shell=bash
# memory: RSS per idle proxied connection. A fresh proxy each run (benches/peers/
# failoverd-memory.toml, haproxy-memory.cfg) in front of an echo server; its VmRSS
# after a 100-connection warm-up, then with IDLE_CONNS idle connections (loadgen idle):
# the difference divided by the connections. Sourced by benches/compare.sh.

section_memory() {
    stop_proxies
    log "== memory: $IDLE_CONNS idle proxied connections, fresh proxy each run"
    [ "$IDLE_CONNS" -le "$IDLE_MAX" ] ||
        die "memory: $IDLE_CONNS idle connections need $((2 * IDLE_CONNS + 200)) open files per proxy; ulimit -n is $NOFILE (raise it, or lower IDLE_CONNS)"
    [ -z "${IDLE_NOTE:-}" ] || log "  $IDLE_NOTE"
    local b_echo f_port h_port adm r c pid port echo_pid
    ports b_echo f_port h_port adm
    start echo-idle "$LOADGEN" --threads 1 echo --listen "127.0.0.1:$b_echo"
    echo_pid=$SPID
    wait_tcp 127.0.0.1 "$b_echo" || die "echo backend did not start"
    {
        failoverd_head "$adm" failoverd-mem
        render failoverd-memory.toml PORT="$f_port" BACKEND_PORT="$b_echo" MAX_CONNECTIONS=$((IDLE_CONNS + 10))
    } > "$WORK/failoverd-mem.toml"
    {
        # Idle sessions never splice: few pipes, so that the descriptors fit (0 would
        # mean the default, maxconn/4).
        haproxy_global $((IDLE_CONNS + 10)) 10
        render haproxy-memory.cfg PORT="$h_port" BACKEND_PORT="$b_echo"
    } > "$WORK/haproxy-mem.cfg"
    for r in $(seq 1 "$ROUNDS"); do
        rotate "$r" failoverd haproxy
        for c in "${ORDER[@]}"; do
            start_proxy "$c" mem warn
            pid=$SPID
            if [ "$c" = failoverd ]; then port=$f_port; else port=$h_port; fi
            memory_run "$c" "$pid" "$port"
            stop "$pid"
        done
    done
    stop "$echo_pid"
    row "Memory per idle proxied connection ($IDLE_CONNS open)" mem.failoverd.kib haproxy mem.haproxy.kib lower "KiB"
    row "Memory: RSS before the idle connections" mem.failoverd.before haproxy mem.haproxy.before lower "MiB"
    row "Memory: RSS with $IDLE_CONNS idle connections" mem.failoverd.after haproxy mem.haproxy.after lower "MiB"
}

# memory_run CONTENDER PID PORT: one measurement of the proxy PID listening on PORT.
memory_run() {
    local c=$1 pid=$2 port=$3 before after ready out="$WORK/idle.out"
    wait_tcp 127.0.0.1 "$port" 15 || die "$c did not open :$port"
    sleep 1.5
    # Warm-up: 100 connections opened, proven and closed (thread pools, allocator arenas).
    bounded 30 "$LOADGEN" idle --target "127.0.0.1:$port" --count 100 --hold-seconds 0 > /dev/null 2>&1 || true
    sleep 1
    before=$(rss_kib "$pid")
    : > "$out"
    start_client $((IDLE_HOLD + 90)) "$out" "$WORK/idle.err" \
        "$LOADGEN" idle --target "127.0.0.1:$port" --count "$IDLE_CONNS" --hold-seconds "$IDLE_HOLD"
    wait_line "$out" '^READY' "$CURRENT" 60 || true
    ready=$(awk '/^READY/ { print $2 }' "$out")
    [ -n "$ready" ] || { cat "$WORK/idle.err" >&2; die "idle connections through $c never became ready"; }
    sleep 1
    after=$(rss_kib "$pid")
    finish_client
    [ "$ready" -gt 0 ] || die "no idle connection through $c"
    add "mem.$c.kib" "$(awk -v a="$after" -v b="$before" -v n="$ready" 'BEGIN { printf "%.3f", (a - b) / n }')"
    add "mem.$c.before" "$(awk -v b="$before" 'BEGIN { printf "%.2f", b / 1024 }')"
    add "mem.$c.after" "$(awk -v a="$after" 'BEGIN { printf "%.2f", a / 1024 }')"
    log "  $c: RSS $before KiB before, $after KiB with $ready idle connections; $(tail -1 "$out")"
    [ "$ready" -eq "$IDLE_CONNS" ] || log "  WARNING: only $ready of $IDLE_CONNS connections opened through $c"
}
