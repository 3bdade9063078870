//! The failover state machine of one group: pure, no I/O, no clock (time is passed in).
//!
//! Inputs are verdicts (a target is up or down), failed checks that did not flip a verdict,
//! admin states and the passage of time; the output is at most one `Transition` per input,
//! only when the set of active targets or the all-down state changes. Table tests below
//! cover failover, failback with hold, manual failback, all-down policies, flap damping,
//! and the absence of spurious or ping-pong transitions.

use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

use super::{AdminState, Cause, GroupStatus, Health, Role};
use crate::config::{AllDown, Failback};

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub failback: Failback,
    pub failback_hold: Duration,
    pub all_down: AllDown,
    /// A target that went down `flap_limit` times within `flap_window` is flapping.
    pub flap_limit: u32,
    pub flap_window: Duration,
    /// The group has gates (`stage = "before"` hooks): a switch to new targets waits for
    /// them (see `gate.rs`).
    pub gated: bool,
}

#[derive(Debug, Clone)]
pub struct TargetState {
    pub priority: u32,
    pub health: Health,
    pub admin: AdminState,
    /// When the target last became up.
    pub up_since: Option<Instant>,
    /// The last failed check or refused client connect, verdict or not: the failback hold
    /// counts from the later of this and `up_since`, so a main that fails one check in
    /// every few never looks "up for the hold".
    pub last_failure: Option<Instant>,
    /// Went down `flap_limit` times within `flap_window`, and not yet stable for the hold.
    pub flapping: bool,
    /// When the target went down, within the flap window.
    downs: VecDeque<Instant>,
    /// What its role check last answered; `None` when down, before the first answer, or
    /// without a role check.
    pub role: Option<Role>,
    /// The group's `role = "primary"`: a standby takes no traffic.
    primary_only: bool,
}

impl TargetState {
    fn enabled(&self) -> bool {
        self.admin == AdminState::Enabled
    }
    /// Up, or not yet checked: a target is not written off before its first verdict.
    fn serving(&self) -> bool {
        self.enabled() && self.health != Health::Down && !self.barred_standby()
    }
    fn up(&self) -> bool {
        self.enabled() && self.health == Health::Up && !self.barred_standby()
    }
    /// Since when the target has been up without a single failure.
    fn stable_since(&self) -> Option<Instant> {
        let up = self.up_since.filter(|_| self.health == Health::Up)?;
        Some(self.last_failure.map_or(up, |f| f.max(up)))
    }
}

pub use super::transition::{AllDownEdge, Transition};

/// What role checks tell the machine (`machine/roles.rs`).
mod roles;
/// Which tier the rules pick (`machine/tiers.rs`).
mod tiers;
use tiers::Choice;

#[derive(Debug, Clone)]
pub struct Machine {
    policy: Policy,
    targets: Vec<TargetState>,
    /// Priority of the active tier; `None` only when fail_closed left nothing active.
    tier: Option<u32>,
    active: Vec<usize>,
    all_down: bool,
    epoch: u64,
    /// An operator's pin: this target alone is active, whatever its health.
    pin: Option<usize>,
    gate: Gate,
    gate_seq: u64,
    /// Set while deciding without gates (`switch --force`).
    forcing: bool,
}

impl Machine {
    /// A new group starts on its best tier, every target unknown.
    pub fn new(priorities: &[u32], policy: Policy) -> Machine {
        let targets = priorities
            .iter()
            .map(|&priority| TargetState {
                priority,
                health: Health::Unknown,
                admin: AdminState::Enabled,
                up_since: None,
                last_failure: None,
                flapping: false,
                downs: VecDeque::new(),
                role: None,
                primary_only: false,
            })
            .collect();
        let mut m = Machine {
            policy,
            targets,
            tier: None,
            active: Vec::new(),
            all_down: false,
            epoch: 0,
            pin: None,
            gate: Gate::Open,
            gate_seq: 0,
            forcing: false,
        };
        let best = m.tiers().first().copied();
        m.tier = best;
        m.active = best.map(|p| m.tier_members(p)).unwrap_or_default();
        m
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }
    pub fn active(&self) -> &[usize] {
        &self.active
    }
    pub fn targets(&self) -> &[TargetState] {
        &self.targets
    }

    pub fn status(&self) -> GroupStatus {
        if let Gate::Running(_) = self.gate {
            GroupStatus::Switching
        } else if let Gate::Failed { .. } = self.gate {
            GroupStatus::SwitchFailed
        } else if self.all_down {
            GroupStatus::AllDown
        } else if self.tier == self.tiers().first().copied() {
            GroupStatus::Primary
        } else {
            GroupStatus::FailedOver
        }
    }

    /// Records a verdict for one target.
    pub fn set_health(
        &mut self,
        target: usize,
        health: Health,
        now: Instant,
    ) -> Option<Transition> {
        let t = &mut self.targets[target];
        if t.health == health {
            return None;
        }
        t.health = health;
        t.up_since = (health == Health::Up).then_some(now);
        if health == Health::Down {
            // Unreachable: whatever it was, nobody knows what it is now.
            t.role = None;
            let window = self.policy.flap_window;
            t.downs.retain(|&d| now.duration_since(d) < window);
            t.downs.push_back(now);
            // Only the last `flap_limit` downs can decide: keep no more (a step stays O(1)
            // however often a target flips within the window).
            let limit = self.policy.flap_limit.max(1) as usize;
            while t.downs.len() > limit {
                t.downs.pop_front();
            }
            if t.downs.len() >= limit {
                t.flapping = true;
            }
        }
        self.evaluate(now)
    }

    /// Records a failed check or refused connect that did not (yet) make a verdict. It
    /// decides nothing now; it restarts the failback hold of the target.
    pub fn note_failure(&mut self, target: usize, now: Instant) {
        if let Some(t) = self.targets.get_mut(target) {
            t.last_failure = Some(now);
        }
    }

    pub fn is_all_down(&self) -> bool {
        self.all_down
    }

    /// Records an operator's admin state for one target (ending a pin on it, if any).
    pub fn set_admin(
        &mut self,
        target: usize,
        admin: AdminState,
        now: Instant,
    ) -> Option<Transition> {
        if self.targets[target].admin == admin {
            return None;
        }
        self.targets[target].admin = admin;
        // An operator taking the pinned target out of service ends the pin: the rules
        // decide again rather than sending traffic to a drained or maintained target.
        if admin != AdminState::Enabled && self.pin == Some(target) {
            self.pin = None;
        }
        self.evaluate_as(now, Some(Cause::Admin))
    }

    /// Lets time pass: a failback hold may have ended, a flapping target may be stable.
    pub fn tick(&mut self, now: Instant) -> Option<Transition> {
        let hold = self.policy.failback_hold;
        for t in &mut self.targets {
            if t.flapping
                && t.stable_since()
                    .is_some_and(|s| now.duration_since(s) >= hold)
            {
                t.flapping = false;
                t.downs.clear();
            }
        }
        self.evaluate(now)
    }

    /// When `tick` should next run: the end of a failback hold, or of a flapping target's
    /// probation. It may be in the past (the caller then ticks at once): filtering past
    /// deadlines out would lose a failback whose deadline passed while the caller was busy
    /// with another input.
    pub fn next_deadline(&self) -> Option<Instant> {
        let hold = self.policy.failback_hold;
        let calm = self
            .targets
            .iter()
            .filter(|t| t.flapping)
            .filter_map(|t| t.stable_since().map(|s| s + hold));
        calm.chain(self.failback_due()).min()
    }

    /// When an automatic failback will happen if nothing fails meanwhile: the end of the
    /// running `failback_hold` of the soonest better target (`None`: no failback pending,
    /// e.g. on the best tier, pinned, manual failback, or no better target up).
    pub fn failback_due(&self) -> Option<Instant> {
        let hold = self.policy.failback_hold;
        let current = match (self.policy.failback, self.tier) {
            (Failback::Auto, Some(current)) if self.pin.is_none() => current,
            _ => return None,
        };
        self.targets
            .iter()
            .filter(|t| t.priority < current && t.up())
            .filter_map(|t| t.stable_since().map(|s| s + hold))
            .min()
    }

    fn evaluate(&mut self, now: Instant) -> Option<Transition> {
        self.evaluate_as(now, None)
    }

    /// Re-decides the active set; `cause` overrides the cause the rules would give (for
    /// operator commands).
    fn evaluate_as(&mut self, now: Instant, cause: Option<Cause>) -> Option<Transition> {
        let from_tier = self.active.first().map(|&i| self.targets[i].priority);
        let (choice, active) = match self.pin {
            Some(p) => {
                let pinned = Choice {
                    tier: Some(self.targets[p].priority),
                    cause: Cause::Manual,
                    all_down: false,
                };
                (pinned, vec![p])
            }
            None => {
                let choice = self.choose(now);
                let active = choice
                    .tier
                    .map(|p| self.serving_members(p))
                    .unwrap_or_default();
                (choice, active)
            }
        };
        let cause = cause.unwrap_or(choice.cause);
        if let Some(held) = self.hold(choice.tier, &active, cause, choice.all_down) {
            return held;
        }
        let edge = match (self.all_down, choice.all_down) {
            (false, true) => Some(AllDownEdge::Entered),
            (true, false) => Some(AllDownEdge::Left),
            _ => None,
        };
        self.all_down = choice.all_down;
        self.tier = choice.tier;
        if active == self.active && edge.is_none() {
            return None;
        }
        // Saturating: a persisted epoch is bounded at load, so this never stops growing in
        // practice, and it can never wrap back below what clients have seen.
        self.epoch = self.epoch.saturating_add(1);
        let from = std::mem::replace(&mut self.active, active.clone());
        Some(Transition {
            from,
            to: active,
            cause,
            epoch: self.epoch,
            from_tier,
            to_tier: choice.tier,
            all_down: edge,
        })
    }
}

mod gate;
mod operate;
pub use gate::{Gate, HeldSwitch, SavedSwitch};
pub use operate::Decision;

#[cfg(test)]
mod tests;
