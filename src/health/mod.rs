//! Health checks: probes (one check of one address), checkers (one per target, all run by
//! one scheduler task), and the rise/fall counter that turns results into verdicts.

pub mod checker;
mod http;
pub mod probe;
mod schedule;
#[cfg(test)]
pub(crate) mod test_support;
pub(crate) mod tls;
pub mod verdict;

/// One active check result for one target, by the checker's id.
#[derive(Debug)]
pub struct CheckReport {
    pub id: checker::CheckId,
    pub ok: bool,
    /// Why it failed (empty when ok).
    pub detail: String,
}

/// Where check results go: the supervisor's check channel (a channel of its own, so
/// checks never wait behind commands, and health needs nothing of the supervisor).
pub type Reports = tokio::sync::mpsc::Sender<CheckReport>;
