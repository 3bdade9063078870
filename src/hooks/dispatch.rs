//! From supervisor notices to hook runs: one queue and one task per group, so a group's
//! runbooks run in the order of its transitions, one after the other, while the supervisor
//! never waits for them. Every result goes to the event history and the log.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use super::{run_hooks, HookEvent, HookTrigger};
use crate::group::snapshot::SnapshotReader;
use crate::group::supervisor::Notice;
use crate::store::events::EventLog;

/// Consumes notices until `stop` fires (which also kills hooks still running).
pub async fn run(
    mut notices: mpsc::UnboundedReceiver<Notice>,
    snapshot: SnapshotReader,
    events: Arc<EventLog>,
    tracker: TaskTracker,
    stop: CancellationToken,
) {
    let mut queues: HashMap<String, mpsc::UnboundedSender<Notice>> = HashMap::new();
    loop {
        let notice = tokio::select! {
            _ = stop.cancelled() => return,
            n = notices.recv() => match n {
                Some(n) => n,
                None => return,
            },
        };
        let queue = queues.entry(notice.group.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let worker = worker(rx, snapshot.clone(), events.clone(), stop.clone());
            tracker.spawn(worker);
            tx
        });
        let _ = queue.send(notice);
    }
}

async fn worker(
    mut queue: mpsc::UnboundedReceiver<Notice>,
    snapshot: SnapshotReader,
    events: Arc<EventLog>,
    stop: CancellationToken,
) {
    while let Some(notice) = queue.recv().await {
        let Some(trigger) = HookTrigger::from_name(notice.trigger) else {
            warn!(trigger = notice.trigger, "no hook trigger of that name");
            continue;
        };
        // The hooks of the config in effect now (a reload may have changed them).
        let hooks = match snapshot.load().group(&notice.group) {
            Some(g) => g.config.hooks.clone(),
            None => continue,
        };
        if !hooks.iter().any(|h| h.on.contains(&trigger)) {
            continue;
        }
        let event = HookEvent {
            group: notice.group.clone(),
            trigger,
            from: notice.from,
            to: notice.to,
            cause: notice.cause.as_str().to_string(),
            epoch: notice.epoch,
            at_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            actor: notice.actor,
        };
        let results = tokio::select! {
            _ = stop.cancelled() => return,
            r = run_hooks(&hooks, &event) => r,
        };
        for r in results {
            let details = json!({
                "hook": r.hook, "trigger": trigger.as_str(), "ok": r.ok,
                "detail": r.detail, "duration_ms": r.duration_ms,
            });
            events.record("hook", Some(&event.group), Some(event.epoch), details);
        }
    }
}
