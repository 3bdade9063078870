//! Telling the world about a transition, once it is decided: the log line, the
//! transitions counter, the event history, the group's last change, and the notices the
//! hook runner gets once the change is live (`Supervisor::publish`).

use std::time::SystemTime;

use metrics::counter;
use serde_json::json;
use tracing::{info, warn};

use super::machine::{AllDownEdge, Transition};
use super::snapshot::Change;
use super::supervisor::{Notice, Supervisor};
use crate::metrics as m;

impl Supervisor {
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
}
