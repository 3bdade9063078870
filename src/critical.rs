//! Critical tasks: the supervisor, the health checkers, the DNS server, the hook
//! dispatcher, the reconfiguration task and the admin server. If one of them ends (an
//! error or a panic) while the process is not stopping, DNS and the proxy would go on
//! serving a frozen snapshot forever; instead its end is logged, `/ready` names it, and
//! the process stops (after the usual drain) with a non-zero exit, so systemd or the
//! container runtime restarts it.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use metrics::gauge;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::error;

use crate::metrics as m;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Running,
    /// Ended as part of a stop.
    Stopped,
    Failed,
}

/// The critical subsystems and how each is doing; cheap to clone.
#[derive(Clone)]
pub struct Subsystems {
    inner: Arc<Inner>,
}

struct Inner {
    states: Mutex<Vec<(&'static str, Status)>>,
    /// Cancelled when a subsystem fails: the process stops.
    root: CancellationToken,
    stopping: AtomicBool,
    /// The first failure, for the exit message.
    failure: Mutex<Option<String>>,
}

impl Subsystems {
    pub fn new(root: CancellationToken) -> Subsystems {
        Subsystems {
            inner: Arc::new(Inner {
                states: Mutex::new(Vec::new()),
                root,
                stopping: AtomicBool::new(false),
                failure: Mutex::new(None),
            }),
        }
    }

    fn set(&self, name: &'static str, status: Status) {
        let mut states = self.inner.states.lock().unwrap_or_else(|p| p.into_inner());
        match states.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = status,
            None => states.push((name, status)),
        }
        let up = if status == Status::Running { 1.0 } else { 0.0 };
        gauge!(m::SUBSYSTEM_UP, "subsystem" => name).set(up);
    }

    /// Marks `name` running (for subsystems made of many tasks, such as the checkers).
    pub fn register(&self, name: &'static str) {
        self.set(name, Status::Running);
    }

    /// Runs `task` on `runtime` as critical subsystem `name`.
    pub fn spawn<F>(
        &self,
        name: &'static str,
        task: F,
        runtime: &tokio::runtime::Handle,
        tracker: &TaskTracker,
    ) where
        F: Future<Output = ()> + Send + 'static,
    {
        self.register(name);
        let handle = runtime.spawn(task);
        let this = self.clone();
        tracker.spawn(async move {
            match handle.await {
                Ok(()) => this.ended(name, "ended"),
                Err(e) if e.is_panic() => this.fail(name, &panic_text(e.into_panic())),
                Err(_) => this.ended(name, "was cancelled"),
            }
        });
    }

    /// A task of `name` ended without a panic: fine during a stop, a failure otherwise.
    fn ended(&self, name: &'static str, how: &str) {
        // After another subsystem failed, the rest stop because of it.
        if self.is_stopping() || self.inner.root.is_cancelled() {
            self.set(name, Status::Stopped);
        } else {
            self.fail(name, how);
        }
    }

    /// `name` can no longer do its work: stop the process.
    pub fn fail(&self, name: &'static str, reason: &str) {
        self.set(name, Status::Failed);
        error!(
            subsystem = name,
            reason, "a critical subsystem stopped; failoverd stops so that it can be restarted"
        );
        let mut failure = self.inner.failure.lock().unwrap_or_else(|p| p.into_inner());
        failure.get_or_insert_with(|| format!("subsystem {name} failed: {reason}"));
        self.inner.root.cancel();
    }

    /// From now on, subsystems that end are stopping, not failing.
    pub fn stopping(&self) {
        self.inner.stopping.store(true, Ordering::Relaxed);
    }

    pub fn is_stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::Relaxed)
    }

    /// The first failure, if any.
    pub fn failure(&self) -> Option<String> {
        self.inner
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every subsystem and its status, in start order.
    pub fn statuses(&self) -> Vec<(&'static str, Status)> {
        self.inner
            .states
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown payload".into());
    format!("panicked: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_or_an_early_end_fails_the_process_a_stop_does_not() {
        let root = CancellationToken::new();
        let subs = Subsystems::new(root.clone());
        let tracker = TaskTracker::new();
        let rt = tokio::runtime::Handle::current();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        subs.spawn(
            "steady",
            async move {
                let _ = rx.await;
            },
            &rt,
            &tracker,
        );
        assert_eq!(subs.statuses(), vec![("steady", Status::Running)]);
        subs.spawn("dies", async { panic!("boom") }, &rt, &tracker);
        root.cancelled().await;
        assert_eq!(
            subs.failure().as_deref(),
            Some("subsystem dies failed: panicked: boom")
        );
        subs.stopping();
        let _ = tx.send(());
        tracker.close();
        tracker.wait().await;
        assert_eq!(
            subs.statuses(),
            vec![("steady", Status::Stopped), ("dies", Status::Failed)]
        );
    }
}
