//! Which tier the rules pick: the best tier with a target up (or, before any check
//! answered, one not known down), kept while it serves unless an automatic failback finds
//! a better tier held up for `failback_hold`; when nothing serves, `all_down` decides.

use tokio::time::Instant;

use super::{Machine, TargetState};
use crate::config::{AllDown, Failback};
use crate::group::Cause;

/// The tier the rules pick, and why.
pub(super) struct Choice {
    pub(super) tier: Option<u32>,
    pub(super) cause: Cause,
    pub(super) all_down: bool,
}

impl Machine {
    pub(super) fn tiers(&self) -> Vec<u32> {
        let mut p: Vec<u32> = self.targets.iter().map(|t| t.priority).collect();
        p.sort_unstable();
        p.dedup();
        p
    }

    pub(super) fn tier_members(&self, priority: u32) -> Vec<usize> {
        (0..self.targets.len())
            .filter(|&i| self.targets[i].priority == priority)
            .collect()
    }

    pub(super) fn tier_has(&self, priority: u32, pred: impl Fn(&TargetState) -> bool) -> bool {
        self.targets
            .iter()
            .any(|t| t.priority == priority && pred(t))
    }

    /// The targets of a tier that take traffic; for a tier kept while all is down, all of
    /// its enabled targets (or every target, if an operator disabled them all), but never
    /// a standby that `role = "primary"` bars (a tier of standbys alone serves nothing).
    pub(super) fn serving_members(&self, priority: u32) -> Vec<usize> {
        let mut members = self.tier_members(priority);
        members.retain(|&i| !self.targets[i].barred_standby());
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

    /// A target of the tier has been up, without one failed check or refused connect,
    /// for the whole hold.
    pub(super) fn held_up(&self, priority: u32, now: Instant) -> bool {
        let hold = self.policy.failback_hold;
        self.targets.iter().any(|t| {
            t.priority == priority
                && t.up()
                && t.stable_since()
                    .is_some_and(|s| now.duration_since(s) >= hold)
        })
    }

    /// Picks the tier that should be active now, and why.
    pub(super) fn choose(&self, now: Instant) -> Choice {
        let choice = |tier, cause, all_down| Choice {
            tier,
            cause,
            all_down,
        };
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
                    return choice(Some(better), Cause::Failback, false);
                }
            }
            return choice(Some(current), Cause::Health, false);
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
            Some(p) => choice(Some(p), Cause::Health, false),
            None => match self.policy.all_down {
                AllDown::FailStatic => {
                    choice(self.tier.or(tiers.first().copied()), Cause::Health, true)
                }
                AllDown::FailClosed => choice(None, Cause::Health, true),
            },
        }
    }
}
