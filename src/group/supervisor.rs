//! The supervisor: the single writer of group state.
//!
//! Check results (active probes and passive proxy failures) and operator commands arrive on
//! one channel; the supervisor counts results into verdicts, steps each group's state
//! machine, persists decisions, and only then publishes a new snapshot through the
//! `ArcSwap` and acknowledges. Nobody else writes state.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use metrics::{counter, gauge};
use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::group_state::GroupState;
use super::machine::{AllDownEdge, Transition};
use super::notices::NoticeQueue;
use super::snapshot::{Change, GroupSnap, Snapshot, SnapshotReader};
use super::{GroupStatus, Health};
use crate::config::Config;
use crate::health::checker::CheckId;
use crate::metrics as m;
use crate::store::events::EventLog;
use crate::store::StateFile;

pub use super::commands::{Command, CommandError, Notice, ReloadPlan};

/// Room for bursts of results; passive reports beyond it are dropped (the active checks
/// still run), active checkers wait.
const INPUT_QUEUE: usize = 4096;

/// One active check result for one target, by the checker's id.
#[derive(Debug)]
pub struct CheckReport {
    pub id: CheckId,
    pub ok: bool,
    /// Why it failed (empty when ok).
    pub detail: String,
}

/// A client connect the proxy saw fail, by the indices of the snapshot it used.
#[derive(Debug)]
pub struct PassiveReport {
    /// The snapshot's config generation; a report from an older one is ignored.
    pub generation: u64,
    pub group: usize,
    pub target: usize,
    pub detail: String,
}

pub(super) enum Input {
    Check(CheckReport),
    Passive(PassiveReport),
    Command {
        command: Command,
        actor: String,
        reply: oneshot::Sender<Result<u64, CommandError>>,
    },
}

/// Cheap to clone: how checkers, the proxy and the admin API talk to the supervisor.
#[derive(Clone)]
pub struct SupervisorHandle {
    tx: mpsc::Sender<Input>,
}

impl SupervisorHandle {
    pub async fn report(&self, report: CheckReport) {
        // A closed channel means we are shutting down; the result no longer matters.
        let _ = self.tx.send(Input::Check(report)).await;
    }

    /// Never blocks the proxy: under a flood, extra reports are dropped.
    pub fn report_passive_failure(
        &self,
        generation: u64,
        group: usize,
        target: usize,
        detail: String,
    ) {
        let report = PassiveReport {
            generation,
            group,
            target,
            detail,
        };
        let _ = self.tx.try_send(Input::Passive(report));
    }

    /// Runs an operator command; returns the config generation once it is persisted and
    /// published.
    pub async fn command(&self, command: Command, actor: &str) -> Result<u64, CommandError> {
        let (reply, rx) = oneshot::channel();
        let input = Input::Command {
            command,
            actor: actor.to_string(),
            reply,
        };
        self.tx
            .send(input)
            .await
            .map_err(|_| CommandError::Internal("shutting down".into()))?;
        rx.await
            .map_err(|_| CommandError::Internal("shutting down".into()))?
    }
}

/// What the supervisor needs besides the config.
pub struct Services {
    pub store: Option<StateFile>,
    pub events: Arc<EventLog>,
    /// Transitions and commands, for the hook runner.
    pub notices: Option<Arc<NoticeQueue>>,
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
    version: u64,
    /// Notices of the change being made, sent when it is published.
    pending: Vec<Notice>,
    /// Builds the DNS answers of each snapshot (none without `[dns]`).
    pub(super) dns: Option<crate::dns::AnswerBuilder>,
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
                let mut state = GroupState::new(Arc::new(g.clone()));
                if let Some(s) = saved.and_then(|s| s.groups.get(&g.name)) {
                    state.restore(s);
                }
                state
            })
            .collect();
        let mut dns = crate::dns::AnswerBuilder::for_config(config);
        let snaps: Vec<GroupSnap> = groups.iter().map(GroupState::snap).collect();
        let first = Snapshot {
            version: 0,
            generation: 0,
            dns: dns.as_mut().map(|b| b.build(0, &snaps)),
            groups: snaps,
        };
        let swap = Arc::new(ArcSwap::from_pointee(first));
        let (notify, changed) = watch::channel(0);
        let (tx, rx) = mpsc::channel(INPUT_QUEUE);
        let sup = Supervisor {
            groups,
            generation: 0,
            routes: routes(checks),
            services,
            swap: swap.clone(),
            notify,
            rx,
            version: 0,
            pending: Vec::new(),
            dns,
        };
        sup.export_metrics();
        (
            sup,
            SupervisorHandle { tx },
            SnapshotReader::new(swap, changed),
        )
    }

    pub async fn run(mut self, cancel: CancellationToken) {
        // The next failback deadline of any group. Recomputed (a pass over every group)
        // only after something that can move it: a health verdict, a command, a tick, not
        // after each of the thousands of check reports a second that change nothing.
        let mut deadline = self.next_deadline();
        let sleep = tokio::time::sleep_until(deadline.unwrap_or_else(far_future));
        tokio::pin!(sleep);
        loop {
            let changed = tokio::select! {
                _ = cancel.cancelled() => break,
                input = self.rx.recv() => {
                    crate::fault::maybe_panic("supervisor");
                    match input {
                    Some(Input::Check(report)) => self.on_check(report).await,
                    Some(Input::Passive(report)) => self.on_passive(report).await,
                    Some(Input::Command { command, actor, reply }) => {
                        let result = self.on_command(command, &actor).await;
                        let _ = reply.send(result);
                        true
                    }
                    None => break,
                }},
                _ = &mut sleep, if deadline.is_some() => {
                    self.on_tick().await;
                    true
                }
            };
            if changed {
                deadline = self.next_deadline();
                sleep.as_mut().reset(deadline.unwrap_or_else(far_future));
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.groups
            .iter()
            .filter_map(|g| g.machine.next_deadline())
            .min()
    }

    /// An automatic change: persist it (a failure is logged, the switch still happens:
    /// serving the healthy target matters more), then publish.
    pub(super) async fn commit_transition(
        &mut self,
        group: usize,
        t: Option<Transition>,
        actor: Option<&str>,
    ) {
        if t.is_some() {
            if let Err(e) = self.persist().await {
                error!(error = %e, "cannot persist the group decision; serving it anyway");
            }
        }
        self.announce(group, t.as_ref(), actor, true);
        self.publish();
    }

    /// Logs, counts and records a transition; `hooks`: also tell the hook runner.
    pub(super) fn announce(
        &mut self,
        group: usize,
        t: Option<&Transition>,
        actor: Option<&str>,
        hooks: bool,
    ) {
        let Some(t) = t else { return };
        let g = &mut self.groups[group];
        let names = |idx: &[usize]| {
            idx.iter()
                .map(|&i| g.config.targets[i].name.clone())
                .collect::<Vec<_>>()
        };
        let (from, to) = (names(&t.from), names(&t.to));
        let name = g.config.name.clone();
        if let Some(edge) = t.all_down {
            let kind = match edge {
                AllDownEdge::Entered => "all_down",
                AllDownEdge::Left => "recovered",
            };
            match edge {
                AllDownEdge::Entered => {
                    warn!(group = %name, serving = %to.join(","), policy = ?g.config.all_down, epoch = t.epoch, "all targets down")
                }
                AllDownEdge::Left => {
                    info!(group = %name, to = %to.join(","), epoch = t.epoch, "recovered from all down")
                }
            }
            let details = json!({ "from": from, "to": to, "cause": t.cause, "actor": actor });
            self.services
                .events
                .record(kind, Some(&name), Some(t.epoch), details);
        }
        if t.moved() {
            info!(group = %name, from = %from.join(","), to = %to.join(","), cause = %t.cause, epoch = t.epoch, "transition");
            counter!(m::TRANSITIONS_TOTAL, "group" => name.clone(), "cause" => t.cause.as_str())
                .increment(1);
            let details = json!({ "from": from, "to": to, "cause": t.cause, "actor": actor });
            self.services
                .events
                .record("transition", Some(&name), Some(t.epoch), details);
        }
        g.last_change = Some(Change {
            cause: t.cause,
            at: SystemTime::now(),
        });
        if hooks {
            for n in Notice::for_transition(&name, t, &from, &to, actor) {
                self.notify_hooks(Some(n));
            }
        }
    }

    /// Queues a notice for the hook runner; `publish` sends it once the change is live.
    pub(super) fn notify_hooks(&mut self, notice: Option<Notice>) {
        if let Some(n) = notice {
            self.pending.push(n);
        }
    }

    pub(super) fn publish(&mut self) {
        self.version += 1;
        // DNS answers are built in the same step, so they flip with the proxy's targets.
        let groups: Vec<GroupSnap> = self.groups.iter().map(GroupState::snap).collect();
        let snap = Snapshot {
            version: self.version,
            generation: self.generation,
            dns: self.dns.as_mut().map(|b| b.build(self.version, &groups)),
            groups,
        };
        self.swap.store(Arc::new(snap));
        self.notify.send_replace(self.version);
        self.export_metrics();
        // Hooks run after the switch is live, never before.
        for n in self.pending.drain(..) {
            if let Some(queue) = &self.services.notices {
                queue.push(n);
            }
        }
    }

    pub(super) fn export_metrics(&self) {
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        for g in &self.groups {
            let group = g.config.name.clone();
            gauge!(m::GROUP_EPOCH, "group" => group.clone()).set(g.machine.epoch() as f64);
            let status = g.machine.status();
            for state in GroupStatus::ALL {
                gauge!(m::GROUP_STATE, "group" => group.clone(), "state" => state.as_str())
                    .set(flag(status == state));
            }
            for (i, t) in g.config.targets.iter().enumerate() {
                let labels = [("group", group.clone()), ("target", t.name.clone())];
                let ts = &g.machine.targets()[i];
                gauge!(m::TARGET_UP, &labels).set(flag(ts.health == Health::Up));
                gauge!(m::TARGET_ACTIVE, &labels).set(flag(g.machine.active().contains(&i)));
                gauge!(m::TARGET_FLAPPING, &labels).set(flag(ts.flapping));
            }
        }
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
#[path = "supervisor_tests.rs"]
mod tests;
