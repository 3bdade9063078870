//! What this instance knows of the cluster: connected or not, who leads, who is alive. The
//! session (`session.rs`) is its only writer; the admin API, `ctl` and the metrics read it.

use std::time::SystemTime;

use metrics::gauge;
use serde::Serialize;
use tokio::sync::watch;

use crate::metrics as m;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClusterStatus {
    pub backend: &'static str,
    pub instance: String,
    /// A session with etcd is open (a lease held and renewed).
    pub connected: bool,
    /// The instance whose leader key is in etcd, as last seen.
    pub leader: Option<String>,
    pub is_leader: bool,
    /// Live instances (their member key exists: their lease is alive), sorted.
    pub members: Vec<String>,
    /// The etcd revision of the last thing seen.
    pub revision: i64,
    /// Why the last session ended or could not start.
    pub last_error: Option<String>,
    /// When `connected` last changed (seconds since the Unix epoch).
    pub since: f64,
}

impl ClusterStatus {
    pub fn new(instance: &str) -> Self {
        ClusterStatus {
            backend: "etcd",
            instance: instance.to_string(),
            connected: false,
            leader: None,
            is_leader: false,
            members: Vec::new(),
            revision: 0,
            last_error: None,
            since: now(),
        }
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The writer side: every change goes through `update`, which also sets the gauges.
pub struct StatusWriter(watch::Sender<ClusterStatus>);

pub type StatusReader = watch::Receiver<ClusterStatus>;

impl StatusWriter {
    pub fn new(instance: &str) -> (StatusWriter, StatusReader) {
        let (tx, rx) = watch::channel(ClusterStatus::new(instance));
        let w = StatusWriter(tx);
        w.update(|_| {});
        (w, rx)
    }

    pub fn update(&self, f: impl FnOnce(&mut ClusterStatus)) {
        self.0.send_if_modified(|s| {
            let before = s.clone();
            f(s);
            if s.connected != before.connected {
                s.since = now();
            }
            *s != before
        });
        let s = self.0.borrow();
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        gauge!(m::CLUSTER_CONNECTED).set(flag(s.connected));
        gauge!(m::CLUSTER_IS_LEADER).set(flag(s.is_leader));
        gauge!(m::CLUSTER_MEMBERS).set(s.members.len() as f64);
    }

    pub fn get(&self) -> ClusterStatus {
        self.0.borrow().clone()
    }
}
