//! The README's database failover runbooks, run for real against real databases: the
//! primary dies, a gate promotes the replica while the group shows `switching`, and traffic
//! moves only once the promoted replica's role check reports primary, so a writer through
//! the proxy never meets a read-only server.

mod postgres;
mod redis;

use std::time::Duration;

use tokio::time::Instant;

use crate::harness::*;

/// Polls `group` every 50 ms from the primary's stop (at `stopped`, on the clock `t0`)
/// until `backup` alone is active, at most 20 s; returns when the API first showed
/// `switching` (it must have) and when traffic moved, both since `t0`.
async fn switching_then_moved(
    f: &Failoverd,
    group: &str,
    t0: Instant,
    stopped: Duration,
) -> (Duration, Duration) {
    let mut switching: Option<Duration> = None;
    let moved = loop {
        let g = f.group(group).await;
        if g["state"] == "switching" && switching.is_none() {
            switching = Some(t0.elapsed());
        }
        if active(&g) == ["backup"] {
            break t0.elapsed();
        }
        assert!(
            t0.elapsed() - stopped < Duration::from_secs(20),
            "not moved: {g}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    (switching.expect("the API showed switching"), moved)
}
