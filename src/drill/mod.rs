//! The drill (`ctl drill G [--to T] [--hold 30s]`): a real, safe rehearsal of a group's
//! failover. From a healthy group only: the gates run and traffic moves to the target
//! (cause `drill`), failoverd checks through its own DNS server and proxy listener that the
//! target serves, holds, moves back (through the gates again) and records a report (each
//! step's time, the client connections that failed meanwhile) in the event history. It
//! runs as a task of its own, so a client that goes away does not leave the group on the
//! backup; the report is kept per group for `GET /v1/groups/G/drill`.

mod probe;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::rr::RecordType;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use serde_json::json;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::config::{HookStage, TargetAddress};
use crate::group::snapshot::{GroupSnap, SnapshotReader};
use crate::group::supervisor::{Command, CommandError, SupervisorHandle};
use crate::group::{GroupStatus, Health};
use crate::store::events::EventLog;

/// What an operator asks.
pub struct DrillRequest {
    pub group: String,
    pub to: Option<String>,
    pub hold: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: &'static str,
    pub ok: bool,
    pub ms: u64,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    pub group: String,
    pub to: String,
    pub back_to: Vec<String>,
    pub hold_ms: u64,
    /// Seconds since the Unix epoch.
    pub started_at: f64,
    /// `running`, `ok` or `failed`.
    pub state: &'static str,
    pub reason: Option<String>,
    pub steps: Vec<Step>,
    /// Client connections to the group's proxy listeners that no target took, during the
    /// drill.
    pub failed_connections: u64,
}

/// What a drill works with.
#[derive(Clone)]
pub struct DrillCtx {
    pub snapshot: SnapshotReader,
    pub supervisor: SupervisorHandle,
    pub events: Arc<EventLog>,
    pub metrics: PrometheusHandle,
    pub drills: Drills,
}

/// The last drill of each group (the running one, if any).
#[derive(Clone, Default)]
pub struct Drills {
    reports: Arc<Mutex<HashMap<String, DrillReport>>>,
}

impl Drills {
    pub fn get(&self, group: &str) -> Option<DrillReport> {
        self.lock().get(group).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, DrillReport>> {
        self.reports.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn put(&self, report: &DrillReport) {
        self.lock().insert(report.group.clone(), report.clone());
    }
}

/// Checks that the group may be drilled and starts the drill; its first report.
pub fn start(ctx: DrillCtx, req: DrillRequest) -> Result<DrillReport, CommandError> {
    let snap = ctx.snapshot.load_full();
    let g = snap
        .group(&req.group)
        .ok_or_else(|| CommandError::NotFound(format!("no group {:?}", req.group)))?;
    let to = target_of(g, req.to.as_deref())?;
    let mut drills = ctx.drills.lock();
    if drills.get(&req.group).is_some_and(|r| r.state == "running") {
        return Err(CommandError::Conflict(format!(
            "a drill of group {:?} is running already",
            req.group
        )));
    }
    let report = DrillReport {
        group: req.group.clone(),
        to: g.config.targets[to].name.clone(),
        back_to: g.active_names().iter().map(|s| s.to_string()).collect(),
        hold_ms: req.hold.as_millis() as u64,
        started_at: unix_now(),
        state: "running",
        reason: None,
        steps: Vec::new(),
        failed_connections: 0,
    };
    drills.insert(req.group.clone(), report.clone());
    drop(drills);
    let budget = gate_budget(g);
    tokio::spawn(run(ctx, report.clone(), req.hold, budget));
    Ok(report)
}

/// The target to drill to: the one asked, or the best other target; refused unless the
/// group is healthy (primary, not pinned, nothing held, its active targets up) and the
/// target is up and enabled.
fn target_of(g: &GroupSnap, asked: Option<&str>) -> Result<usize, CommandError> {
    let refuse = |why: String| Err(CommandError::Conflict(why));
    let active_up = g.active.iter().all(|&i| g.targets[i].health == Health::Up);
    if g.status != GroupStatus::Primary || g.pin.is_some() || !active_up {
        return refuse(format!(
            "group {:?} is not healthy (state {}{}): a drill starts only from a primary whose active targets are up and nothing is pinned",
            g.name(),
            g.status.as_str(),
            if g.pin.is_some() { ", pinned" } else { "" }
        ));
    }
    let usable = |i: usize| {
        let t = &g.targets[i];
        t.health == Health::Up && t.admin == crate::group::AdminState::Enabled && !g.is_active(i)
    };
    match asked {
        Some(name) => {
            let i = g.target_index(name).ok_or_else(|| {
                CommandError::NotFound(format!("group {:?} has no target {name:?}", g.name()))
            })?;
            if !usable(i) {
                return refuse(format!(
                    "target {name:?} must be up, enabled and not active to drill to"
                ));
            }
            Ok(i)
        }
        None => (0..g.targets.len())
            .filter(|&i| usable(i))
            .min_by_key(|&i| g.targets[i].priority)
            .ok_or_else(|| {
                CommandError::Conflict(format!(
                    "group {:?} has no other target that is up and enabled",
                    g.name()
                ))
            }),
    }
}

/// How long the gates of one switch may take, plus a margin for the checks around them.
fn gate_budget(g: &GroupSnap) -> Duration {
    let gates = g
        .config
        .hooks
        .iter()
        .filter(|h| h.stage == HookStage::Before);
    gates.map(|h| h.timeout * (h.retries + 1)).sum::<Duration>() + Duration::from_secs(30)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

async fn run(ctx: DrillCtx, mut report: DrillReport, hold: Duration, budget: Duration) {
    let group = report.group.clone();
    info!(%group, to = %report.to, "drill started");
    let refused_before = refused(&ctx.metrics, &group);
    let outcome = rehearse(&ctx, &mut report, hold, budget).await;
    report.failed_connections = refused(&ctx.metrics, &group).saturating_sub(refused_before);
    match outcome {
        Ok(()) => report.state = "ok",
        Err(reason) => {
            warn!(%group, %reason, "drill failed");
            report.state = "failed";
            report.reason = Some(reason);
        }
    }
    info!(%group, state = report.state, failed_connections = report.failed_connections, "drill ended");
    let epoch = ctx.snapshot.load().group(&group).map(|g| g.epoch);
    let details = serde_json::to_value(&report).unwrap_or_else(|_| json!({}));
    ctx.events.record("drill", Some(&group), epoch, details);
    ctx.drills.put(&report);
}

/// The steps; whatever happens after the move, the group is moved back.
async fn rehearse(
    ctx: &DrillCtx,
    report: &mut DrillReport,
    hold: Duration,
    budget: Duration,
) -> Result<(), String> {
    let to = vec![report.to.clone()];
    let moved = step(ctx, report, "switch", |ctx, r| {
        let target = r.to.clone();
        async move { move_to(&ctx, &r.group, &target, &to, budget).await }
    })
    .await;
    let checked = match moved {
        Ok(()) => verify(ctx, report, hold).await,
        Err(e) => Err(e),
    };
    // Back where it was: through the gates again, then the drill's pin goes.
    let back = report.back_to.clone();
    let home = back.first().cloned().unwrap_or_default();
    let returned = step(ctx, report, "switch back", |ctx, r| async move {
        let moved = move_to(&ctx, &r.group, &home, &back, budget).await;
        let end = ctx
            .supervisor
            .command(
                Command::EndDrill {
                    group: r.group.clone(),
                },
                "drill",
            )
            .await;
        let moved = moved?;
        end.map_err(|e| e.to_string())?;
        Ok(format!("{moved}; the drill's pin released"))
    })
    .await;
    checked.and(returned)
}

/// Checks from the outside in, then holds.
async fn verify(ctx: &DrillCtx, report: &mut DrillReport, hold: Duration) -> Result<(), String> {
    step(ctx, report, "dns", |ctx, r| async move {
        check_dns(&ctx, &r).await
    })
    .await?;
    step(ctx, report, "proxy", |_, r| async move {
        check_proxy(&r.group).await
    })
    .await?;
    step(ctx, report, "hold", |_, _| async move {
        tokio::time::sleep(hold).await;
        Ok(format!("held {}", crate::config::duration::show(hold)))
    })
    .await
}

/// Runs one step, timing it and adding it to the report (kept current for readers).
async fn step<F, Fut>(
    ctx: &DrillCtx,
    report: &mut DrillReport,
    name: &'static str,
    f: F,
) -> Result<(), String>
where
    F: FnOnce(DrillCtx, DrillReport) -> Fut,
    Fut: std::future::Future<Output = Result<String, String>>,
{
    let started = Instant::now();
    let result = f(ctx.clone(), report.clone()).await;
    let ms = started.elapsed().as_millis() as u64;
    let (ok, detail) = match &result {
        Ok(d) => (true, d.clone()),
        Err(e) => (false, e.clone()),
    };
    report.steps.push(Step {
        name,
        ok,
        ms,
        detail,
    });
    ctx.drills.put(report);
    result.map(|_| ()).map_err(|e| format!("step {name}: {e}"))
}

/// Pins `target` (cause drill, through the gates) and waits until `want` is active.
async fn move_to(
    ctx: &DrillCtx,
    group: &str,
    target: &str,
    want: &[String],
    budget: Duration,
) -> Result<String, String> {
    let pin = Command::Drill {
        group: group.to_string(),
        target: target.to_string(),
    };
    ctx.supervisor
        .command(pin, "drill")
        .await
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + budget;
    loop {
        let snap = ctx.snapshot.load_full();
        let g = snap
            .group(group)
            .ok_or("the group was removed by a reload")?;
        if g.active_names() == want {
            return Ok(format!("{} active, epoch {}", want.join(","), g.epoch));
        }
        if g.status == GroupStatus::SwitchFailed {
            let reason = g
                .held
                .as_ref()
                .and_then(|h| h.failed.clone())
                .unwrap_or_default();
            return Err(format!("the switch to {target} failed: {reason}"));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{target} not active within {}",
                crate::config::duration::show(budget)
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn check_dns(ctx: &DrillCtx, r: &DrillReport) -> Result<String, String> {
    let snap = ctx.snapshot.load_full();
    let g = snap
        .group(&r.group)
        .ok_or("the group was removed by a reload")?;
    let (Some(name), Some(&server)) = (
        g.config.dns_name.as_deref(),
        crate::bound_addrs::dns().first(),
    ) else {
        return Ok("not checked: the group has no DNS name here".into());
    };
    let i = g
        .target_index(&r.to)
        .ok_or("the target was removed by a reload")?;
    let (qtype, want): (RecordType, String) = match &g.config.targets[i].address {
        TargetAddress::Ips(ips) => match ips.first() {
            Some(ip) if ip.is_ipv6() => (RecordType::AAAA, ip.to_string()),
            Some(ip) => (RecordType::A, ip.to_string()),
            None => return Ok("not checked: the target has no address".into()),
        },
        TargetAddress::Host(h) => (RecordType::CNAME, format!("{}.", h.trim_end_matches('.'))),
    };
    let answer = probe::dns_answer(server, name, qtype).await?;
    if answer.iter().any(|a| a.eq_ignore_ascii_case(&want)) {
        Ok(format!("{name} answers {}", answer.join(",")))
    } else {
        Err(format!("{name} answers {answer:?}, not {want}"))
    }
}

async fn check_proxy(group: &str) -> Result<String, String> {
    let listeners = crate::bound_addrs::proxies(group);
    if listeners.is_empty() {
        return Ok("not checked: the group has no proxy listener".into());
    }
    for &l in &listeners {
        probe::through_proxy(l, Duration::from_millis(300)).await?;
    }
    Ok(format!(
        "a connection through {} reached the target",
        listeners.len()
    ))
}

/// Client connections of `group` no target took, so far (the proxy's `refused` counter).
fn refused(metrics: &PrometheusHandle, group: &str) -> u64 {
    let label = format!("group=\"{group}\"");
    metrics
        .render()
        .lines()
        .filter(|l| l.starts_with("failoverd_proxy_connections_total{"))
        .filter(|l| l.contains(&label) && l.contains("result=\"refused\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}
