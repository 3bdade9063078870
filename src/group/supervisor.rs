//! The supervisor: the single writer of group state.
//!
//! Check results (active probes and passive proxy failures) and operator commands arrive on
//! one channel; the supervisor counts results into verdicts, steps each group's state
//! machine, persists decisions, and only then publishes a new snapshot through the
//! `ArcSwap` and acknowledges. Nobody else writes state.
//!
//! Work is batched by wake-up: everything waiting on the channel when the supervisor wakes
//! (up to `BATCH`) is handled, then the decisions of the whole batch are persisted once and
//! published once. When every main of 10,000 groups dies at once, the verdicts that arrive
//! together become one write of the state file and one snapshot, not 10,000 of each. A
//! publish rebuilds only the groups that changed (see `snapshot.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use metrics::counter;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::error;

use super::group_state::GroupState;
use super::machine::Transition;
use super::notices::NoticeQueue;
use super::snapshot::{GroupSnap, Snapshot, SnapshotReader};
use crate::config::Config;
use crate::health::checker::CheckId;
use crate::metrics as m;
use crate::store::events::EventLog;
use crate::store::StateFile;

use super::cluster_link::{ClusterLink, Role};
pub use super::commands::{Command, CommandError, Notice, ReloadPlan};
use super::inputs::Input;
pub use super::inputs::{CheckReport, PassiveReport, SupervisorHandle};

/// Inputs handled in one wake-up before their decisions are persisted and published: a
/// burst is one publish, and a publish still comes at least this often under a flood.
const BATCH: usize = 4096;

/// What the supervisor needs besides the config.
pub struct Services {
    pub store: Option<StateFile>,
    pub events: Arc<EventLog>,
    /// Transitions and commands, for the hook runner.
    pub notices: Option<Arc<NoticeQueue>>,
    /// The etcd session's channels (`None`: no `[cluster]`).
    pub cluster: Option<ClusterLink>,
    /// The gate runner (`None`: gates are never run, e.g. in unit tests).
    pub gates: Option<super::gates::GateRuns>,
    /// What each publish derives beside the snapshot (the DNS answers; `None`: nothing).
    pub derive: Option<super::snapshot::DeriveFactory>,
}

pub struct Supervisor {
    pub(super) groups: Vec<GroupState>,
    pub(super) generation: u64,
    /// Where each checker's reports go: (group, target) of the current config.
    pub(super) routes: HashMap<CheckId, (usize, usize)>,
    pub(super) services: Services,
    swap: Arc<ArcSwap<Snapshot>>,
    notify: watch::Sender<u64>,
    rx: mpsc::Receiver<Input>,
    /// Check results, on a channel of their own.
    checks: mpsc::Receiver<CheckReport>,
    version: u64,
    /// Notices of the change being made, sent when it is published.
    pub(super) pending: Vec<Notice>,
    /// Builds the DNS answers of each snapshot (none without `[dns]`).
    pub(super) dns: Option<Box<dyn super::snapshot::Derive>>,
    /// Groups changed since the last publish (each once: see `GroupState::dirty`).
    pub(super) dirty: Vec<usize>,
    /// Automatic transitions of this batch, persisted and announced at its end.
    decided: Vec<(usize, Transition)>,
    /// Group index by name of the current config.
    pub(super) index: Arc<super::snapshot::GroupIndex>,
    /// Alone without `[cluster]`; with it, follower until the session says leader.
    pub(super) role: Role,
    /// With `[cluster]`: the last decision of each group known committed in etcd (what a
    /// failed commit goes back to), and the newest etcd revision of a decision seen (the
    /// SOA serial, the same on every instance for the same decisions).
    pub(super) committed: HashMap<String, crate::store::SavedGroup>,
    pub(super) cluster_revision: i64,
    /// A committed decision was applied since the state file was last written.
    pub(super) unsaved: bool,
    /// Groups whose held switch changed in this batch: committed with its decisions.
    pub(super) regated: Vec<usize>,
}

/// A deadline that never comes: the idle timer's value while no group waits for one.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

impl Supervisor {
    /// Builds every group, resuming the decisions of `saved` (by group and target name);
    /// `checks` are the checker ids of every target (see `health::checker::Plan`).
    pub fn new(
        config: &Config,
        saved: Option<&crate::store::State>,
        checks: &[Vec<CheckId>],
        services: Services,
    ) -> (Supervisor, SupervisorHandle, SnapshotReader) {
        let groups: Vec<GroupState> = config
            .groups
            .iter()
            .map(|g| {
                let mut state = GroupState::new(g.clone());
                if let Some(s) = saved.and_then(|s| s.groups.get(&g.name)) {
                    state.restore(s);
                }
                state
            })
            .collect();
        let empty = Snapshot {
            version: 0,
            generation: 0,
            groups: Vec::new(),
            index: Arc::default(),
            derived: None,
        };
        let swap = Arc::new(ArcSwap::from_pointee(empty));
        let (notify, changed) = watch::channel(0);
        let (handle, rx, check_rx) = super::inputs::channel();
        let derive = services.derive;
        let role = match services.cluster {
            Some(_) => Role::Follower,
            None => Role::Alone,
        };
        let mut sup = Supervisor {
            role,
            committed: HashMap::new(),
            // Where the SOA serial stood when this instance last served (it never goes
            // back, also across a restart while etcd is down).
            cluster_revision: saved.map_or(0, |s| s.cluster_revision),
            unsaved: false,
            regated: Vec::new(),
            dirty: (0..groups.len()).collect(),
            groups,
            generation: 0,
            routes: routes(checks),
            services,
            swap: swap.clone(),
            notify,
            rx,
            checks: check_rx,
            version: 0,
            pending: Vec::new(),
            dns: derive.and_then(|f| f(config)),
            decided: Vec::new(),
            index: super::snapshot::index_of(&config.groups),
        };
        // Version 0, before anyone can read: nobody ever sees the empty one.
        sup.store_snapshot();
        (sup, handle, SnapshotReader::new(swap, changed))
    }

    pub async fn run(mut self, cancel: CancellationToken) {
        // Switches held when the process stopped: their gates run again.
        for gi in 0..self.groups.len() {
            self.gate_check(gi);
        }
        self.flush().await;
        // The next failback deadline of any group. Recomputed (a pass over every group)
        // only after something that can move it: a health verdict, a command, a tick, not
        // after each of the thousands of check reports a second that change nothing.
        let mut deadline = self.next_deadline();
        let sleep = tokio::time::sleep_until(deadline.unwrap_or_else(far_future));
        tokio::pin!(sleep);
        loop {
            let mut changed = tokio::select! {
                _ = cancel.cancelled() => break,
                input = self.rx.recv() => match input {
                    Some(input) => self.handle(input).await,
                    None => break,
                },
                Some(report) = self.checks.recv() => self.on_check(report),
                _ = &mut sleep, if deadline.is_some() => {
                    self.on_tick();
                    true
                }
            };
            crate::fault::maybe_panic("supervisor");
            // Everything else already waiting joins this batch.
            for _ in 1..BATCH {
                if let Ok(report) = self.checks.try_recv() {
                    changed |= self.on_check(report);
                } else if let Ok(input) = self.rx.try_recv() {
                    changed |= self.handle(input).await;
                } else {
                    break;
                }
            }
            self.flush().await;
            if changed {
                deadline = self.next_deadline();
                sleep.as_mut().reset(deadline.unwrap_or_else(far_future));
            }
        }
    }

    /// One input of a batch; true when it may have moved a deadline. A command first
    /// flushes what the batch decided so far, then runs alone (persisted, published and
    /// answered before the next input).
    async fn handle(&mut self, input: Input) -> bool {
        match input {
            Input::Passive(report) => self.on_passive(report),
            Input::Cluster(input) => self.on_cluster(input).await,
            Input::Gate(report) => self.on_gate(report),
            Input::Barrier(done) => {
                self.flush().await;
                let _ = done.send(());
                false
            }
            Input::Command {
                command,
                actor,
                reply,
            } => {
                self.flush().await;
                let result = self.on_command(command, &actor).await;
                let _ = reply.send(result);
                true
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.groups
            .iter()
            .filter_map(|g| g.machine.next_deadline())
            .min()
    }

    /// Marks group `gi` changed: the next publish rebuilds its snapshot.
    pub(super) fn touch(&mut self, gi: usize) {
        let g = &mut self.groups[gi];
        if !g.dirty {
            g.dirty = true;
            self.dirty.push(gi);
        }
    }

    /// An automatic change of group `gi` (or, with `None`, a change of what it shows):
    /// persisted, announced and published with the rest of the batch.
    pub(super) fn decide(&mut self, gi: usize, t: Option<Transition>) {
        self.touch(gi);
        if let Some(t) = t {
            self.decided.push((gi, t));
        }
        self.gate_check(gi);
    }

    /// The end of a batch: its decisions persisted once (a failure is logged and the
    /// switch still happens: serving the healthy target matters more), announced, then
    /// published once.
    pub(super) async fn flush(&mut self) {
        let regated = std::mem::take(&mut self.regated);
        if (!self.decided.is_empty() || !regated.is_empty()) && self.role == Role::Leader {
            let mut groups: Vec<usize> = self.decided.iter().map(|(gi, _)| *gi).collect();
            groups.extend(regated);
            groups.sort_unstable();
            groups.dedup();
            if !self.commit_decided(&groups).await {
                // Not committed: not served, not announced (the groups went back).
                self.decided.clear();
            }
        }
        if self.unsaved && self.decided.is_empty() {
            self.unsaved = false;
            if let Err(e) = self.persist().await {
                error!(error = %e, "cannot persist the cluster's decision locally");
            }
        }
        if !self.decided.is_empty() {
            if let Err(e) = self.persist().await {
                error!(error = %e, "cannot persist the group decision; serving it anyway");
            }
            for (gi, t) in std::mem::take(&mut self.decided) {
                self.announce(gi, Some(&t), None, true);
            }
        }
        if !self.dirty.is_empty() || !self.pending.is_empty() {
            self.publish();
        }
    }

    pub(super) fn publish(&mut self) {
        self.version += 1;
        self.store_snapshot();
        counter!(m::SNAPSHOT_PUBLISHES_TOTAL).increment(1);
        // Hooks run after the switch is live, never before.
        for n in self.pending.drain(..) {
            if let Some(queue) = &self.services.notices {
                queue.push(n);
            }
        }
    }

    /// Rebuilds the changed groups, makes the snapshot of `version` with their DNS
    /// answers (so they flip with the proxy's targets), stores it, and wakes the readers
    /// of the changed groups.
    fn store_snapshot(&mut self) {
        let changed = std::mem::take(&mut self.dirty);
        for &gi in &changed {
            self.groups[gi].refresh();
        }
        let groups: Vec<Arc<GroupSnap>> = self.groups.iter().map(|g| g.published.clone()).collect();
        // Revisions fit u32 for billions of decisions; wrapping is the SOA serial's own
        // arithmetic (RFC 1982).
        let serial = (self.role != Role::Alone).then_some(self.cluster_revision as u32);
        let derived = self
            .dns
            .as_mut()
            .map(|b| b.derive(self.version, serial, &groups, &changed));
        let snap = Snapshot {
            version: self.version,
            generation: self.generation,
            groups,
            index: self.index.clone(),
            derived,
        };
        self.swap.store(Arc::new(snap));
        for &gi in &changed {
            self.groups[gi].changed.send_replace(self.version);
        }
        self.notify.send_replace(self.version);
    }
}

/// Check id -> (group, target) of a config, from the ids its plan gave every target.
pub(super) fn routes(checks: &[Vec<CheckId>]) -> HashMap<CheckId, (usize, usize)> {
    let mut routes = HashMap::new();
    for (gi, ids) in checks.iter().enumerate() {
        for (ti, &id) in ids.iter().enumerate() {
            routes.insert(id, (gi, ti));
        }
    }
    routes
}

#[cfg(test)]
mod tests;
