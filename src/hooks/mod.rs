//! Hooks: each group's runbook, run when the group changes.
//!
//! The supervisor publishes a transition (the traffic switch is live from then on), then
//! hands a [`HookEvent`] to [`run_hooks`] on a task of its own: hooks never delay or undo
//! a switch. The hooks whose `on` names the event's trigger run one after the other, in
//! config order, each under its own timeout. A hook that fails, hangs or cannot start is
//! recorded and the runbook goes on with the next one; the caller stores every
//! [`HookResult`] in the event history.
//!
//! Two kinds: a command (argv, no shell, the event in environment variables; see
//! `command.rs`) and a webhook (the event as a JSON POST; see `webhook.rs`).

mod command;
pub mod dispatch;
pub mod gates;
mod webhook;

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

pub use crate::config::HookTrigger;
use crate::config::{HookAction, HookConfig, HookStage};

/// What a hook is told. Serialized as the webhook's JSON body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookEvent {
    pub group: String,
    pub trigger: HookTrigger,
    /// Target names active before the event (may be empty, e.g. after all_down).
    pub from: Vec<String>,
    /// Target names active after the event.
    pub to: Vec<String>,
    /// Why: `health`, `manual`, `failback`, `commit`, `config`, ...
    pub cause: String,
    pub epoch: u64,
    /// Seconds since the Unix epoch, when the event happened.
    pub at_unix: f64,
    /// The operator (token name) for admin actions; `None` for health-caused events.
    pub actor: Option<String>,
    /// The config's address of the first target in `from` / `to` (an IP, IPs
    /// comma-separated, or a host name; empty when there is none): what a gate that fences
    /// the old main or promotes the new one acts on.
    #[serde(default)]
    pub from_address: String,
    #[serde(default)]
    pub to_address: String,
    /// The port of the group's health checks (with a role check, the database's own port).
    #[serde(default)]
    pub check_port: u16,
}

impl HookEvent {
    /// Fills in the addresses and the check port from the group's config.
    pub(crate) fn locate(mut self, group: &crate::config::GroupConfig) -> HookEvent {
        let address = |names: &[String]| {
            names
                .first()
                .and_then(|n| group.targets.iter().find(|t| &t.name == n))
                .map(|t| t.address.to_string())
                .unwrap_or_default()
        };
        self.from_address = address(&self.from);
        self.to_address = address(&self.to);
        self.check_port = group.health.port;
        self
    }
}

/// How one hook went, for the event history and the logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookResult {
    /// The hook's name (`hook-N` when the config gives none).
    pub hook: String,
    pub ok: bool,
    /// `"exit 0"`, `"exit 3: <last stderr line>"`, `"killed after timeout 2s"`,
    /// `"HTTP 204"`, `"HTTP 500"`, `"connect: ..."`, `"cannot start ...: ..."`.
    pub detail: String,
    pub duration_ms: u64,
}

/// Runs the group's `stage = "after"` hooks that match the event's trigger, IN ORDER, each
/// under its timeout and with its retries; returns one result per hook (the last try's;
/// hooks that do not match are skipped and get no result). Gates run in `gates.rs`.
///
/// A failing, hanging or unstartable hook does not stop the runbook: its result says what
/// happened and the next hook runs. This never panics and never returns an error. It takes
/// at most about the sum of the matching hooks' timeouts, so call it from a task of its
/// own, after the switch is live: the traffic switch must not wait for it. Dropping the
/// future kills a command still running (its whole process group).
pub async fn run_hooks(hooks: &[HookConfig], event: &HookEvent) -> Vec<HookResult> {
    let mut results = Vec::new();
    let after = hooks
        .iter()
        .filter(|h| h.stage == HookStage::After && h.on.contains(&event.trigger));
    for hook in after {
        let mut r = run_hook(hook, event).await;
        for _ in 0..hook.retries {
            if r.ok {
                break;
            }
            r = run_hook(hook, event).await;
        }
        results.push(r);
    }
    results
}

/// Runs one hook now, whatever its `on` says, under its timeout.
pub async fn run_hook(hook: &HookConfig, event: &HookEvent) -> HookResult {
    let started = tokio::time::Instant::now();
    let outcome = match &hook.action {
        HookAction::Command(argv) => command::run(argv, event, hook.timeout).await,
        HookAction::Webhook(url) => webhook::post(url, event, hook.timeout).await,
    };
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if outcome.ok {
        info!(group = %event.group, hook = %hook.name, trigger = %event.trigger,
            epoch = event.epoch, detail = %outcome.detail, duration_ms, "hook ran");
    } else {
        warn!(group = %event.group, hook = %hook.name, trigger = %event.trigger,
            epoch = event.epoch, detail = %outcome.detail, duration_ms, "hook failed");
    }
    HookResult {
        hook: hook.name.clone(),
        ok: outcome.ok,
        detail: outcome.detail,
        duration_ms,
    }
}

/// What one action reports, before timing and naming.
struct Outcome {
    ok: bool,
    detail: String,
}

impl Outcome {
    fn ok(detail: impl Into<String>) -> Outcome {
        Outcome {
            ok: true,
            detail: detail.into(),
        }
    }

    fn fail(detail: impl Into<String>) -> Outcome {
        Outcome {
            ok: false,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::time::Duration;

    use super::HookEvent;
    use crate::config::{HookAction, HookConfig, HookTrigger};

    pub(crate) fn event(trigger: HookTrigger) -> HookEvent {
        HookEvent {
            group: "web".into(),
            trigger,
            from: vec!["main".into()],
            to: vec!["backup".into(), "dr".into()],
            cause: "health".into(),
            epoch: 7,
            at_unix: 1_700_000_000.25,
            actor: None,
            from_address: "10.0.0.2".into(),
            to_address: "10.0.0.3".into(),
            check_port: 5432,
        }
    }

    pub(crate) fn command(name: &str, on: &[HookTrigger], argv: &[&str], ms: u64) -> HookConfig {
        HookConfig {
            name: name.into(),
            on: on.to_vec(),
            action: HookAction::Command(argv.iter().map(|s| s.to_string()).collect()),
            timeout: Duration::from_millis(ms),
            stage: crate::config::HookStage::After,
            retries: 0,
            await_role: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{command, event};
    use super::*;
    use HookTrigger::*;

    /// Two hooks appending the environment they were given to one file, plus hooks that
    /// must not run; the file shows which ran and in what order.
    #[tokio::test]
    async fn matching_hooks_run_in_order_with_the_event_in_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("runbook.log");
        let script = |tag: &str| {
            format!(
                "echo {tag} $GROUP $FROM $TO $CAUSE $EPOCH $TRIGGER \"[$ACTOR]\" \
                 $FROM_ADDRESS $TO_ADDRESS $CHECK_PORT >> '{}'",
                file.display()
            )
        };
        let (first, second, other) = (script("first"), script("second"), script("other"));
        let hooks = vec![
            command("first", &[Failover, Commit], &["sh", "-c", &first], 5000),
            command("skipped", &[Failback], &["sh", "-c", &other], 5000),
            command("second", &[Failover], &["sh", "-c", &second], 5000),
            command(
                "also-skipped",
                &[Switch, AllDown],
                &["sh", "-c", &other],
                5000,
            ),
        ];
        let results = run_hooks(&hooks, &event(Failover)).await;
        let names: Vec<&str> = results.iter().map(|r| r.hook.as_str()).collect();
        assert_eq!(names, ["first", "second"]);
        for r in &results {
            assert!(r.ok, "{r:?}");
            assert_eq!(r.detail, "exit 0");
        }
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text,
            "first web main backup,dr health 7 failover [] 10.0.0.2 10.0.0.3 5432\n\
             second web main backup,dr health 7 failover [] 10.0.0.2 10.0.0.3 5432\n"
        );

        // Another trigger picks other hooks; the actor is passed when there is one.
        let mut commit = event(Commit);
        commit.actor = Some("ops-alice".into());
        commit.cause = "commit".into();
        let results = run_hooks(&hooks, &commit).await;
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].hook, "first");
        let text = std::fs::read_to_string(&file).unwrap();
        let last = text.lines().last().unwrap();
        assert_eq!(
            last,
            "first web main backup,dr commit 7 commit [ops-alice] 10.0.0.2 10.0.0.3 5432"
        );

        // A trigger no hook names runs nothing.
        assert!(run_hooks(&hooks, &event(Recovered)).await.is_empty());
        assert!(run_hooks(&[], &event(Failover)).await.is_empty());
    }

    /// The runbook goes on after a failure, a missing program and a timeout.
    #[tokio::test]
    async fn a_failing_hook_does_not_stop_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ran");
        let touch = format!("echo ran > '{}'", file.display());
        let hooks = vec![
            command("fails", &[Failover], &["sh", "-c", "exit 1"], 5000),
            command(
                "missing",
                &[Failover],
                &["/nonexistent/failoverd-hook"],
                5000,
            ),
            command("hangs", &[Failover], &["sleep", "30"], 200),
            command("last", &[Failover], &["sh", "-c", &touch], 5000),
        ];
        let results = run_hooks(&hooks, &event(Failover)).await;
        let summary: Vec<(&str, bool)> = results.iter().map(|r| (r.hook.as_str(), r.ok)).collect();
        assert_eq!(
            summary,
            [
                ("fails", false),
                ("missing", false),
                ("hangs", false),
                ("last", true)
            ]
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "ran\n");
        assert!(results[2].duration_ms >= 200, "{:?}", results[2]);
    }

    #[test]
    fn event_json_shape() {
        let mut e = event(TargetState);
        e.actor = Some("ops".into());
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "group": "web", "trigger": "target_state", "from": ["main"],
                "to": ["backup", "dr"], "cause": "health", "epoch": 7,
                "at_unix": 1_700_000_000.25, "actor": "ops", "from_address": "10.0.0.2",
                "to_address": "10.0.0.3", "check_port": 5432
            })
        );
        let back: HookEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
        let none = serde_json::to_value(event(AllDown)).unwrap();
        assert_eq!(none["actor"], serde_json::Value::Null);
        assert_eq!(none["trigger"], "all_down");
    }
}
