//! What a hook is, as the config gives it: when it runs (triggers), what it does (a
//! command or a webhook) and the webhook's URL, checked by `hook_rules.rs`.

use std::time::Duration;

/// One `[[group.hook]]`: an action run when the group sees one of the `on` triggers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookConfig {
    /// As configured, or `hook-N` (1-based position in the group); unique in the group.
    pub name: String,
    /// Non-empty, no repeats.
    pub on: Vec<HookTrigger>,
    pub action: HookAction,
    /// Greater than 0, at most 10 minutes.
    pub timeout: Duration,
    /// A gate (before traffic moves) or a step beside the traffic (after).
    pub stage: HookStage,
    /// Runs again this many times after a failure (at most 10), each under `timeout`.
    pub retries: u32,
    /// A gate only: after its action, it waits (within its timeout) until every target
    /// traffic moves to reports this role in its role check.
    pub await_role: Option<crate::vocab::Role>,
}

/// When a hook runs relative to the traffic switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HookStage {
    /// A gate: must succeed before traffic moves (fence, stop replication, promote). For a
    /// gate, `on` names the direction of the switch: `failover` (to a lower-priority
    /// tier), `failback` (to a better one), `switch` (within a tier); all by default.
    Before,
    /// Runs once the switch is live, never delaying it (the default).
    #[default]
    After,
}

/// What happened to a group, as hooks name it in `on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookTrigger {
    /// A health-caused move to a worse tier.
    Failover,
    /// A return to a better tier.
    Failback,
    /// An operator pinned the group to a target.
    Switch,
    /// An operator removed the pin.
    Release,
    /// The active backup became the new main.
    Commit,
    /// A commit was undone: the config's priorities again.
    Uncommit,
    /// No target left to serve.
    AllDown,
    /// Out of all-down again.
    Recovered,
    /// An operator closed every proxied connection of the group.
    Disconnect,
    /// A target was drained, put in maintenance or enabled.
    TargetState,
    /// A gate of a decided switch failed: traffic stayed where it was.
    SwitchFailed,
}

impl HookTrigger {
    pub const ALL: [HookTrigger; 11] = [
        HookTrigger::Failover,
        HookTrigger::Failback,
        HookTrigger::Switch,
        HookTrigger::Release,
        HookTrigger::Commit,
        HookTrigger::Uncommit,
        HookTrigger::AllDown,
        HookTrigger::Recovered,
        HookTrigger::Disconnect,
        HookTrigger::TargetState,
        HookTrigger::SwitchFailed,
    ];

    /// The name used in config files, JSON and the hooks' `TRIGGER` variable.
    pub fn as_str(self) -> &'static str {
        match self {
            HookTrigger::Failover => "failover",
            HookTrigger::Failback => "failback",
            HookTrigger::Switch => "switch",
            HookTrigger::Release => "release",
            HookTrigger::Commit => "commit",
            HookTrigger::Uncommit => "uncommit",
            HookTrigger::AllDown => "all_down",
            HookTrigger::Recovered => "recovered",
            HookTrigger::Disconnect => "disconnect",
            HookTrigger::TargetState => "target_state",
            HookTrigger::SwitchFailed => "switch_failed",
        }
    }

    pub fn from_name(name: &str) -> Option<HookTrigger> {
        HookTrigger::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for HookTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookAction {
    /// argv, run without a shell; `argv[0]` is non-empty (a path, or a name looked up in
    /// `PATH`).
    Command(Vec<String>),
    /// POST of the event as JSON.
    Webhook(WebhookUrl),
}

/// An `http://` or `https://` URL, split into what a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    pub tls: bool,
    /// Without brackets for IPv6 (`::1`), lowercase.
    pub host: String,
    /// Explicit, or 80 / 443.
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
}

impl WebhookUrl {
    /// `host[:port]` as the `Host` header writes it: the port only when not the default.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// Scheme and authority only, safe to log (the path and query may hold a secret).
    pub fn origin(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.authority())
    }
}
