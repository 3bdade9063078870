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

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use metrics::{histogram, Histogram};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

use super::probe::{ProbeSetupError, Prober};
use super::schedule::{self, Order};
use super::{CheckReport, Reports};
use crate::config::{CheckKind, Config, GroupConfig, HealthConfig, TargetAddress, TargetConfig};
use crate::critical::Subsystems;
use crate::metrics as m;
use crate::metrics::book::{self, TargetStats};
use crate::vocab::Role;

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

/// A target in the config it is checked by: what a checker reads its settings from, shared
/// with the config rather than copied (20,000 copies were megabytes).
#[derive(Clone)]
struct Target {
    group: Arc<GroupConfig>,
    index: usize,
}

impl Target {
    fn config(&self) -> &TargetConfig {
        &self.group.targets[self.index]
    }

    fn spec(&self) -> Spec<'_> {
        Spec::of(&self.group, self.config())
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

pub(super) struct Checker {
    pub(super) id: CheckId,
    target: Target,
    /// The target's counters (rendered at scrape) and the fleet-wide duration histogram.
    stats: Arc<TargetStats>,
    durations: Histogram,
    prober: Arc<Prober>,
    /// Where in the interval this checker's first check falls (a whole number of slots).
    offset: Duration,
    /// When the next check is due (set by the scheduler when it takes the checker).
    pub(super) due: Instant,
}

/// Width of the slots first checks are spread over. Checks that share a slot fire in one
/// wake-up of the control thread: 2,000 checks a second then wake it about 100 times a
/// second rather than once per check, and each wake-up is a context switch.
const SLOT: Duration = Duration::from_millis(10);

/// The outcome of one check round of a target.
pub(super) enum Outcome {
    /// With the role a role check answered.
    Ok(Option<Role>),
    Failed(String),
    /// failoverd's own resources ran out: nothing is known of the target.
    Local,
}

impl Checker {
    fn new(id: CheckId, target: Target, prober: Arc<Prober>) -> Checker {
        // Spread first checks over the interval so a thousand targets are not probed at
        // once, in whole slots so that neighbours fire together.
        let slot_ms = SLOT.as_millis() as u64;
        let interval = target.group.health.interval;
        let slots = (interval.as_millis() as u64 / slot_ms).max(1);
        let offset = Duration::from_millis(slot_ms * fastrand::u64(..slots));
        Checker {
            id,
            stats: book::target(&target.group.name, &target.config().name),
            target,
            durations: histogram!(m::HEALTH_CHECK_DURATION),
            prober,
            offset,
            due: Instant::now() + offset,
        }
    }

    /// Places the first check `offset` after `start` (when the plan is applied). Counted
    /// from when checks can run, not from when they were planned,
    /// so that the checks planned before a slow start (10,000 groups take a second to
    /// set up) do not all fall due at once, as a burst of connects that overflows the
    /// targets' accept queues.
    pub(super) fn place(&mut self, start: Instant) {
        self.due = start + self.offset;
    }

    /// Moves `due` to the next tick of the interval after `now`; ticks that passed while
    /// a check ran long are skipped, not made up.
    pub(super) fn reschedule(&mut self, now: Instant) {
        let interval = self
            .target
            .group
            .health
            .interval
            .max(Duration::from_millis(1));
        self.due += interval;
        if self.due <= now {
            let behind = now.duration_since(self.due).as_nanos() / interval.as_nanos() + 1;
            self.due += interval * u32::try_from(behind).unwrap_or(u32::MAX);
        }
    }

    /// One check round as the report it makes (`None`: nothing to report).
    pub(super) async fn round(&mut self) -> Option<CheckReport> {
        let (ok, detail, role) = match self.check_once().await {
            Outcome::Ok(role) => (true, String::new(), role),
            Outcome::Failed(e) => {
                self.stats.failed(e.clone(), std::time::SystemTime::now());
                (false, e, None)
            }
            Outcome::Local => return None,
        };
        Some(CheckReport {
            id: self.id,
            ok,
            detail,
            role,
        })
    }

    /// Probes every address of the target; the target is good only if all of them are,
    /// and primary only if all of them are (one standby address makes it a standby:
    /// traffic must not reach a replica through any of its addresses).
    async fn check_once(&mut self) -> Outcome {
        let addrs = match self.resolve().await {
            Ok(a) => a,
            Err(e) => return Outcome::Failed(e),
        };
        let mut role = None;
        for addr in addrs {
            let started = Instant::now();
            let host = host_text(self.target.config());
            let result = self.prober.probe(addr, &host).await;
            let took = started.elapsed();
            self.durations.record(took.as_secs_f64());
            match result {
                Ok(seen) => {
                    self.stats.check("ok", took);
                    role = role.max(seen);
                }
                Err(e) => {
                    if let Some((kind, io)) = e.local() {
                        let what = format!("health check of {addr}");
                        crate::local_error::record(kind, &what, io);
                        return Outcome::Local;
                    }
                    self.stats.check(e.kind(), took);
                    return Outcome::Failed(format!("{addr}: {e}"));
                }
            }
        }
        Outcome::Ok(role)
    }

    async fn resolve(&self) -> Result<Vec<SocketAddr>, String> {
        let (port, timeout) = (
            self.target.group.health.port,
            self.target.group.health.timeout,
        );
        match &self.target.config().address {
            TargetAddress::Ips(ips) => {
                Ok(ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect())
            }
            TargetAddress::Host(h) => {
                let lookup = tokio::net::lookup_host((h.as_str(), port));
                match tokio::time::timeout(timeout, lookup).await {
                    Ok(Ok(mut addrs)) => addrs
                        .next()
                        .map(|a| vec![a])
                        .ok_or_else(|| format!("resolve {h}: no address")),
                    Ok(Err(e)) => Err(format!("resolve {h}: {e}")),
                    Err(_) => Err(format!("resolve {h}: timeout")),
                }
            }
        }
    }
}

/// The target's address as the probe's default Host header and SNI.
fn host_text(t: &TargetConfig) -> Cow<'_, str> {
    match &t.address {
        TargetAddress::Host(h) => Cow::Borrowed(h),
        TargetAddress::Ips(ips) => ips
            .first()
            .map(|ip| ip.to_string())
            .unwrap_or_default()
            .into(),
    }
}
