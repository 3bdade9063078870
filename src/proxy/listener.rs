//! The accept loop of one listener, and the per-listener context its sessions share.
//!
//! Connections beyond `max_connections` are closed at once (never left in the backlog);
//! accept errors such as EMFILE are logged and retried with backoff, never fatal.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use super::{connect, session};
use crate::config::{GroupConfig, ListenerConfig};
use crate::group::snapshot::SnapshotReader;
use crate::group::supervisor::SupervisorHandle;
use crate::metrics as m;

/// Everything a session needs, shared by all sessions of one listener.
pub struct ListenerCtx {
    pub group_index: usize,
    pub group: String,
    pub config: ListenerConfig,
    pub snapshot: SnapshotReader,
    pub supervisor: SupervisorHandle,
    pub metrics: Vec<TargetMetrics>,
    rotate: AtomicUsize,
    refused: Counter,
}

/// Metric handles registered once per target, so the data path does no label lookups.
pub struct TargetMetrics {
    pub ok: Counter,
    pub connect_failed: Counter,
    pub active: Gauge,
    pub to_target: Counter,
    pub to_client: Counter,
    pub connect_duration: Histogram,
}

impl TargetMetrics {
    fn new(group: &str, target: &str) -> Self {
        let labels = [("group", group.to_string()), ("target", target.to_string())];
        let with = |k: &'static str, v: &'static str| {
            let mut l = labels.to_vec();
            l.push((k, v.to_string()));
            l
        };
        TargetMetrics {
            ok: counter!(m::PROXY_CONNECTIONS_TOTAL, &with("result", "ok")),
            connect_failed: counter!(
                m::PROXY_CONNECTIONS_TOTAL,
                &with("result", "connect_failed")
            ),
            active: gauge!(m::PROXY_ACTIVE_CONNECTIONS, &labels),
            to_target: counter!(m::PROXY_BYTES_TOTAL, &with("direction", "to_target")),
            to_client: counter!(m::PROXY_BYTES_TOTAL, &with("direction", "to_client")),
            connect_duration: histogram!(m::PROXY_CONNECT_DURATION, &labels),
        }
    }
}

impl ListenerCtx {
    pub fn new(
        group_index: usize,
        group: &GroupConfig,
        config: ListenerConfig,
        snapshot: SnapshotReader,
        supervisor: SupervisorHandle,
    ) -> Self {
        let metrics = group
            .targets
            .iter()
            .map(|t| TargetMetrics::new(&group.name, &t.name))
            .collect();
        let refused = counter!(m::PROXY_CONNECTIONS_TOTAL, "group" => group.name.clone(), "target" => "none", "result" => "refused");
        ListenerCtx {
            group_index,
            group: group.name.clone(),
            config,
            snapshot,
            supervisor,
            metrics,
            rotate: AtomicUsize::new(0),
            refused,
        }
    }

    pub(super) fn next_rotation(&self) -> usize {
        self.rotate.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn connect_failed(&self, target: usize, detail: String) {
        self.metrics[target].connect_failed.increment(1);
        self.supervisor
            .report_passive_failure(self.group_index, target, detail);
    }

    pub(super) fn refused(&self) {
        self.refused.increment(1);
    }
}

/// Runs the accept loop until `stop` fires. Sessions run on `tracker` and end when they
/// finish, or when `kill` fires (the end of the shutdown grace period).
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<ListenerCtx>,
    tracker: TaskTracker,
    stop: CancellationToken,
    kill: CancellationToken,
) {
    let limit = Arc::new(Semaphore::new(ctx.config.max_connections));
    let mut backoff = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => r,
        };
        let (client, peer) = match accepted {
            Ok(c) => {
                backoff = Duration::from_millis(10);
                c
            }
            Err(e) => {
                // EMFILE and friends: the backlog keeps the connection; wait and retry.
                warn!(group = %ctx.group, listen = %ctx.config.listen, error = %e, "accept failed; retrying");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            debug!(group = %ctx.group, %peer, "connection limit reached; closing");
            ctx.refused();
            drop(client);
            continue;
        };
        let (ctx, kill) = (ctx.clone(), kill.clone());
        tracker.spawn(async move {
            handle(client, &ctx, kill).await;
            drop(permit);
        });
    }
}

async fn handle(client: TcpStream, ctx: &ListenerCtx, kill: CancellationToken) {
    connect::tune(&client);
    let snap = ctx.snapshot.load_full();
    let Some(group) = snap
        .groups
        .get(ctx.group_index)
        .filter(|g| g.name() == ctx.group)
    else {
        ctx.refused();
        return;
    };
    let order = connect::candidates(group, ctx.next_rotation());
    let Some((target, server)) = connect::connect(ctx, group, &order).await else {
        warn!(group = %ctx.group, tried = order.len(), "no target accepted the connection; closing client");
        ctx.refused();
        return;
    };
    let tm = &ctx.metrics[target];
    tm.ok.increment(1);
    tm.active.increment(1.0);
    let epoch = group.epoch;
    drop(snap);
    session::relay(client, server, ctx, target, epoch, kill).await;
    tm.active.decrement(1.0);
}
