//! Rules across groups: a failover address and a listen address each belong to one owner
//! (two sockets on one address cannot both bind; say which two at `check` time).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use super::validate::{ConfigError, Result};
use super::{AdminConfig, DnsConfig, GroupConfig};

pub(super) fn check_unique_dns_names(
    groups: &[Arc<GroupConfig>],
    dns: Option<&DnsConfig>,
) -> Result<()> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for g in groups {
        let Some(name) = g.dns_name.as_deref() else {
            continue;
        };
        if let Some(other) = seen.insert(name, &g.name) {
            return Err(ConfigError::new(
                format!("group {:?}", g.name),
                format!("dns_name {name} is already used by group {other:?}"),
            ));
        }
        if let Some(ns) = dns.and_then(|d| d.nameservers.iter().find(|ns| ns.name == name)) {
            return Err(ConfigError::new(
                format!("group {:?}", g.name),
                format!("dns_name {name} is also the nameserver {}", ns.name),
            ));
        }
    }
    Ok(())
}

/// Two TCP sockets on one address cannot both bind; say which two at `check` time.
/// A wildcard address (`0.0.0.0:P`, `[::]:P`) takes port P on every address of its family,
/// so it collides with any other listener on P of that family (IPv6 sockets are bound
/// v6-only, so `[::]:P` and `0.0.0.0:P` can coexist).
pub(super) fn check_unique_listen(
    groups: &[Arc<GroupConfig>],
    admin: &AdminConfig,
    dns: Option<&DnsConfig>,
) -> Result<()> {
    let mut seen: Vec<(SocketAddr, String)> = Vec::new();
    let mut claim = |addr: SocketAddr, owner: String| -> Result<()> {
        if addr.port() == 0 {
            return Ok(());
        }
        let clash = seen.iter().find(|(prev, _)| {
            prev.port() == addr.port()
                && prev.is_ipv4() == addr.is_ipv4()
                && (prev.ip() == addr.ip()
                    || prev.ip().is_unspecified()
                    || addr.ip().is_unspecified())
        });
        if let Some((prev, prev_owner)) = clash {
            let message = if *prev == addr {
                format!("listen address {addr} is already used by {prev_owner}")
            } else {
                format!(
                    "listen address {addr} overlaps {prev} of {prev_owner} \
                     (a wildcard address takes the port on every address)"
                )
            };
            return Err(ConfigError::new(owner, message));
        }
        seen.push((addr, owner));
        Ok(())
    };
    claim(admin.listen, "admin".into())?;
    for a in dns.map(|d| d.listen.as_slice()).unwrap_or_default() {
        claim(*a, "dns".into())?;
    }
    for g in groups {
        for l in &g.listeners {
            claim(l.listen, format!("group {:?}", g.name))?;
        }
    }
    Ok(())
}
