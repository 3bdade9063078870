//! Configuration: the TOML file, parsed (`raw`) and then validated into these types.
//!
//! Everything downstream (supervisor, checkers, proxy, DNS, admin) takes these checked
//! values, so no other module re-validates or sees a raw string.

mod admin_rules;
mod cluster_rules;
mod cross_rules;
mod dns_tcp_rules;
pub mod duration;
mod fields;
mod gate_rules;
mod health_rules;
mod hook_rules;
mod hooks;
mod raw;
mod target_rules;
mod validate;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use hooks::{HookAction, HookConfig, HookStage, HookTrigger, WebhookUrl};
pub use validate::ConfigError;

/// Where the admin API listens when `[admin] listen` is not given. Not 9090 (Prometheus's
/// own port, often on the same host) nor the exporters' 9100-9999: 8439 has no IANA
/// assignment and no common tool's default.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:8439";

/// A fully validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub dns: Option<DnsConfig>,
    pub admin: AdminConfig,
    pub state: StateConfig,
    pub proxy: ProxyConfig,
    /// Several instances through etcd; `None`: this process decides alone.
    pub cluster: Option<ClusterConfig>,
    /// Shared: the supervisor, the checkers and a reload's copy of the config hold the
    /// same groups rather than copies (10,000 groups are megabytes).
    pub groups: Vec<Arc<GroupConfig>>,
}

#[derive(Debug, Clone)]
pub struct DnsConfig {
    pub listen: Vec<SocketAddr>,
    /// Lowercase, absolute (final dot).
    pub zone: String,
    pub nameservers: Vec<Nameserver>,
    /// SOA RNAME, absolute.
    pub hostmaster: String,
    pub soa_ttl: Duration,
    pub negative_ttl: Duration,
    pub tcp: DnsTcpLimits,
}

/// Admission of DNS over TCP (see `dns::tcp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsTcpLimits {
    /// Connections at once, per listen address.
    pub max_connections: usize,
    /// Connections at once from one client: an IPv4 /24 or an IPv6 /56.
    pub max_per_client: usize,
    pub idle_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Nameserver {
    /// Lowercase, absolute.
    pub name: String,
    pub addresses: Vec<IpAddr>,
}

#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    pub tokens: Vec<Token>,
    pub tls: Option<AdminTls>,
    /// Admission: connections at once, and how long a client may take (see `admin::serve`).
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Read,
    Operate,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub name: String,
    pub role: Role,
    pub secret: Secret,
}

/// A token secret: never printed, compared in constant time.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }

    /// The secret itself, for a client that must send it (etcd's authentication).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison (`subtle`), so response timing says nothing about the
    /// secret's content (only, as with any such compare, whether the lengths differ).
    pub fn matches(&self, offered: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(offered.as_bytes()).into()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// `[cluster]`: this instance is one of several that agree through etcd.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `http://host:port` or `https://host:port`, one scheme for all.
    pub endpoints: Vec<String>,
    /// Every key lives under it; starts and ends with `/`.
    pub prefix: String,
    /// Unique per instance.
    pub instance: String,
    /// An instance unheard of for this long is gone (and a leader stops leading).
    pub lease_ttl: Duration,
    pub tls: Option<ClusterTls>,
    pub auth: Option<ClusterAuth>,
}

#[derive(Debug, Clone)]
pub struct ClusterTls {
    pub ca: PathBuf,
    /// Client certificate and key, for etcd's client-certificate authentication.
    pub identity: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, Clone)]
pub struct ClusterAuth {
    pub user: String,
    pub password: Secret,
}

#[derive(Debug, Clone)]
pub struct StateConfig {
    pub path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub drain_timeout: Duration,
    /// Threads that accept and relay proxied connections, each with its own event loop.
    pub workers: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failback {
    Auto,
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllDown {
    /// Keep serving the last active tier.
    FailStatic,
    /// Serve nothing: DNS SERVFAIL, proxy refuses.
    FailClosed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    pub name: String,
    /// Lowercase, absolute; `None` when the config has no `[dns]` and no `dns_name`.
    pub dns_name: Option<String>,
    pub ttl: Duration,
    pub failback: Failback,
    pub failback_hold: Duration,
    pub all_down: AllDown,
    pub disconnect_on_failover: bool,
    pub disconnect_on_failback: bool,
    pub health: HealthConfig,
    pub listeners: Vec<ListenerConfig>,
    pub targets: Vec<TargetConfig>,
    /// The group's runbook, in config order (see `crate::hooks`).
    pub hooks: Vec<HookConfig>,
}

impl GroupConfig {
    /// The group has gates: steps that must pass before traffic moves.
    pub fn gated(&self) -> bool {
        self.hooks.iter().any(|h| h.stage == HookStage::Before)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    pub kind: CheckKind,
    pub port: u16,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    /// Failed client connects (passive signals) that mark a target down...
    pub passive_fall: u32,
    /// ...when they all fall within this window.
    pub passive_window: Duration,
    /// Downs within `flap_window` that make a target flapping.
    pub flap_limit: u32,
    pub flap_window: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    Tcp,
    Http(HttpCheck),
    Https(HttpCheck, TlsCheck),
    Tls(TlsCheck),
}

impl CheckKind {
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::Tcp => "tcp",
            CheckKind::Http(_) => "http",
            CheckKind::Https(..) => "https",
            CheckKind::Tls(_) => "tls",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    pub path: String,
    pub host: Option<String>,
    pub status_min: u16,
    pub status_max: u16,
    pub body: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsCheck {
    pub ca_file: Option<PathBuf>,
    pub sni: Option<String>,
    pub skip_verify: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    pub listen: SocketAddr,
    pub target_port: u16,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    pub name: String,
    pub address: TargetAddress,
    pub priority: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetAddress {
    /// Answered as A/AAAA, connected to directly.
    Ips(Vec<IpAddr>),
    /// Answered as CNAME, resolved by the system resolver to connect.
    Host(String),
}

impl std::fmt::Display for TargetAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetAddress::Ips(ips) => {
                let parts: Vec<String> = ips.iter().map(|ip| ip.to_string()).collect();
                f.write_str(&parts.join(","))
            }
            TargetAddress::Host(h) => f.write_str(h),
        }
    }
}

impl Config {
    /// How many health checks may hold a socket at once: a target's check holds one for at
    /// most `timeout` of every `interval`, and checks are spread over the interval, so the
    /// config has about the sum of targets x timeout / interval open (rounded up), even
    /// when every check runs into its timeout; plus 16 for bursts. The check scheduler
    /// never runs more (a due check waits for a free place), and the descriptor reserve
    /// holds this many.
    pub fn checks_at_once(&self) -> usize {
        let share: f64 = self
            .groups
            .iter()
            .map(|g| {
                let (t, i) = (
                    g.health.timeout.as_secs_f64(),
                    g.health.interval.as_secs_f64(),
                );
                g.targets.len() as f64 * if i > 0.0 { (t / i).min(1.0) } else { 1.0 }
            })
            .sum();
        share.ceil() as usize + 16
    }

    /// Reads and validates a config file; the error names the file and the field.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(path.display().to_string(), format!("cannot read: {e}"))
        })?;
        Config::parse(&text).map_err(|e| e.in_file(path))
    }

    /// Parses and validates config text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let raw: raw::RawConfig = toml::from_str(text)
            .map_err(|e| ConfigError::new("config", e.to_string().trim_end()))?;
        validate::validate(raw)
    }

    pub fn group(&self, name: &str) -> Option<&GroupConfig> {
        self.groups.iter().find(|g| g.name == name).map(|g| &**g)
    }
}
