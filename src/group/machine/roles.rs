//! What role checks (postgres, redis) tell the state machine: each target's role, and, in
//! a group with `role = "primary"`, that a standby is a failover candidate rather than a
//! traffic target. The rules themselves (`serving`, `up`) read `barred_standby`; this
//! file records roles and answers which standby a runbook should promote.

use tokio::time::Instant;

use super::{Machine, TargetState, Transition};
use crate::group::{AdminState, Health, Role};

impl TargetState {
    /// A standby in a group that wants primaries: reachable, a failover candidate, never a
    /// traffic target.
    pub fn barred_standby(&self) -> bool {
        self.primary_only && self.role == Some(Role::Standby)
    }
}

impl Machine {
    /// The group's `role = "primary"`: from now on a standby takes no traffic.
    pub fn with_primary_only(mut self, on: bool) -> Machine {
        for t in &mut self.targets {
            t.primary_only = on;
        }
        self
    }

    /// Records the role a target's check answered. Decides again only when that changes
    /// whether the target may take traffic: a standby promoted to primary becomes up (its
    /// failback hold counts from the promotion), a primary demoted to standby stops being
    /// a traffic target.
    pub fn set_role(&mut self, target: usize, role: Role, now: Instant) -> Option<Transition> {
        let t = self.targets.get_mut(target)?;
        if t.role == Some(role) {
            return None;
        }
        let was_barred = t.barred_standby();
        t.role = Some(role);
        if t.barred_standby() == was_barred {
            return None;
        }
        if !t.barred_standby() && t.health == Health::Up {
            t.up_since = Some(now);
        }
        self.evaluate(now)
    }

    /// Forgets every target's role (a reload took the role check away).
    pub fn forget_roles(&mut self) {
        for t in &mut self.targets {
            t.role = None;
        }
    }

    /// The standby a runbook should promote: the enabled, up standby of the best priority
    /// (the first in config order among equals) that is not active. `None` when there is
    /// none. Answers by role alone, with or without `role = "primary"`.
    pub fn best_candidate(&self) -> Option<usize> {
        self.targets
            .iter()
            .enumerate()
            .filter(|(i, t)| {
                t.role == Some(Role::Standby)
                    && t.health == Health::Up
                    && t.admin == AdminState::Enabled
                    && !self.active.contains(i)
            })
            .min_by_key(|(_, t)| t.priority)
            .map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{AllDown, Failback};
    use crate::group::machine::Policy;
    use crate::group::GroupStatus;

    fn machine(primary_only: bool) -> Machine {
        let policy = Policy {
            failback: Failback::Manual,
            failback_hold: Duration::from_secs(30),
            all_down: AllDown::FailStatic,
            flap_limit: 3,
            flap_window: Duration::from_secs(60),
            gated: false,
        };
        Machine::new(&[1, 2], policy).with_primary_only(primary_only)
    }

    /// main primary and up, backup standby and up: the state of a healthy replicated pair.
    fn healthy_pair(primary_only: bool, now: Instant) -> Machine {
        let mut m = machine(primary_only);
        assert!(m.set_role(0, Role::Primary, now).is_none());
        m.set_health(0, Health::Up, now);
        m.set_role(1, Role::Standby, now);
        m.set_health(1, Health::Up, now);
        assert_eq!(m.active(), &[0]);
        m
    }

    #[test]
    fn primary_only_a_group_of_a_dead_primary_and_a_standby_is_all_down() {
        let now = Instant::now();
        let mut m = healthy_pair(true, now);
        let tr = m.set_health(0, Health::Down, now).expect("all down");
        assert!(m.is_all_down());
        assert_eq!(m.status(), GroupStatus::AllDown);
        // fail_static: the last active tier (the dead primary), never the standby.
        assert_eq!(tr.to, vec![0]);
        assert_eq!(m.targets()[0].role, None, "a down target's role is unknown");
        assert_eq!(m.best_candidate(), Some(1));
    }

    #[test]
    fn primary_only_a_promoted_standby_takes_traffic() {
        let now = Instant::now();
        let mut m = healthy_pair(true, now);
        m.set_health(0, Health::Down, now);
        let later = now + Duration::from_secs(5);
        let tr = m.set_role(1, Role::Primary, later).expect("failover");
        assert_eq!(tr.to, vec![1]);
        assert!(!m.is_all_down());
        assert_eq!(m.targets()[1].up_since, Some(later));
        assert_eq!(m.best_candidate(), None);
    }

    #[test]
    fn without_primary_only_a_standby_is_an_ordinary_backup() {
        let now = Instant::now();
        let mut m = healthy_pair(false, now);
        let tr = m.set_health(0, Health::Down, now).expect("failover");
        assert_eq!(tr.to, vec![1]);
        assert!(!m.is_all_down());
        // Still a standby by role, and active: not a candidate.
        assert_eq!(m.best_candidate(), None);
    }

    #[test]
    fn primary_only_a_demoted_active_target_stops_taking_traffic() {
        let now = Instant::now();
        let mut m = healthy_pair(true, now);
        let tr = m.set_role(0, Role::Standby, now).expect("no primary left");
        assert!(tr.all_down.is_some());
        assert!(m.is_all_down());
        // Not even fail_static keeps a standby active: the kept tier serves nothing.
        assert_eq!(tr.to, Vec::<usize>::new());
        // Both standbys now, neither active: the better one is the candidate.
        assert_eq!(m.best_candidate(), Some(0));
    }

    /// A tier of a primary and a standby (equal priorities): when the primary dies and
    /// the tier is kept while all is down, the standby in it still takes nothing.
    #[test]
    fn primary_only_a_kept_tier_never_serves_its_standby() {
        let now = Instant::now();
        let policy = machine(true).policy;
        let mut m = Machine::new(&[1, 1], policy).with_primary_only(true);
        m.set_role(0, Role::Primary, now);
        m.set_health(0, Health::Up, now);
        m.set_role(1, Role::Standby, now);
        m.set_health(1, Health::Up, now);
        assert_eq!(m.active(), &[0]);
        let tr = m.set_health(0, Health::Down, now).expect("all down");
        assert!(m.is_all_down());
        assert_eq!(tr.to, vec![0], "the dead primary, never the standby");
        let tr = m.set_role(1, Role::Primary, now).expect("promoted");
        assert_eq!(tr.to, vec![1]);
    }

    #[test]
    fn role_reports_that_change_nothing_decide_nothing() {
        let now = Instant::now();
        let mut m = healthy_pair(true, now);
        let epoch = m.epoch();
        assert!(m.set_role(1, Role::Standby, now).is_none());
        assert!(m.set_role(0, Role::Primary, now).is_none());
        assert!(
            m.set_role(9, Role::Primary, now).is_none(),
            "no such target"
        );
        assert_eq!(m.epoch(), epoch);
    }

    #[test]
    fn candidate_is_the_best_priority_enabled_up_standby() {
        let now = Instant::now();
        let policy = machine(true).policy;
        let mut m = Machine::new(&[1, 3, 2], policy).with_primary_only(true);
        m.set_role(0, Role::Primary, now);
        m.set_health(0, Health::Up, now);
        for t in [1, 2] {
            m.set_role(t, Role::Standby, now);
            m.set_health(t, Health::Up, now);
        }
        assert_eq!(m.best_candidate(), Some(2));
        m.set_admin(2, AdminState::Maintenance, now);
        assert_eq!(m.best_candidate(), Some(1));
        m.set_health(1, Health::Down, now);
        assert_eq!(m.best_candidate(), None);
    }
}
