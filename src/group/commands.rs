//! Operator commands as the supervisor runs them: switch, release, failback, commit, target
//! state, disconnect (reload lives in `reload.rs`). A command that changes a decision is
//! persisted before it is published and acknowledged; if persisting fails, the group is
//! put back as it was and the caller gets the error.

use serde_json::json;
use tokio::time::Instant;

use super::machine::{AllDownEdge, Transition};
use super::supervisor::Supervisor;
use super::{AdminState, Cause};
use crate::config::Config;

#[derive(Debug)]
pub enum Command {
    Switch {
        group: String,
        target: String,
        force: bool,
    },
    Release {
        group: String,
    },
    Failback {
        group: String,
    },
    Commit {
        group: String,
    },
    /// Back to the config's priorities after a commit.
    Uncommit {
        group: String,
    },
    /// Runs the gates of a failed switch again.
    Retry {
        group: String,
    },
    /// A drill's move: pins `target` with cause `drill` (through the gates).
    Drill {
        group: String,
        target: String,
    },
    /// A drill's end: the pin goes, with cause `drill`.
    EndDrill {
        group: String,
    },
    SetAdmin {
        group: String,
        target: String,
        state: AdminState,
    },
    Disconnect {
        group: String,
    },
    /// A new config, and the checker id of each of its targets.
    Reload(Box<ReloadPlan>),
}

/// What a reload hands the supervisor.
#[derive(Debug)]
pub struct ReloadPlan {
    pub config: Config,
    pub checks: Vec<Vec<crate::health::checker::CheckId>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum CommandError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Internal(String),
    /// Cannot be decided here now (this instance does not lead the cluster, or etcd did not
    /// take the decision): nothing changed; 503.
    #[error("{0}")]
    Unavailable(String),
}

/// What the hook runner is told: a transition or an operator action on a group.
#[derive(Debug, Clone)]
pub struct Notice {
    pub group: String,
    /// failover, failback, switch, release, commit, all_down, recovered, disconnect, target_state
    pub trigger: &'static str,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub cause: Cause,
    pub epoch: u64,
    pub actor: Option<String>,
    /// When it happened (hooks may run later: a queue, a slow hook before them).
    pub at: std::time::SystemTime,
}

impl Notice {
    /// The notices of an automatic transition: `all_down` or `recovered` when the group
    /// enters or leaves the all-down state, `failover` or `failback` when it changes tier;
    /// none for a change inside one tier.
    pub fn for_transition(
        group: &str,
        t: &Transition,
        from: &[String],
        to: &[String],
        actor: Option<&str>,
    ) -> Vec<Notice> {
        let mut triggers = Vec::new();
        match t.all_down {
            Some(AllDownEdge::Entered) => triggers.push("all_down"),
            Some(AllDownEdge::Left) => triggers.push("recovered"),
            None => {}
        }
        if t.moved() && t.is_failback() {
            triggers.push("failback");
        } else if t.moved() && t.is_failover() {
            triggers.push("failover");
        }
        triggers
            .into_iter()
            .map(|trigger| Notice {
                group: group.into(),
                trigger,
                from: from.to_vec(),
                to: to.to_vec(),
                cause: t.cause,
                epoch: t.epoch,
                actor: actor.map(String::from),
                at: std::time::SystemTime::now(),
            })
            .collect()
    }
}

impl Supervisor {
    pub(super) async fn on_command(
        &mut self,
        command: Command,
        actor: &str,
    ) -> Result<u64, CommandError> {
        let command = match command {
            Command::Reload(plan) => {
                let ReloadPlan { config, checks } = *plan;
                return self.reload(config, checks, actor).await;
            }
            other => other,
        };
        if self.role == super::cluster_link::Role::Follower {
            return Err(CommandError::Unavailable(
                "this instance does not lead the cluster: send the command to the leader (failoverd ctl cluster shows it)".into(),
            ));
        }
        let (gi, action) = self.locate(&command)?;
        let before = (
            self.groups[gi].machine.clone(),
            self.groups[gi].disconnect_gen,
        );
        let result = self.apply(gi, &command);
        let (transition, details) = match result {
            Ok(r) => r,
            Err(e) => {
                self.record_admin(gi, action, actor, json!({ "error": e.to_string() }));
                return Err(e);
            }
        };
        if self.groups[gi].machine.decision() != before.0.decision() {
            if let Err(e) = self.persist().await {
                (self.groups[gi].machine, self.groups[gi].disconnect_gen) = before;
                let msg = format!("cannot persist the decision, nothing changed: {e}");
                self.record_admin(gi, action, actor, json!({ "error": msg }));
                return Err(CommandError::Internal(msg));
            }
            if !self.commit_decided(&[gi]).await {
                (self.groups[gi].machine, self.groups[gi].disconnect_gen) = before;
                let msg = "etcd did not take the decision (this instance no longer leads, or etcd is unreachable): nothing changed";
                self.record_admin(gi, action, actor, json!({ "error": msg }));
                return Err(CommandError::Unavailable(msg.into()));
            }
        }
        self.record_admin(gi, action, actor, details);
        self.gate_check(gi);
        // Committed above with the decision (a held switch is part of it).
        self.regated.retain(|&g| g != gi);
        // Hooks hear the command (trigger = the action), not a failover/failback reading of it;
        // a switch held for its gates is heard when it happens (by its direction), and a
        // retry is not a change of its own.
        self.announce(gi, transition.as_ref(), Some(actor), false);
        let held = matches!(
            self.groups[gi].machine.gate(),
            super::machine::Gate::Running(_)
        );
        if !held && !["retry", "drill", "drill_end"].contains(&action) {
            self.notify_hooks(Some(self.notice(gi, action, transition.as_ref(), actor)));
        }
        self.touch(gi);
        self.publish();
        Ok(self.generation)
    }

    fn locate(&self, command: &Command) -> Result<(usize, &'static str), CommandError> {
        let (group, action) = match command {
            Command::Switch { group, .. } => (group, "switch"),
            Command::Release { group } => (group, "release"),
            Command::Failback { group } => (group, "failback"),
            Command::Commit { group } => (group, "commit"),
            Command::Uncommit { group } => (group, "uncommit"),
            Command::Retry { group } => (group, "retry"),
            Command::Drill { group, .. } => (group, "drill"),
            Command::EndDrill { group } => (group, "drill_end"),
            Command::SetAdmin { group, .. } => (group, "target_state"),
            Command::Disconnect { group } => (group, "disconnect"),
            Command::Reload(_) => unreachable!("reload is handled before"),
        };
        let gi = self
            .index
            .get(group.as_str())
            .copied()
            .ok_or_else(|| CommandError::NotFound(format!("no group {group:?}")))?;
        Ok((gi, action))
    }

    fn target(&self, gi: usize, name: &str) -> Result<usize, CommandError> {
        let g = &self.groups[gi];
        g.config
            .targets
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| {
                CommandError::NotFound(format!("group {:?} has no target {name:?}", g.config.name))
            })
    }

    fn apply(
        &mut self,
        gi: usize,
        command: &Command,
    ) -> Result<(Option<Transition>, serde_json::Value), CommandError> {
        let now = Instant::now();
        let conflict = CommandError::Conflict;
        Ok(match command {
            Command::Switch { target, force, .. } => {
                let ti = self.target(gi, target)?;
                let t = self.groups[gi]
                    .machine
                    .switch(ti, *force, now)
                    .map_err(conflict)?;
                (t, json!({ "target": target, "force": force }))
            }
            Command::Release { .. } => (
                self.groups[gi].machine.release(now).map_err(conflict)?,
                json!({}),
            ),
            Command::Failback { .. } => (
                self.groups[gi].machine.failback(now).map_err(conflict)?,
                json!({}),
            ),
            Command::Commit { .. } => {
                let t = self.groups[gi].machine.commit(now).map_err(conflict)?;
                (t, json!({ "priorities": self.priorities(gi) }))
            }
            Command::Uncommit { .. } => {
                let config: Vec<u32> = self.groups[gi]
                    .config
                    .targets
                    .iter()
                    .map(|t| t.priority)
                    .collect();
                let t = self.groups[gi]
                    .machine
                    .uncommit(&config, now)
                    .map_err(conflict)?;
                (t, json!({ "priorities": self.priorities(gi) }))
            }
            Command::Retry { .. } => {
                self.groups[gi].machine.retry().map_err(conflict)?;
                (None, json!({}))
            }
            Command::Drill { target, .. } => {
                let ti = self.target(gi, target)?;
                let m = &mut self.groups[gi].machine;
                let t = m.pin_to(ti, false, Cause::Drill, now).map_err(conflict)?;
                (t, json!({ "target": target }))
            }
            Command::EndDrill { .. } => {
                let m = &mut self.groups[gi].machine;
                (
                    m.release_as(Cause::Drill, now).map_err(conflict)?,
                    json!({}),
                )
            }
            Command::SetAdmin { target, state, .. } => {
                let ti = self.target(gi, target)?;
                let t = self.groups[gi].machine.set_admin(ti, *state, now);
                (t, json!({ "target": target, "state": state }))
            }
            Command::Disconnect { .. } => {
                self.groups[gi].disconnect_gen += 1;
                (None, json!({}))
            }
            Command::Reload(_) => unreachable!("reload is handled before"),
        })
    }

    fn priorities(&self, gi: usize) -> serde_json::Value {
        let g = &self.groups[gi];
        let map: serde_json::Map<String, serde_json::Value> = g
            .config
            .targets
            .iter()
            .zip(g.machine.targets())
            .map(|(c, t)| (c.name.clone(), t.priority.into()))
            .collect();
        map.into()
    }

    fn record_admin(&self, gi: usize, action: &str, actor: &str, mut details: serde_json::Value) {
        let g = &self.groups[gi];
        if let Some(obj) = details.as_object_mut() {
            obj.insert("action".into(), action.into());
            obj.insert("actor".into(), actor.into());
        }
        tracing::info!(group = %g.config.name, action, actor, details = %details, "admin action");
        self.services.events.record(
            "admin",
            Some(&g.config.name),
            Some(g.machine.epoch()),
            details,
        );
    }

    fn notice(
        &self,
        gi: usize,
        action: &'static str,
        t: Option<&Transition>,
        actor: &str,
    ) -> Notice {
        let g = &self.groups[gi];
        let names = |idx: &[usize]| {
            idx.iter()
                .map(|&i| g.config.targets[i].name.clone())
                .collect::<Vec<_>>()
        };
        let active = g.machine.active();
        Notice {
            group: g.config.name.clone(),
            trigger: action,
            from: names(t.map(|t| t.from.as_slice()).unwrap_or(active)),
            to: names(active),
            cause: t.map(|t| t.cause).unwrap_or(Cause::Manual),
            epoch: g.machine.epoch(),
            actor: Some(actor.into()),
            at: std::time::SystemTime::now(),
        }
    }
}
