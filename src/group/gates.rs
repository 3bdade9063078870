//! The supervisor's side of runbook gates (see `machine/gate.rs` for the rules): when a
//! group's machine holds a new switch, the supervisor records it (event, state file,
//! snapshot) and asks the gate runner to run the gates, with the attempt they are for;
//! the runner's reports come back as inputs. The supervisor never waits on a gate.

use std::time::SystemTime;

use serde_json::json;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::machine::{Gate, HeldSwitch};
use super::supervisor::{Notice, Supervisor};
use super::Cause;
use crate::config::HookTrigger;

/// What the gate runner is asked: run the gates of `group` for this switch.
#[derive(Debug, Clone)]
pub struct GateRun {
    pub group: String,
    pub attempt: u64,
    /// The epoch the switch will have.
    pub epoch: u64,
    /// Which gates: those whose `on` names this direction.
    pub direction: HookTrigger,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub cause: Cause,
}

/// How a run goes, as the runner reports it.
#[derive(Debug, Clone)]
pub enum GateProgress {
    /// Gate `number` of `of` (1-based) started, try `attempt_try` (1-based).
    Step {
        hook: String,
        number: usize,
        of: usize,
        try_no: u32,
    },
    Passed,
    Failed {
        reason: String,
    },
}

#[derive(Debug, Clone)]
pub struct GateReport {
    pub group: String,
    pub attempt: u64,
    pub progress: GateProgress,
}

/// The step a group's gates are at, for the API.
#[derive(Debug, Clone)]
pub struct GateStep {
    pub hook: String,
    pub number: usize,
    pub of: usize,
    pub try_no: u32,
    pub since: SystemTime,
}

/// Where gate runs go: the runner's channel.
pub type GateRuns = mpsc::UnboundedSender<GateRun>;

impl Supervisor {
    /// After anything that may have changed group `gi`'s gate: records the change, and
    /// starts the gates of a newly held switch (not on a follower: the leader runs them).
    pub(super) fn gate_check(&mut self, gi: usize) {
        let g = &mut self.groups[gi];
        let seq = g.machine.gate_seq();
        if seq == g.gate_seen {
            return;
        }
        g.gate_seen = seq;
        g.gate_step = None;
        let gate = g.machine.gate().clone();
        let name = g.config.name.clone();
        let names = |idx: &[usize]| -> Vec<String> {
            idx.iter()
                .map(|&i| g.config.targets[i].name.clone())
                .collect()
        };
        let epoch = g.machine.epoch();
        match &gate {
            Gate::Open => g.held_since = None,
            Gate::Running(s) => {
                g.held_since.get_or_insert_with(SystemTime::now);
                let to = names(&s.to);
                info!(group = %name, to = %to.join(","), cause = %s.cause, attempt = s.attempt, "switch held for its gates");
                let details = json!({ "to": to, "cause": s.cause, "attempt": s.attempt });
                self.services
                    .events
                    .record("switching", Some(&name), Some(epoch), details);
            }
            Gate::Failed { switch, reason } => {
                let (from, to) = (names(g.machine.active()), names(&switch.to));
                warn!(group = %name, to = %to.join(","), reason = %reason, "switch failed: traffic stays");
                let details = json!({ "to": to, "cause": switch.cause, "reason": reason });
                self.services
                    .events
                    .record("switch_failed", Some(&name), Some(epoch), details);
                if self.role != super::cluster_link::Role::Follower {
                    self.notify_hooks(Some(Notice {
                        group: name.clone(),
                        trigger: "switch_failed",
                        from,
                        to,
                        cause: switch.cause,
                        epoch,
                        actor: None,
                        at: SystemTime::now(),
                    }));
                }
            }
        }
        self.unsaved = true;
        self.regated.push(gi);
        self.touch(gi);
        if let Gate::Running(s) = gate {
            self.start_gates(gi, &s);
        }
    }

    /// Sends the run of a held switch to the gate runner (the leader's or a lone
    /// instance's job).
    pub(super) fn start_gates(&mut self, gi: usize, s: &HeldSwitch) {
        if self.role == super::cluster_link::Role::Follower {
            return;
        }
        let Some(runs) = &self.services.gates else {
            return;
        };
        let g = &self.groups[gi];
        let names = |idx: &[usize]| {
            idx.iter()
                .map(|&i| g.config.targets[i].name.clone())
                .collect()
        };
        let from_tier = g
            .machine
            .active()
            .first()
            .map(|&i| g.machine.targets()[i].priority);
        let direction = match (from_tier, s.tier) {
            (Some(a), Some(b)) if b > a => HookTrigger::Failover,
            (Some(a), Some(b)) if b < a => HookTrigger::Failback,
            (None, _) => HookTrigger::Failback,
            _ => HookTrigger::Switch,
        };
        let _ = runs.send(GateRun {
            group: g.config.name.clone(),
            attempt: s.attempt,
            epoch: g.machine.epoch() + 1,
            direction,
            from: names(g.machine.active()),
            to: names(&s.to),
            cause: s.cause,
        });
    }

    /// The gates of every held switch run again (this instance became the leader: the
    /// old leader's runs died with its leadership).
    pub(super) fn restart_gates(&mut self) {
        for gi in 0..self.groups.len() {
            if let Gate::Running(s) = self.groups[gi].machine.gate().clone() {
                self.start_gates(gi, &s);
            }
        }
    }

    /// A report of the gate runner; true when it decided something.
    pub(super) fn on_gate(&mut self, r: GateReport) -> bool {
        let Some(&gi) = self.index.get(&r.group) else {
            return false;
        };
        let g = &mut self.groups[gi];
        let current = matches!(g.machine.gate(), Gate::Running(s) if s.attempt == r.attempt);
        if !current {
            // For an attempt an operator or a newer decision replaced.
            return false;
        }
        match r.progress {
            GateProgress::Step {
                hook,
                number,
                of,
                try_no,
            } => {
                g.gate_step = Some(GateStep {
                    hook,
                    number,
                    of,
                    try_no,
                    since: SystemTime::now(),
                });
                self.touch(gi);
                false
            }
            GateProgress::Passed => {
                let t = g.machine.gates_passed(r.attempt);
                self.decide(gi, t);
                self.gate_check(gi);
                true
            }
            GateProgress::Failed { reason } => {
                g.machine.gates_failed(r.attempt, reason);
                self.gate_check(gi);
                true
            }
        }
    }
}
