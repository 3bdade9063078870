//! Validation of `[cluster]`: several failoverd instances agreeing through etcd.
//!
//! Everything an instance needs to reach etcd is checked here, so `failoverd check` says
//! what is wrong before anything starts: the endpoints (one scheme for all: `https://`
//! needs `ca_file`), the key prefix, this instance's name, the lease, TLS client identity
//! and credentials (the password from a file, never from the config text).

use std::path::PathBuf;
use std::time::Duration;

use super::fields::check_label_name;
use super::raw::RawCluster;
use super::validate::{ConfigError, Result};
use super::{ClusterAuth, ClusterConfig, ClusterTls, Secret};

/// etcd grants leases of a second or more, but a lease shorter than a couple of seconds
/// expires on one slow round trip and makes leadership flap.
const MIN_LEASE: Duration = Duration::from_secs(2);
const MAX_LEASE: Duration = Duration::from_secs(60);
const DEFAULT_LEASE: Duration = Duration::from_secs(5);

fn err(msg: impl Into<String>) -> ConfigError {
    ConfigError::new("cluster", msg)
}

pub(super) fn validate_cluster(raw: RawCluster) -> Result<ClusterConfig> {
    let RawCluster {
        backend,
        endpoints,
        prefix,
        instance,
        lease_ttl,
        ca_file,
        cert_file,
        key_file,
        username,
        password_file,
    } = raw;
    if backend != "etcd" {
        return Err(err(format!(
            "backend {backend:?} is not supported: the only cluster backend is \"etcd\""
        )));
    }
    let tls = endpoints_and_tls(&endpoints, ca_file, cert_file, key_file)?;
    let prefix = prefix.unwrap_or_else(|| "/failoverd/".into());
    if !prefix.starts_with('/') || !prefix.ends_with('/') || prefix.len() < 2 {
        return Err(err(format!(
            "prefix {prefix:?} must start and end with '/' and name a directory, e.g. \"/failoverd/prod/\""
        )));
    }
    let instance = match instance {
        Some(i) => i,
        None => host_name()?,
    };
    check_label_name("cluster", "instance", &instance)?;
    let lease_ttl = lease_ttl.unwrap_or(DEFAULT_LEASE);
    if !(MIN_LEASE..=MAX_LEASE).contains(&lease_ttl) {
        return Err(err(format!(
            "lease_ttl {} must be between 2s and 60s",
            crate::config::duration::show(lease_ttl)
        )));
    }
    let auth = match (username, password_file) {
        (None, None) => None,
        (Some(user), Some(file)) => Some(ClusterAuth {
            password: password(&file)?,
            user,
        }),
        _ => {
            return Err(err(
                "username and password_file go together: set both or neither",
            ))
        }
    };
    Ok(ClusterConfig {
        endpoints,
        prefix,
        instance,
        lease_ttl,
        tls,
        auth,
    })
}

/// Every endpoint is `http://host:port` or `https://host:port`, all with one scheme; TLS
/// settings only with `https://`, and `https://` only with a CA to check etcd against.
fn endpoints_and_tls(
    endpoints: &[String],
    ca_file: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
) -> Result<Option<ClusterTls>> {
    if endpoints.is_empty() {
        return Err(err(
            "endpoints must list at least one etcd member, e.g. [\"http://127.0.0.1:2379\"]",
        ));
    }
    let mut schemes = Vec::new();
    for e in endpoints {
        let url =
            url::Url::parse(e).map_err(|x| err(format!("endpoint {e:?} is not a URL: {x}")))?;
        let fine = matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some()
            && url.port().is_some()
            && url.path() == "/"
            && url.username().is_empty()
            && url.query().is_none();
        if !fine {
            return Err(err(format!(
                "endpoint {e:?} must be http://HOST:PORT or https://HOST:PORT (credentials go in username and password_file)"
            )));
        }
        schemes.push(url.scheme().to_string());
    }
    schemes.dedup();
    if schemes.len() > 1 {
        return Err(err(
            "endpoints mix http:// and https://: use one scheme for every member",
        ));
    }
    let https = schemes[0] == "https";
    let identity = match (cert_file, key_file) {
        (None, None) => None,
        (Some(c), Some(k)) => Some((readable("cert_file", &c)?, readable("key_file", &k)?)),
        _ => {
            return Err(err(
                "cert_file and key_file go together: set both or neither",
            ))
        }
    };
    match (https, ca_file) {
        (false, None) if identity.is_none() => Ok(None),
        (false, _) => Err(err(
            "ca_file, cert_file and key_file need https:// endpoints",
        )),
        (true, None) => Err(err(
            "https:// endpoints need ca_file (the CA that signed etcd's certificates)",
        )),
        (true, Some(ca)) => Ok(Some(ClusterTls {
            ca: readable("ca_file", &ca)?,
            identity,
        })),
    }
}

fn readable(field: &str, path: &str) -> Result<PathBuf> {
    std::fs::File::open(path).map_err(|e| err(format!("{field} {path}: {e}")))?;
    Ok(PathBuf::from(path))
}

/// The password is the file's first line (a trailing newline is not part of it).
fn password(path: &str) -> Result<Secret> {
    let text =
        std::fs::read_to_string(path).map_err(|e| err(format!("password_file {path}: {e}")))?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(err(format!("password_file {path} is empty")));
    }
    Ok(Secret::new(line.to_string()))
}

/// The default instance name: this host's name, as `hostname` prints it.
fn host_name() -> Result<String> {
    let text = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map_err(|e| {
            err(format!(
                "no instance name set and the host name is unknown ({e}): set instance"
            ))
        })?;
    let name = text
        .trim()
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string();
    if name.is_empty() {
        return Err(err(
            "no instance name set and the host name is empty: set instance",
        ));
    }
    Ok(name)
}
