//! Authoritative DNS for the failover addresses, served from the snapshot.
//!
//! Data flow: the supervisor builds `Answers` (every response of the zone, pre-encoded
//! with hickory-proto) into each snapshot it publishes; the socket tasks here load the
//! current snapshot per query, so DNS and proxy always act on the same epoch.
//!
//! Serving is a hand-made socket loop, not hickory-server: a plain hickory-server handler
//! measured about 85k qps over UDP on this hardware with Knot far ahead, and the
//! performance issue asks to beat Knot/NSD. DESIGN.md allows the hand-made loop when the
//! benchmark shows it is needed, and it did. So: UDP sockets bound with SO_REUSEPORT, one
//! per core and address, each served by its own task with its own buffers (`udp.rs`); TCP
//! with length framing and pipelining (`tcp.rs`); the query path parses with a small
//! allocation-free parser (`wire.rs`) and copies a prepared response (`respond.rs`).

mod answers;
mod build;
mod encode;
#[cfg(target_os = "linux")]
mod mmsg;
mod node;
mod respond;
mod sockets;
mod stats;
mod tcp;
#[cfg(test)]
mod test_support;
mod udp;
pub mod wire;

use std::sync::Arc;

#[cfg(not(target_os = "linux"))]
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::group::snapshot::SnapshotReader;

pub use answers::Answers;
pub use build::{deriver, AnswerBuilder, BuildError};
pub use respond::{respond, Transport, OUR_PAYLOAD};
pub use sockets::{bind, udp_sockets_per_address, Listen};
pub use stats::{DnsMetrics, Tally};

/// What every socket task shares.
pub struct Ctx {
    pub reader: SnapshotReader,
    pub metrics: DnsMetrics,
}

/// On Linux a UDP socket gets a blocking thread of its own (see `udp.rs`), named so that
/// `top -H` tells it from the rest; `tasks` waits for it to end.
#[cfg(target_os = "linux")]
fn spawn_udp(
    tasks: &TaskTracker,
    sock: std::net::UdpSocket,
    ctx: Arc<Ctx>,
    cancel: CancellationToken,
) {
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let spawned = std::thread::Builder::new()
        // Linux keeps 15 bytes of a thread's name.
        .name("failoverd-dns".into())
        .spawn(move || {
            udp::serve_blocking(sock, ctx, cancel);
            drop(done);
        });
    match spawned {
        Ok(_) => {
            tasks.spawn(async move {
                let _ = finished.await;
            });
        }
        Err(e) => tracing::error!(error = %e, "cannot start a dns udp thread; socket not served"),
    }
}

#[cfg(not(target_os = "linux"))]
fn spawn_udp(
    tasks: &TaskTracker,
    sock: std::net::UdpSocket,
    ctx: Arc<Ctx>,
    cancel: CancellationToken,
) {
    match sock
        .set_nonblocking(true)
        .and_then(|_| UdpSocket::from_std(sock))
    {
        Ok(sock) => {
            tasks.spawn(udp::serve(sock, ctx, cancel));
        }
        Err(e) => tracing::error!(error = %e, "dns udp socket cannot join the runtime; not served"),
    }
}

/// Serves DNS on already-bound sockets until `cancel` fires, then waits for every task.
pub async fn serve(
    listens: Vec<Listen>,
    reader: SnapshotReader,
    tcp_limits: crate::config::DnsTcpLimits,
    cancel: CancellationToken,
) {
    let ctx = Arc::new(Ctx {
        reader,
        metrics: DnsMetrics::new(),
    });
    let tasks = TaskTracker::new();
    for l in listens {
        for sock in l.udp {
            spawn_udp(&tasks, sock, ctx.clone(), cancel.clone());
        }
        tasks.spawn(tcp::serve(l.tcp, ctx.clone(), tcp_limits, cancel.clone()));
    }
    tasks.close();
    tasks.wait().await;
}

/// The answers a snapshot's publish derived (see `deriver`), if it has `[dns]`.
pub(crate) fn answers_of(snap: &crate::group::snapshot::Snapshot) -> Option<&Answers> {
    snap.derived.as_ref()?.get::<Answers>()
}
