# shellcheck shell=bash
# dns-udp and dns-tcp: failoverd, knotd and nsd serving the same zone (benches/peers/
# failoverd-dns*.toml, knot.conf, nsd.conf, bench.zone), checked to give the same answers,
# then dnsperf with the same query file (benches/lib/queries.py) against each: p50/p99
# latency at a fixed rate, and queries/s at saturation. Sourced by benches/compare.sh.

ZONE=bench.test.
NAMES=50
DNS_UP=

# setup_dns: writes the configs, the zone and the queries, starts the three servers and
# checks their answers; once for both sections.
setup_dns() {
    [ -n "$DNS_UP" ] && return 0
    ports FDNS KDNS NDNS FADMIN
    dns_configs
    python3 "$BENCH/lib/queries.py" "$NAMES" "$ZONE" > "$WORK/queries"
    "$FAILOVERD" check --config "$WORK/failoverd-dns.toml" > /dev/null || die "failoverd DNS config invalid"
    start failoverd-dns "$FAILOVERD" --log-level warn run --config "$WORK/failoverd-dns.toml"
    FDNS_PID=$SPID
    start knotd "$KNOTD" -c "$WORK/knot.conf"
    KDNS_PID=$SPID
    start nsd "$NSD" -d -c "$WORK/nsd.conf"
    NDNS_PID=$SPID
    local p i
    for p in "$FDNS" "$KDNS" "$NDNS"; do
        for i in $(seq 1 100); do
            if kdig +timeout=1 +retry=0 -p "$p" @127.0.0.1 "g0.$ZONE" A +short 2> /dev/null | grep -q 127.0.1.0; then
                break
            fi
            [ "$i" = 100 ] && { cat "$WORK"/failoverd-dns.log "$WORK"/knotd.log "$WORK"/nsd.log "$WORK"/nsd/nsd.log >&2 2> /dev/null; die "DNS server on port $p did not answer"; }
            sleep 0.1
        done
    done
    dns_same_answers
    log "DNS: failoverd :$FDNS, knotd :$KDNS, nsd :$NDNS serve the same answers"
    DNS_UP=1
}

# dns_configs: the zone three times: failoverd groups, a zone file for Knot and NSD.
dns_configs() {
    local conf="$WORK/failoverd-dns.toml" i a
    render failoverd-dns.toml PORT="$FDNS" ZONE="$ZONE" > "$conf"
    failoverd_head "$FADMIN" failoverd-dns >> "$conf"
    render bench.zone ZONE="$ZONE" > "$WORK/zone"
    for i in $(seq 0 $((NAMES - 1))); do
        a="127.0.1.$i"
        echo "g$i 5 IN A $a" >> "$WORK/zone"
        if [ $((i % 5)) -eq 0 ]; then
            echo "g$i 5 IN AAAA ::ffff:$a" >> "$WORK/zone"
            printf 'I=%s\tADDRESS=["%s", "::ffff:%s"]\n' "$i" "$a" "$a"
        else
            printf 'I=%s\tADDRESS="%s"\n' "$i" "$a"
        fi
    done | render_rows failoverd-dns-group.toml >> "$conf"
    mkdir -p "$WORK/knot/run" "$WORK/knot/db" "$WORK/nsd"
    render knot.conf WORK="$WORK" PORT="$KDNS" ZONE="$ZONE" > "$WORK/knot.conf"
    render nsd.conf WORK="$WORK" PORT="$NDNS" ZONE="$ZONE" > "$WORK/nsd.conf"
}

# dns_same_answers: the same answers from all three (sections and rcodes; SOA serials
# differ by design), or die.
dns_same_answers() {
    local q f o p args
    for q in "g0.$ZONE A" "g0.$ZONE AAAA" "g1.$ZONE AAAA" "g1.$ZONE MX" "nx1.$ZONE A" "$ZONE NS" "$ZONE SOA"; do
        read -ra args <<< "$q"
        f=$(dns_answer "$FDNS" "${args[@]}")
        for p in "$KDNS" "$NDNS"; do
            o=$(dns_answer "$p" "${args[@]}")
            if [ "$f" != "$o" ]; then
                log "answers differ for $q (failoverd port $FDNS vs port $p):"
                printf 'failoverd:\n%s\nother:\n%s\n' "$f" "$o" >&2
                die "not equivalent"
            fi
        done
    done
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
    stop "$FDNS_PID"
    stop "$KDNS_PID"
    stop "$NDNS_PID"
    DNS_UP=
}
dns_port() {
    case $1 in failoverd) echo "$FDNS" ;; knotd) echo "$KDNS" ;; nsd) echo "$NDNS" ;; esac
}
dnsperf_flags() { # udp|tcp: the clients of one dnsperf run
    if [ "$1" = udp ]; then DNSPERF_FLAGS=(-c 8 -T 2 -q 400); else DNSPERF_FLAGS=(-m tcp -c 4 -T 2 -q 100); fi
}

# dnsperf_run PORT MODE KEY: saturation qps -> KEY.qps; lost % -> KEY.lost
dnsperf_run() {
    local p=$1 mode=$2 key=$3 out="$WORK/dnsperf.out" qps lost
    dnsperf_flags "$mode"
    bounded $((DNS_SECONDS + 30)) dnsperf -s 127.0.0.1 -p "$p" -d "$WORK/queries" -l "$DNS_SECONDS" "${DNSPERF_FLAGS[@]}" > "$out" 2>&1 || true
    qps=$(awk '/Queries per second:/ { print $4 }' "$out")
    lost=$(awk '/Queries lost:/ { gsub(/[()%]/, "", $4); print $4 }' "$out")
    [ -n "$qps" ] || { cat "$out" >&2; die "dnsperf gave no result against port $p"; }
    add "$key.qps" "$qps"
    add "$key.lost" "${lost:-0}"
    log "  $key: $qps qps, ${lost:-?}% lost, $(grep -o 'NOERROR [0-9]* ([0-9.]*%)\|NXDOMAIN [0-9]* ([0-9.]*%)' "$out" | tr '\n' ' ')"
}
# dnsperf_latency PORT MODE RATE KEY: p50/p99 latency (us) at a fixed rate, from dnsperf -v
# (one line per response with its latency in seconds); timeouts are counted apart (logged).
dnsperf_latency() {
    local p=$1 mode=$2 rate=$3 key=$4 out="$WORK/dnsperf-v.out" n p50 p99 achieved timeouts
    dnsperf_flags "$mode"
    bounded $((DNS_SECONDS + 30)) dnsperf -s 127.0.0.1 -p "$p" -d "$WORK/queries" -l "$DNS_SECONDS" "${DNSPERF_FLAGS[@]}" \
        -Q "$rate" -t 2 -v > "$out" 2>&1 || true
    # Response lines: "> NOERROR g1.bench.test. A 0.000081" (latency last); timeouts "> T ...".
    read -r n p50 p99 < <(awk '$1 == ">" && $2 != "T" { print $NF }' "$out" | sort -g |
        awk -v scale=1e6 -f "$BENCH/lib/percentiles.awk")
    timeouts=$(awk '$1 == ">" && $2 == "T" { t++ } END { print t + 0 }' "$out")
    achieved=$(awk '/Queries per second:/ { print $4 }' "$out")
    [ "$n" -gt 0 ] || { head -20 "$out" >&2; die "dnsperf -v gave no latencies against port $p"; }
    add "$key.p50" "$p50"
    add "$key.p99" "$p99"
    log "  $key at $rate qps: $n responses ($achieved qps), TIMEOUTS $timeouts, p50 ${p50} us, p99 ${p99} us"
}

section_dns() { # udp|tcp
    local mode=$1 rate r c peer
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
    for peer in knotd nsd; do
        [ -n "$DNS_LATENCY_ONLY" ] && break
        row "DNS ${mode^^}: queries/s at saturation" "dns-$mode.failoverd.qps" "$peer" "dns-$mode.$peer.qps" higher "qps"
    done
    for peer in knotd nsd; do
        row "DNS ${mode^^}: p50 latency at $rate qps" "dns-$mode.failoverd.p50" "$peer" "dns-$mode.$peer.p50" lower "us"
        row "DNS ${mode^^}: p99 latency at $rate qps" "dns-$mode.failoverd.p99" "$peer" "dns-$mode.$peer.p99" lower "us"
    done
}
