# shellcheck shell=bash
# The results and the report, sourced by benches/compare.sh. Sections record values with
# add, declare the table's rows with row and add sentences with note; report prints it
# all at the end: the header (machine, versions, load), ONE markdown table of medians and
# ratios failoverd/peer (rows from benches/lib/table.awk), the notes, then every raw value.

declare -A RES # key -> the values of every round, space-separated, in run order
ROWS=()        # "measurement|failoverd-key|peer|peer-key|higher or lower|unit"
NOTES=()

add() { RES[$1]="${RES[$1]:-} $2"; } # add KEY VALUE
# row MEASUREMENT FAILOVERD-KEY PEER PEER-KEY higher|lower UNIT
row() { ROWS+=("$1|$2|$3|$4|$5|$6"); }
note() { NOTES+=("$1"); }
# last KEY: the value of KEY recorded last
last() { echo "${RES[$1]##* }"; }

median() { # "V1 V2 ...": the median (mean of the middle two for an even count)
    # shellcheck disable=SC2086 # the values are one word each, split on purpose
    printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "" } else if (NR % 2) { print v[(NR + 1) / 2] } else { print (v[NR / 2] + v[NR / 2 + 1]) / 2 } }'
}

versions() {
    local rev dirty
    rev=$(git rev-parse --short HEAD 2> /dev/null || echo '?')
    git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2> /dev/null || dirty=' + uncommitted changes to src'
    printf 'failoverd %s (%s%s), ' "$("$FAILOVERD" --version | awk '{ print $2 }')" "$rev" "${dirty:-}"
    printf 'HAProxy %s, ' "$("$HAPROXY" -v | awk 'NR == 1 { print $3 }')"
    printf 'knotd %s, ' "$("$KNOTD" --version | awk '{ print $NF }')"
    printf 'NSD %s, ' "$("$NSD" -v 2>&1 | awk 'NR == 1 { print $3 }')"
    printf 'dnsperf %s, ' "$(dnsperf -h 2>&1 | awk '/^Version/ { print $2 }')"
    printf 'iperf3 %s.' "$(iperf3 --version | awk 'NR == 1 { print $2 }')"
}

# report: everything on stdout. Reads T0, LOAD_START, ROUNDS, QUICK, PROFILE, IDLE_NOTE.
report() {
    local elapsed rw name fkey peer pkey better unit n k
    elapsed=$(($(date +%s) - T0))
    echo
    echo "## failoverd vs HAProxy / Knot / NSD ($(date -u +%Y-%m-%d), ROUNDS=$ROUNDS${QUICK:+, QUICK=1}$([ "$PROFILE" = release ] || echo ", PROFILE=$PROFILE"))"
    echo
    echo "Machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)."
    echo "Versions: $(versions)"
    echo "Load generators and servers share the cores; medians of $ROUNDS alternating rounds; run took ${elapsed}s; load average (1/5/15 min) at the start $LOAD_START, at the end $(cut -d' ' -f1-3 /proc/loadavg) (anything above what this script runs is other work on the machine)."
    if want memory && [ -n "${IDLE_NOTE:-}" ]; then
        echo "Memory rows: $IDLE_NOTE (an idle session holds two descriptors in the proxy)."
    fi
    echo
    echo "| measurement | unit | failoverd | peer | peer value | failoverd/peer | better | ahead |"
    echo "|---|---|---|---|---|---|---|---|"
    for rw in "${ROWS[@]+"${ROWS[@]}"}"; do
        IFS='|' read -r name fkey peer pkey better unit <<< "$rw"
        printf '%s|%s|%s|%s|%s|%s\n' "$name" "$unit" "$peer" "$better" \
            "$(median "${RES[$fkey]:-}")" "$(median "${RES[$pkey]:-}")"
    done | awk -f "$BENCH/lib/table.awk"
    echo
    for n in "${NOTES[@]+"${NOTES[@]}"}"; do echo "$n"; done
    echo
    echo "Raw values per round (in run order; keys: section.contender.metric):"
    echo
    for k in $(printf '%s\n' "${!RES[@]}" | sort); do
        echo "- $k:${RES[$k]}"
    done
}
