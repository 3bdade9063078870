//! Checker tasks: one per target, probing every address of the target once per interval
//! and reporting each result to the supervisor (which turns results into verdicts).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use metrics::{counter, histogram, Counter, Histogram};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::probe::{ProbeSetupError, Prober};
use crate::config::{Config, TargetAddress, TargetConfig};
use crate::group::supervisor::{CheckReport, SupervisorHandle};
use crate::metrics as m;

/// Starts one checker per target of every group. Fails (before anything runs) when a
/// group's probe cannot be built, e.g. an unreadable CA file.
pub fn spawn_all(
    config: &Config,
    generation: u64,
    supervisor: &SupervisorHandle,
    tracker: &TaskTracker,
    runtime: &tokio::runtime::Handle,
    cancel: &CancellationToken,
) -> Result<(), ProbeSetupError> {
    let mut plans = Vec::new();
    let epoch = Instant::now();
    for (gi, g) in config.groups.iter().enumerate() {
        let prober = Arc::new(Prober::new(&g.health)?);
        for (ti, t) in g.targets.iter().enumerate() {
            let labels = [("group", g.name.clone()), ("target", t.name.clone())];
            plans.push(Checker {
                generation,
                group: gi,
                target: ti,
                metrics: CheckMetrics::new(&labels),
                labels,
                prober: prober.clone(),
                address: t.address.clone(),
                host: host_text(t),
                port: g.health.port,
                interval: g.health.interval,
                timeout: g.health.timeout,
                epoch,
            });
        }
    }
    for checker in plans {
        let (sup, cancel) = (supervisor.clone(), cancel.clone());
        tracker.spawn_on(async move { checker.run(sup, cancel).await }, runtime);
    }
    Ok(())
}

fn host_text(t: &TargetConfig) -> String {
    match &t.address {
        TargetAddress::Host(h) => h.clone(),
        TargetAddress::Ips(ips) => ips.first().map(|ip| ip.to_string()).unwrap_or_default(),
    }
}

/// Metric handles registered once per target: a check does no label lookup.
struct CheckMetrics {
    duration: Histogram,
    ok: Counter,
    /// One counter per failure kind, registered the first time that kind occurs.
    failed: Vec<(&'static str, Counter)>,
}

impl CheckMetrics {
    fn new(labels: &[(&'static str, String); 2]) -> Self {
        let mut with_ok = labels.to_vec();
        with_ok.push(("result", "ok".to_string()));
        CheckMetrics {
            duration: histogram!(m::HEALTH_CHECK_DURATION, labels),
            ok: counter!(m::HEALTH_CHECKS_TOTAL, &with_ok),
            failed: Vec::new(),
        }
    }

    fn failed(&mut self, labels: &[(&'static str, String); 2], kind: &'static str) -> &Counter {
        let at = match self.failed.iter().position(|(k, _)| *k == kind) {
            Some(i) => i,
            None => {
                let mut l = labels.to_vec();
                l.push(("result", kind.to_string()));
                self.failed
                    .push((kind, counter!(m::HEALTH_CHECKS_TOTAL, &l)));
                self.failed.len() - 1
            }
        };
        &self.failed[at].1
    }
}

struct Checker {
    generation: u64,
    group: usize,
    target: usize,
    labels: [(&'static str, String); 2],
    metrics: CheckMetrics,
    prober: Arc<Prober>,
    address: TargetAddress,
    host: String,
    port: u16,
    interval: Duration,
    timeout: Duration,
    /// The same instant for every checker of one config generation: first checks are
    /// spread over slots counted from it (see `run`).
    epoch: Instant,
}

/// Width of the slots first checks are spread over. Checks that share a slot fire in one
/// wake-up of the control thread: 2,000 checks a second then wake it about 100 times a
/// second rather than once per check, and each wake-up is a context switch.
const SLOT: Duration = Duration::from_millis(10);

impl Checker {
    async fn run(mut self, sup: SupervisorHandle, cancel: CancellationToken) {
        // Spread first checks over the interval so a thousand targets are not probed at
        // once, in whole slots from the shared epoch so that neighbours fire together.
        let slot_ms = SLOT.as_millis() as u64;
        let slots = (self.interval.as_millis() as u64 / slot_ms).max(1);
        let first = self.epoch + Duration::from_millis(slot_ms * fastrand::u64(..slots));
        let mut ticker = tokio::time::interval_at(first, self.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let result = tokio::select! {
                _ = cancel.cancelled() => return,
                r = self.check_once() => r,
            };
            let (ok, detail) = match result {
                Ok(()) => (true, String::new()),
                Err(e) => (false, e),
            };
            sup.report(CheckReport {
                generation: self.generation,
                group: self.group,
                target: self.target,
                ok,
                passive: false,
                detail,
            })
            .await;
        }
    }

    /// Probes every address of the target; the target is good only if all of them are.
    async fn check_once(&mut self) -> Result<(), String> {
        let addrs = self.resolve().await?;
        for addr in addrs {
            let started = Instant::now();
            let result = self.prober.probe(addr, &self.host).await;
            self.metrics
                .duration
                .record(started.elapsed().as_secs_f64());
            match &result {
                Ok(()) => self.metrics.ok.increment(1),
                Err(e) => self.metrics.failed(&self.labels, e.kind()).increment(1),
            }
            result.map_err(|e| format!("{addr}: {e}"))?;
        }
        Ok(())
    }

    async fn resolve(&self) -> Result<Vec<SocketAddr>, String> {
        match &self.address {
            TargetAddress::Ips(ips) => Ok(ips
                .iter()
                .map(|ip| SocketAddr::new(*ip, self.port))
                .collect()),
            TargetAddress::Host(h) => {
                let lookup = tokio::net::lookup_host((h.as_str(), self.port));
                match tokio::time::timeout(self.timeout, lookup).await {
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
