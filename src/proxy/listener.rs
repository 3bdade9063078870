//! The accept loop of one listener, and the per-listener context its sessions share.
//!
//! Connections beyond `max_connections` are closed at once (never left in the backlog);
//! accept errors such as EMFILE are logged and retried with backoff, never fatal.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use super::{connect, session};
use crate::config::{GroupConfig, ListenerConfig};
use crate::group::snapshot::{Snapshot, SnapshotReader};
use crate::group::supervisor::SupervisorHandle;
use crate::metrics as m;

/// Everything a session needs, shared by all sessions of one listener. A reload swaps in
/// a new one; sessions keep the one they started with.
pub struct ListenerCtx {
    pub group_index: usize,
    pub group: Arc<str>,
    pub config: ListenerConfig,
    pub snapshot: SnapshotReader,
    pub supervisor: SupervisorHandle,
    /// By target name: indices differ between config generations, names do not.
    pub metrics: Vec<(Arc<str>, TargetMetrics)>,
    /// Connection cap; kept across reloads while `max_connections` is unchanged.
    pub limit: Arc<Semaphore>,
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
    /// Where the open sessions are counted for the API and the status page.
    pub book: Arc<crate::metrics::book::TargetStats>,
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
            book: crate::metrics::book::target(group, target),
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
        previous: Option<&ListenerCtx>,
    ) -> Self {
        let metrics = group
            .targets
            .iter()
            .map(|t| {
                (
                    Arc::from(t.name.as_str()),
                    TargetMetrics::new(&group.name, &t.name),
                )
            })
            .collect();
        let refused = counter!(m::PROXY_CONNECTIONS_TOTAL, "group" => group.name.clone(), "target" => "none", "result" => "refused");
        let limit = match previous {
            Some(p) if p.config.max_connections == config.max_connections => p.limit.clone(),
            _ => Arc::new(Semaphore::new(config.max_connections)),
        };
        ListenerCtx {
            group_index,
            group: Arc::from(group.name.as_str()),
            config,
            snapshot,
            supervisor,
            metrics,
            limit,
            rotate: AtomicUsize::new(0),
            refused,
        }
    }

    pub(super) fn next_rotation(&self) -> usize {
        self.rotate.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn metrics_for(&self, target: &str) -> Option<&TargetMetrics> {
        self.metrics_entry(target).map(|(_, m)| m)
    }

    /// The target's shared name and metric handles.
    pub(super) fn metrics_entry(&self, target: &str) -> Option<&(Arc<str>, TargetMetrics)> {
        self.metrics.iter().find(|(n, _)| &**n == target)
    }

    /// Counts a failed connect and tells the supervisor (indices of the snapshot used).
    pub(super) fn connect_failed(
        &self,
        snap: &Snapshot,
        group: usize,
        target: usize,
        detail: String,
    ) {
        let name = &snap.groups[group].config.targets[target].name;
        if let Some(m) = self.metrics_for(name) {
            m.connect_failed.increment(1);
        }
        self.supervisor
            .report_passive_failure(snap.generation, group, target, detail);
    }

    pub(super) fn refused(&self) {
        self.refused.increment(1);
    }
}

/// Runs the accept loop until `stop` fires. Sessions run on `tracker` and end when they
/// finish, or when `kill` fires (the end of the shutdown grace period). `ctx` is read
/// at every accept, so a reload takes effect for the next connection.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<ArcSwap<ListenerCtx>>,
    tracker: TaskTracker,
    stop: CancellationToken,
    kill: CancellationToken,
) {
    let mut backoff = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => r,
        };
        let current = ctx.load_full();
        let (client, peer) = match accepted {
            Ok(c) => {
                backoff = Duration::from_millis(10);
                c
            }
            Err(e) => {
                if let Some(kind) = crate::local_error::kind(&e) {
                    crate::local_error::record(kind, "proxy accept", &e);
                }
                // EMFILE and friends: the backlog keeps the connection; wait and retry.
                warn!(group = %current.group, listen = %current.config.listen, error = %e, "accept failed; retrying");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Ok(permit) = current.limit.clone().try_acquire_owned() else {
            debug!(group = %current.group, %peer, "connection limit reached; closing");
            current.refused();
            drop(client);
            continue;
        };
        // The client's socket and the target's: beyond the budget, closed at once.
        let Some(lease) = crate::fd_budget::lease(2, "proxy") else {
            debug!(group = %current.group, %peer, "descriptor budget spent; closing");
            current.refused();
            drop(client);
            continue;
        };
        let kill = kill.clone();
        tracker.spawn(async move {
            handle(client, &current, kill).await;
            drop((permit, lease));
        });
    }
}

async fn handle(client: TcpStream, ctx: &ListenerCtx, kill: CancellationToken) {
    // TCP_NODELAY and keepalive come from the listening socket (see `connect::tune_listener`).
    let snap = ctx.snapshot.load_full();
    let Some(gi) = snap.find_group(ctx.group_index, &ctx.group) else {
        ctx.refused();
        return;
    };
    let group = &snap.groups[gi];
    let order = connect::candidates(group, ctx.next_rotation());
    let Some((target, server)) = connect::connect(ctx, &snap, gi, &order).await else {
        warn!(group = %ctx.group, tried = order.len(), "no target accepted the connection; closing client");
        ctx.refused();
        return;
    };
    let Some((target_name, tm)) = ctx.metrics_entry(&group.config.targets[target].name) else {
        return;
    };
    let key = SessionKey {
        group: ctx.group.clone(),
        index: gi,
        changed: group.changed.clone(),
        target: target_name.clone(),
        epoch: group.epoch,
        disconnect_gen: group.disconnect_gen,
    };
    drop(snap);
    tm.ok.increment(1);
    tm.active.increment(1.0);
    tm.book.session_opened();
    session::relay(client, server, ctx, tm, &key, kill).await;
    tm.book.session_closed();
    tm.active.decrement(1.0);
}

/// Which session this is, by name (indices change with reloads).
pub struct SessionKey {
    pub group: Arc<str>,
    /// The group's index when the session started: where to look first.
    pub index: usize,
    /// Changes when the group does.
    pub changed: tokio::sync::watch::Receiver<u64>,
    pub target: Arc<str>,
    /// The group's epoch and disconnect generation when the session started.
    pub epoch: u64,
    pub disconnect_gen: u64,
}
