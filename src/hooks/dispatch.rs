//! From supervisor notices to hook runs: one runner task per group with pending notices,
//! so a group's runbooks run in the order of its transitions, one after the other, while
//! the supervisor never waits for them. The queue (`group::notices`) coalesces, so a
//! flapping group with slow hooks holds at most one pending run per trigger; a runner ends
//! (and its group's queue is freed) as soon as nothing is pending. Every result goes to
//! the event history, the log and `hook_runs_total`.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use super::{run_hooks, HookEvent, HookTrigger};
use crate::group::notices::{NoticeQueue, Pending};
use crate::group::snapshot::SnapshotReader;
use crate::store::events::EventLog;

/// Starts a runner for every group with pending notices, until `stop` fires (which also
/// kills hooks still running).
pub async fn run(
    queue: Arc<NoticeQueue>,
    snapshot: SnapshotReader,
    events: Arc<EventLog>,
    tracker: TaskTracker,
    stop: CancellationToken,
) {
    loop {
        for group in queue.claim_idle() {
            let runner = runner(
                group,
                queue.clone(),
                snapshot.clone(),
                events.clone(),
                stop.clone(),
            );
            tracker.spawn(runner);
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = queue.pushed() => {}
        }
    }
}

/// Runs a group's pending notices in order, then ends.
async fn runner(
    group: String,
    queue: Arc<NoticeQueue>,
    snapshot: SnapshotReader,
    events: Arc<EventLog>,
    stop: CancellationToken,
) {
    while let Some(Pending { notice, replaced }) = queue.next(&group) {
        let Some(trigger) = HookTrigger::from_name(notice.trigger) else {
            warn!(trigger = notice.trigger, "no hook trigger of that name");
            continue;
        };
        // The hooks of the config in effect now (a reload may have changed them).
        let config = match snapshot.load().group(&group) {
            Some(g) => g.config.clone(),
            None => {
                // Removed by a reload: nothing of it runs any more.
                queue.forget(&group);
                continue;
            }
        };
        let after = crate::config::HookStage::After;
        let hooks = &config.hooks;
        if !hooks
            .iter()
            .any(|h| h.stage == after && h.on.contains(&trigger))
        {
            continue;
        }
        if replaced > 0 {
            debug!(%group, trigger = notice.trigger, replaced, "hook runs coalesced into the latest");
        }
        let event = HookEvent {
            group: group.clone(),
            trigger,
            from: notice.from,
            to: notice.to,
            cause: notice.cause.as_str().to_string(),
            epoch: notice.epoch,
            at_unix: notice
                .at
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            actor: notice.actor,
            from_address: String::new(),
            to_address: String::new(),
            check_port: 0,
        }
        .locate(&config);
        let results = tokio::select! {
            _ = stop.cancelled() => return,
            r = run_hooks(hooks, &event) => r,
        };
        for r in results {
            crate::metrics::book::hook(&event.group, &r.hook).ran(r.ok);
            let details = json!({
                "hook": r.hook, "trigger": trigger.as_str(), "ok": r.ok,
                "detail": r.detail, "duration_ms": r.duration_ms, "coalesced": replaced,
            });
            events.record("hook", Some(&event.group), Some(event.epoch), details);
        }
    }
}
