//! One proxied session: bytes both ways with half-close, an idle timeout, and closing on
//! request (a failover that moved traffic away from this target, or the end of the
//! shutdown grace period).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics::Counter;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::listener::{ListenerCtx, SessionKey, TargetMetrics};
use crate::group::snapshot::Snapshot;
use crate::group::{AdminState, Cause};

const BUFFER: usize = 16 * 1024;

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
    mut client: TcpStream,
    mut server: TcpStream,
    ctx: &ListenerCtx,
    tm: &TargetMetrics,
    key: &SessionKey,
    kill: CancellationToken,
) {
    let activity = Activity::new();
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let up = pump(&mut cr, &mut sw, &activity, &tm.to_target);
    let down = pump(&mut sr, &mut cw, &activity, &tm.to_client);
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

/// Copies one direction until EOF, then passes the half-close on.
async fn pump<R, W>(r: &mut R, w: &mut W, activity: &Activity, bytes: &Counter) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BUFFER];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            w.shutdown().await?;
            return Ok(());
        }
        w.write_all(&buf[..n]).await?;
        activity.touch();
        bytes.increment(n as u64);
    }
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

/// Resolves when a new snapshot says this session should go.
async fn evicted(ctx: &ListenerCtx, key: &SessionKey) {
    let mut changed = ctx.snapshot.subscribe();
    loop {
        if changed.changed().await.is_err() {
            // The supervisor is gone (shutdown): nothing will evict us any more.
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
    let Some(g) = snap.group(&key.group) else {
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
