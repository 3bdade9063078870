//! The supervisor's side of `[cluster]`: what it sends to the etcd session (its own
//! verdicts, the leader's decisions to commit) and what it gets back (the cluster's
//! verdicts, the committed decisions, whether this instance leads).
//!
//! With a cluster, local verdicts no longer decide: they are shared, and only the leader's
//! supervisor steps the state machines, on the verdicts of the majority of live instances.
//! Every other instance serves the decisions it sees committed in etcd. The types live
//! here so that the cluster module depends on the supervisor, not the other way round.

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{error, info};

use super::persist::decision_for;
use super::supervisor::Supervisor;
use super::{Cause, Health};
use crate::store::SavedGroup;

/// What this instance is to the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// No `[cluster]`: this process decides from its own verdicts.
    Alone,
    /// Serves the decisions committed in etcd; decides nothing.
    Follower,
    /// Decides from the cluster's verdicts and commits before it serves.
    Leader,
}

/// One of this instance's verdicts, for the others to count.
#[derive(Debug, Clone)]
pub struct LocalVerdict {
    pub group: String,
    pub target: String,
    pub health: Health,
}

/// The leader's decisions of one batch, to commit while it still leads. The reply is the
/// etcd revision of the commit, or why it failed.
pub struct DecisionWrite {
    pub groups: Vec<(String, SavedGroup)>,
    pub reply: oneshot::Sender<Result<i64, String>>,
}

/// From the etcd session to the supervisor.
#[derive(Debug)]
pub enum ClusterInput {
    /// The verdict of the majority of the live instances that check the target.
    Health {
        group: String,
        target: String,
        health: Health,
    },
    /// A decision as committed in etcd, at `revision`.
    Decision {
        group: String,
        saved: SavedGroup,
        revision: i64,
    },
    Role(Role),
}

/// The supervisor's channels to the etcd session.
#[derive(Clone)]
pub struct ClusterLink {
    pub verdicts: mpsc::UnboundedSender<LocalVerdict>,
    pub decisions: mpsc::Sender<DecisionWrite>,
}

impl Supervisor {
    pub(super) async fn on_cluster(&mut self, input: ClusterInput) -> bool {
        match input {
            ClusterInput::Health {
                group,
                target,
                health,
            } => self.cluster_health(&group, &target, health),
            ClusterInput::Decision {
                group,
                saved,
                revision,
            } => {
                if revision > self.cluster_revision {
                    // The serial moves, even when the decision is the same as before (a new
                    // leader committing it again): published, so every instance gives the
                    // newest serial, and kept in the state file, so it never goes back.
                    self.cluster_revision = revision;
                    self.unsaved = true;
                    if let Some(&gi) = self.index.get(&group) {
                        self.touch(gi);
                    }
                }
                self.apply_decision(&group, &saved);
                true
            }
            ClusterInput::Role(role) => {
                if role != self.role {
                    info!(?role, "cluster role");
                }
                let lead = role == Role::Leader && self.role != Role::Leader;
                self.role = role;
                if lead {
                    // Decide again from what the cluster sees now: the old leader may have
                    // died between a verdict and its decision.
                    let now = Instant::now();
                    // Held switches first: their gates died with the old leader's runs.
                    self.restart_gates();
                    for gi in 0..self.groups.len() {
                        let t = self.groups[gi].machine.reevaluate(now, Cause::Health);
                        if t.is_some() {
                            self.decide(gi, t);
                        }
                        self.gate_check(gi);
                    }
                    // What etcd does not hold yet (a new cluster, a group added by a
                    // reload) is committed now, so every instance serves one decision.
                    let missing: Vec<usize> = (0..self.groups.len())
                        .filter(|&gi| {
                            let g = &self.groups[gi];
                            self.committed.get(&g.config.name) != Some(&g.saved())
                        })
                        .collect();
                    if !missing.is_empty() {
                        self.commit_decided(&missing).await;
                    }
                }
                true
            }
        }
    }

    /// The cluster's verdict on a target: the leader decides on it; a follower only shows it
    /// (the decision it serves stays the committed one).
    fn cluster_health(&mut self, group: &str, target: &str, health: Health) -> bool {
        let Some(&gi) = self.index.get(group) else {
            return false;
        };
        let Some(ti) = self.groups[gi]
            .config
            .targets
            .iter()
            .position(|t| t.name == target)
        else {
            return false;
        };
        let now = Instant::now();
        let m = &mut self.groups[gi].machine;
        if self.role == Role::Leader {
            let t = m.set_health(ti, health, now);
            self.decide(gi, t);
        } else {
            let committed = m.decision();
            m.set_health(ti, health, now);
            m.restore(&committed);
            self.touch(gi);
        }
        true
    }

    /// A committed decision: served as it is (the leader's own come back the same way and
    /// change nothing).
    fn apply_decision(&mut self, group: &str, saved: &SavedGroup) {
        let Some(&gi) = self.index.get(group) else {
            return;
        };
        let g = &mut self.groups[gi];
        let d = decision_for(&g.config, saved);
        if g.machine.decision() == d {
            return;
        }
        if self.role == Role::Leader && d.epoch <= g.machine.epoch() {
            // An older write of this leader's, overtaken by a newer one in flight.
            return;
        }
        g.machine.restore(&d);
        self.committed.insert(group.to_string(), saved.clone());
        self.unsaved = true;
        self.touch(gi);
        self.gate_check(gi);
    }

    /// Sends a changed local verdict to the others (with a cluster).
    pub(super) fn share_verdict(&self, gi: usize, ti: usize, health: Health) {
        if let Some(link) = &self.services.cluster {
            let g = &self.groups[gi].config;
            let _ = link.verdicts.send(LocalVerdict {
                group: g.name.clone(),
                target: g.targets[ti].name.clone(),
                health,
            });
        }
    }

    /// The leader commits the batch's decisions in etcd before serving them. When it
    /// cannot (it no longer leads, etcd is gone), the groups go back to their last
    /// committed decision: nothing uncommitted is ever served. False then.
    pub(super) async fn commit_decided(&mut self, groups: &[usize]) -> bool {
        let Some(link) = self.services.cluster.clone() else {
            return true;
        };
        let writes: Vec<(String, SavedGroup)> = groups
            .iter()
            .map(|&gi| (self.groups[gi].config.name.clone(), self.groups[gi].saved()))
            .collect();
        let (reply, rx) = oneshot::channel();
        let sent = link
            .decisions
            .send(DecisionWrite {
                groups: writes.clone(),
                reply,
            })
            .await;
        let result = match sent {
            Ok(()) => rx
                .await
                .unwrap_or_else(|_| Err("the cluster session ended".into())),
            Err(_) => Err("the cluster session ended".into()),
        };
        match result {
            Ok(revision) => {
                self.cluster_revision = self.cluster_revision.max(revision);
                self.unsaved = true;
                for (name, saved) in writes {
                    self.committed.insert(name, saved);
                }
                true
            }
            Err(e) => {
                error!(error = %e, "cannot commit the decision in etcd; not serving it");
                self.role = Role::Follower;
                for &gi in groups {
                    let name = self.groups[gi].config.name.clone();
                    if let Some(saved) = self.committed.get(&name).cloned() {
                        let d = decision_for(&self.groups[gi].config, &saved);
                        self.groups[gi].machine.restore(&d);
                    }
                    self.touch(gi);
                }
                false
            }
        }
    }
}
