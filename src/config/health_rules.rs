//! Validation of `[group.health]`: timing, port, and the fields each check kind allows
//! (the role check kinds' own fields in `role_rules.rs`).

use std::path::PathBuf;
use std::time::Duration;

use super::duration::show;
use super::raw::RawHealth;
use super::role_rules::{self, RoleFields};
use super::validate::{ConfigError, Result};
use super::{CheckKind, HealthConfig, HttpCheck, ListenerConfig, TlsCheck};

const MIN_INTERVAL: Duration = Duration::from_millis(100);
const KINDS: &[&str] = &["tcp", "http", "https", "tls", "postgres", "redis"];

pub(super) fn validate_health(
    scope: &str,
    raw: Option<RawHealth>,
    listeners: &[ListenerConfig],
) -> Result<HealthConfig> {
    // Destructured so that a new raw field fails to compile until it is validated here.
    let RawHealth {
        kind,
        port,
        interval,
        timeout,
        rise,
        fall,
        passive_fall,
        passive_window,
        flap_limit,
        flap_window,
        path,
        host,
        status,
        body,
        ca_file,
        sni,
        tls_skip_verify,
        role,
        user,
        dbname,
        username,
        password_file,
        tls,
    } = raw.unwrap_or_default();
    let kind = kind.unwrap_or_else(|| "tcp".into());
    let (interval, timeout) = timing(scope, interval, timeout)?;
    let rise = at_least_one(scope, "rise", rise)?;
    let fall = at_least_one(scope, "fall", fall)?;
    let passive_fall = at_least_one(scope, "passive_fall", passive_fall.or(Some(3)))?;
    let passive_window = positive(scope, "passive_window", passive_window, 2)?;
    let flap_limit = at_least_one(scope, "flap_limit", flap_limit.or(Some(3)))?;
    let flap_window = positive(scope, "flap_window", flap_window, 60)?;
    // The kind first: with an unknown kind, "health.path is only valid for http ..." would
    // blame the wrong field.
    if !KINDS.contains(&kind.as_str()) {
        let known: Vec<String> = KINDS.iter().map(|k| format!("{k:?}")).collect();
        return Err(ConfigError::new(
            scope,
            format!("health.kind {kind:?} is not one of {}", known.join(", ")),
        ));
    }
    let port = check_port(scope, port.or(role_rules::default_port(&kind)), listeners)?;
    let role_fields = RoleFields {
        role,
        user,
        dbname,
        username,
        password_file,
        tls,
        ca_file: ca_file.clone(),
    };
    role_rules::reject_misplaced(scope, &kind, &role_fields)?;
    let require_primary = role_rules::require_primary(scope, &kind, role_fields.role.as_deref())?;
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
    let ca_kinds = is_tls || kind == "postgres";
    only(
        "ca_file",
        ca_file.is_some(),
        ca_kinds,
        "https, tls and postgres",
    )?;
    only("sni", sni.is_some(), is_tls, "https and tls")?;
    only("tls_skip_verify", tls_skip_verify, is_tls, "https and tls")?;
    let http = || {
        http_check(
            scope,
            path.clone(),
            host.clone(),
            status.as_deref(),
            body.clone(),
        )
    };
    let tls = || tls_check(scope, ca_file.as_deref(), sni.clone(), tls_skip_verify);
    let kind = match kind.as_str() {
        "postgres" => role_rules::postgres(scope, role_fields)?,
        "redis" => role_rules::redis(scope, role_fields)?,
        "http" => CheckKind::Http(http()?),
        "https" => CheckKind::Https(http()?, tls()?),
        "tls" => CheckKind::Tls(tls()?),
        _ => CheckKind::Tcp,
    };
    Ok(HealthConfig {
        kind,
        port,
        interval,
        timeout,
        rise,
        fall,
        passive_fall,
        passive_window,
        flap_limit,
        flap_window,
        require_primary,
    })
}

/// A window, defaulted to `default_s` seconds; zero would make its counter meaningless.
fn positive(scope: &str, field: &str, value: Option<Duration>, default_s: u64) -> Result<Duration> {
    let value = value.unwrap_or(Duration::from_secs(default_s));
    if value.is_zero() {
        return Err(ConfigError::new(
            scope,
            format!("health.{field} must be greater than 0s"),
        ));
    }
    Ok(value)
}

/// Interval and timeout, defaulted; a check must end before the next one starts.
fn timing(
    scope: &str,
    interval: Option<Duration>,
    timeout: Option<Duration>,
) -> Result<(Duration, Duration)> {
    let interval = interval.unwrap_or(Duration::from_secs(1));
    let timeout = timeout.unwrap_or(Duration::from_millis(500).min(interval / 2));
    if interval < MIN_INTERVAL {
        let msg = format!(
            "health.interval ({}) must be at least {}",
            show(interval),
            show(MIN_INTERVAL)
        );
        return Err(ConfigError::new(scope, msg));
    }
    if timeout.is_zero() {
        return Err(ConfigError::new(
            scope,
            "health.timeout must be greater than 0s",
        ));
    }
    if timeout >= interval {
        let msg = format!(
            "health.timeout ({}) must be less than health.interval ({})",
            show(timeout),
            show(interval)
        );
        return Err(ConfigError::new(scope, msg));
    }
    Ok((interval, timeout))
}

fn at_least_one(scope: &str, field: &str, value: Option<u32>) -> Result<u32> {
    match value.unwrap_or(2) {
        0 => Err(ConfigError::new(
            scope,
            format!("health.{field} must be at least 1"),
        )),
        n => Ok(n),
    }
}

fn check_port(scope: &str, port: Option<u16>, listeners: &[ListenerConfig]) -> Result<u16> {
    match (port, listeners.first()) {
        (Some(0), _) => Err(ConfigError::new(scope, "health.port must not be 0")),
        (Some(p), _) => Ok(p),
        (None, Some(l)) => Ok(l.target_port),
        (None, None) => Err(ConfigError::new(
            scope,
            "health.port is required when the group has no [[group.listener]]",
        )),
    }
}

fn http_check(
    scope: &str,
    path: Option<String>,
    host: Option<String>,
    status: Option<&str>,
    body: Option<String>,
) -> Result<HttpCheck> {
    let path = path.unwrap_or_else(|| "/".into());
    if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError::new(
            scope,
            format!("health.path {path:?} must start with / and hold no spaces"),
        ));
    }
    let (status_min, status_max) = status_range(scope, status.unwrap_or("200-399"))?;
    Ok(HttpCheck {
        path,
        host,
        status_min,
        status_max,
        body,
    })
}

fn tls_check(
    scope: &str,
    ca_file: Option<&str>,
    sni: Option<String>,
    skip_verify: bool,
) -> Result<TlsCheck> {
    if skip_verify && ca_file.is_some() {
        return Err(ConfigError::new(
            scope,
            "health.ca_file and health.tls_skip_verify exclude each other",
        ));
    }
    let ca_file = ca_file.map(PathBuf::from);
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
        sni,
        skip_verify,
    })
}

fn status_range(scope: &str, text: &str) -> Result<(u16, u16)> {
    let bad = || {
        ConfigError::new(
            scope,
            format!("health.status {text:?} must be a status or a range such as \"200-399\""),
        )
    };
    let parse = |s: &str| s.trim().parse::<u16>().map_err(|_| bad());
    let (lo, hi) = match text.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => (parse(text)?, parse(text)?),
    };
    if !(100..=599).contains(&lo) || !(100..=599).contains(&hi) || lo > hi {
        return Err(bad());
    }
    Ok((lo, hi))
}
