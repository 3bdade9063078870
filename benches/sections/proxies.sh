# shellcheck shell=bash
# The proxy stack that tcp-throughput, connrate and latency share: failoverd and haproxy
# (benches/peers/failoverd-proxy.toml, haproxy-proxy.cfg) in front of an iperf3 server,
# an echo server and a respond server, all on 127.0.0.1; started once, by the first of
# those sections. Sourced by benches/compare.sh.

PROXY_UP=
setup_proxies() {
    [ -n "$PROXY_UP" ] && return 0
    ports B_IPERF B_ECHO B_RESP B_CHECK F_IPERF F_ECHO F_RESP H_IPERF H_ECHO H_RESP F_ADMIN
    # Health checks of both proxies go to a separate echo listener (B_CHECK) so that they
    # never disturb iperf3's control connection.
    start iperf3 iperf3 -s -B 127.0.0.1 -p "$B_IPERF"
    start echo "$LOADGEN" --threads 1 echo --listen "127.0.0.1:$B_ECHO" --listen "127.0.0.1:$B_CHECK"
    start respond "$LOADGEN" --threads 1 respond --listen "127.0.0.1:$B_RESP" --bytes 256 --request-bytes 64
    wait_tcp 127.0.0.1 "$B_ECHO" || die "echo backend did not start"
    wait_tcp 127.0.0.1 "$B_RESP" || die "respond backend did not start"
    sleep 0.3
    local backends=(CHECK_PORT="$B_CHECK" B_IPERF_PORT="$B_IPERF" B_ECHO_PORT="$B_ECHO" B_RESP_PORT="$B_RESP")
    {
        failoverd_head "$F_ADMIN" failoverd-proxy
        render failoverd-proxy.toml "${backends[@]}" IPERF_PORT="$F_IPERF" ECHO_PORT="$F_ECHO" RESP_PORT="$F_RESP"
    } > "$WORK/failoverd-proxy.toml"
    {
        haproxy_global
        render haproxy-proxy.cfg "${backends[@]}" IPERF_PORT="$H_IPERF" ECHO_PORT="$H_ECHO" RESP_PORT="$H_RESP"
    } > "$WORK/haproxy-proxy.cfg"
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
# stop_proxies: stops the two proxies (the backends stay until the end).
stop_proxies() {
    [ -z "$PROXY_UP" ] && return 0
    stop "$FP_PID"
    stop "$HP_PID"
    PROXY_UP=
}
proxy_port() { # CONTENDER KIND(iperf|echo|resp): the port to send that traffic to
    case "$1.$2" in
        failoverd.iperf) echo "$F_IPERF" ;; failoverd.echo) echo "$F_ECHO" ;; failoverd.resp) echo "$F_RESP" ;;
        haproxy.iperf) echo "$H_IPERF" ;; haproxy.echo) echo "$H_ECHO" ;; haproxy.resp) echo "$H_RESP" ;;
        direct.iperf) echo "$B_IPERF" ;; direct.echo) echo "$B_ECHO" ;; direct.resp) echo "$B_RESP" ;;
    esac
}
check_alive() {
    kill -0 "$FP_PID" 2> /dev/null || { cat "$WORK/failoverd-proxy.log" >&2; die "failoverd (proxy) died"; }
    kill -0 "$HP_PID" 2> /dev/null || { cat "$WORK/haproxy-proxy.log" >&2; die "haproxy died"; }
}
