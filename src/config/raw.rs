//! The config file as written: serde structs that mirror the TOML one to one.
//!
//! Every struct denies unknown fields so a typo is an error, never a silently ignored key.
//! `validate.rs` turns these into the checked types the rest of the program uses.

use serde::Deserialize;
use std::time::Duration;

use super::duration::serde_opt;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Authoritative DNS server for the failover addresses (optional: proxy-only setups).
    pub dns: Option<RawDns>,
    /// Admin HTTP API, metrics, liveness and readiness.
    #[serde(default)]
    pub admin: RawAdmin,
    /// Where decisions are kept across restarts.
    #[serde(default)]
    pub state: RawState,
    /// TCP proxy settings shared by every listener.
    #[serde(default)]
    pub proxy: RawProxy,
    /// Several instances agreeing through etcd.
    pub cluster: Option<RawCluster>,
    /// Failover groups.
    #[serde(default, rename = "group")]
    pub groups: Vec<RawGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    /// Only "etcd".
    pub backend: String,
    pub endpoints: Vec<String>,
    /// Key prefix, default "/failoverd/".
    pub prefix: Option<String>,
    /// This instance's name, default the host name.
    pub instance: Option<String>,
    /// Default 5s.
    #[serde(default, with = "serde_opt")]
    pub lease_ttl: Option<Duration>,
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub username: Option<String>,
    pub password_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDns {
    /// Addresses to serve on, UDP and TCP each.
    pub listen: Vec<String>,
    /// The served zone, e.g. `failover.example.com.`.
    pub zone: String,
    /// NS records of the apex; in-zone names need addresses (glue).
    #[serde(default)]
    pub nameservers: Vec<RawNameserver>,
    /// SOA RNAME (mailbox of the zone's admin), default `hostmaster.<zone>`.
    pub hostmaster: Option<String>,
    /// TTL of the SOA and NS records, default 1h.
    #[serde(default, with = "serde_opt")]
    pub soa_ttl: Option<Duration>,
    /// Negative-caching TTL (SOA minimum), default 5s.
    #[serde(default, with = "serde_opt")]
    pub negative_ttl: Option<Duration>,
    /// DNS over TCP: connections at once per listen address (default 1000).
    pub tcp_max_connections: Option<usize>,
    /// ...of which one client (an IPv4 /24, an IPv6 /56) may hold (default 32).
    pub tcp_max_per_client: Option<usize>,
    /// A TCP connection with no complete query for this long is closed (default 10s).
    #[serde(default, with = "serde_opt")]
    pub tcp_idle_timeout: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNameserver {
    pub name: String,
    #[serde(default)]
    pub addresses: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// Address of the admin API; loopback by default.
    #[serde(default = "default_admin_listen")]
    pub listen: String,
    /// Bearer tokens; without any, the API must listen on loopback.
    #[serde(default, rename = "token")]
    pub tokens: Vec<RawToken>,
    /// PEM certificate chain: serve the API over TLS (with `tls_key`).
    pub tls_cert: Option<String>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<String>,
    /// Connections served at once (default 256); beyond, new ones are closed at once.
    pub max_connections: Option<usize>,
    /// Time a client has to send a request's headers (and its TLS handshake), default 10s.
    #[serde(default, with = "serde_opt")]
    pub header_timeout: Option<Duration>,
    /// A kept-alive connection with no request for this long is closed (default 60s).
    #[serde(default, with = "serde_opt")]
    pub idle_timeout: Option<Duration>,
}

impl Default for RawAdmin {
    fn default() -> Self {
        RawAdmin {
            listen: default_admin_listen(),
            tokens: Vec::new(),
            tls_cert: None,
            tls_key: None,
            max_connections: None,
            header_timeout: None,
            idle_timeout: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    /// Who uses it; recorded in the event history for every action.
    pub name: String,
    /// `read` (GET endpoints) or `operate` (everything).
    pub role: String,
    /// File holding the secret (never the secret itself in the config).
    pub secret_file: Option<String>,
    /// Environment variable holding the secret.
    pub secret_env: Option<String>,
}

fn default_admin_listen() -> String {
    super::DEFAULT_ADMIN_LISTEN.into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    /// Path of the state file.
    #[serde(default = "default_state_path")]
    pub path: String,
}

impl Default for RawState {
    fn default() -> Self {
        RawState {
            path: default_state_path(),
        }
    }
}

fn default_state_path() -> String {
    "failoverd.state".into()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProxy {
    /// How long connections may keep running after SIGTERM before they are closed.
    #[serde(default, with = "serde_opt")]
    pub drain_timeout: Option<Duration>,
    /// Proxy worker threads, each with its own event loop (default: one per CPU).
    pub workers: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    pub name: String,
    /// The failover address, relative to the zone or absolute with a final dot.
    pub dns_name: Option<String>,
    #[serde(default, with = "serde_opt")]
    pub ttl: Option<Duration>,
    /// `auto` or `manual`.
    pub failback: Option<String>,
    #[serde(default, with = "serde_opt")]
    pub failback_hold: Option<Duration>,
    /// `fail_static` or `fail_closed`.
    pub all_down: Option<String>,
    /// Close connections still on the old tier when the group fails over.
    #[serde(default)]
    pub disconnect_on_failover: bool,
    /// Close connections on the backup when the group fails back.
    #[serde(default)]
    pub disconnect_on_failback: bool,
    pub health: Option<RawHealth>,
    #[serde(default, rename = "listener")]
    pub listeners: Vec<RawListener>,
    #[serde(default, rename = "target")]
    pub targets: Vec<RawTarget>,
    /// The runbook: actions run in this order when the group sees one of their triggers.
    #[serde(default, rename = "hook")]
    pub hooks: Vec<RawHook>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    /// `tcp` (default), `http`, `https` or `tls`.
    pub kind: Option<String>,
    /// Port to check; defaults to the first listener's `target_port`.
    pub port: Option<u16>,
    #[serde(default, with = "serde_opt")]
    pub interval: Option<Duration>,
    #[serde(default, with = "serde_opt")]
    pub timeout: Option<Duration>,
    pub rise: Option<u32>,
    pub fall: Option<u32>,
    /// Failed client connects through the proxy that mark a target down (default 3)...
    pub passive_fall: Option<u32>,
    /// ...when they happen within this window (default 2s).
    #[serde(default, with = "serde_opt")]
    pub passive_window: Option<Duration>,
    /// Times a target may go down within `flap_window` before it is flapping (default 3).
    pub flap_limit: Option<u32>,
    /// Default 60s.
    #[serde(default, with = "serde_opt")]
    pub flap_window: Option<Duration>,
    /// HTTP path (http/https).
    pub path: Option<String>,
    /// HTTP Host header (http/https); default the target address.
    pub host: Option<String>,
    /// Accepted statuses, `"200-399"` or `"200"`.
    pub status: Option<String>,
    /// Substring the response body must contain.
    pub body: Option<String>,
    /// PEM file of CAs to trust instead of the system roots (https/tls).
    pub ca_file: Option<String>,
    /// Server name to send and verify (https/tls); default host, then the address.
    pub sni: Option<String>,
    /// Accept any certificate. Explicit opt-out of verification.
    #[serde(default)]
    pub tls_skip_verify: bool,
    /// `"primary"` (postgres/redis): a standby is never a traffic target.
    pub role: Option<String>,
    /// Login user (postgres).
    pub user: Option<String>,
    /// Database to log in to (postgres); default the user name.
    pub dbname: Option<String>,
    /// ACL user name (redis).
    pub username: Option<String>,
    /// File whose first line is the password (postgres, redis).
    pub password_file: Option<String>,
    /// `"disable"` (default), `"require"` or `"verify-full"` (postgres).
    pub tls: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    pub listen: String,
    pub target_port: u16,
    #[serde(default, with = "serde_opt")]
    pub connect_timeout: Option<Duration>,
    #[serde(default, with = "serde_opt")]
    pub idle_timeout: Option<Duration>,
    pub max_connections: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub name: String,
    /// One IP, a list of IPs, or a hostname.
    pub address: RawAddress,
    pub priority: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHook {
    /// Name in events and logs; default `hook-N` (1-based position in the group).
    pub name: Option<String>,
    /// Triggers that run this hook: `failover`, `failback`, `switch`, `release`, `commit`,
    /// `all_down`, `recovered`, `disconnect`, `target_state`. Required, non-empty.
    pub on: Option<Vec<String>>,
    /// Program and arguments, run without a shell. Exactly one of `command` and `webhook`.
    pub command: Option<Vec<String>>,
    /// `http://` or `https://` URL that receives the event as a JSON POST.
    pub webhook: Option<String>,
    /// How long the hook may run before it is killed (or the request abandoned); default 10s.
    #[serde(default, with = "serde_opt")]
    pub timeout: Option<Duration>,
    /// `"before"`: a gate, run before traffic moves; `"after"` (default): beside it.
    pub stage: Option<String>,
    /// Runs again after a failure, up to this many times; default 0.
    pub retries: Option<u32>,
    /// A gate that then waits until the switch's target reports this role (`"primary"`).
    pub await_role: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawAddress {
    One(String),
    Many(Vec<String>),
}
