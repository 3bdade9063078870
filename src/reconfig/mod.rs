//! Reconfiguration: one task owns what runs for the current config (proxy listeners,
//! health checkers, the supervisor's config, the admin tokens) and applies each reload
//! whole or not at all.
//!
//! A reload (SIGHUP or `POST /v1/reload`, through a `ReloadHandle`) validates the whole new
//! file first (the same checks as `failoverd check`), then builds everything that can
//! fail — every new health probe (CA files, TLS configs) and every new listener socket.
//! Only then does it change anything: the supervisor takes the new groups, checkers start
//! and stop, listeners are reconciled. None of that can fail halfway, and since the task
//! runs each reload to its end, a caller that goes away (a client timeout) changes nothing.
//! A target whose check is unchanged keeps its checker, its counters and its schedule.

mod listeners;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use metrics::{counter, gauge};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use listeners::{Listeners, ProxyRuntime};

use crate::config::Config;
use crate::group::supervisor::{Command, ReloadPlan, SupervisorHandle};
use crate::health::checker::Checkers;
use crate::metrics as m;
use crate::store::events::EventLog;
use crate::tokens::Tokens;

/// Reloads queue here; one runs at a time.
const QUEUE: usize = 16;

/// How the admin API asks for a reload; cheap to clone.
#[derive(Clone)]
pub struct ReloadHandle {
    tx: mpsc::Sender<Request>,
}

/// One reload asked for, and where its answer goes.
pub struct Request {
    actor: String,
    reply: oneshot::Sender<Result<u64, String>>,
}

impl ReloadHandle {
    /// Reloads the config file; the new generation, or why nothing changed. Dropping this
    /// future does not cut the reload short: the task finishes it all the same.
    pub async fn reload(&self, actor: &str) -> Result<u64, String> {
        let (reply, rx) = oneshot::channel();
        let request = Request {
            actor: actor.into(),
            reply,
        };
        self.tx
            .send(request)
            .await
            .map_err(|_| "shutting down".to_string())?;
        rx.await.map_err(|_| "shutting down".to_string())?
    }
}

/// The task's state: what runs now. Built by `server::run`, then moved into `run`.
pub struct Reconfig {
    pub config: Config,
    pub config_path: Option<PathBuf>,
    pub supervisor: SupervisorHandle,
    pub events: Arc<EventLog>,
    /// The admin API's tokens: a reload re-reads the secrets (rotation without restart).
    pub tokens: Tokens,
    pub checkers: Checkers,
    pub listeners: Listeners,
    /// Where checkers run: the control thread (see `server::Threads`).
    pub control: tokio::runtime::Handle,
    pub background: TaskTracker,
}

/// The handle callers keep, and the receiver `Reconfig::run` serves.
pub fn channel() -> (ReloadHandle, mpsc::Receiver<Request>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (ReloadHandle { tx }, rx)
}

impl Reconfig {
    /// Serves reload requests and SIGHUP until `stop`.
    pub async fn run(mut self, mut requests: mpsc::Receiver<Request>, stop: CancellationToken) {
        // Both series exist from the start, so a scrape can alert on the first error.
        for result in ["ok", "error"] {
            counter!(m::CONFIG_RELOADS_TOTAL, "result" => result).absolute(0);
        }
        // The config in effect was loaded at start: that is its last successful load.
        config_loaded(true);
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                warn!(error = %e, "cannot install the SIGHUP handler; reload through the API only");
                None
            }
        };
        loop {
            let sighup = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                Some(()) = sighup => {
                    info!(signal = "SIGHUP", "reloading the config");
                    let _ = self.reload("SIGHUP").await;
                }
                request = requests.recv() => {
                    let Some(Request { actor, reply }) = request else { return };
                    let result = self.reload(&actor).await;
                    // The caller may be gone; the reload is done either way.
                    let _ = reply.send(result);
                }
            }
        }
    }

    async fn reload(&mut self, actor: &str) -> Result<u64, String> {
        let result = self.try_reload(actor).await;
        // Parsing and (with the supervisor, on this same thread) rebuilding are done.
        crate::memory::release_free();
        let label = if result.is_ok() { "ok" } else { "error" };
        counter!(m::CONFIG_RELOADS_TOTAL, "result" => label).increment(1);
        config_loaded(result.is_ok());
        if let Err(e) = &result {
            warn!(actor, error = %e, "config reload rejected; the running config stays");
            self.events.record(
                "reload",
                None,
                None,
                json!({ "result": "error", "actor": actor, "error": e }),
            );
        }
        result
    }

    async fn try_reload(&mut self, actor: &str) -> Result<u64, String> {
        let path = self
            .config_path
            .clone()
            .ok_or("this process was not started from a config file")?;
        let new = Config::load(&path).map_err(|e| format!("invalid config: {e}"))?;
        preflight(&new).map_err(|e| format!("invalid config: {}: {e:#}", path.display()))?;
        immutable(&self.config, &new)?;
        // Everything that can fail, before anything changes.
        let plan = self
            .checkers
            .plan(&new)
            .map_err(|e| format!("invalid config: {}: health checks: {e}", path.display()))?;
        let fresh = self.listeners.bind_new(&new)?;
        let checks = plan.ids.clone();
        let reload = ReloadPlan {
            config: new.clone(),
            checks,
        };
        let generation = self
            .supervisor
            .command(Command::Reload(Box::new(reload)), actor)
            .await
            .map_err(|e| e.to_string())?;
        self.checkers.apply(
            plan,
            &self.supervisor.reports(),
            &self.background,
            &self.control,
        );
        self.listeners.apply(&new, fresh, true);
        self.tokens.replace(new.admin.tokens.clone());
        forget_removed_targets(&new);
        let needed = crate::fd_limit::needed_for(&new);
        crate::fd_budget::apply(&new);
        self.config = new;
        crate::fd_limit::report_current(needed);
        Ok(generation)
    }
}

/// Whether the last load of the config file took, and when one last did (as Prometheus
/// reports its own): an alert on the 0 sees a rejected reload until a good one replaces it.
fn config_loaded(ok: bool) {
    gauge!(m::CONFIG_LAST_RELOAD_SUCCESSFUL).set(if ok { 1.0 } else { 0.0 });
    if ok {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        gauge!(m::CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP).set(now);
    }
}

/// Drops the counters of the targets and hooks `new` no longer has, so they leave
/// `/metrics` and memory (a target or hook kept by name keeps counting).
fn forget_removed_targets(new: &Config) {
    let groups: HashMap<&str, &crate::config::GroupConfig> =
        new.groups.iter().map(|g| (g.name.as_str(), &**g)).collect();
    crate::metrics::book::retain(|group, target| {
        groups
            .get(group)
            .is_some_and(|g| g.targets.iter().any(|t| t.name == target))
    });
    crate::metrics::book::retain_hooks(|group, hook| {
        groups
            .get(group)
            .is_some_and(|g| g.hooks.iter().any(|h| h.name == hook))
    });
}

/// What a reload cannot change without a restart.
fn immutable(current: &Config, new: &Config) -> Result<(), String> {
    if current.admin.listen != new.admin.listen {
        return Err("admin.listen cannot change on reload; restart failoverd".into());
    }
    let admission = |c: &Config| {
        (
            c.admin.max_connections,
            c.admin.header_timeout,
            c.admin.idle_timeout,
        )
    };
    if admission(current) != admission(new) {
        return Err(
            "admin.max_connections / header_timeout / idle_timeout cannot change on reload; restart failoverd"
                .into(),
        );
    }
    if current.admin.tls != new.admin.tls {
        return Err("admin.tls_cert / tls_key cannot change on reload; restart failoverd".into());
    }
    if current.state.path != new.state.path {
        return Err("state.path cannot change on reload; restart failoverd".into());
    }
    if current.proxy.workers != new.proxy.workers {
        return Err("proxy.workers cannot change on reload; restart failoverd".into());
    }
    let dns_listen = |c: &Config| c.dns.as_ref().map(|d| d.listen.clone());
    if dns_listen(current) != dns_listen(new) {
        return Err("dns.listen cannot change on reload; restart failoverd".into());
    }
    let dns_tcp = |c: &Config| c.dns.as_ref().map(|d| d.tcp);
    if dns_tcp(current) != dns_tcp(new) {
        return Err(
            "dns.tcp_max_connections / tcp_max_per_client / tcp_idle_timeout cannot change on reload; restart failoverd"
                .into(),
        );
    }
    Ok(())
}

/// Checks what the config parser cannot: that every group's probe can be built (CA files
/// parse) and its DNS answers too. `failoverd check`, the start and every reload run it.
pub fn preflight(config: &Config) -> anyhow::Result<()> {
    use anyhow::Context;
    for g in &config.groups {
        crate::health::probe::Prober::new(&g.health)
            .with_context(|| format!("group {:?}: health", g.name))?;
    }
    crate::dns::AnswerBuilder::new(config)?;
    Ok(())
}
