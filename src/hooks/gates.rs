//! The gate runner: runs a held switch's gates (`stage = "before"` hooks whose `on` names
//! the switch's direction) in file order, each under its timeout and with its retries,
//! and reports each step and the end to the supervisor with the attempt it ran for. The
//! supervisor never waits for it. One run per group at a time: a newer run for a group
//! (an operator retried, switched, or the decision changed) stops the older one, killing
//! its command, and the older one's reports would be stale anyway.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{run_hook, HookEvent};
use crate::config::{GroupConfig, HookConfig, HookStage};
use crate::group::gates::{GateProgress, GateReport, GateRun};
use crate::group::snapshot::SnapshotReader;
use crate::group::supervisor::SupervisorHandle;
use crate::store::events::EventLog;

/// Takes runs until `stop` (which also stops the runs going on).
pub async fn run(
    mut runs: mpsc::UnboundedReceiver<GateRun>,
    snapshot: SnapshotReader,
    supervisor: SupervisorHandle,
    events: Arc<EventLog>,
    tracker: TaskTracker,
    stop: CancellationToken,
) {
    let mut running: HashMap<String, CancellationToken> = HashMap::new();
    loop {
        let run = tokio::select! {
            _ = stop.cancelled() => return,
            r = runs.recv() => match r {
                Some(r) => r,
                None => return,
            },
        };
        let token = stop.child_token();
        if let Some(older) = running.insert(run.group.clone(), token.clone()) {
            older.cancel();
        }
        let one = gate_run(run, snapshot.clone(), supervisor.clone(), events.clone());
        tracker.spawn(async move {
            tokio::select! {
                _ = token.cancelled() => {}
                _ = one => {}
            }
        });
    }
}

/// The gates of `run`'s group that guard its direction, in file order, and the group's
/// config they run with.
fn gates_for(
    snapshot: &SnapshotReader,
    run: &GateRun,
) -> Option<(Vec<HookConfig>, Arc<GroupConfig>)> {
    let snap = snapshot.load();
    let g = snap.group(&run.group)?;
    let gates = g
        .config
        .hooks
        .iter()
        .filter(|h| h.stage == HookStage::Before && h.on.contains(&run.direction));
    Some((gates.cloned().collect(), g.config.clone()))
}

/// Until every target of `run` reports `role` in its role check, or `deadline`.
async fn wait_role(
    snapshot: &SnapshotReader,
    run: &GateRun,
    role: crate::vocab::Role,
    deadline: tokio::time::Instant,
) -> Result<(), String> {
    loop {
        let snap = snapshot.load_full();
        let g = snap
            .group(&run.group)
            .ok_or("the group was removed by a reload")?;
        let behind: Vec<String> = run
            .to
            .iter()
            .filter_map(|name| {
                let i = g.target_index(name)?;
                let now = g.targets[i].role;
                (now != Some(role)).then(|| {
                    let now = now.map_or("unknown", |r| r.as_str());
                    format!("{name} is {now}")
                })
            })
            .collect();
        if behind.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "not {} within the gate's timeout ({})",
                role.as_str(),
                behind.join(", ")
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn gate_run(
    run: GateRun,
    snapshot: SnapshotReader,
    supervisor: SupervisorHandle,
    events: Arc<EventLog>,
) {
    // A group a reload removed: nothing to run, nobody to tell.
    let Some((gates, config)) = gates_for(&snapshot, &run) else {
        return;
    };
    let report = |progress| GateReport {
        group: run.group.clone(),
        attempt: run.attempt,
        progress,
    };
    let event = HookEvent {
        group: run.group.clone(),
        trigger: run.direction,
        from: run.from.clone(),
        to: run.to.clone(),
        cause: run.cause.as_str().to_string(),
        epoch: run.epoch,
        at_unix: std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        actor: None,
        from_address: String::new(),
        to_address: String::new(),
        check_port: 0,
    }
    .locate(&config);
    for (i, gate) in gates.iter().enumerate() {
        let mut last = None;
        for try_no in 1..=gate.retries + 1 {
            let step = GateProgress::Step {
                hook: gate.name.clone(),
                number: i + 1,
                of: gates.len(),
                try_no,
            };
            supervisor.gate(report(step)).await;
            let started = tokio::time::Instant::now();
            let mut r = run_hook(gate, &event).await;
            if let (true, Some(role)) = (r.ok, gate.await_role) {
                let deadline = started + gate.timeout;
                if let Err(why) = wait_role(&snapshot, &run, role, deadline).await {
                    r.ok = false;
                    r.detail = format!("{}; {why}", r.detail);
                }
                r.duration_ms = started.elapsed().as_millis() as u64;
            }
            crate::metrics::book::hook(&run.group, &r.hook).ran(r.ok);
            let details = json!({
                "hook": r.hook, "stage": "before", "ok": r.ok, "detail": r.detail,
                "duration_ms": r.duration_ms, "try": try_no, "attempt": run.attempt,
                "to": run.to,
            });
            events.record("gate", Some(&run.group), Some(run.epoch), details);
            let ok = r.ok;
            last = Some(r);
            if ok {
                break;
            }
        }
        if let Some(r) = last.filter(|r| !r.ok) {
            let tries = gate.retries + 1;
            let reason = format!(
                "gate {} failed ({} of {}, {tries} {}): {}",
                r.hook,
                i + 1,
                gates.len(),
                if tries == 1 { "try" } else { "tries" },
                r.detail
            );
            supervisor
                .gate(report(GateProgress::Failed { reason }))
                .await;
            return;
        }
    }
    supervisor.gate(report(GateProgress::Passed)).await;
}
