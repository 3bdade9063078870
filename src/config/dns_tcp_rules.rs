//! Validation of the DNS-over-TCP admission keys of `[dns]`.

use std::time::Duration;

use super::validate::{ConfigError, Result};
use super::DnsTcpLimits;

/// Defaults: 1,000 connections per address (two descriptors or less each, well inside any
/// sane open-file limit), 32 of them per client network (a resolver farm behind one /24
/// rarely needs more; one host holding all of them would shut everyone else out), and a
/// 10 s idle timeout (RFC 7766 6.2.3: seconds, not minutes).
pub(super) fn tcp_limits(
    max_connections: Option<usize>,
    max_per_client: Option<usize>,
    idle_timeout: Option<Duration>,
) -> Result<DnsTcpLimits> {
    let max_connections = max_connections.unwrap_or(1_000);
    let max_per_client = max_per_client.unwrap_or(32);
    let idle_timeout = idle_timeout.unwrap_or(Duration::from_secs(10));
    if max_connections == 0 {
        return Err(ConfigError::new(
            "dns",
            "tcp_max_connections must be at least 1",
        ));
    }
    if max_per_client == 0 || max_per_client > max_connections {
        let msg = format!(
            "tcp_max_per_client ({max_per_client}) must be between 1 and tcp_max_connections ({max_connections})"
        );
        return Err(ConfigError::new("dns", msg));
    }
    if idle_timeout.is_zero() {
        return Err(ConfigError::new(
            "dns",
            "tcp_idle_timeout must be greater than 0s",
        ));
    }
    Ok(DnsTcpLimits {
        max_connections,
        max_per_client,
        idle_timeout,
    })
}
