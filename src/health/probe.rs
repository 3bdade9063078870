//! One health probe: a single check of one address, by the group's check kind (`tcp`,
//! `http`, `https`, `tls`, and the role checks `postgres` and `redis`, which answer the
//! server's role as well).
//!
//! A group's health checker builds one [`Prober`] from its `HealthConfig` (loading CA files
//! and building the TLS config once) and calls [`Prober::probe`] once per interval per
//! address. A probe answers only "did this one check pass, and if not why"; rise/fall
//! counting and the verdicts are computed elsewhere.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use hyper::header::HeaderValue;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::http;
use super::postgres::PostgresProbe;
use super::redis::RedisProbe;
use super::tls::TlsProbe;
use crate::config::duration::show;
use crate::config::{CheckKind, HealthConfig, HttpCheck};
use crate::vocab::Role;

/// The probe for one group, built once; cheap to clone (the TLS config is shared).
#[derive(Clone)]
pub struct Prober {
    timeout: Duration,
    mode: Mode,
}

#[derive(Clone)]
enum Mode {
    Tcp,
    Http(HttpCheck, Option<HeaderValue>),
    Https(HttpCheck, Option<HeaderValue>, TlsProbe),
    Tls(TlsProbe),
    Postgres(PostgresProbe),
    Redis(RedisProbe),
}

/// Why a `Prober` cannot be built; the text names the config field (and file).
#[derive(Debug, thiserror::Error)]
pub enum ProbeSetupError {
    #[error("health.ca_file {}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    #[error("health: no system CA certificates could be loaded ({0}); set health.ca_file")]
    NoSystemRoots(String),
    #[error("health.{field} {value:?} is not a valid TLS server name")]
    ServerName { field: &'static str, value: String },
    #[error("health.host {0:?} is not a valid Host header value")]
    HostHeader(String),
    #[error("health: TLS setup: {0}")]
    Tls(rustls::Error),
}

/// Why one probe failed. `kind()` gives a short label for metrics and logs.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("timeout after {}", show(*.0))]
    Timeout(Duration),
    #[error("connect: {0}")]
    Connect(io::Error),
    #[error("tls: {0}")]
    Tls(io::Error),
    #[error("tls: {0:?} is not a valid server name (set health.sni)")]
    ServerName(String),
    #[error("status {got} not in {min}-{max}")]
    Status { got: u16, min: u16, max: u16 },
    #[error("body does not contain {expected:?}")]
    Body { expected: String },
    #[error("http: {0}")]
    Http(String),
    /// A role check's login was refused (the server's words).
    #[error("{0}")]
    Auth(String),
    /// A role check's database answered with an error, or not as a database would.
    #[error("{0}")]
    Database(String),
}

impl ProbeError {
    /// A bounded label ("timeout", "connect", "tls", "status", "body", "http", "auth",
    /// "database"), safe as a metric label value.
    pub fn kind(&self) -> &'static str {
        match self {
            ProbeError::Timeout(_) => "timeout",
            ProbeError::Connect(_) => "connect",
            ProbeError::Tls(_) | ProbeError::ServerName(_) => "tls",
            ProbeError::Status { .. } => "status",
            ProbeError::Body { .. } => "body",
            ProbeError::Http(_) => "http",
            ProbeError::Auth(_) => "auth",
            ProbeError::Database(_) => "database",
        }
    }

    /// The kind of a failure that was failoverd's own (see `crate::local_error`): such a
    /// probe says nothing about the target.
    pub fn local(&self) -> Option<(&'static str, &io::Error)> {
        match self {
            ProbeError::Connect(e) | ProbeError::Tls(e) => {
                crate::local_error::kind(e).map(|k| (k, e))
            }
            _ => None,
        }
    }
}

impl Prober {
    /// Builds the probe for a group's health config (loads the CA file, builds the rustls
    /// ClientConfig once).
    pub fn new(health: &HealthConfig) -> Result<Prober, ProbeSetupError> {
        let host_header = |check: &HttpCheck| -> Result<Option<HeaderValue>, ProbeSetupError> {
            match &check.host {
                Some(h) => HeaderValue::from_str(h)
                    .map(Some)
                    .map_err(|_| ProbeSetupError::HostHeader(h.clone())),
                None => Ok(None),
            }
        };
        let mode = match &health.kind {
            CheckKind::Tcp => Mode::Tcp,
            CheckKind::Http(check) => Mode::Http(check.clone(), host_header(check)?),
            CheckKind::Https(check, tls) => Mode::Https(
                check.clone(),
                host_header(check)?,
                TlsProbe::new(tls, check.host.as_deref(), true)?,
            ),
            CheckKind::Tls(tls) => Mode::Tls(TlsProbe::new(tls, None, false)?),
            CheckKind::Postgres(check) => Mode::Postgres(PostgresProbe::new(check)?),
            CheckKind::Redis(check) => Mode::Redis(RedisProbe::new(check)),
        };
        Ok(Prober {
            timeout: health.timeout,
            mode,
        })
    }

    /// One check of one address. `host` is the target's configured address text (IP or
    /// hostname), used as default Host header / SNI. A role check answers the role.
    /// Never takes longer than health.timeout (wraps everything in tokio::time::timeout).
    pub async fn probe(&self, addr: SocketAddr, host: &str) -> Result<Option<Role>, ProbeError> {
        // One deadline for connect, handshake, request and body together: a slow server
        // must not stretch a probe past its interval. Dropping the inner future on expiry
        // closes whatever socket it held.
        match tokio::time::timeout(self.timeout, self.run(addr, host)).await {
            Ok(result) => result,
            Err(_) => Err(ProbeError::Timeout(self.timeout)),
        }
    }

    async fn run(&self, addr: SocketAddr, host: &str) -> Result<Option<Role>, ProbeError> {
        let tcp_only = matches!(self.mode, Mode::Tcp);
        let tcp = crate::tcp::connect(addr, |sock| {
            if tcp_only {
                // Connected is the whole check. Close with a reset (SO_LINGER 0), as
                // HAProxy does for its checks: a normal close would leave one TIME_WAIT
                // socket per check on this host, thousands a second with many targets.
                let _ = sock.set_linger(Some(std::time::Duration::ZERO));
            } else {
                // Requests are a single small write; don't let Nagle hold it back.
                let _ = sock.set_tcp_nodelay(true);
            }
            Ok(())
        })
        .await
        .map_err(ProbeError::Connect)?;
        match &self.mode {
            Mode::Tcp => Ok(None),
            // A login holds its state only while it runs, as the exchanges below.
            Mode::Postgres(pg) => Box::pin(pg.role(tcp, host)).await.map(Some),
            Mode::Redis(r) => Box::pin(r.role(tcp)).await.map(Some),
            // An HTTP or TLS exchange holds kilobytes of state while it runs. Boxed, it
            // costs that only during the probe: every checker task waiting for its next
            // round is sized by its largest await, and 2,000 of them took 10 MB inline.
            _ => Box::pin(self.exchange(tcp, addr, host))
                .await
                .map(|()| None),
        }
    }

    /// The request (http, https) or handshake (tls) on a connected socket.
    async fn exchange(
        &self,
        tcp: TcpStream,
        addr: SocketAddr,
        host: &str,
    ) -> Result<(), ProbeError> {
        match &self.mode {
            Mode::Tcp | Mode::Postgres(_) | Mode::Redis(_) => Ok(()),
            Mode::Http(check, fixed) => {
                let value = host_value(fixed, host, addr.port(), 80)?;
                http::get(tcp, check, value).await
            }
            Mode::Https(check, fixed, tls) => {
                let value = host_value(fixed, host, addr.port(), 443)?;
                let stream = tls.connect(tcp, host).await?;
                http::get(stream, check, value).await
            }
            Mode::Tls(tls) => {
                let mut stream = tls.connect(tcp, host).await?;
                // Say goodbye with close_notify so servers don't log a truncated session;
                // the handshake already succeeded, so a failure here doesn't matter.
                let _ = stream.shutdown().await;
                Ok(())
            }
        }
    }
}

/// The Host header: the configured one, else the target's address text, with the port
/// unless it is the scheme's default (and IPv6 in brackets, as URLs write it).
fn host_value(
    fixed: &Option<HeaderValue>,
    host: &str,
    port: u16,
    default_port: u16,
) -> Result<HeaderValue, ProbeError> {
    if let Some(value) = fixed {
        return Ok(value.clone());
    }
    let name = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
        _ => host.to_owned(),
    };
    let text = if port == default_port {
        name
    } else {
        format!("{name}:{port}")
    };
    HeaderValue::from_str(&text)
        .map_err(|_| ProbeError::Http(format!("invalid Host value {text:?}")))
}

impl fmt::Debug for Prober {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.mode {
            Mode::Tcp => "tcp",
            Mode::Http(..) => "http",
            Mode::Https(..) => "https",
            Mode::Tls(_) => "tls",
            Mode::Postgres(_) => "postgres",
            Mode::Redis(_) => "redis",
        };
        f.debug_struct("Prober")
            .field("kind", &kind)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests;
