//! One target's checker: when its checks fall due, and one check round (every address of
//! the target probed, the worst result wins). `Checkers` plans and owns them; the
//! scheduler (`schedule.rs`) runs them.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use metrics::{histogram, Histogram};
use tokio::time::Instant;

use super::{CheckId, Spec};
use crate::config::{GroupConfig, TargetAddress, TargetConfig};
use crate::health::probe::Prober;
use crate::health::CheckReport;
use crate::metrics as m;
use crate::metrics::book::{self, TargetStats};
use crate::vocab::Role;

/// A target in the config it is checked by: what a checker reads its settings from, shared
/// with the config rather than copied (20,000 copies were megabytes).
#[derive(Clone)]
pub(super) struct Target {
    pub(super) group: Arc<GroupConfig>,
    pub(super) index: usize,
}

impl Target {
    pub(super) fn config(&self) -> &TargetConfig {
        &self.group.targets[self.index]
    }

    pub(super) fn spec(&self) -> Spec<'_> {
        Spec::of(&self.group, self.config())
    }
}

pub(in crate::health) struct Checker {
    pub(in crate::health) id: CheckId,
    pub(super) target: Target,
    /// The target's counters (rendered at scrape) and the fleet-wide duration histogram.
    stats: Arc<TargetStats>,
    durations: Histogram,
    prober: Arc<Prober>,
    /// Where in the interval this checker's first check falls (a whole number of slots).
    offset: Duration,
    /// When the next check is due (set by the scheduler when it takes the checker).
    pub(in crate::health) due: Instant,
}

/// Width of the slots first checks are spread over. Checks that share a slot fire in one
/// wake-up of the control thread: 2,000 checks a second then wake it about 100 times a
/// second rather than once per check, and each wake-up is a context switch.
const SLOT: Duration = Duration::from_millis(10);

/// The outcome of one check round of a target.
enum Outcome {
    /// With the role a role check answered.
    Ok(Option<Role>),
    Failed(String),
    /// failoverd's own resources ran out: nothing is known of the target.
    Local,
}

impl Checker {
    pub(super) fn new(id: CheckId, target: Target, prober: Arc<Prober>) -> Checker {
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
    pub(in crate::health) fn place(&mut self, start: Instant) {
        self.due = start + self.offset;
    }

    /// Moves `due` to the next tick of the interval after `now`; ticks that passed while
    /// a check ran long are skipped, not made up.
    pub(in crate::health) fn reschedule(&mut self, now: Instant) {
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
    pub(in crate::health) async fn round(&mut self) -> Option<CheckReport> {
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
