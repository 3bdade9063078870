//! Raw config -> validated config. Every error names where it is (`group "web":`,
//! `dns:`) and the field, and says what is wrong, as `failoverd check` prints it.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::admin_rules::validate_admin;
use super::cross_rules::{check_unique_dns_names, check_unique_listen};
use super::duration::show;
use super::fields::*;
use super::health_rules::validate_health;
use super::hook_rules::validate_hooks;
use super::raw::*;
use super::target_rules::validate_targets;
use super::*;

/// More proxy threads than this is a typo, not a machine.
const MAX_WORKERS: usize = 1024;

/// A config problem: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{scope}: {message}")]
pub struct ConfigError {
    pub scope: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(scope: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            scope: scope.into(),
            message: message.into(),
        }
    }

    /// Prefixes the scope with the file the error comes from.
    pub fn in_file(self, path: &Path) -> Self {
        ConfigError {
            scope: format!("{}: {}", path.display(), self.scope),
            message: self.message,
        }
    }
}

pub(super) type Result<T> = std::result::Result<T, ConfigError>;

const TTL_FLOOR: Duration = Duration::from_secs(1);
const TTL_CEILING: Duration = Duration::from_secs(3600);

pub(super) fn validate(raw: RawConfig) -> Result<Config> {
    // Destructured so that a new raw field fails to compile until it is validated here.
    let RawConfig {
        dns,
        admin,
        state,
        proxy,
        cluster,
        groups,
    } = raw;
    let cluster = cluster
        .map(super::cluster_rules::validate_cluster)
        .transpose()?;
    let dns = dns.map(validate_dns).transpose()?;
    let admin = validate_admin(admin)?;
    if state.path.trim().is_empty() {
        return Err(ConfigError::new("state", "path must not be empty"));
    }
    let state = StateConfig {
        path: PathBuf::from(state.path),
    };
    let workers = match proxy.workers {
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        Some(n @ 1..=MAX_WORKERS) => n,
        Some(n) => {
            return Err(ConfigError::new(
                "proxy",
                format!("workers ({n}) must be between 1 and {MAX_WORKERS}"),
            ))
        }
    };
    let proxy = ProxyConfig {
        drain_timeout: proxy.drain_timeout.unwrap_or(Duration::from_secs(10)),
        workers,
    };
    if groups.is_empty() {
        return Err(ConfigError::new(
            "config",
            "no [[group]] defined: at least one failover group is required",
        ));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(groups.len());
    for g in groups {
        let scope = format!("group {:?}", g.name);
        check_label_name(&scope, "name", &g.name)?;
        if !seen.insert(g.name.clone()) {
            return Err(ConfigError::new(scope, "duplicate group name"));
        }
        out.push(Arc::new(validate_group(g, dns.as_ref())?));
    }
    check_unique_dns_names(&out, dns.as_ref())?;
    check_unique_listen(&out, &admin, dns.as_ref())?;
    Ok(Config {
        dns,
        admin,
        state,
        proxy,
        cluster,
        groups: out,
    })
}

fn validate_dns(raw: RawDns) -> Result<DnsConfig> {
    let RawDns {
        listen,
        zone,
        nameservers,
        hostmaster,
        soa_ttl,
        negative_ttl,
        tcp_max_connections,
        tcp_max_per_client,
        tcp_idle_timeout,
    } = raw;
    let tcp = super::dns_tcp_rules::tcp_limits(
        tcp_max_connections,
        tcp_max_per_client,
        tcp_idle_timeout,
    )?;
    if listen.is_empty() {
        return Err(ConfigError::new(
            "dns",
            "listen must name at least one address",
        ));
    }
    let listen = listen
        .iter()
        .map(|a| socket_addr("dns", "listen", a))
        .collect::<Result<Vec<_>>>()?;
    let zone = absolute_name("dns", "zone", &zone, None)?;
    if nameservers.is_empty() {
        return Err(ConfigError::new(
            "dns",
            "nameservers must list at least one NS of the zone",
        ));
    }
    let mut ns_out = Vec::new();
    for ns in nameservers {
        let name = absolute_name("dns", "nameservers.name", &ns.name, None)?;
        let addresses = ns
            .addresses
            .iter()
            .map(|a| {
                a.parse::<IpAddr>().map_err(|_| {
                    ConfigError::new(
                        "dns",
                        format!("nameserver {name}: address {a:?} is not an IP address"),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if in_zone(&name, &zone) && addresses.is_empty() {
            return Err(ConfigError::new(
                "dns",
                format!("nameserver {name} is inside the zone and needs addresses (glue)"),
            ));
        }
        ns_out.push(Nameserver { name, addresses });
    }
    let hostmaster = match hostmaster {
        Some(h) => absolute_name("dns", "hostmaster", &h, None)?,
        None => format!("hostmaster.{zone}"),
    };
    let soa_ttl = soa_ttl.unwrap_or(Duration::from_secs(3600));
    let negative_ttl = negative_ttl.unwrap_or(Duration::from_secs(5));
    whole_seconds("dns", "soa_ttl", soa_ttl)?;
    whole_seconds("dns", "negative_ttl", negative_ttl)?;
    Ok(DnsConfig {
        listen,
        zone,
        nameservers: ns_out,
        hostmaster,
        soa_ttl,
        negative_ttl,
        tcp,
    })
}

fn validate_group(raw: RawGroup, dns: Option<&DnsConfig>) -> Result<GroupConfig> {
    let RawGroup {
        name,
        dns_name,
        ttl,
        failback,
        failback_hold,
        all_down,
        disconnect_on_failover,
        disconnect_on_failback,
        health,
        listeners,
        targets,
        hooks,
    } = raw;
    let scope = format!("group {name:?}");
    let dns_name = match (dns, dns_name) {
        (Some(dns), name_opt) => {
            let rel = name_opt.unwrap_or_else(|| name.clone());
            let abs = absolute_name(&scope, "dns_name", &rel, Some(&dns.zone))?;
            if !in_zone(&abs, &dns.zone) || abs == dns.zone {
                return Err(ConfigError::new(
                    scope,
                    format!("dns_name {abs} must be a name below the zone {}", dns.zone),
                ));
            }
            Some(abs)
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                scope,
                "dns_name is set but the config has no [dns] section",
            ))
        }
        (None, None) => None,
    };
    let ttl = ttl.unwrap_or(Duration::from_secs(5));
    whole_seconds(&scope, "ttl", ttl)?;
    if ttl < TTL_FLOOR || ttl > TTL_CEILING {
        return Err(ConfigError::new(
            scope,
            format!(
                "ttl ({}) must be between {} and {}",
                show(ttl),
                show(TTL_FLOOR),
                show(TTL_CEILING)
            ),
        ));
    }
    let failback = match failback.as_deref().unwrap_or("auto") {
        "auto" => Failback::Auto,
        "manual" => Failback::Manual,
        other => {
            return Err(ConfigError::new(
                scope,
                format!("failback {other:?} is not one of \"auto\", \"manual\""),
            ))
        }
    };
    let all_down = match all_down.as_deref().unwrap_or("fail_static") {
        "fail_static" => AllDown::FailStatic,
        "fail_closed" => AllDown::FailClosed,
        other => {
            return Err(ConfigError::new(
                scope,
                format!("all_down {other:?} is not one of \"fail_static\", \"fail_closed\""),
            ))
        }
    };
    let listeners = listeners
        .into_iter()
        .map(|l| validate_listener(&scope, l))
        .collect::<Result<Vec<_>>>()?;
    let targets = validate_targets(&scope, targets)?;
    let health = validate_health(&scope, health, &listeners)?;
    let hooks = validate_hooks(&scope, hooks)?;
    if let Some(i) = hooks.iter().position(|h| h.await_role.is_some()) {
        if !health.kind.is_role_check() {
            return Err(ConfigError::new(
                format!("{scope}: hook {}", i + 1),
                format!(
                    "await_role needs a role check in [group.health] (kind = \"postgres\" or \"redis\"), not kind = {:?}",
                    health.kind.name()
                ),
            ));
        }
    }
    Ok(GroupConfig {
        name,
        dns_name,
        ttl,
        failback,
        failback_hold: failback_hold.unwrap_or(Duration::from_secs(30)),
        all_down,
        disconnect_on_failover,
        disconnect_on_failback,
        health,
        listeners,
        targets,
        hooks,
    })
}

fn validate_listener(scope: &str, raw: RawListener) -> Result<ListenerConfig> {
    let RawListener {
        listen,
        target_port,
        connect_timeout,
        idle_timeout,
        max_connections,
    } = raw;
    let listen = socket_addr(scope, "listener.listen", &listen)?;
    if target_port == 0 {
        return Err(ConfigError::new(
            scope,
            format!("listener {listen}: target_port must not be 0"),
        ));
    }
    let connect_timeout = connect_timeout.unwrap_or(Duration::from_secs(1));
    let idle_timeout = idle_timeout.unwrap_or(Duration::from_secs(600));
    let max_connections = max_connections.unwrap_or(10_000);
    for (field, d) in [
        ("connect_timeout", connect_timeout),
        ("idle_timeout", idle_timeout),
    ] {
        if d.is_zero() {
            return Err(ConfigError::new(
                scope,
                format!("listener {listen}: {field} must be greater than 0s"),
            ));
        }
    }
    if max_connections == 0 {
        return Err(ConfigError::new(
            scope,
            format!("listener {listen}: max_connections must be at least 1"),
        ));
    }
    Ok(ListenerConfig {
        listen,
        target_port,
        connect_timeout,
        idle_timeout,
        max_connections,
    })
}
