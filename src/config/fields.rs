//! Field-level rules shared by the config validators: addresses, names, whole seconds.

use std::net::SocketAddr;
use std::time::Duration;

use super::duration::show;
use super::validate::{ConfigError, Result};

pub(super) fn socket_addr(scope: &str, field: &str, text: &str) -> Result<SocketAddr> {
    text.trim().parse().map_err(|_| {
        ConfigError::new(
            scope,
            format!("{field} {text:?} is not an IP:port address (e.g. \"127.0.0.1:8080\")"),
        )
    })
}

pub(super) fn whole_seconds(scope: &str, field: &str, d: Duration) -> Result<()> {
    if d.subsec_nanos() != 0 {
        return Err(ConfigError::new(
            scope,
            format!("{field} ({}) must be a whole number of seconds", show(d)),
        ));
    }
    Ok(())
}

/// Group and target names appear in metrics labels, URLs and logs: keep them plain.
pub(super) fn check_label_name(scope: &str, field: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return Err(ConfigError::new(
            scope,
            format!("{field} {name:?} must be 1-63 characters of letters, digits, '-' or '_'"),
        ));
    }
    Ok(())
}

/// A hostname, absolute (one final dot) or not.
pub(super) fn check_domain_name(scope: &str, field: &str, name: &str) -> Result<()> {
    // Only one final dot: "www.." has an empty label and must not pass as absolute "www.".
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    let ok = !trimmed.is_empty()
        && trimmed.len() <= 253
        && trimmed.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if !ok {
        return Err(ConfigError::new(
            scope,
            format!("{field} {name:?} is not a valid domain name"),
        ));
    }
    Ok(())
}

/// Lowercases and makes a name absolute; a relative name is taken below `origin`.
pub(super) fn absolute_name(
    scope: &str,
    field: &str,
    name: &str,
    origin: Option<&str>,
) -> Result<String> {
    let name = name.trim().to_ascii_lowercase();
    check_domain_name(scope, field, &name)?;
    if name.ends_with('.') {
        return Ok(name);
    }
    match origin {
        Some(origin) => Ok(format!("{name}.{origin}")),
        None => Ok(format!("{name}.")),
    }
}

pub(super) fn in_zone(name: &str, zone: &str) -> bool {
    name == zone || name.ends_with(&format!(".{zone}"))
}
