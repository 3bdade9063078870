//! Runbook gates on the state machine. In a group with gates (`[[group.hook]] stage =
//! "before"`), a decision that moves traffic to a target not active now is held: the
//! group is `switching` and traffic stays where it is until the gate runner reports that
//! every gate of that attempt passed (then the switch happens, as decided) or that one
//! failed (then traffic stays and the group is `switch_failed` until an operator retries,
//! forces or decides otherwise). Still pure: the supervisor starts the runs and feeds the
//! reports back.
//!
//! A switch whose gates are running runs to its end: they may have fenced the old main or
//! promoted a replica already, so a main that recovers meanwhile does not call it off;
//! only an operator's command does.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;

use super::{AllDownEdge, Machine, Transition};
use crate::group::Cause;

/// A switch decided and held for its gates (also the promotion of a standby, when only a
/// primary may take traffic and no primary is left: see `hold`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSwitch {
    pub to: Vec<usize>,
    pub tier: Option<u32>,
    pub cause: Cause,
    /// Numbers the gate runs (unique in the process): a report names the attempt it ran
    /// for, and one for another attempt is stale.
    pub attempt: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Gate {
    /// No switch held.
    #[default]
    Open,
    /// The gates of this switch are running; traffic stays.
    Running(HeldSwitch),
    /// A gate of this switch failed; traffic stayed.
    Failed { switch: HeldSwitch, reason: String },
}

/// A held switch as a decision keeps it (the state file, by target name): its gates run
/// again after a restart, a failed one stays failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedSwitch {
    pub to: Vec<usize>,
    pub cause: Cause,
    pub failed: Option<String>,
}

/// Attempts are numbered process-wide, so a report from a run started before a reload
/// can never be taken for one of a rebuilt group.
static ATTEMPTS: AtomicU64 = AtomicU64::new(0);

fn next_attempt() -> u64 {
    ATTEMPTS.fetch_add(1, Ordering::Relaxed) + 1
}

impl Machine {
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// Changes each time the gate changes: the supervisor compares it to see whether to
    /// start a run or publish.
    pub fn gate_seq(&self) -> u64 {
        self.gate_seq
    }

    fn set_gate(&mut self, gate: Gate) {
        self.gate = gate;
        self.gate_seq += 1;
    }

    /// Called by `evaluate_as` with the rules' new choice: `Some(result)` when the gates
    /// decide instead (the caller returns `result`), `None` to go on as without gates.
    pub(super) fn hold(
        &mut self,
        tier: Option<u32>,
        active: &[usize],
        cause: Cause,
        all_down: bool,
    ) -> Option<Option<Transition>> {
        if !self.policy.gated || self.forcing {
            return None;
        }
        // Nothing may serve, but a standby is reachable where only a primary may take
        // traffic (`role = "primary"`): the gates are there to promote it.
        let promote = match self.best_candidate() {
            Some(c) if all_down && self.targets[c].barred_standby() => Some(c),
            _ => None,
        };
        let candidate;
        let (tier, active) = match promote {
            Some(c) => {
                candidate = [c];
                (Some(self.targets[c].priority), &candidate[..])
            }
            None => (tier, active),
        };
        match &self.gate {
            Gate::Running(_) => return Some(None),
            // What failed is still what the rules want: it waits for an operator.
            Gate::Failed { switch, .. } if switch.to == active => return Some(None),
            // The rules want what is active now: nothing is held any more.
            Gate::Failed { .. } if active == self.active => self.set_gate(Gate::Open),
            _ => {}
        }
        if !active.iter().any(|t| !self.active.contains(t)) {
            // Nothing moves to a target that is not serving already.
            return None;
        }
        self.set_gate(Gate::Running(HeldSwitch {
            to: active.to_vec(),
            tier,
            cause,
            attempt: next_attempt(),
        }));
        Some(None)
    }

    /// Every gate of `attempt` passed: the held switch happens now. `None` for a stale
    /// report (another attempt, or nothing held).
    pub fn gates_passed(&mut self, attempt: u64) -> Option<Transition> {
        let Gate::Running(s) = &self.gate else {
            return None;
        };
        if s.attempt != attempt {
            return None;
        }
        let s = s.clone();
        self.set_gate(Gate::Open);
        let from_tier = self.active.first().map(|&i| self.targets[i].priority);
        let edge = self.all_down.then_some(AllDownEdge::Left);
        self.all_down = false;
        self.tier = s.tier;
        self.epoch = self.epoch.saturating_add(1);
        let from = std::mem::replace(&mut self.active, s.to.clone());
        Some(Transition {
            from,
            to: s.to,
            cause: s.cause,
            epoch: self.epoch,
            from_tier,
            to_tier: s.tier,
            all_down: edge,
        })
    }

    /// A gate of `attempt` failed (`reason`): traffic stays. False for a stale report.
    pub fn gates_failed(&mut self, attempt: u64, reason: String) -> bool {
        match &self.gate {
            Gate::Running(s) if s.attempt == attempt => {
                let switch = s.clone();
                self.set_gate(Gate::Failed { switch, reason });
                true
            }
            _ => false,
        }
    }

    /// Runs the gates of the failed switch again (a new attempt).
    pub fn retry(&mut self) -> Result<(), String> {
        let Gate::Failed { switch, .. } = &self.gate else {
            return Err("no switch failed: nothing to retry".into());
        };
        let mut switch = switch.clone();
        switch.attempt = next_attempt();
        self.set_gate(Gate::Running(switch));
        Ok(())
    }

    /// An operator's command supersedes a held switch (its gates' report becomes stale).
    pub(super) fn drop_held(&mut self) {
        if self.gate != Gate::Open {
            self.set_gate(Gate::Open);
        }
    }

    /// Decides again without gates (`switch --force`).
    pub(super) fn evaluate_forced(&mut self, now: Instant, cause: Cause) -> Option<Transition> {
        self.drop_held();
        self.forcing = true;
        let t = self.evaluate_as(now, Some(cause));
        self.forcing = false;
        t
    }

    /// The held switch, for the state file.
    pub fn saved_switch(&self) -> Option<SavedSwitch> {
        match &self.gate {
            Gate::Open => None,
            Gate::Running(s) => Some(SavedSwitch {
                to: s.to.clone(),
                cause: s.cause,
                failed: None,
            }),
            Gate::Failed { switch, reason } => Some(SavedSwitch {
                to: switch.to.clone(),
                cause: switch.cause,
                failed: Some(reason.clone()),
            }),
        }
    }

    /// Keeps the attempt of the switch `prev` (this group before a reload) held, when it
    /// is the same switch: its gates are running, and must not run twice.
    pub fn carry_gate(&mut self, prev: &Machine) {
        let attempt = match &prev.gate {
            Gate::Running(s) | Gate::Failed { switch: s, .. } => s.attempt,
            Gate::Open => return,
        };
        if let Gate::Running(s) | Gate::Failed { switch: s, .. } = &mut self.gate {
            s.attempt = attempt;
        }
    }

    /// Resumes a saved held switch: its gates run again (a new attempt), or it stays failed.
    pub fn restore_switch(&mut self, saved: Option<&SavedSwitch>) {
        if self.saved_switch().as_ref() == saved {
            // Already held as saved: the run in progress goes on.
            return;
        }
        let Some(saved) = saved.filter(|s| self.policy.gated && !s.to.is_empty()) else {
            self.drop_held();
            return;
        };
        let n = self.targets.len();
        if saved.to.iter().any(|&t| t >= n) {
            self.drop_held();
            return;
        }
        let switch = HeldSwitch {
            to: saved.to.clone(),
            tier: Some(self.targets[saved.to[0]].priority),
            cause: saved.cause,
            attempt: next_attempt(),
        };
        self.set_gate(match &saved.failed {
            Some(reason) => Gate::Failed {
                switch,
                reason: reason.clone(),
            },
            None => Gate::Running(switch),
        });
    }
}

#[cfg(test)]
mod tests;
