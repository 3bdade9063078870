//! One proxied session: bytes both ways with half-close, an idle timeout, and closing on
//! request (a failover that moved traffic away from this target, or the end of the
//! shutdown grace period).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::copy;
use super::listener::{ListenerCtx, SessionKey, TargetMetrics};
use crate::group::snapshot::Snapshot;
use crate::group::{AdminState, Cause};

/// When bytes last moved, shared by both directions of a session.
struct Activity {
    base: Instant,
    nanos: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            base: Instant::now(),
            nanos: AtomicU64::new(0),
        }
    }
    fn touch(&self) {
        self.nanos
            .store(self.base.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
    fn last(&self) -> Instant {
        self.base + Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }
}

#[derive(Debug)]
enum End {
    Done,
    #[allow(dead_code, reason = "read through Debug in the session log line")]
    Error(io::Error),
    Idle,
    Evicted,
    Shutdown,
}

pub async fn relay(
    client: TcpStream,
    server: TcpStream,
    ctx: &ListenerCtx,
    tm: &TargetMetrics,
    key: &SessionKey,
    kill: CancellationToken,
) {
    let activity = Activity::new();
    let ended = AtomicBool::new(false);
    let up = copy::pump(&client, &server, &ended, |n| {
        activity.touch();
        tm.to_target.increment(n as u64);
    });
    let down = copy::pump(&server, &client, &ended, |n| {
        activity.touch();
        tm.to_client.increment(n as u64);
    });
    let end = tokio::select! {
        r = async { tokio::try_join!(up, down) } => match r {
            Ok(_) => End::Done,
            Err(e) => End::Error(e),
        },
        _ = idle(&activity, ctx.config.idle_timeout) => End::Idle,
        _ = evicted(ctx, key) => End::Evicted,
        _ = kill.cancelled() => End::Shutdown,
    };
    debug!(group = %key.group, target = %key.target, end = ?end, "session closed");
}

async fn idle(activity: &Activity, timeout: Duration) {
    loop {
        let deadline = activity.last() + timeout;
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline).await;
    }
}

/// Resolves when a new snapshot says this session should go. Woken only by changes of
/// this session's own group, so a change elsewhere costs this session nothing.
async fn evicted(ctx: &ListenerCtx, key: &SessionKey) {
    let mut changed = key.changed.clone();
    loop {
        if changed.changed().await.is_err() {
            // The group is gone (removed by a reload, or failoverd is stopping): nothing
            // will evict us any more; the session ends by itself.
            return std::future::pending().await;
        }
        if should_close(&ctx.snapshot.load(), key) {
            return;
        }
    }
}

/// A session goes when an operator disconnects the group or puts its target in
/// maintenance, or, if the group asks for it, when traffic moved away from its target.
fn should_close(snap: &Snapshot, key: &SessionKey) -> bool {
    let Some(g) = snap
        .find_group(key.index, &key.group)
        .map(|i| &snap.groups[i])
    else {
        return false; // the group was removed by a reload: let its sessions finish
    };
    if g.disconnect_gen != key.disconnect_gen {
        return true;
    }
    let Some(target) = g.target_index(&key.target) else {
        return false;
    };
    if g.targets[target].admin == AdminState::Maintenance {
        return true;
    }
    if g.epoch == key.epoch || g.is_active(target) {
        return false;
    }
    match g.last_change.map(|c| c.cause) {
        Some(Cause::Failback) => g.config.disconnect_on_failback,
        _ => g.config.disconnect_on_failover,
    }
}
