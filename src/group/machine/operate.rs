//! Operator commands on the state machine: switch (pin), release, failback, commit, and
//! restoring a persisted decision. Still pure: the supervisor persists and publishes.

use tokio::time::Instant;

use super::{Machine, Transition};
use crate::group::{AdminState, Cause, Health};

/// A decision as persisted: everything an operator or a transition decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub epoch: u64,
    pub active: Vec<usize>,
    pub pin: Option<usize>,
    /// Effective priorities (after commits), one per target.
    pub priorities: Vec<u32>,
    pub admin: Vec<AdminState>,
    /// A switch held for its gates (running or failed).
    pub held: Option<super::SavedSwitch>,
}

impl Machine {
    pub fn pin(&self) -> Option<usize> {
        self.pin
    }

    pub fn decision(&self) -> Decision {
        Decision {
            epoch: self.epoch,
            active: self.active.clone(),
            pin: self.pin,
            priorities: self.targets.iter().map(|t| t.priority).collect(),
            admin: self.targets.iter().map(|t| t.admin).collect(),
            held: self.saved_switch(),
        }
    }

    /// Resumes a persisted decision (after a restart or a reload). Health stays as it is
    /// (unknown on a start), so the group keeps serving this decision until verdicts come.
    pub fn restore(&mut self, d: &Decision) {
        let n = self.targets.len();
        for (t, &p) in self.targets.iter_mut().zip(&d.priorities) {
            t.priority = p;
        }
        for (t, &a) in self.targets.iter_mut().zip(&d.admin) {
            t.admin = a;
        }
        self.pin = d.pin.filter(|&p| p < n);
        self.epoch = d.epoch;
        let active: Vec<usize> = d.active.iter().copied().filter(|&i| i < n).collect();
        if let Some(&first) = active.first() {
            self.tier = Some(self.targets[first].priority);
            self.active = active;
        }
        self.restore_switch(d.held.as_ref());
    }

    /// Takes a target's health history from a previous incarnation (reload), without
    /// deciding: verdict, hold, failures and flapping carry over; priority and admin state
    /// come from the decision.
    pub fn carry_target(&mut self, target: usize, old: &super::TargetState) {
        let t = &mut self.targets[target];
        t.health = old.health;
        t.up_since = old.up_since;
        t.last_failure = old.last_failure;
        t.flapping = old.flapping;
        t.downs = old.downs.clone();
        t.role = old.role;
    }

    /// Takes the all-down state from a previous incarnation (reload), so a reload of a
    /// group that is all down does not announce it again.
    pub fn carry_all_down(&mut self, all_down: bool) {
        self.all_down = all_down;
    }

    /// Decides again after outside changes (a reload), with the given cause.
    pub fn reevaluate(&mut self, now: Instant, cause: Cause) -> Option<Transition> {
        self.evaluate_as(now, Some(cause))
    }

    /// Pins the group to one target. Without `force`, a target known to be down is refused
    /// and the group's gates run first; with it, traffic moves at once. A drained or
    /// maintained target is always refused (enable it first).
    pub fn switch(
        &mut self,
        target: usize,
        force: bool,
        now: Instant,
    ) -> Result<Option<Transition>, String> {
        self.pin_to(target, force, Cause::Manual, now)
    }

    /// `switch`, for `cause` (a drill pins with `Cause::Drill`).
    pub fn pin_to(
        &mut self,
        target: usize,
        force: bool,
        cause: Cause,
        now: Instant,
    ) -> Result<Option<Transition>, String> {
        let t = &self.targets[target];
        if t.admin != AdminState::Enabled {
            return Err(format!("target is in {:?} state; enable it first", t.admin).to_lowercase());
        }
        if t.health == Health::Down && !force {
            return Err(
                "target is down; use --force (API: \"force\": true) to switch to it anyway".into(),
            );
        }
        if t.barred_standby() && !force {
            return Err("target is a standby and the group has role = \"primary\"; promote it first, or use --force".into());
        }
        self.pin = Some(target);
        if force {
            return Ok(self.evaluate_forced(now, cause));
        }
        self.drop_held();
        Ok(self.evaluate_as(now, Some(cause)))
    }

    /// Removes the pin; the rules decide again.
    pub fn release(&mut self, now: Instant) -> Result<Option<Transition>, String> {
        self.release_as(Cause::Manual, now)
    }

    /// `release`, for `cause`.
    pub fn release_as(&mut self, cause: Cause, now: Instant) -> Result<Option<Transition>, String> {
        if self.pin.take().is_none() {
            return Err("group is not pinned".into());
        }
        self.drop_held();
        Ok(self.evaluate_as(now, Some(cause)))
    }

    /// Returns to the best tier with an up target now, without waiting for the hold (the
    /// way back for `failback = "manual"`). Clears a pin.
    pub fn failback(&mut self, now: Instant) -> Result<Option<Transition>, String> {
        let best = self
            .tiers()
            .into_iter()
            .find(|&p| self.tier_has(p, super::TargetState::up));
        let Some(best) = best else {
            return Err("no target is up to fail back to".into());
        };
        if self.pin.is_none() && self.tier == Some(best) {
            return Err("group already serves its best healthy tier".into());
        }
        self.pin = None;
        self.tier = Some(best);
        self.drop_held();
        Ok(self.evaluate_as(now, Some(Cause::Failback)))
    }

    /// Undoes commits: every target gets the priority of the config (`config`, in target
    /// order) back. Traffic stays where it is if the rules allow: the way back to the old
    /// main is the group's failback (after its hold, or `failback` when manual).
    pub fn uncommit(&mut self, config: &[u32], now: Instant) -> Result<Option<Transition>, String> {
        if self
            .targets
            .iter()
            .zip(config)
            .all(|(t, &p)| t.priority == p)
        {
            return Err("the priorities are the config's already: nothing to uncommit".into());
        }
        if self.gate != super::Gate::Open {
            return Err(
                "a switch is held for its gates: let it finish, retry it or force a switch first"
                    .into(),
            );
        }
        for (t, &p) in self.targets.iter_mut().zip(config) {
            t.priority = p;
        }
        // The active tier keeps its targets under their old priority.
        self.tier = self.active.first().map(|&i| self.targets[i].priority);
        Ok(self.evaluate_as(now, Some(Cause::Commit)))
    }

    /// Makes the active targets the new main: they get the best priority, the other tiers
    /// follow in their old order. A later recovery of the old main does not fail back.
    pub fn commit(&mut self, now: Instant) -> Result<Option<Transition>, String> {
        if self.active.is_empty() {
            return Err("nothing is active to commit".into());
        }
        if self.gate != super::Gate::Open {
            return Err(
                "a switch is held for its gates: let it finish, retry it or force a switch first"
                    .into(),
            );
        }
        let best = self.tiers().first().copied();
        if self.pin.is_none() && self.tier == best {
            return Err("group already serves its main tier; nothing to commit".into());
        }
        // The whole active tier moves up together (or the pinned target alone).
        let new_main = match (self.pin, self.tier) {
            (Some(p), _) => vec![p],
            (None, Some(tier)) => self.tier_members(tier),
            (None, None) => self.active.clone(),
        };
        let rank: std::collections::HashMap<u32, u32> = self.tiers().into_iter().zip(2..).collect();
        for (i, t) in self.targets.iter_mut().enumerate() {
            t.priority = if new_main.contains(&i) {
                1
            } else {
                rank[&t.priority]
            };
        }
        self.pin = None;
        self.tier = Some(1);
        // The rules decide again on the new priorities: a committed target that is down
        // (a forced pin) gives way to an up one, and all-down stays all-down.
        Ok(self.evaluate_as(now, Some(Cause::Commit)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AllDown, Failback};
    use crate::group::machine::Policy;
    use std::time::Duration;

    fn machine(failback: Failback) -> Machine {
        let policy = Policy {
            failback,
            failback_hold: Duration::from_secs(30),
            all_down: AllDown::FailStatic,
            flap_limit: 3,
            flap_window: Duration::from_secs(60),
            gated: false,
        };
        Machine::new(&[1, 2], policy)
    }

    #[test]
    fn switch_pins_and_refuses_a_down_target_without_force() {
        let mut m = machine(Failback::Auto);
        let now = Instant::now();
        m.set_health(0, Health::Up, now);
        m.set_health(1, Health::Down, now);
        assert!(m.switch(1, false, now).unwrap_err().contains("down"));
        let tr = m.switch(1, true, now).unwrap().expect("forced switch");
        assert_eq!((tr.to.as_slice(), tr.cause), (&[1][..], Cause::Manual));
        // Pinned: health changes do not move it.
        assert!(m.set_health(0, Health::Down, now).is_none());
        assert!(m
            .set_health(0, Health::Up, now + Duration::from_secs(100))
            .is_none());
        assert!(m.tick(now + Duration::from_secs(200)).is_none());
        let tr = m.release(now).unwrap().expect("release returns to main");
        assert_eq!(tr.to, vec![0]);
        assert!(m.release(now).is_err());
    }

    #[test]
    fn switch_refuses_a_drained_target() {
        let mut m = machine(Failback::Auto);
        let now = Instant::now();
        m.set_admin(1, AdminState::Drain, now);
        assert!(m.switch(1, true, now).unwrap_err().contains("drain"));
    }

    #[test]
    fn failback_returns_at_once_for_manual_groups() {
        let mut m = machine(Failback::Manual);
        let now = Instant::now();
        m.set_health(1, Health::Up, now);
        m.set_health(0, Health::Down, now);
        assert_eq!(m.active(), &[1]);
        assert!(
            m.failback(now).is_err(),
            "main is down: a failback would be refused"
        );
        m.set_health(0, Health::Up, now);
        assert_eq!(m.active(), &[1], "manual: stays");
        let tr = m.failback(now).unwrap().expect("failback");
        assert_eq!((tr.to.as_slice(), tr.cause), (&[0][..], Cause::Failback));
        assert!(tr.is_failback());
        assert!(m.failback(now).is_err(), "already on the best tier");
    }

    #[test]
    fn commit_makes_the_backup_the_main_for_good() {
        let mut m = machine(Failback::Auto);
        let now = Instant::now();
        m.set_health(1, Health::Up, now);
        assert!(
            m.commit(now).is_err(),
            "nothing to commit while on the main"
        );
        m.set_health(0, Health::Down, now);
        assert_eq!(m.commit(now).unwrap(), None, "the active target stays");
        assert_eq!(m.decision().priorities, vec![2, 1]);
        assert_eq!(m.status(), crate::group::GroupStatus::Primary);
        // The old main recovers and holds: no failback.
        m.set_health(0, Health::Up, now);
        assert!(m.tick(now + Duration::from_secs(3600)).is_none());
        assert_eq!(m.active(), &[1]);
    }

    #[test]
    fn uncommit_restores_the_config_priorities_and_traffic_stays() {
        let mut m = machine(Failback::Manual);
        let now = Instant::now();
        m.set_health(1, Health::Up, now);
        m.set_health(0, Health::Down, now);
        assert!(m.uncommit(&[1, 2], now).is_err(), "nothing committed yet");
        m.commit(now).unwrap();
        assert_eq!(m.decision().priorities, vec![2, 1]);
        assert_eq!(m.uncommit(&[1, 2], now).unwrap(), None, "traffic stays");
        assert_eq!(m.decision().priorities, vec![1, 2]);
        assert_eq!(m.active(), &[1]);
        assert_eq!(m.status(), crate::group::GroupStatus::FailedOver);
        // The old main is the main again: manual failback goes back to it.
        m.set_health(0, Health::Up, now);
        let tr = m.failback(now).unwrap().expect("failback");
        assert_eq!(tr.to, vec![0]);
    }

    #[test]
    fn draining_the_pinned_target_ends_the_pin() {
        let mut m = machine(Failback::Auto);
        let now = Instant::now();
        m.set_health(0, Health::Up, now);
        m.set_health(1, Health::Up, now);
        m.switch(1, false, now).unwrap();
        let tr = m
            .set_admin(1, AdminState::Drain, now)
            .expect("traffic leaves the drained target");
        assert_eq!(tr.to, vec![0]);
        assert_eq!(m.pin(), None);
    }

    #[test]
    fn commit_of_a_forced_pin_on_a_down_target_lets_the_rules_decide() {
        let mut m = machine(Failback::Auto);
        let now = Instant::now();
        m.set_health(0, Health::Up, now);
        m.set_health(1, Health::Down, now);
        m.switch(1, true, now).unwrap();
        let tr = m.commit(now).unwrap().expect("the up target takes over");
        assert_eq!((tr.to.as_slice(), tr.cause), (&[0][..], Cause::Commit));
        assert_eq!(m.decision().priorities, vec![2, 1]);
        assert_eq!(m.status(), crate::group::GroupStatus::FailedOver);
    }

    #[test]
    fn restore_resumes_the_persisted_decision() {
        let mut m = machine(Failback::Auto);
        let d = Decision {
            epoch: 7,
            active: vec![1],
            pin: Some(1),
            priorities: vec![1, 2],
            admin: vec![AdminState::Maintenance, AdminState::Enabled],
            held: None,
        };
        m.restore(&d);
        assert_eq!(m.decision(), d);
        assert_eq!(m.active(), &[1]);
        // Verdicts arrive: the pin holds.
        assert!(m.set_health(0, Health::Up, Instant::now()).is_none());
    }
}
