//! Validation of `[admin]`: listen address, tokens (secrets read from files or the
//! environment, never from the config text) and TLS files.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use super::fields::{check_label_name, socket_addr};
use super::raw::{RawAdmin, RawToken};
use super::validate::{ConfigError, Result};
use super::{AdminConfig, AdminTls, Role, Secret, Token};

/// Short secrets can be guessed; 16 characters is the least we accept.
const MIN_SECRET: usize = 16;

pub(super) fn validate_admin(raw: RawAdmin) -> Result<AdminConfig> {
    let RawAdmin {
        listen,
        tokens,
        tls_cert,
        tls_key,
        max_connections,
        header_timeout,
        idle_timeout,
    } = raw;
    let listen = socket_addr("admin", "listen", &listen)?;
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(tokens.len());
    for (i, t) in tokens.into_iter().enumerate() {
        let scope = format!("admin: token {}", i + 1);
        check_label_name(&scope, "name", &t.name)?;
        if !names.insert(t.name.clone()) {
            return Err(ConfigError::new(
                scope,
                format!("duplicate token name {:?}", t.name),
            ));
        }
        out.push(token(&scope, t)?);
    }
    if out.is_empty() && !listen.ip().is_loopback() {
        return Err(ConfigError::new(
            "admin",
            format!(
                "listen {listen} is not a loopback address and no [[admin.token]] is configured: \
                 add a token, or listen on 127.0.0.1"
            ),
        ));
    }
    let tls = match (tls_cert, tls_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(AdminTls {
            cert: readable("tls_cert", &cert)?,
            key: readable("tls_key", &key)?,
        }),
        _ => {
            return Err(ConfigError::new(
                "admin",
                "tls_cert and tls_key go together: set both or neither",
            ))
        }
    };
    // 256: far above what operators and scrapers use at once, and at two descriptors or
    // less each, a small share of even a 1,024 open-file limit.
    let max_connections = max_connections.unwrap_or(256);
    if max_connections == 0 {
        return Err(ConfigError::new(
            "admin",
            "max_connections must be at least 1",
        ));
    }
    let positive = |field: &str, value: Option<Duration>, default_s: u64| {
        let value = value.unwrap_or(Duration::from_secs(default_s));
        if value.is_zero() {
            return Err(ConfigError::new(
                "admin",
                format!("{field} must be greater than 0s"),
            ));
        }
        Ok(value)
    };
    Ok(AdminConfig {
        listen,
        tokens: out,
        tls,
        max_connections,
        header_timeout: positive("header_timeout", header_timeout, 10)?,
        idle_timeout: positive("idle_timeout", idle_timeout, 60)?,
    })
}

fn token(scope: &str, t: RawToken) -> Result<Token> {
    let role = match t.role.as_str() {
        "read" => Role::Read,
        "operate" => Role::Operate,
        other => {
            return Err(ConfigError::new(
                scope,
                format!("role {other:?} is not one of \"read\", \"operate\""),
            ))
        }
    };
    let secret = match (&t.secret_file, &t.secret_env) {
        (Some(file), None) => std::fs::read_to_string(file)
            .map_err(|e| ConfigError::new(scope, format!("secret_file {file}: {e}")))?
            .trim()
            .to_string(),
        (None, Some(var)) => std::env::var(var)
            .map_err(|_| ConfigError::new(scope, format!("secret_env {var} is not set")))?
            .trim()
            .to_string(),
        (Some(_), Some(_)) => {
            let msg = "set exactly one of secret_file and secret_env (both given)";
            return Err(ConfigError::new(scope, msg));
        }
        (None, None) => {
            let msg = "set exactly one of secret_file and secret_env";
            return Err(ConfigError::new(scope, msg));
        }
    };
    if secret.len() < MIN_SECRET {
        return Err(ConfigError::new(
            scope,
            format!(
                "the secret of token {:?} must be at least {MIN_SECRET} characters",
                t.name
            ),
        ));
    }
    Ok(Token {
        name: t.name,
        role,
        secret: Secret::new(secret),
    })
}

fn readable(field: &str, path: &str) -> Result<PathBuf> {
    std::fs::metadata(path)
        .map_err(|e| ConfigError::new("admin", format!("{field} {path}: {e}")))?;
    Ok(PathBuf::from(path))
}
