//! The supervisor on paused time: reports in through its handle, the snapshot out. The
//! failback hold counts from the last failure, and the deadline timer is not reset at each
//! failed check (only after verdicts, commands and ticks), so an early tick must find
//! nothing to do and set the next one.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::*;
use crate::group::Health;
use crate::store::events::EventLog;

const MAIN: CheckId = 1;
const BACKUP: CheckId = 2;

fn start() -> (SupervisorHandle, SnapshotReader, CancellationToken) {
    let config = Config::parse(
        r#"
        [[group]]
        name = "app"
        failback_hold = "10s"
        [group.health]
        port = 1
        rise = 1
        fall = 2
        [[group.target]]
        name = "main"
        address = "127.0.0.2"
        priority = 1
        [[group.target]]
        name = "backup"
        address = "127.0.0.3"
        priority = 2
        "#,
    )
    .expect("config");
    let services = Services {
        cluster: None,
        store: None,
        events: Arc::new(EventLog::open(None, 64)),
        notices: None,
        gates: None,
        derive: Some(crate::dns::deriver),
    };
    let (sup, handle, reader) = Supervisor::new(&config, None, &[vec![MAIN, BACKUP]], services);
    let cancel = CancellationToken::new();
    tokio::spawn(sup.run(cancel.clone()));
    (handle, reader, cancel)
}

async fn report(h: &SupervisorHandle, id: CheckId, ok: bool) {
    let detail = if ok { String::new() } else { "refused".into() };
    let role = None;
    h.report(CheckReport {
        id,
        ok,
        detail,
        role,
    })
    .await;
    settle().await;
}

/// Lets the supervisor task handle what is pending (a report, a timer that fired).
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

/// Moves paused time on, then lets the supervisor act on it.
async fn advance(secs: u64) {
    tokio::time::advance(Duration::from_secs(secs)).await;
    settle().await;
}

fn active(r: &SnapshotReader) -> Vec<usize> {
    r.load().groups[0].active.clone()
}

#[tokio::test(start_paused = true)]
async fn failback_waits_a_whole_hold_after_the_last_failed_check() {
    let (h, r, cancel) = start();
    report(&h, BACKUP, true).await;
    report(&h, MAIN, false).await;
    report(&h, MAIN, false).await;
    assert_eq!(active(&r), [1], "failed over after fall = 2");
    report(&h, MAIN, true).await; // up at t=0: the hold would end at t=10 s
    let pending = r.load_full();
    let due = pending.groups[0].failback_at.expect("a failback pending");
    let left = due.duration_since(std::time::SystemTime::now()).unwrap();
    assert!(
        left > Duration::from_secs(9),
        "{left:?} left of a 10 s hold"
    );
    advance(6).await;
    report(&h, MAIN, false).await; // t=6 s: one failure, no verdict: the hold restarts
    assert_eq!(r.load().groups[0].targets[0].health, Health::Up);
    // Published again, so readers count down from the restarted hold, not the old one.
    assert!(r.load().version > pending.version, "not published again");
    assert!(r.load().groups[0].failback_at.is_some());
    report(&h, MAIN, true).await;
    // t=11 s: the first deadline fired early and found nothing to do.
    advance(5).await;
    assert_eq!(active(&r), [1], "not up for a whole hold since t=6 s");
    // t=16 s: a whole hold since the failure.
    advance(5).await;
    assert_eq!(active(&r), [0], "failed back after the hold");
    assert_eq!(
        r.load().groups[0].failback_at,
        None,
        "nothing pending any more"
    );
    cancel.cancel();
}
