//! Health checks: probes (one check of one address), checker tasks (one per target),
//! and the rise/fall counter that turns results into verdicts.

pub mod checker;
mod http;
pub mod probe;
#[cfg(test)]
pub(crate) mod test_support;
pub(crate) mod tls;
pub mod verdict;
