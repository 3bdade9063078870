//! Several instances, one answer: failoverd on etcd (`[cluster]`).
//!
//! Each instance holds a session with etcd (`session.rs`): a lease, its member key under
//! it, and the leader election. What it knows is published as a `ClusterStatus`
//! (`status.rs`) for the admin API, `ctl` and the metrics. When the session ends (etcd
//! unreachable, no quorum, a lease lost), the instance says so, stops leading at once and
//! keeps serving the last decision it saw (fail static) while it reconnects.

mod connect;
mod forward;
mod session;
mod status;
mod sync;

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use status::StatusWriter;
pub use status::StatusReader;

use sync::Sync;

use crate::config::ClusterConfig;
use crate::group::cluster_link::{ClusterLink, Role};
use crate::group::supervisor::{CommandError, SupervisorHandle};
use crate::group::wire_command::{WireAnswer, WireCommand};
use forward::Forward;

/// The channels between the supervisor and the session, made before either starts.
pub struct Wiring {
    pub link: ClusterLink,
    local: mpsc::UnboundedReceiver<crate::group::cluster_link::LocalVerdict>,
    writes: mpsc::Receiver<crate::group::cluster_link::DecisionWrite>,
    asks: (mpsc::Sender<Forward>, mpsc::Receiver<Forward>),
}

/// What the admin API holds of the cluster: its status, and the way to the leader.
#[derive(Clone)]
pub struct ClusterHandle {
    pub status: StatusReader,
    asks: mpsc::Sender<Forward>,
}

impl ClusterHandle {
    /// Whether this instance decides itself (else a command goes to the leader).
    pub fn leads(&self) -> bool {
        self.status.borrow().is_leader
    }

    /// Hands `command` to the leader through etcd; the answer is the leader's, after it
    /// committed (or a 503 when no leader took it: nothing changed).
    pub async fn forward(&self, command: WireCommand, actor: &str) -> WireAnswer {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let f = Forward {
            command,
            actor: actor.to_string(),
            reply,
        };
        let gone = || CommandError::Unavailable("the cluster session is stopping".into());
        self.asks.send(f).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

pub fn wiring() -> Wiring {
    let (verdicts, local) = mpsc::unbounded_channel();
    let (decisions, writes) = mpsc::channel(16);
    Wiring {
        link: ClusterLink {
            verdicts,
            decisions,
        },
        local,
        writes,
        asks: mpsc::channel(64),
    }
}

/// Starts the session task on `runtime`; returns what it reports.
pub fn start(
    cfg: ClusterConfig,
    wiring: Wiring,
    supervisor: SupervisorHandle,
    stop: CancellationToken,
    tracker: &tokio_util::task::TaskTracker,
    runtime: &tokio::runtime::Handle,
) -> ClusterHandle {
    let (writer, reader) = StatusWriter::new(&cfg.instance);
    let (asks, asked) = wiring.asks;
    let fwd = forward::Forwarding::new(asked);
    let sync = Sync::new(supervisor, wiring.local, wiring.writes, fwd);
    tracker.spawn_on(run(cfg, writer, sync, stop), runtime);
    ClusterHandle {
        status: reader,
        asks,
    }
}

const FIRST_RETRY: Duration = Duration::from_millis(200);
/// At most a second between attempts: an instance back from a partition must not serve an
/// old decision for long after the others moved on.
const LAST_RETRY: Duration = Duration::from_secs(1);

/// Sessions one after another until `stop`, with a growing pause between failed ones.
/// Between sessions this instance follows (decides nothing), keeps its own verdicts for
/// the next session, and refuses the leader's commits it can no longer make.
async fn run(cfg: ClusterConfig, status: StatusWriter, mut sync: Sync, stop: CancellationToken) {
    let keys = session::Keys::new(&cfg);
    let mut pause = FIRST_RETRY;
    let mut members = connect::Members::default();
    let mut lease = None;
    while !stop.is_cancelled() {
        let ended = match members.connect(&cfg, &keys.leader).await {
            Ok(client) => {
                match session::Session::open(client, &cfg, &keys, &status, &mut sync, lease).await {
                    Ok(s) => {
                        pause = FIRST_RETRY;
                        lease = Some(s.lease());
                        s.run(&stop, &mut sync).await
                    }
                    Err(err) => Err(err),
                }
            }
            Err(err) => Err(err),
        };
        sync.set_role(Role::Follower).await;
        sync.fwd.abandon();
        let Err(err) = ended else { break };
        if status.get().connected || pause == FIRST_RETRY {
            warn!(instance = %cfg.instance, error = %err, "cluster session ended; serving the last decision seen, reconnecting");
        }
        status.update(|s| {
            s.connected = false;
            s.is_leader = false;
            s.leader = None;
            s.members.clear();
            s.last_error = Some(err);
        });
        let until = tokio::time::Instant::now() + pause;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep_until(until) => break,
                Some(v) = sync.local.recv() => { sync.record_own(v); }
                Some(w) = sync.writes.recv() => {
                    let _ = w.reply.send(Err("etcd is unreachable: nothing can be committed".into()));
                }
                Some(f) = sync.fwd.asks.recv() => {
                    let msg = "etcd is unreachable: the cluster's leader cannot be reached; nothing changed";
                    let _ = f.reply.send(Err(CommandError::Unavailable(msg.into())));
                }
            }
        }
        pause = (pause * 2).min(LAST_RETRY);
    }
}
