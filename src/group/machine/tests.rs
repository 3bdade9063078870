//! Table tests for the failover state machine.

use super::*;
use Health::{Down, Unknown, Up};

const MAIN: usize = 0;
const BACKUP: usize = 1;

fn policy(failback: Failback, hold_s: u64, all_down: AllDown) -> Policy {
    Policy {
        failback,
        failback_hold: Duration::from_secs(hold_s),
        all_down,
        flap_limit: 3,
        flap_window: Duration::from_secs(60),
        gated: false,
    }
}

fn auto() -> Machine {
    Machine::new(&[1, 2], policy(Failback::Auto, 30, AllDown::FailStatic))
}

/// One step of a scenario: at `t` seconds, target gets health; expect the active set after.
struct Step {
    at: u64,
    target: usize,
    health: Health,
    active: &'static [usize],
    cause: Option<Cause>,
}

fn run(mut m: Machine, steps: &[Step]) -> Machine {
    let t0 = Instant::now();
    for (i, s) in steps.iter().enumerate() {
        let now = t0 + Duration::from_secs(s.at);
        // Time passes before the verdict, as it does in the supervisor.
        let mut tr = m.tick(now);
        let set = m.set_health(s.target, s.health, now);
        if set.is_some() {
            tr = set;
        }
        assert_eq!(
            m.active(),
            s.active,
            "step {i}: active after target {} -> {:?}",
            s.target,
            s.health
        );
        assert_eq!(
            tr.as_ref().map(|t| t.cause),
            s.cause,
            "step {i}: transition cause"
        );
    }
    m
}

fn step(
    at: u64,
    target: usize,
    health: Health,
    active: &'static [usize],
    cause: Option<Cause>,
) -> Step {
    Step {
        at,
        target,
        health,
        active,
        cause,
    }
}

#[test]
fn starts_on_best_tier_before_any_verdict() {
    let m = auto();
    assert_eq!(m.active(), &[MAIN]);
    assert_eq!(m.status(), GroupStatus::Primary);
    assert_eq!(m.epoch(), 0);
}

#[test]
fn fails_over_when_main_goes_down_and_fails_back_after_hold() {
    let m = run(
        auto(),
        &[
            step(0, MAIN, Up, &[MAIN], None),
            step(0, BACKUP, Up, &[MAIN], None),
            step(10, MAIN, Down, &[BACKUP], Some(Cause::Health)),
            step(20, MAIN, Up, &[BACKUP], None),
            // 29 s after coming back: still held.
            step(49, BACKUP, Up, &[BACKUP], None),
        ],
    );
    let mut m = m;
    let t0 = Instant::now();
    let _ = t0;
    assert_eq!(m.status(), GroupStatus::FailedOver);
    assert_eq!(m.epoch(), 1);
    // The deadline the supervisor sleeps until is the end of the hold.
    let base = Instant::now();
    let tr = m
        .tick(base + Duration::from_secs(3600))
        .expect("failback after the hold");
    assert_eq!(tr.cause, Cause::Failback);
    assert_eq!(tr.to, vec![MAIN]);
    assert_eq!(tr.epoch, 2);
    assert_eq!(m.status(), GroupStatus::Primary);
}

#[test]
fn failback_deadline_is_end_of_hold() {
    let mut m = auto();
    let t0 = Instant::now();
    m.set_health(BACKUP, Up, t0);
    m.set_health(MAIN, Down, t0);
    assert_eq!(m.active(), &[BACKUP]);
    assert_eq!(m.next_deadline(), None);
    m.set_health(MAIN, Up, t0 + Duration::from_secs(5));
    assert_eq!(m.next_deadline(), Some(t0 + Duration::from_secs(35)));
    assert!(m.tick(t0 + Duration::from_secs(34)).is_none());
    assert_eq!(
        m.tick(t0 + Duration::from_secs(35)).map(|t| t.cause),
        Some(Cause::Failback)
    );
}

#[test]
fn flapping_main_never_ping_pongs() {
    let mut m = auto();
    let t0 = Instant::now();
    m.set_health(BACKUP, Up, t0);
    assert!(m.set_health(MAIN, Down, t0).is_some());
    let mut transitions = 0;
    // Up for 20 s, down for 5 s, for an hour: never long enough for the 30 s hold.
    for cycle in 0..144u64 {
        let up_at = t0 + Duration::from_secs(cycle * 25);
        transitions += m.tick(up_at).into_iter().count();
        transitions += m.set_health(MAIN, Up, up_at).into_iter().count();
        let down_at = up_at + Duration::from_secs(20);
        transitions += m.tick(down_at).into_iter().count();
        transitions += m.set_health(MAIN, Down, down_at).into_iter().count();
    }
    assert_eq!(transitions, 0, "a flapping main must not take traffic back");
    assert_eq!(m.active(), &[BACKUP]);
    assert_eq!(m.epoch(), 1);
}

#[test]
fn manual_failback_stays_on_backup() {
    let m = Machine::new(&[1, 2], policy(Failback::Manual, 0, AllDown::FailStatic));
    let mut m = run(
        m,
        &[
            step(0, BACKUP, Up, &[MAIN], None),
            step(1, MAIN, Down, &[BACKUP], Some(Cause::Health)),
            step(2, MAIN, Up, &[BACKUP], None),
        ],
    );
    assert!(m
        .tick(Instant::now() + Duration::from_secs(86_400))
        .is_none());
    assert_eq!(m.next_deadline(), None);
    assert_eq!(m.active(), &[BACKUP]);
}

#[test]
fn no_spurious_transitions_on_repeated_verdicts() {
    let mut m = auto();
    let t0 = Instant::now();
    let mut count = 0;
    for i in 0..100u64 {
        let now = t0 + Duration::from_millis(i * 100);
        for target in [MAIN, BACKUP] {
            count += m.set_health(target, Up, now).into_iter().count();
            count += m.tick(now).into_iter().count();
        }
    }
    assert_eq!(count, 0);
    // A backup going down while the main serves changes nothing either.
    assert!(m.set_health(BACKUP, Down, t0).is_none());
    assert!(m.set_health(BACKUP, Up, t0).is_none());
    assert_eq!(m.epoch(), 0);
}

#[test]
fn fail_static_keeps_last_tier_when_all_down() {
    let m = run(
        auto(),
        &[
            step(0, MAIN, Up, &[MAIN], None),
            step(0, BACKUP, Up, &[MAIN], None),
            step(1, MAIN, Down, &[BACKUP], Some(Cause::Health)),
            // Nothing moves, but the group enters all-down: that is a transition too.
            step(2, BACKUP, Down, &[BACKUP], Some(Cause::Health)),
        ],
    );
    assert_eq!(m.status(), GroupStatus::AllDown);
    assert_eq!(m.epoch(), 2);
    let mut m = m;
    // The main comes back: it is the only up target, so it takes over at once.
    let tr = m.set_health(MAIN, Up, Instant::now()).expect("recovery");
    assert_eq!(tr.to, vec![MAIN]);
    assert_eq!(tr.all_down, Some(AllDownEdge::Left));
    assert_eq!(m.status(), GroupStatus::Primary);
}

#[test]
fn fail_closed_serves_nothing_when_all_down() {
    let m = Machine::new(&[1, 2], policy(Failback::Auto, 30, AllDown::FailClosed));
    let mut m = run(
        m,
        &[
            step(0, MAIN, Down, &[BACKUP], Some(Cause::Health)),
            step(1, BACKUP, Down, &[], Some(Cause::Health)),
        ],
    );
    assert_eq!(m.status(), GroupStatus::AllDown);
    let tr = m.set_health(BACKUP, Up, Instant::now()).expect("recovery");
    assert_eq!(tr.from, Vec::<usize>::new());
    assert_eq!(tr.to, vec![BACKUP]);
    assert_eq!(tr.all_down, Some(AllDownEdge::Left));
}

#[test]
fn tier_shares_traffic_and_loses_members_one_by_one() {
    let m = Machine::new(&[1, 1, 2], policy(Failback::Auto, 0, AllDown::FailStatic));
    assert_eq!(m.active(), &[0, 1]);
    let m = run(
        m,
        &[
            step(0, 2, Up, &[0, 1], None),
            step(0, 0, Up, &[0, 1], None),
            step(0, 1, Down, &[0], Some(Cause::Health)),
            step(1, 0, Down, &[2], Some(Cause::Health)),
            // hold 0: failback as soon as a main-tier target is up.
            step(2, 1, Up, &[1], Some(Cause::Failback)),
            step(3, 0, Up, &[0, 1], Some(Cause::Health)),
        ],
    );
    assert_eq!(m.epoch(), 4);
}

#[test]
fn known_down_main_moves_to_unchecked_backup() {
    let m = run(
        auto(),
        &[step(0, MAIN, Down, &[BACKUP], Some(Cause::Health))],
    );
    assert_eq!(m.targets()[BACKUP].health, Unknown);
}

#[test]
fn backup_takes_over_when_main_recovers_before_hold_and_backup_dies() {
    run(
        auto(),
        &[
            step(0, BACKUP, Up, &[MAIN], None),
            step(1, MAIN, Down, &[BACKUP], Some(Cause::Health)),
            step(5, MAIN, Up, &[BACKUP], None),
            step(6, BACKUP, Down, &[MAIN], Some(Cause::Health)),
        ],
    );
}

#[test]
fn drained_and_maintenance_targets_leave_the_active_set() {
    let mut m = auto();
    let now = Instant::now();
    m.set_health(MAIN, Up, now);
    m.set_health(BACKUP, Up, now);
    let tr = m
        .set_admin(MAIN, AdminState::Drain, now)
        .expect("drain moves traffic");
    assert_eq!(tr.to, vec![BACKUP]);
    assert!(m.set_admin(MAIN, AdminState::Maintenance, now).is_none());
    // Enabled again: the main has been up all along, so the failback hold is already over.
    let later = now + Duration::from_secs(31);
    let tr = m
        .set_admin(MAIN, AdminState::Enabled, later)
        .expect("enable brings it back");
    // Planned work: never a health (or failback) alert.
    assert_eq!(tr.cause, Cause::Admin);
    assert_eq!(m.active(), &[MAIN]);
}

#[test]
fn entering_and_leaving_all_down_are_transitions_under_both_policies() {
    for all_down in [AllDown::FailStatic, AllDown::FailClosed] {
        let mut m = Machine::new(&[1, 2], policy(Failback::Auto, 30, all_down));
        let t0 = Instant::now();
        m.set_health(MAIN, Up, t0);
        m.set_health(BACKUP, Up, t0);
        assert!(m
            .set_health(MAIN, Down, t0)
            .is_some_and(|t| t.all_down.is_none()));
        let entered = m.set_health(BACKUP, Down, t0).expect("all down");
        assert_eq!(entered.all_down, Some(AllDownEdge::Entered), "{all_down:?}");
        assert_eq!(m.status(), GroupStatus::AllDown);
        // Repeated verdicts while all down say nothing more.
        assert!(m.set_health(BACKUP, Down, t0).is_none());
        assert!(m.tick(t0 + Duration::from_secs(100)).is_none());
        let left = m.set_health(BACKUP, Up, t0).expect("recovered");
        assert_eq!(left.all_down, Some(AllDownEdge::Left), "{all_down:?}");
        assert_eq!(m.active(), &[BACKUP]);
    }
}

#[test]
fn a_failed_check_during_the_hold_restarts_it() {
    let mut m = auto();
    let t0 = Instant::now();
    m.set_health(BACKUP, Up, t0);
    m.set_health(MAIN, Down, t0);
    m.set_health(MAIN, Up, t0 + Duration::from_secs(1));
    assert_eq!(m.next_deadline(), Some(t0 + Duration::from_secs(31)));
    assert_eq!(m.failback_due(), Some(t0 + Duration::from_secs(31)));
    // One failed check (or refused connect) that makes no verdict.
    m.note_failure(MAIN, t0 + Duration::from_secs(20));
    assert_eq!(m.next_deadline(), Some(t0 + Duration::from_secs(50)));
    assert_eq!(m.failback_due(), Some(t0 + Duration::from_secs(50)));
    assert!(
        m.tick(t0 + Duration::from_secs(31)).is_none(),
        "not up for the hold"
    );
    let tr = m.tick(t0 + Duration::from_secs(50)).expect("failback");
    assert_eq!(tr.cause, Cause::Failback);
    assert_eq!(m.failback_due(), None, "on the best tier: nothing pending");
}

/// A main that refuses for a moment in every few seconds: failures too short for a verdict
/// keep restarting the hold, so it never takes traffic back while it flaps.
#[test]
fn short_outages_without_a_verdict_never_fail_back() {
    let m = Machine::new(&[1, 2], policy(Failback::Auto, 5, AllDown::FailStatic));
    let mut m = m;
    let t0 = Instant::now();
    m.set_health(BACKUP, Up, t0);
    m.set_health(MAIN, Up, t0);
    let mut transitions = vec![m.set_health(MAIN, Down, t0).expect("failover")];
    m.set_health(MAIN, Up, t0 + Duration::from_secs(1));
    for s in 2..60u64 {
        let now = t0 + Duration::from_secs(s);
        transitions.extend(m.tick(now));
        if s % 3 == 0 {
            m.note_failure(MAIN, now);
        }
    }
    assert_eq!(transitions.len(), 1, "{transitions:?}");
    // Stable at last: one failback.
    transitions.extend(m.tick(t0 + Duration::from_secs(65)));
    assert_eq!(transitions.len(), 2);
    assert_eq!(transitions[1].cause, Cause::Failback);
}

#[test]
fn a_target_down_flap_limit_times_is_flapping_until_stable_for_the_hold() {
    let mut m = Machine::new(&[1, 2], policy(Failback::Manual, 10, AllDown::FailStatic));
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    for cycle in 0..3 {
        m.set_health(MAIN, Up, at(cycle * 4));
        assert!(!m.targets()[MAIN].flapping, "cycle {cycle}");
        m.set_health(MAIN, Down, at(cycle * 4 + 2));
    }
    assert!(m.targets()[MAIN].flapping, "3 downs within 60 s");
    m.set_health(MAIN, Up, at(20));
    // Manual failback has no hold deadline, but the flapping probation has one.
    assert_eq!(m.next_deadline(), Some(at(30)));
    m.tick(at(29));
    assert!(m.targets()[MAIN].flapping);
    m.tick(at(30));
    assert!(!m.targets()[MAIN].flapping, "stable for the hold");
    assert_eq!(m.next_deadline(), None);
    // Downs spread wider than the window never make it flap.
    let mut m = Machine::new(&[1, 2], policy(Failback::Manual, 10, AllDown::FailStatic));
    for i in 0..5 {
        m.set_health(MAIN, Up, at(i * 61));
        m.set_health(MAIN, Down, at(i * 61 + 1));
    }
    assert!(!m.targets()[MAIN].flapping);
}
