//! The supervisor: the single writer of group state.
//!
//! Check results (active probes and passive proxy failures) arrive on one channel; the
//! supervisor counts them into verdicts, steps each group's state machine, and publishes a
//! new snapshot through the `ArcSwap` when anything changed. Nobody else writes state.

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use metrics::{counter, gauge};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::machine::{Machine, Policy, Transition};
use super::snapshot::{Change, GroupSnap, Snapshot, SnapshotReader, TargetSnap};
use super::Health;
use crate::config::{Config, GroupConfig};
use crate::health::verdict::Counter;
use crate::metrics as m;

/// Room for bursts of results; passive reports beyond it are dropped (the active checks
/// still run), active checkers wait.
const INPUT_QUEUE: usize = 4096;

/// One check result for one target.
#[derive(Debug)]
pub struct CheckReport {
    pub group: usize,
    pub target: usize,
    pub ok: bool,
    /// A proxy connect failure rather than a probe.
    pub passive: bool,
    /// Why it failed (empty when ok).
    pub detail: String,
}

#[derive(Debug)]
pub enum Input {
    Check(CheckReport),
}

/// Cheap to clone: how checkers and the proxy talk to the supervisor.
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
    pub fn report_passive_failure(&self, group: usize, target: usize, detail: String) {
        let report = CheckReport {
            group,
            target,
            ok: false,
            passive: true,
            detail,
        };
        let _ = self.tx.try_send(Input::Check(report));
    }
}

struct GroupState {
    config: Arc<GroupConfig>,
    machine: Machine,
    counters: Vec<Counter>,
    last_change: Option<Change>,
}

pub struct Supervisor {
    groups: Vec<GroupState>,
    swap: Arc<ArcSwap<Snapshot>>,
    notify: watch::Sender<u64>,
    rx: mpsc::Receiver<Input>,
    version: u64,
    dns: Option<crate::dns::AnswerBuilder>,
}

impl Supervisor {
    pub fn new(config: &Config) -> (Supervisor, SupervisorHandle, SnapshotReader) {
        let groups: Vec<GroupState> = config
            .groups
            .iter()
            .map(|g| GroupState::new(Arc::new(g.clone())))
            .collect();
        let mut dns = crate::dns::AnswerBuilder::for_config(config);
        let snaps: Vec<GroupSnap> = groups.iter().map(GroupState::snap).collect();
        let first = Snapshot {
            version: 0,
            dns: dns.as_mut().map(|b| b.build(0, &snaps)),
            groups: snaps,
        };
        let swap = Arc::new(ArcSwap::from_pointee(first));
        let (notify, changed) = watch::channel(0);
        let (tx, rx) = mpsc::channel(INPUT_QUEUE);
        let sup = Supervisor {
            groups,
            swap: swap.clone(),
            notify,
            rx,
            version: 0,
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
        loop {
            let deadline = self
                .groups
                .iter()
                .filter_map(|g| g.machine.next_deadline())
                .min();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                input = self.rx.recv() => match input {
                    Some(Input::Check(report)) => self.on_check(report),
                    None => break,
                },
                _ = sleep => self.on_tick(),
            }
        }
    }

    fn on_check(&mut self, r: CheckReport) {
        let now = Instant::now();
        let Some(g) = self.groups.get_mut(r.group) else {
            return;
        };
        let Some(counter) = g.counters.get_mut(r.target) else {
            return;
        };
        let Some(verdict) = counter.record(r.ok) else {
            return;
        };
        let target = &g.config.targets[r.target].name;
        match verdict {
            Health::Down => {
                warn!(group = %g.config.name, target = %target, passive = r.passive, detail = %r.detail, "target down")
            }
            _ => {
                info!(group = %g.config.name, target = %target, health = verdict.as_str(), "target {}", verdict.as_str())
            }
        }
        let transition = g.machine.set_health(r.target, verdict, now);
        self.apply(r.group, transition);
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        for i in 0..self.groups.len() {
            let transition = self.groups[i].machine.tick(now);
            if transition.is_some() {
                self.apply(i, transition);
            }
        }
    }

    /// Logs and counts a transition, then publishes the new state.
    fn apply(&mut self, group: usize, transition: Option<Transition>) {
        let g = &mut self.groups[group];
        if let Some(t) = &transition {
            let names = |idx: &[usize]| {
                idx.iter()
                    .map(|&i| g.config.targets[i].name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let (from, to) = (names(&t.from), names(&t.to));
            info!(group = %g.config.name, from = %from, to = %to, cause = %t.cause, epoch = t.epoch, "transition");
            counter!(m::TRANSITIONS_TOTAL, "group" => g.config.name.clone(), "cause" => t.cause.as_str()).increment(1);
            g.last_change = Some(Change {
                cause: t.cause,
                at: SystemTime::now(),
            });
        }
        self.publish();
    }

    fn publish(&mut self) {
        self.version += 1;
        // DNS answers are built in the same step, so they flip with the proxy's targets.
        let groups: Vec<GroupSnap> = self.groups.iter().map(GroupState::snap).collect();
        let snap = Snapshot {
            version: self.version,
            dns: self.dns.as_mut().map(|b| b.build(self.version, &groups)),
            groups,
        };
        self.swap.store(Arc::new(snap));
        self.notify.send_replace(self.version);
        self.export_metrics();
    }

    fn export_metrics(&self) {
        for g in &self.groups {
            let group = g.config.name.clone();
            gauge!(m::GROUP_EPOCH, "group" => group.clone()).set(g.machine.epoch() as f64);
            for (i, t) in g.config.targets.iter().enumerate() {
                let labels = [("group", group.clone()), ("target", t.name.clone())];
                let up = g.machine.targets()[i].health == Health::Up;
                gauge!(m::TARGET_UP, &labels).set(if up { 1.0 } else { 0.0 });
                let active = g.machine.active().contains(&i);
                gauge!(m::TARGET_ACTIVE, &labels).set(if active { 1.0 } else { 0.0 });
            }
        }
    }
}

impl GroupState {
    fn new(config: Arc<GroupConfig>) -> Self {
        let priorities: Vec<u32> = config.targets.iter().map(|t| t.priority).collect();
        let policy = Policy {
            failback: config.failback,
            failback_hold: config.failback_hold,
            all_down: config.all_down,
        };
        let counters = config
            .targets
            .iter()
            .map(|_| Counter::new(config.health.rise, config.health.fall))
            .collect();
        GroupState {
            machine: Machine::new(&priorities, policy),
            counters,
            config,
            last_change: None,
        }
    }

    fn snap(&self) -> GroupSnap {
        GroupSnap {
            config: self.config.clone(),
            epoch: self.machine.epoch(),
            status: self.machine.status(),
            active: self.machine.active().to_vec(),
            targets: self
                .machine
                .targets()
                .iter()
                .map(|t| TargetSnap {
                    health: t.health,
                    admin: t.admin,
                })
                .collect(),
            last_change: self.last_change,
        }
    }
}
