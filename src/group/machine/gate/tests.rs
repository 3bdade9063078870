//! The gate rules, as tables: a switch to new targets is held until its attempt's gates
//! pass; a failure leaves traffic where it was; stale reports change nothing; operators
//! supersede, retry or force.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::{AllDown, Failback};
use crate::group::machine::{Gate, Machine, Policy};
use crate::group::{Cause, GroupStatus, Health};

const MAIN: usize = 0;
const BACKUP: usize = 1;

fn gated() -> Machine {
    let policy = Policy {
        failback: Failback::Manual,
        failback_hold: Duration::from_secs(30),
        all_down: AllDown::FailStatic,
        flap_limit: 3,
        flap_window: Duration::from_secs(60),
        gated: true,
    };
    let mut m = Machine::new(&[1, 2], policy);
    let now = Instant::now();
    m.set_health(MAIN, Health::Up, now);
    m.set_health(BACKUP, Health::Up, now);
    m
}

fn attempt(m: &Machine) -> u64 {
    match m.gate() {
        Gate::Running(s) => s.attempt,
        other => panic!("no gates running: {other:?}"),
    }
}

#[test]
fn a_failover_waits_for_its_gates_then_happens() {
    let mut m = gated();
    let now = Instant::now();
    assert!(m.set_health(MAIN, Health::Down, now).is_none(), "held");
    assert_eq!(
        (m.active(), m.status()),
        (&[MAIN][..], GroupStatus::Switching)
    );
    let a = attempt(&m);
    // The main coming back does not call off a switch whose gates may have promoted.
    assert!(m.set_health(MAIN, Health::Up, now).is_none());
    assert_eq!(attempt(&m), a);
    assert!(m.gates_passed(a + 1000).is_none(), "a stale report");
    let t = m.gates_passed(a).expect("the switch happens");
    assert_eq!(
        (t.to.as_slice(), t.cause, t.epoch),
        (&[BACKUP][..], Cause::Health, 1)
    );
    assert_eq!(
        (m.active(), m.status()),
        (&[BACKUP][..], GroupStatus::FailedOver)
    );
    assert!(m.gates_passed(a).is_none(), "once");
}

#[test]
fn a_failed_gate_leaves_traffic_and_waits_for_an_operator() {
    let mut m = gated();
    let now = Instant::now();
    m.set_health(MAIN, Health::Down, now);
    let a = attempt(&m);
    assert!(!m.gates_failed(a + 1000, "stale".into()));
    assert!(m.gates_failed(a, "gate promote failed".into()));
    assert_eq!(
        (m.active(), m.status()),
        (&[MAIN][..], GroupStatus::SwitchFailed)
    );
    // The rules still want the backup: nothing runs again by itself.
    assert!(m
        .set_health(BACKUP, Health::Up, now + Duration::from_secs(1))
        .is_none());
    assert!(matches!(m.gate(), Gate::Failed { .. }));
    m.retry().unwrap();
    let b = attempt(&m);
    assert_ne!(a, b, "a new attempt");
    assert!(m.retry().is_err(), "only a failed switch is retried");
    assert!(m.gates_passed(a).is_none(), "the old attempt is stale");
    assert_eq!(m.gates_passed(b).unwrap().to, vec![BACKUP]);
}

#[test]
fn a_failed_switch_is_dropped_when_the_rules_want_what_serves() {
    let mut m = gated();
    let now = Instant::now();
    m.set_health(MAIN, Health::Down, now);
    let a = attempt(&m);
    m.gates_failed(a, "no".into());
    assert!(m.set_health(MAIN, Health::Up, now).is_none());
    assert_eq!((m.gate(), m.status()), (&Gate::Open, GroupStatus::Primary));
}

#[test]
fn a_forced_switch_moves_at_once_and_drops_what_was_held() {
    let mut m = gated();
    let now = Instant::now();
    assert!(m.switch(BACKUP, false, now).unwrap().is_none(), "held");
    assert_eq!(m.status(), GroupStatus::Switching);
    let a = attempt(&m);
    let t = m.switch(BACKUP, true, now).unwrap().expect("forced");
    assert_eq!((t.to.as_slice(), t.cause), (&[BACKUP][..], Cause::Manual));
    assert_eq!(m.gate(), &Gate::Open);
    assert!(m.gates_passed(a).is_none(), "the held switch is gone");
    // Released, the group stays (manual failback); back to the main goes through the
    // gates again.
    assert!(m.release(now).unwrap().is_none());
    assert_eq!(m.status(), GroupStatus::FailedOver);
    assert!(m.failback(now).unwrap().is_none());
    assert_eq!(m.status(), GroupStatus::Switching);
    assert!(m.commit(now).is_err(), "no commit while a switch is held");
}

#[test]
fn a_held_switch_is_saved_and_runs_again_when_restored() {
    let mut m = gated();
    let now = Instant::now();
    m.set_health(MAIN, Health::Down, now);
    let d = m.decision();
    let held = d.held.clone().expect("saved");
    assert_eq!(
        (held.to.as_slice(), held.failed.as_deref()),
        (&[BACKUP][..], None)
    );
    let mut back = gated();
    back.restore(&d);
    assert_eq!(back.status(), GroupStatus::Switching);
    assert_ne!(attempt(&back), attempt(&m), "its gates run again");
    // Restoring what is held already changes nothing (a follower's tick, a resync).
    let seq = back.gate_seq();
    back.restore(&d);
    assert_eq!(back.gate_seq(), seq);
}

#[test]
fn without_gates_nothing_is_held() {
    let mut m = gated();
    m.policy.gated = false;
    let t = m.set_health(MAIN, Health::Down, Instant::now());
    assert_eq!(t.unwrap().to, vec![BACKUP]);
}

#[test]
fn with_only_a_standby_left_the_gates_run_to_promote_it() {
    let mut m = gated().with_primary_only(true);
    let now = Instant::now();
    m.set_role(MAIN, crate::group::Role::Primary, now);
    m.set_role(BACKUP, crate::group::Role::Standby, now);
    assert_eq!(m.active(), &[MAIN]);
    // The primary dies: the standby may not take traffic, but the gates may promote it.
    assert!(m.set_health(MAIN, Health::Down, now).is_none());
    assert_eq!(m.status(), GroupStatus::Switching);
    let a = attempt(&m);
    // Promoted (its check says so) while the gates still run: they decide when.
    assert!(m
        .set_role(BACKUP, crate::group::Role::Primary, now)
        .is_none());
    let t = m
        .gates_passed(a)
        .expect("traffic moves to the promoted target");
    assert_eq!(t.to, vec![BACKUP]);
    assert_eq!(m.status(), GroupStatus::FailedOver);
}
