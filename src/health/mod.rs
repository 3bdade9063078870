//! Health checks: probes (one check of one address), checkers (one per target, all run by
//! one scheduler task), and the rise/fall counter that turns results into verdicts.

pub mod checker;
mod http;
mod postgres;
pub mod probe;
mod redis;
mod schedule;
#[cfg(test)]
pub(crate) mod test_support;
pub(crate) mod tls;
pub mod verdict;
