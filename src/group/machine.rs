//! The failover state machine of one group: pure, no I/O, no clock (time is passed in).
//!
//! Inputs are verdicts (a target is up or down), admin states and the passage of time;
//! the output is at most one `Transition` per input, only when the set of active targets
//! changes. Table tests below cover failover, failback with hold, manual failback, all-down
//! policies, and the absence of spurious or ping-pong transitions.

use std::time::Duration;
use tokio::time::Instant;

use super::{AdminState, Cause, GroupStatus, Health};
use crate::config::{AllDown, Failback};

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub failback: Failback,
    pub failback_hold: Duration,
    pub all_down: AllDown,
}

#[derive(Debug, Clone)]
pub struct TargetState {
    pub priority: u32,
    pub health: Health,
    pub admin: AdminState,
    /// When the target last became up; the failback hold counts from here.
    pub up_since: Option<Instant>,
}

impl TargetState {
    fn enabled(&self) -> bool {
        self.admin == AdminState::Enabled
    }
    /// Up, or not yet checked: a target is not written off before its first verdict.
    fn serving(&self) -> bool {
        self.enabled() && self.health != Health::Down
    }
    fn up(&self) -> bool {
        self.enabled() && self.health == Health::Up
    }
}

/// A change of the active targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: Vec<usize>,
    pub to: Vec<usize>,
    pub cause: Cause,
    pub epoch: u64,
    /// Priorities of the tiers before and after (`None`: nothing active).
    pub from_tier: Option<u32>,
    pub to_tier: Option<u32>,
}

impl Transition {
    /// A move to a better tier (or out of nothing).
    pub fn is_failback(&self) -> bool {
        match (self.from_tier, self.to_tier) {
            (Some(a), Some(b)) => b < a,
            _ => false,
        }
    }

    /// A move to a worse tier.
    pub fn is_failover(&self) -> bool {
        match (self.from_tier, self.to_tier) {
            (Some(a), Some(b)) => b > a,
            _ => false,
        }
    }
}

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
        if self.all_down {
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
        self.evaluate(now)
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
        self.evaluate(now)
    }

    /// Lets time pass: a failback hold may have ended.
    pub fn tick(&mut self, now: Instant) -> Option<Transition> {
        self.evaluate(now)
    }

    /// When `tick` should next run (the end of a failback hold). It may be in the past (the
    /// caller then ticks at once): filtering past deadlines out would lose a failback whose
    /// deadline passed while the caller was busy with another input.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.policy.failback != Failback::Auto {
            return None;
        }
        let current = self.tier?;
        self.targets
            .iter()
            .filter(|t| t.priority < current && t.up())
            .filter_map(|t| t.up_since.map(|s| s + self.policy.failback_hold))
            .min()
    }

    fn tiers(&self) -> Vec<u32> {
        let mut p: Vec<u32> = self.targets.iter().map(|t| t.priority).collect();
        p.sort_unstable();
        p.dedup();
        p
    }

    fn tier_members(&self, priority: u32) -> Vec<usize> {
        (0..self.targets.len())
            .filter(|&i| self.targets[i].priority == priority)
            .collect()
    }

    fn tier_has(&self, priority: u32, pred: impl Fn(&TargetState) -> bool) -> bool {
        self.targets
            .iter()
            .any(|t| t.priority == priority && pred(t))
    }

    /// The targets of a tier that take traffic; for a tier kept while all is down, all of
    /// its enabled targets (or every target, if an operator disabled them all).
    fn serving_members(&self, priority: u32) -> Vec<usize> {
        let members = self.tier_members(priority);
        let serving: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| self.targets[i].serving())
            .collect();
        if !serving.is_empty() {
            return serving;
        }
        let enabled: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| self.targets[i].enabled())
            .collect();
        if enabled.is_empty() {
            members
        } else {
            enabled
        }
    }

    fn held_up(&self, priority: u32, now: Instant) -> bool {
        let hold = self.policy.failback_hold;
        self.targets.iter().any(|t| {
            t.priority == priority
                && t.up()
                && t.up_since.is_some_and(|s| now.duration_since(s) >= hold)
        })
    }

    /// Picks the tier that should be active now, and why.
    fn choose(&self, now: Instant) -> (Option<u32>, Cause, bool) {
        let tiers = self.tiers();
        let current_ok = self
            .tier
            .is_some_and(|p| self.tier_has(p, TargetState::serving));
        if let (true, Some(current)) = (current_ok, self.tier) {
            if self.policy.failback == Failback::Auto {
                if let Some(&better) = tiers
                    .iter()
                    .take_while(|&&p| p < current)
                    .find(|&&p| self.held_up(p, now))
                {
                    return (Some(better), Cause::Failback, false);
                }
            }
            return (Some(current), Cause::Health, false);
        }
        let best_up = tiers
            .iter()
            .copied()
            .find(|&p| self.tier_has(p, TargetState::up));
        let best_unknown = || {
            tiers
                .iter()
                .copied()
                .find(|&p| self.tier_has(p, TargetState::serving))
        };
        match best_up.or_else(best_unknown) {
            Some(p) => (Some(p), Cause::Health, false),
            None => match self.policy.all_down {
                AllDown::FailStatic => (self.tier.or(tiers.first().copied()), Cause::Health, true),
                AllDown::FailClosed => (None, Cause::Health, true),
            },
        }
    }

    fn evaluate(&mut self, now: Instant) -> Option<Transition> {
        self.evaluate_as(now, None)
    }

    /// Re-decides the active set; `cause` overrides the cause the rules would give (for
    /// operator commands).
    fn evaluate_as(&mut self, now: Instant, cause: Option<Cause>) -> Option<Transition> {
        let from_tier = self.active.first().map(|&i| self.targets[i].priority);
        let (tier, rule_cause, all_down, active) = match self.pin {
            Some(p) => (
                Some(self.targets[p].priority),
                Cause::Manual,
                false,
                vec![p],
            ),
            None => {
                let (tier, cause, all_down) = self.choose(now);
                let active = tier.map(|p| self.serving_members(p)).unwrap_or_default();
                (tier, cause, all_down, active)
            }
        };
        self.all_down = all_down;
        self.tier = tier;
        if active == self.active {
            return None;
        }
        self.epoch = self.epoch.saturating_add(1);
        let from = std::mem::replace(&mut self.active, active.clone());
        Some(Transition {
            from,
            to: active,
            cause: cause.unwrap_or(rule_cause),
            epoch: self.epoch,
            from_tier,
            to_tier: tier,
        })
    }
}

#[path = "operate.rs"]
mod operate;
pub use operate::Decision;

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
