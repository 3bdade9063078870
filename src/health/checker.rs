//! Checkers: one per target, probing every address of the target once per interval and
//! reporting each result to the supervisor (which turns results into verdicts). They are
//! not tasks: one scheduler task (`schedule.rs`) holds them all in a sorted schedule and
//! runs each probe when it is due, so a waiting checker is its few hundred bytes of state,
//! not a task (20,000 targets: about 40 MB less).
//!
//! The set of checkers (`Checkers`) is owned by whoever owns reconfiguration. A reload
//! first *plans* (builds every new probe; the only step that can fail), then *applies* the
//! plan (starts new checkers, stops removed and changed ones; cannot fail). A target whose
//! check is unchanged keeps its checker, its id and its schedule, so a storm of reloads
//! never delays a verdict.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

mod target;

pub(super) use target::Checker;
use target::Target;

use super::probe::{ProbeSetupError, Prober};
use super::schedule::{self, Order};
use super::Reports;
use crate::config::{CheckKind, Config, GroupConfig, HealthConfig, TargetAddress, TargetConfig};
use crate::critical::Subsystems;

/// A running checker's identity; reports carry it, the supervisor maps it to a target.
pub type CheckId = u64;

/// What a checker is made of: when any of it changes, the checker restarts.
#[derive(PartialEq, Eq)]
struct Spec<'a> {
    kind: &'a CheckKind,
    port: u16,
    interval: Duration,
    timeout: Duration,
    address: &'a TargetAddress,
}

impl Spec<'_> {
    fn of<'a>(g: &'a GroupConfig, t: &'a TargetConfig) -> Spec<'a> {
        let h = &g.health;
        Spec {
            kind: &h.kind,
            port: h.port,
            interval: h.interval,
            timeout: h.timeout,
            address: &t.address,
        }
    }
}

/// A running checker as the plan sees it.
struct Running {
    target: Target,
    id: CheckId,
}

/// Running checkers by group name, then target name (a group has a handful of targets, and
/// a map keyed by both names cost 8 MB at 20,000 targets).
type ByGroup = HashMap<String, Vec<(String, Running)>>;

/// Every running checker.
pub struct Checkers {
    running: ByGroup,
    next_id: CheckId,
    /// Stops the scheduler (a child of the process's stop).
    parent: CancellationToken,
    /// A checker that panics fails subsystem "checkers" (the process restarts).
    subsystems: Subsystems,
    /// The scheduler's orders; it starts at the first `apply`.
    orders: Option<mpsc::UnboundedSender<Order>>,
}

/// What a reload will do to the checkers, prepared before anything changes.
pub struct Plan {
    /// The check id of every target, by group and target index of the new config.
    pub ids: Vec<Vec<CheckId>>,
    /// Checks in flight at most (`Config::checks_at_once`).
    in_flight: usize,
    start: Vec<(String, String, Checker)>,
    keep: Vec<(String, String)>,
    next_id: CheckId,
}

impl Checkers {
    pub fn new(parent: CancellationToken, subsystems: Subsystems) -> Checkers {
        subsystems.register("checkers");
        Checkers {
            running: HashMap::new(),
            next_id: 1,
            parent,
            subsystems,
            orders: None,
        }
    }

    /// Plans the checkers of `config`: a kept target keeps its id; every probe a new
    /// checker needs is built here, so a bad CA file fails the plan and changes nothing.
    pub fn plan(&self, config: &Config) -> Result<Plan, ProbeSetupError> {
        let mut next_id = self.next_id;
        let (mut ids, mut start, mut keep) = (Vec::new(), Vec::new(), Vec::new());
        let mut probers = Probers::default();
        for g in &config.groups {
            let mut group_ids = Vec::with_capacity(g.targets.len());
            for (index, t) in g.targets.iter().enumerate() {
                let key = (g.name.clone(), t.name.clone());
                let spec = Spec::of(g, t);
                let running = self.running.get(&g.name).and_then(|ts| find(ts, &t.name));
                if let Some(r) = running.filter(|r| r.target.spec() == spec) {
                    group_ids.push(r.id);
                    keep.push(key);
                    continue;
                }
                let prober = probers.get(&g.health)?;
                let id = next_id;
                next_id += 1;
                group_ids.push(id);
                let target = Target {
                    group: g.clone(),
                    index,
                };
                let checker = Checker::new(id, target, prober);
                start.push((key.0, key.1, checker));
            }
            ids.push(group_ids);
        }
        Ok(Plan {
            ids,
            in_flight: config.checks_at_once(),
            start,
            keep,
            next_id,
        })
    }

    /// Applies a plan: stops the checkers it does not keep, starts the new ones.
    pub fn apply(
        &mut self,
        plan: Plan,
        supervisor: &Reports,
        tracker: &TaskTracker,
        runtime: &tokio::runtime::Handle,
    ) {
        let orders = self.orders.get_or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let (sup, stop) = (supervisor.clone(), self.parent.clone());
            let subsystems = self.subsystems.clone();
            let task = async move {
                let run = std::panic::AssertUnwindSafe(schedule::run(rx, sup, stop));
                if run.catch_unwind().await.is_err() {
                    subsystems.fail("checkers", "the health check scheduler panicked");
                }
            };
            tracker.spawn_on(task, runtime);
            tx
        });
        let mut running = ByGroup::with_capacity(self.running.len().max(plan.start.len()));
        for (group, target) in plan.keep {
            let Some(ts) = self.running.get_mut(&group) else {
                continue;
            };
            if let Some(at) = ts.iter().position(|(t, _)| *t == target) {
                let kept = ts.swap_remove(at).1;
                running.entry(group).or_default().push((target, kept));
            }
        }
        let _ = orders.send(Order::InFlight(plan.in_flight));
        for (_, old) in self.running.drain().flat_map(|(_, ts)| ts) {
            // A send fails only once the scheduler has stopped: then nothing runs anyway.
            let _ = orders.send(Order::Stop(old.id));
        }
        // One start for the whole plan, so neighbours in a slot still fire together.
        let start = Instant::now();
        for (group, name, mut checker) in plan.start {
            checker.place(start);
            let (id, target) = (checker.id, checker.target.clone());
            let _ = orders.send(Order::Start(Box::new(checker)));
            running
                .entry(group)
                .or_default()
                .push((name, Running { target, id }));
        }
        running.values_mut().for_each(Vec::shrink_to_fit);
        let count: usize = running.values().map(Vec::len).sum();
        debug!(checkers = count, "health checkers in place");
        self.running = running;
        self.next_id = plan.next_id;
    }
}

/// Probes shared by the groups whose checks are alike (the same kind and timeout): 10,000
/// tcp-checked groups need one, not 10,000. Only the last few kinds are remembered, so a
/// config of all-different checks costs no search.
#[derive(Default)]
struct Probers<'a> {
    recent: std::collections::VecDeque<(&'a HealthConfig, Arc<Prober>)>,
}

impl<'a> Probers<'a> {
    const REMEMBERED: usize = 16;

    fn get(&mut self, h: &'a HealthConfig) -> Result<Arc<Prober>, ProbeSetupError> {
        let alike =
            |(seen, _): &&(&HealthConfig, _)| seen.kind == h.kind && seen.timeout == h.timeout;
        if let Some((_, p)) = self.recent.iter().find(alike) {
            return Ok(p.clone());
        }
        let p = Arc::new(Prober::new(h)?);
        if self.recent.len() == Self::REMEMBERED {
            self.recent.pop_front();
        }
        self.recent.push_back((h, p.clone()));
        Ok(p)
    }
}

fn find<'a>(targets: &'a [(String, Running)], name: &str) -> Option<&'a Running> {
    targets.iter().find(|(t, _)| t == name).map(|(_, r)| r)
}
