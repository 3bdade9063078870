"""The cluster figures (one JSON object per line on stdin) as a markdown table."""

import json
import sys

rows = {}
for line in sys.stdin:
    f = json.loads(line)
    rows[f["figure"]] = f

missing = {"flip", "leader", "etcd_writes"} - rows.keys()
if missing:
    sys.exit(f"cluster_table: no figure for {sorted(missing)}")

flip, leader, writes = rows["flip"], rows["leader"], rows["etcd_writes"]
print("| figure | median | max | conditions |")
print("|---|---|---|---|")
print(
    f"| flip spread across 3 instances, ms | {flip['spread_ms_median']:.1f} | "
    f"{flip['spread_ms_max']:.1f} | {flip['failovers']} failovers; {flip['check']} |"
)
print(
    f"| main killed until all 3 answer the backup, ms | {flip['all_flipped_ms_median']:.0f} | "
    f"{flip['all_flipped_ms_max']:.0f} | same runs |"
)
print(
    f"| leader killed (-9) until a new one, ms | {leader['new_leader_ms_median']:.0f} | "
    f"{leader['new_leader_ms_max']:.0f} | {leader['kills']} kills; lease_ttl "
    f"{leader['lease_ttl_ms'] / 1000:g} s |"
)
print()
print(
    f"etcd at steady state, {writes['groups']} groups on each of {writes['instances']} "
    f"instances ({writes['checks']}), over {writes['seconds']} s, per second: "
    f"puts {writes['puts_per_s']:.2f}, txns {writes['txns_per_s']:.2f}, deletes "
    f"{writes['deletes_per_s']:.2f} (writes per instance {writes['writes_per_s_per_instance']:.2f}); "
    f"raft proposals {writes['raft_proposals_per_s']:.2f}; lease renewals "
    f"{writes['lease_renewals_per_s']:.2f}; verdict changes logged by the instances meanwhile: "
    f"{writes['verdict_changes']}"
)
