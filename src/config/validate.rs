//! Raw config -> validated config. Every error names where it is (`group "web":`,
//! `dns:`) and the field, and says what is wrong, as `failoverd check` prints it.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::duration::show;
use super::raw::*;
use super::*;

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

type Result<T> = std::result::Result<T, ConfigError>;

const TTL_FLOOR: Duration = Duration::from_secs(1);
const TTL_CEILING: Duration = Duration::from_secs(3600);
const MIN_INTERVAL: Duration = Duration::from_millis(100);

pub(super) fn validate(raw: RawConfig) -> Result<Config> {
    // Destructured so that a new raw field fails to compile until it is validated here.
    let RawConfig {
        dns,
        admin,
        state,
        proxy,
        groups,
    } = raw;
    let dns = dns.map(validate_dns).transpose()?;
    let admin = AdminConfig {
        listen: socket_addr("admin", "listen", &admin.listen)?,
    };
    if state.path.trim().is_empty() {
        return Err(ConfigError::new("state", "path must not be empty"));
    }
    let state = StateConfig {
        path: PathBuf::from(state.path),
    };
    let proxy = ProxyConfig {
        drain_timeout: proxy.drain_timeout.unwrap_or(Duration::from_secs(10)),
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
        out.push(validate_group(g, dns.as_ref())?);
    }
    check_unique_dns_names(&out, dns.as_ref())?;
    check_unique_listen(&out, &admin, dns.as_ref())?;
    Ok(Config {
        dns,
        admin,
        state,
        proxy,
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
    } = raw;
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

fn validate_targets(scope: &str, raw: Vec<RawTarget>) -> Result<Vec<TargetConfig>> {
    if raw.is_empty() {
        return Err(ConfigError::new(
            scope,
            "no [[group.target]]: a group needs at least one target",
        ));
    }
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, t) in raw.into_iter().enumerate() {
        let RawTarget {
            name,
            address,
            priority,
        } = t;
        check_label_name(scope, "target.name", &name)?;
        if !names.insert(name.clone()) {
            return Err(ConfigError::new(
                scope,
                format!("duplicate target name {name:?}"),
            ));
        }
        let address = target_address(scope, &name, address)?;
        let priority = priority.unwrap_or(i as u32 + 1);
        out.push(TargetConfig {
            name,
            address,
            priority,
        });
    }
    Ok(out)
}

fn target_address(scope: &str, target: &str, raw: RawAddress) -> Result<TargetAddress> {
    let list = match raw {
        RawAddress::One(a) => vec![a],
        RawAddress::Many(list) => list,
    };
    let bad = |msg: String| ConfigError::new(scope, format!("target {target:?}: {msg}"));
    if list.is_empty() {
        return Err(bad("address list is empty".into()));
    }
    let ips: Vec<Option<IpAddr>> = list.iter().map(|a| a.parse().ok()).collect();
    if ips.iter().all(Option::is_some) {
        let ips: Vec<IpAddr> = ips.into_iter().flatten().collect();
        // A repeat would be answered twice in DNS and probed twice per interval.
        if let Some((i, ip)) = ips
            .iter()
            .enumerate()
            .find(|(i, ip)| ips[..*i].contains(ip))
        {
            return Err(bad(format!(
                "address {ip} is listed twice (entries {} and {})",
                ips.iter().position(|x| x == ip).unwrap_or(0) + 1,
                i + 1
            )));
        }
        return Ok(TargetAddress::Ips(ips));
    }
    if list.len() > 1 {
        return Err(bad(format!(
            "address list {list:?} must hold IP addresses only (a hostname stands alone)"
        )));
    }
    let host = list[0].strip_suffix('.').unwrap_or(&list[0]);
    if host.contains(':') || host.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad(format!(
            "address {:?} is neither an IP address nor a hostname",
            list[0]
        )));
    }
    check_domain_name(scope, "target.address", &list[0])?;
    Ok(TargetAddress::Host(host.to_ascii_lowercase()))
}

fn validate_health(
    scope: &str,
    raw: Option<RawHealth>,
    listeners: &[ListenerConfig],
) -> Result<HealthConfig> {
    let raw = raw.unwrap_or_else(|| RawHealth {
        kind: "tcp".into(),
        port: None,
        interval: None,
        timeout: None,
        rise: None,
        fall: None,
        path: None,
        host: None,
        status: None,
        body: None,
        ca_file: None,
        sni: None,
        tls_skip_verify: false,
    });
    let RawHealth {
        kind,
        port,
        interval,
        timeout,
        rise,
        fall,
        path,
        host,
        status,
        body,
        ca_file,
        sni,
        tls_skip_verify,
    } = raw;
    let interval = interval.unwrap_or(Duration::from_secs(1));
    let timeout = timeout.unwrap_or(Duration::from_millis(500).min(interval / 2));
    if interval < MIN_INTERVAL {
        return Err(ConfigError::new(
            scope,
            format!(
                "health.interval ({}) must be at least {}",
                show(interval),
                show(MIN_INTERVAL)
            ),
        ));
    }
    if timeout.is_zero() {
        return Err(ConfigError::new(
            scope,
            "health.timeout must be greater than 0s",
        ));
    }
    if timeout >= interval {
        return Err(ConfigError::new(
            scope,
            format!(
                "health.timeout ({}) must be less than health.interval ({})",
                show(timeout),
                show(interval)
            ),
        ));
    }
    let rise = rise.unwrap_or(2);
    let fall = fall.unwrap_or(2);
    if rise == 0 {
        return Err(ConfigError::new(scope, "health.rise must be at least 1"));
    }
    if fall == 0 {
        return Err(ConfigError::new(scope, "health.fall must be at least 1"));
    }
    let port = match (port, listeners.first()) {
        (Some(0), _) => return Err(ConfigError::new(scope, "health.port must not be 0")),
        (Some(p), _) => p,
        (None, Some(l)) => l.target_port,
        (None, None) => {
            return Err(ConfigError::new(
                scope,
                "health.port is required when the group has no [[group.listener]]",
            ))
        }
    };
    // The kind first: with an unknown kind, "health.path is only valid for http ..." would
    // blame the wrong field.
    let unknown_kind = || {
        ConfigError::new(
            scope,
            format!("health.kind {kind:?} is not one of \"tcp\", \"http\", \"https\", \"tls\""),
        )
    };
    if !matches!(kind.as_str(), "tcp" | "http" | "https" | "tls") {
        return Err(unknown_kind());
    }
    let is_http = matches!(kind.as_str(), "http" | "https");
    let is_tls = matches!(kind.as_str(), "https" | "tls");
    let only = |field: &str, present: bool, allowed: bool, kinds: &str| -> Result<()> {
        if present && !allowed {
            return Err(ConfigError::new(
                scope,
                format!("health.{field} is only valid for {kinds} checks, not kind {kind:?}"),
            ));
        }
        Ok(())
    };
    only("path", path.is_some(), is_http, "http and https")?;
    only("host", host.is_some(), is_http, "http and https")?;
    only("status", status.is_some(), is_http, "http and https")?;
    only("body", body.is_some(), is_http, "http and https")?;
    only("ca_file", ca_file.is_some(), is_tls, "https and tls")?;
    only("sni", sni.is_some(), is_tls, "https and tls")?;
    only("tls_skip_verify", tls_skip_verify, is_tls, "https and tls")?;
    let http = || -> Result<HttpCheck> {
        let path = path.clone().unwrap_or_else(|| "/".into());
        if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::new(
                scope,
                format!("health.path {path:?} must start with / and hold no spaces"),
            ));
        }
        let (status_min, status_max) = status_range(scope, status.as_deref().unwrap_or("200-399"))?;
        Ok(HttpCheck {
            path,
            host: host.clone(),
            status_min,
            status_max,
            body: body.clone(),
        })
    };
    let tls = || -> Result<TlsCheck> {
        if tls_skip_verify && ca_file.is_some() {
            return Err(ConfigError::new(
                scope,
                "health.ca_file and health.tls_skip_verify exclude each other",
            ));
        }
        let ca_file = ca_file.as_ref().map(PathBuf::from);
        if let Some(f) = &ca_file {
            if let Err(e) = std::fs::metadata(f) {
                return Err(ConfigError::new(
                    scope,
                    format!("health.ca_file {}: {e}", f.display()),
                ));
            }
        }
        Ok(TlsCheck {
            ca_file,
            sni: sni.clone(),
            skip_verify: tls_skip_verify,
        })
    };
    let kind = match kind.as_str() {
        "tcp" => CheckKind::Tcp,
        "http" => CheckKind::Http(http()?),
        "https" => CheckKind::Https(http()?, tls()?),
        "tls" => CheckKind::Tls(tls()?),
        _ => return Err(unknown_kind()),
    };
    Ok(HealthConfig {
        kind,
        port,
        interval,
        timeout,
        rise,
        fall,
    })
}

fn status_range(scope: &str, text: &str) -> Result<(u16, u16)> {
    let bad = || {
        ConfigError::new(
            scope,
            format!("health.status {text:?} must be a status or a range such as \"200-399\""),
        )
    };
    let (lo, hi) = match text.split_once('-') {
        Some((a, b)) => (
            a.trim().parse::<u16>().map_err(|_| bad())?,
            b.trim().parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let s = text.trim().parse::<u16>().map_err(|_| bad())?;
            (s, s)
        }
    };
    if !(100..=599).contains(&lo) || !(100..=599).contains(&hi) || lo > hi {
        return Err(bad());
    }
    Ok((lo, hi))
}

fn check_unique_dns_names(groups: &[GroupConfig], dns: Option<&DnsConfig>) -> Result<()> {
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
fn check_unique_listen(
    groups: &[GroupConfig],
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

fn socket_addr(scope: &str, field: &str, text: &str) -> Result<SocketAddr> {
    text.trim().parse().map_err(|_| {
        ConfigError::new(
            scope,
            format!("{field} {text:?} is not an IP:port address (e.g. \"127.0.0.1:8080\")"),
        )
    })
}

fn whole_seconds(scope: &str, field: &str, d: Duration) -> Result<()> {
    if d.subsec_nanos() != 0 {
        return Err(ConfigError::new(
            scope,
            format!("{field} ({}) must be a whole number of seconds", show(d)),
        ));
    }
    Ok(())
}

/// Group and target names appear in metrics labels, URLs and logs: keep them plain.
fn check_label_name(scope: &str, field: &str, name: &str) -> Result<()> {
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
fn check_domain_name(scope: &str, field: &str, name: &str) -> Result<()> {
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
fn absolute_name(scope: &str, field: &str, name: &str, origin: Option<&str>) -> Result<String> {
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

fn in_zone(name: &str, zone: &str) -> bool {
    name == zone || name.ends_with(&format!(".{zone}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config with one group "web": the admin address, the `[group.health]` body, one
    /// listener address and the target's `address` (a TOML value).
    fn config(admin: &str, health: &str, listener: &str, address: &str) -> String {
        format!(
            r#"
[admin]
listen = "{admin}"

[[group]]
name = "web"

[group.health]
{health}

[[group.listener]]
listen = "{listener}"
target_port = 80

[[group.target]]
name = "main"
address = {address}
"#
        )
    }

    fn error(text: &str) -> String {
        Config::parse(text)
            .expect_err("config must be rejected")
            .to_string()
    }

    #[test]
    fn base_config_is_valid() {
        let text = config(
            "127.0.0.1:9090",
            "kind = \"tcp\"",
            "127.0.0.1:8080",
            "\"192.0.2.1\"",
        );
        Config::parse(&text).unwrap();
    }

    #[test]
    fn unknown_kind_is_reported_before_kind_specific_fields() {
        let text = config(
            "127.0.0.1:9090",
            "kind = \"htp\"\npath = \"/health\"",
            "127.0.0.1:8080",
            "\"192.0.2.1\"",
        );
        assert_eq!(
            error(&text),
            r#"group "web": health.kind "htp" is not one of "tcp", "http", "https", "tls""#
        );
    }

    #[test]
    fn wildcard_listen_overlaps_a_specific_address_on_the_same_port() {
        let text = config(
            "127.0.0.1:8080",
            "kind = \"tcp\"",
            "0.0.0.0:8080",
            "\"192.0.2.1\"",
        );
        assert_eq!(
            error(&text),
            "group \"web\": listen address 0.0.0.0:8080 overlaps 127.0.0.1:8080 of admin \
             (a wildcard address takes the port on every address)"
        );
        let text = config("[::]:9090", "kind = \"tcp\"", "[::1]:9090", "\"192.0.2.1\"");
        assert!(error(&text).contains("listen address [::1]:9090 overlaps [::]:9090 of admin"));
    }

    #[test]
    fn listen_addresses_that_can_coexist_are_accepted() {
        // Other port; other family (IPv6 listeners are bound v6-only); port 0 is never shared.
        for (admin, listener) in [
            ("0.0.0.0:9090", "127.0.0.1:8080"),
            ("0.0.0.0:8080", "[::]:8080"),
            ("127.0.0.1:0", "0.0.0.0:0"),
            ("127.0.0.1:8080", "127.0.0.2:8080"),
        ] {
            let text = config(admin, "kind = \"tcp\"", listener, "\"192.0.2.1\"");
            Config::parse(&text).unwrap_or_else(|e| panic!("{admin} + {listener}: {e}"));
        }
    }

    #[test]
    fn names_with_more_than_one_final_dot_are_rejected() {
        let dns = "[dns]\nlisten = [\"127.0.0.1:5353\"]\nnameservers = [{ name = \"ns1.example.test.\" }]";
        let base = config(
            "127.0.0.1:9090",
            "kind = \"tcp\"",
            "127.0.0.1:8080",
            "\"192.0.2.1\"",
        );
        let text = format!("{dns}\nzone = \"failover.example.test..\"\n{base}");
        assert_eq!(
            error(&text),
            r#"dns: zone "failover.example.test.." is not a valid domain name"#
        );
        let text = format!("{dns}\nzone = \"failover.example.test.\"\n{base}")
            .replace("name = \"web\"", "name = \"web\"\ndns_name = \"www..\"");
        assert_eq!(
            error(&text),
            r#"group "web": dns_name "www.." is not a valid domain name"#
        );
        let text = config(
            "127.0.0.1:9090",
            "kind = \"tcp\"",
            "127.0.0.1:8080",
            "\"host.example.test..\"",
        );
        assert_eq!(
            error(&text),
            r#"group "web": target.address "host.example.test.." is not a valid domain name"#
        );
        // One final dot is fine, and is dropped from a hostname target.
        let text = config(
            "127.0.0.1:9090",
            "kind = \"tcp\"",
            "127.0.0.1:8080",
            "\"Host.Example.Test.\"",
        );
        let config = Config::parse(&text).unwrap();
        assert_eq!(
            config.groups[0].targets[0].address,
            TargetAddress::Host("host.example.test".into())
        );
    }

    #[test]
    fn repeated_ip_in_an_address_list_is_rejected() {
        let text = config(
            "127.0.0.1:9090",
            "kind = \"tcp\"",
            "127.0.0.1:8080",
            r#"["192.0.2.1", "192.0.2.2", "192.0.2.1"]"#,
        );
        assert_eq!(
            error(&text),
            r#"group "web": target "main": address 192.0.2.1 is listed twice (entries 1 and 3)"#
        );
    }
}
