//! What reaches the supervisor: active check results, passive failures seen by the
//! proxy and operator commands, on one channel, through the cheap-to-clone handle.

use tokio::sync::{mpsc, oneshot};

use super::commands::{Command, CommandError};

/// Room for bursts of results; passive reports beyond it are dropped (the active checks
/// still run), active checkers wait.
const INPUT_QUEUE: usize = 4096;

/// The supervisor's channels: the handle for everyone; the receivers (inputs, check
/// results) for the supervisor.
pub(super) fn channel() -> (
    SupervisorHandle,
    mpsc::Receiver<Input>,
    mpsc::Receiver<CheckReport>,
) {
    let (tx, rx) = mpsc::channel(INPUT_QUEUE);
    let (checks, checks_rx) = mpsc::channel(INPUT_QUEUE);
    (SupervisorHandle { tx, checks }, rx, checks_rx)
}

pub use crate::health::CheckReport;

/// A client connect the proxy saw fail, by the indices of the snapshot it used.
#[derive(Debug)]
pub struct PassiveReport {
    /// The snapshot's config generation; a report from an older one is ignored.
    pub generation: u64,
    pub group: usize,
    pub target: usize,
    pub detail: String,
}

pub(super) enum Input {
    Passive(PassiveReport),
    Command {
        command: Command,
        actor: String,
        reply: oneshot::Sender<Result<u64, CommandError>>,
    },
    Cluster(super::cluster_link::ClusterInput),
    Gate(super::gates::GateReport),
    /// Answered once everything sent before it is handled and published.
    Barrier(oneshot::Sender<()>),
}

/// Cheap to clone: how checkers, the proxy and the admin API talk to the supervisor.
#[derive(Clone)]
pub struct SupervisorHandle {
    tx: mpsc::Sender<Input>,
    checks: mpsc::Sender<CheckReport>,
}

impl SupervisorHandle {
    /// A handle whose supervisor is gone: everything sent to it is dropped (unit tests of
    /// what talks to a supervisor without needing one).
    #[cfg(test)]
    pub fn detached() -> SupervisorHandle {
        channel().0
    }

    pub async fn report(&self, report: CheckReport) {
        // A closed channel means we are shutting down; the result no longer matters.
        let _ = self.checks.send(report).await;
    }

    /// Where the health checkers send their results.
    pub fn reports(&self) -> crate::health::Reports {
        self.checks.clone()
    }

    /// Never blocks the proxy: under a flood, extra reports are dropped.
    pub fn report_passive_failure(
        &self,
        generation: u64,
        group: usize,
        target: usize,
        detail: String,
    ) {
        let report = PassiveReport {
            generation,
            group,
            target,
            detail,
        };
        let _ = self.tx.try_send(Input::Passive(report));
    }

    /// Runs an operator command; returns the config generation once it is persisted and
    /// published.
    /// Returns once everything sent to the supervisor before is handled and published: a
    /// follower's answer to a forwarded command then shows the decision it committed
    /// (which reached this supervisor before the leader's answer did).
    pub async fn barrier(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Input::Barrier(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// How a gate run goes (see `gates`).
    pub async fn gate(&self, report: super::gates::GateReport) {
        let _ = self.tx.send(Input::Gate(report)).await;
    }

    /// What the etcd session learned (see `cluster_link`).
    pub async fn cluster(&self, input: super::cluster_link::ClusterInput) {
        let _ = self.tx.send(Input::Cluster(input)).await;
    }

    pub async fn command(&self, command: Command, actor: &str) -> Result<u64, CommandError> {
        let (reply, rx) = oneshot::channel();
        let input = Input::Command {
            command,
            actor: actor.to_string(),
            reply,
        };
        self.tx
            .send(input)
            .await
            .map_err(|_| CommandError::Internal("shutting down".into()))?;
        rx.await
            .map_err(|_| CommandError::Internal("shutting down".into()))?
    }
}
