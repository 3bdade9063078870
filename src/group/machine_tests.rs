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
            step(2, BACKUP, Down, &[BACKUP], None),
        ],
    );
    assert_eq!(m.status(), GroupStatus::AllDown);
    let mut m = m;
    // The main comes back: it is the only up target, so it takes over at once.
    let tr = m.set_health(MAIN, Up, Instant::now()).expect("recovery");
    assert_eq!(tr.to, vec![MAIN]);
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
    assert_eq!(tr.cause, Cause::Failback);
    assert_eq!(m.active(), &[MAIN]);
}
