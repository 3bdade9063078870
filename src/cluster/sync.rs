//! Verdicts and decisions between the supervisor and etcd.
//!
//! Keys (under the prefix): `verdicts/INSTANCE/GROUP` holds one instance's verdicts on a
//! group's targets (`{"main": "up", ...}`), written on change under that instance's lease,
//! so an instance that is gone stops counting. `decisions/GROUP` holds the group's decision
//! (the state file's shape), written only by the leader, in a transaction that holds only
//! while its leader key is still there under its lease.
//!
//! The cluster's verdict on a target is the majority of the live instances that have a
//! verdict on it: down when more than half of them see it down, so one instance cut off
//! from a main cannot fail the group over. Every instance computes it (the same inputs give
//! the same answer) and tells its supervisor; only the leader's decides on it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use etcd_client::{Client, Compare, CompareOp, PutOptions, Txn, TxnOp};
use tokio::sync::mpsc;

use crate::group::cluster_link::{ClusterInput, DecisionWrite, LocalVerdict, Role};
use crate::group::supervisor::SupervisorHandle;
use crate::group::Health;
use crate::store::SavedGroup;

/// etcd takes at most 128 operations per transaction by default.
const OPS_PER_TXN: usize = 100;

type Verdicts = BTreeMap<String, Health>;

/// Lives across sessions: what this instance saw itself, and its channels.
pub(super) struct Sync {
    pub supervisor: SupervisorHandle,
    /// Commands asked of this instance for the leader, and the leader's side of them.
    pub fwd: super::forward::Forwarding,
    pub local: mpsc::UnboundedReceiver<LocalVerdict>,
    pub writes: mpsc::Receiver<DecisionWrite>,
    /// This instance's own verdicts, by group: written again in full by each new session.
    own: HashMap<String, Verdicts>,
    /// Per session: every live instance's verdicts, by instance then group.
    all: HashMap<String, HashMap<String, Verdicts>>,
    /// Per session: the cluster verdicts last told to the supervisor.
    told: HashMap<(String, String), Health>,
    role: Role,
}

impl Sync {
    pub fn new(
        supervisor: SupervisorHandle,
        local: mpsc::UnboundedReceiver<LocalVerdict>,
        writes: mpsc::Receiver<DecisionWrite>,
        fwd: super::forward::Forwarding,
    ) -> Sync {
        Sync {
            supervisor,
            fwd,
            local,
            writes,
            own: HashMap::new(),
            all: HashMap::new(),
            told: HashMap::new(),
            role: Role::Follower,
        }
    }

    /// A new session starts from nothing but this instance's own verdicts.
    pub fn reset(&mut self) {
        self.all.clear();
        self.told.clear();
    }

    pub async fn set_role(&mut self, role: Role) {
        if role != self.role {
            self.role = role;
            self.supervisor.cluster(ClusterInput::Role(role)).await;
        }
    }

    /// Records one of this instance's verdicts; returns its group (to write).
    pub fn record_own(&mut self, v: LocalVerdict) -> String {
        self.own
            .entry(v.group.clone())
            .or_default()
            .insert(v.target, v.health);
        v.group
    }

    /// Writes this instance's verdicts on `groups` under `lease`.
    pub async fn write_own(
        &self,
        client: &mut Client,
        prefix: &str,
        instance: &str,
        lease: i64,
        groups: impl IntoIterator<Item = String>,
    ) -> Result<(), String> {
        let ops: Vec<TxnOp> = groups
            .into_iter()
            .filter_map(|g| {
                let v = serde_json::to_string(self.own.get(&g)?).ok()?;
                let key = format!("{prefix}verdicts/{instance}/{g}");
                Some(TxnOp::put(
                    key,
                    v,
                    Some(PutOptions::new().with_lease(lease)),
                ))
            })
            .collect();
        for chunk in ops.chunks(OPS_PER_TXN) {
            let txn = Txn::new().and_then(chunk.to_vec());
            client
                .txn(txn)
                .await
                .map_err(|e| format!("etcd: writing verdicts: {e}"))?;
        }
        Ok(())
    }

    pub fn all_own_groups(&self) -> Vec<String> {
        self.own.keys().cloned().collect()
    }

    /// A verdict key was written (`Some`) or deleted (`None`); returns the group.
    pub fn saw_verdict(&mut self, rest: &str, value: Option<&[u8]>) -> Option<String> {
        let (instance, group) = rest.split_once('/')?;
        let groups = self.all.entry(instance.to_string()).or_default();
        match value.and_then(|v| serde_json::from_slice::<Verdicts>(v).ok()) {
            Some(v) => groups.insert(group.to_string(), v),
            None => groups.remove(group),
        };
        Some(group.to_string())
    }

    /// Tells the supervisor every cluster verdict on `groups` that changed (all groups
    /// seen with `None`, after members came or went).
    pub async fn tell(&mut self, members: &BTreeSet<String>, groups: Option<Vec<String>>) {
        let groups: BTreeSet<String> = match groups {
            Some(g) => g.into_iter().collect(),
            None => self
                .all
                .values()
                .flat_map(|gs| gs.keys().cloned())
                .collect(),
        };
        for group in groups {
            for (target, health) in self.majority(members, &group) {
                let key = (group.clone(), target.clone());
                if self.told.get(&key) == Some(&health) {
                    continue;
                }
                self.told.insert(key, health);
                let input = ClusterInput::Health {
                    group: group.clone(),
                    target,
                    health,
                };
                self.supervisor.cluster(input).await;
            }
        }
    }

    /// The cluster's verdict on each target of `group` seen by a live instance.
    fn majority(&self, members: &BTreeSet<String>, group: &str) -> Vec<(String, Health)> {
        let mut votes: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for (instance, groups) in &self.all {
            if !members.contains(instance) {
                continue;
            }
            for (target, h) in groups.get(group).into_iter().flatten() {
                let (up, down) = votes.entry(target).or_default();
                match h {
                    Health::Up => *up += 1,
                    Health::Down => *down += 1,
                    Health::Unknown => {}
                }
            }
        }
        votes
            .into_iter()
            .map(|(t, (up, down))| {
                let h = if 2 * down > up + down {
                    Health::Down
                } else if up > 0 {
                    Health::Up
                } else {
                    Health::Unknown
                };
                (t.to_string(), h)
            })
            .collect()
    }

    /// A decision key was written: tells the supervisor.
    pub async fn saw_decision(&mut self, group: &str, value: &[u8], revision: i64) {
        if let Ok(saved) = serde_json::from_slice::<SavedGroup>(value) {
            let input = ClusterInput::Decision {
                group: group.to_string(),
                saved,
                revision,
            };
            self.supervisor.cluster(input).await;
        }
    }
}

/// Commits a leader's decisions: every transaction holds only while `leader_key` is this
/// instance's, under `lease`. Returns the revision of the last one.
pub(super) async fn commit(
    client: &mut Client,
    prefix: &str,
    (leader_key, instance, lease): (&str, &str, i64),
    groups: &[(String, SavedGroup)],
) -> Result<i64, String> {
    let mut revision = 0;
    for chunk in groups.chunks(OPS_PER_TXN) {
        let ops: Vec<TxnOp> = chunk
            .iter()
            .filter_map(|(g, saved)| {
                let v = serde_json::to_string(saved).ok()?;
                Some(TxnOp::put(format!("{prefix}decisions/{g}"), v, None))
            })
            .collect();
        let txn = Txn::new()
            .when([
                Compare::value(leader_key, CompareOp::Equal, instance),
                Compare::lease(leader_key, CompareOp::Equal, lease),
            ])
            .and_then(ops);
        let r = client
            .txn(txn)
            .await
            .map_err(|e| format!("etcd: committing decisions: {e}"))?;
        if !r.succeeded() {
            return Err("no longer the cluster's leader: the decision was not committed".into());
        }
        revision = r.header().map_or(revision, |h| h.revision());
    }
    Ok(revision)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync() -> Sync {
        let (_, local) = mpsc::unbounded_channel();
        let (_, writes) = mpsc::channel(1);
        let (_, asks) = mpsc::channel(1);
        let fwd = crate::cluster::forward::Forwarding::new(asks);
        Sync::new(SupervisorHandle::detached(), local, writes, fwd)
    }

    #[test]
    fn a_target_is_down_only_for_a_majority_of_the_live_instances_that_check_it() {
        let mut s = sync();
        let vote = |s: &mut Sync, who: &str, main: &str| {
            let v = format!(r#"{{"main":"{main}","backup":"up"}}"#);
            s.saw_verdict(&format!("{who}/app"), Some(v.as_bytes()));
        };
        vote(&mut s, "ns1", "down");
        vote(&mut s, "ns2", "up");
        vote(&mut s, "ns3", "up");
        let live: BTreeSet<String> = ["ns1", "ns2", "ns3"].map(String::from).into();
        let main = |s: &Sync, live: &BTreeSet<String>| {
            s.majority(live, "app")
                .into_iter()
                .find(|(t, _)| t == "main")
                .unwrap()
                .1
        };
        assert_eq!(
            main(&s, &live),
            Health::Up,
            "one instance cut off fails nothing over"
        );
        vote(&mut s, "ns2", "down");
        assert_eq!(main(&s, &live), Health::Down, "two of three");
        // ns3 is gone (its lease ran out) but its key is still read: it does not count.
        vote(&mut s, "ns3", "up");
        let two: BTreeSet<String> = ["ns1", "ns2"].map(String::from).into();
        assert_eq!(main(&s, &two), Health::Down);
        // One down of two is no majority.
        vote(&mut s, "ns2", "up");
        assert_eq!(main(&s, &two), Health::Up);
        s.saw_verdict("ns1/app", None);
        s.saw_verdict("ns2/app", None);
        assert!(
            s.majority(&two, "app").is_empty(),
            "nobody checks it: no verdict"
        );
    }
}
