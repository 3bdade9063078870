//! Several instances, one answer: failoverd on etcd (`[cluster]`).
//!
//! Each instance holds a session with etcd (`session.rs`): a lease, its member key under
//! it, and the leader election. What it knows is published as a `ClusterStatus`
//! (`status.rs`) for the admin API, `ctl` and the metrics. When the session ends (etcd
//! unreachable, no quorum, a lease lost), the instance says so, stops leading at once and
//! keeps serving the last decision it saw (fail static) while it reconnects.

mod connect;
mod session;
mod status;

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::warn;

use status::StatusWriter;
pub use status::{ClusterStatus, StatusReader};

use crate::config::ClusterConfig;

/// Starts the session task on `runtime`; returns what it reports.
pub fn start(
    cfg: ClusterConfig,
    stop: CancellationToken,
    tracker: &tokio_util::task::TaskTracker,
    runtime: &tokio::runtime::Handle,
) -> StatusReader {
    let (writer, reader) = StatusWriter::new(&cfg.instance);
    tracker.spawn_on(run(cfg, writer, stop), runtime);
    reader
}

const FIRST_RETRY: Duration = Duration::from_millis(200);
const LAST_RETRY: Duration = Duration::from_secs(5);

/// Sessions one after another until `stop`, with a growing pause between failed ones.
async fn run(cfg: ClusterConfig, status: StatusWriter, stop: CancellationToken) {
    let keys = session::Keys::new(&cfg);
    let mut pause = FIRST_RETRY;
    while !stop.is_cancelled() {
        let ended = match connect::client(&cfg).await {
            Ok(client) => match session::Session::open(client, &cfg, &keys, &status).await {
                Ok(s) => {
                    pause = FIRST_RETRY;
                    s.run(&stop).await
                }
                Err(err) => Err(err),
            },
            Err(err) => Err(err),
        };
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
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(LAST_RETRY);
    }
}
