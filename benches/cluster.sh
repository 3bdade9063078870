#!/usr/bin/env bash
# Cluster figures: three failoverd instances on a real three-member etcd cluster (Debian
# etcd-server), all on loopback. One command:
#
#   bash benches/cluster.sh               (from any directory)
#
# Runs the ignored measurements in tests/integration/cluster/figures.rs and prints one
# markdown table:
#   - flip spread: a main killed CLUSTER_FAILOVERS times (restarted in between, failback
#     immediate); per failover, the time between the first and the last instance answering
#     the backup in DNS (polled every 2 ms), and until all did (checks every 200 ms, fall 1);
#   - leader failover: the leader killed (-9) CLUSTER_LEADER_KILLS times (restarted in
#     between); the time until the other two agree on a new leader (lease_ttl 2 s);
#   - etcd writes at steady state: CLUSTER_GROUPS groups (tcp checks every 2 s) on each of
#     three instances, every target up; etcd's put, txn and delete counters and its raft
#     proposals and lease renewals over CLUSTER_STEADY seconds, summed over the members.
#
# Environment:
#   CLUSTER_FAILOVERS=20 CLUSTER_LEADER_KILLS=10 CLUSTER_GROUPS=1000 CLUSTER_STEADY=30
#   QUICK=1        a smoke run: 3 failovers, 2 kills, 100 groups, 5 s
#   PROFILE=release  or debug (debug reuses what cargo test built)
# Every process is started and stopped by PID by the test harness.
set -euo pipefail
cd "$(dirname "$(realpath "$0")")/.."

if [ "${QUICK:-}" = 1 ]; then
    : "${CLUSTER_FAILOVERS:=3}" "${CLUSTER_LEADER_KILLS:=2}" "${CLUSTER_GROUPS:=100}" "${CLUSTER_STEADY:=5}"
fi
export CLUSTER_FAILOVERS="${CLUSTER_FAILOVERS:-20}"
export CLUSTER_LEADER_KILLS="${CLUSTER_LEADER_KILLS:-10}"
export CLUSTER_GROUPS="${CLUSTER_GROUPS:-1000}"
export CLUSTER_STEADY="${CLUSTER_STEADY:-30}"

profile=()
if [ "${PROFILE:-release}" = release ]; then
    profile=(--release)
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! cargo test "${profile[@]}" --test integration -- --ignored --test-threads=1 \
    --nocapture cluster::figures >"$log" 2>&1; then
    cat "$log" >&2
    echo "benches/cluster.sh: a measurement failed (its output above)" >&2
    exit 1
fi
grep -o 'FIGURE {.*' "$log" | sed 's/^FIGURE //' | python3 benches/lib/cluster_table.py
