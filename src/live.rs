//! What runs for the current config: proxy listeners and health checkers, and the config
//! reload that swaps them (SIGHUP or `POST /v1/reload`).
//!
//! A reload validates the whole new file first (the same checks as `failoverd check`); a
//! bad file changes nothing. Then new listener sockets are bound (a failure changes
//! nothing either), the supervisor takes the new groups, checkers restart for the new
//! config generation, kept listeners get a new context (their socket and connections stay),
//! and removed listeners stop accepting while their sessions finish.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use metrics::counter;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::admin::Tokens;
use crate::config::Config;
use crate::group::snapshot::SnapshotReader;
use crate::group::supervisor::{Command, SupervisorHandle};
use crate::health::checker;
use crate::metrics as m;
use crate::proxy::{self, ListenerCtx};
use crate::store::events::EventLog;

struct Slot {
    ctx: Arc<ArcSwap<ListenerCtx>>,
    stop: CancellationToken,
}

struct State {
    config: Config,
    listeners: HashMap<String, Slot>,
    checkers: CancellationToken,
}

pub struct Live {
    config_path: Option<PathBuf>,
    supervisor: SupervisorHandle,
    snapshot: SnapshotReader,
    events: Arc<EventLog>,
    /// The admin API's tokens: a reload re-reads the secrets (rotation without restart).
    tokens: Tokens,
    background: TaskTracker,
    control: tokio::runtime::Handle,
    /// The proxy workers: every listener has an accept loop on each.
    workers: Vec<tokio::runtime::Handle>,
    sessions: TaskTracker,
    stop_accepting: CancellationToken,
    session_kill: CancellationToken,
    /// Held for the whole of a reload, so two reloads never interleave.
    reload_lock: tokio::sync::Mutex<()>,
    state: Mutex<State>,
}

/// The handles `Live` shares with the rest of the process.
pub struct Shared {
    pub supervisor: SupervisorHandle,
    pub snapshot: SnapshotReader,
    pub events: Arc<EventLog>,
    pub tokens: Tokens,
}

/// Tasks and tokens `Live` runs things under.
pub struct Tasks {
    pub background: TaskTracker,
    /// The control runtime the health checkers run on (see `server::control_thread`).
    pub control: tokio::runtime::Handle,
    /// The proxy worker threads' runtimes (see `server::Threads`).
    pub workers: Vec<tokio::runtime::Handle>,
    pub sessions: TaskTracker,
    pub stop_accepting: CancellationToken,
    pub session_kill: CancellationToken,
}

impl Live {
    /// Starts checkers and listeners (sockets already bound: `(group, listener, socket)`).
    pub fn start(
        config: Config,
        config_path: Option<PathBuf>,
        sockets: Vec<(usize, usize, std::net::TcpListener)>,
        shared: Shared,
        tasks: Tasks,
    ) -> anyhow::Result<Arc<Live>> {
        let Shared {
            supervisor,
            snapshot,
            events,
            tokens,
        } = shared;
        // Both series exist from the start, so a scrape can alert on the first error.
        for result in ["ok", "error"] {
            counter!(m::CONFIG_RELOADS_TOTAL, "result" => result).absolute(0);
        }
        let checkers = tasks.stop_accepting.child_token();
        checker::spawn_all(
            &config,
            0,
            &supervisor,
            &tasks.background,
            &tasks.control,
            &checkers,
        )?;
        let live = Arc::new(Live {
            config_path,
            supervisor,
            snapshot,
            events,
            tokens,
            background: tasks.background,
            control: tasks.control,
            workers: tasks.workers,
            sessions: tasks.sessions,
            stop_accepting: tasks.stop_accepting,
            session_kill: tasks.session_kill,
            reload_lock: tokio::sync::Mutex::new(()),
            state: Mutex::new(State {
                config: config.clone(),
                listeners: HashMap::new(),
                checkers,
            }),
        });
        let mut slots = HashMap::new();
        for (gi, li, sock) in sockets {
            let g = &config.groups[gi];
            let l = g.listeners[li].clone();
            let ctx = ListenerCtx::new(
                gi,
                g,
                l.clone(),
                live.snapshot.clone(),
                live.supervisor.clone(),
                None,
            );
            slots.insert(
                slot_key(&g.name, li, l.listen),
                live.spawn_listener(sock, ctx),
            );
        }
        live.lock().listeners = slots;
        Ok(live)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An accept loop on every worker, each on its own copy of the socket (one accept
    /// queue for all). Should copies run out (EMFILE), fewer workers accept; never none.
    ///
    /// Sharing one queue, whichever worker is free takes the next connection: a busy
    /// worker is not polling and leaves it to the others. This balances better than one
    /// SO_REUSEPORT socket per worker, where the kernel hashes each connection to a worker
    /// whether or not it is busy. Under `benches/compare.sh connrate` on 2 cores: the
    /// multi-threaded tokio runtime did 0.90x HAProxy's connections per second, per-worker
    /// SO_REUSEPORT sockets 0.95x, shared copies 1.00x, with 10% less CPU per connection
    /// than the multi-threaded runtime.
    fn spawn_listener(&self, sock: std::net::TcpListener, ctx: ListenerCtx) -> Slot {
        let ctx = Arc::new(ArcSwap::from_pointee(ctx));
        let stop = self.stop_accepting.child_token();
        let mut copies = Vec::with_capacity(self.workers.len());
        for _ in 1..self.workers.len() {
            match sock.try_clone() {
                Ok(copy) => copies.push(copy),
                Err(e) => {
                    let accepting = copies.len() + 1;
                    warn!(listener = ?sock.local_addr().ok(), error = %e, accepting, "cannot copy the listening socket for every proxy worker");
                    break;
                }
            }
        }
        copies.push(sock);
        for (copy, worker) in copies.into_iter().zip(&self.workers) {
            let (ctx, sessions) = (ctx.clone(), self.sessions.clone());
            let (stop, kill) = (stop.clone(), self.session_kill.clone());
            let accept = async move {
                // Registered with the worker's own event loop, hence inside its runtime.
                match TcpListener::from_std(copy) {
                    Ok(l) => proxy::serve(l, ctx, sessions, stop, kill).await,
                    Err(e) => warn!(error = %e, "a proxy worker cannot watch a listening socket"),
                }
            };
            self.background.spawn_on(accept, worker);
        }
        Slot { ctx, stop }
    }

    /// The config in effect.
    pub fn config(&self) -> Config {
        self.lock().config.clone()
    }

    /// Reloads the config file. On error nothing changed; the message is the one
    /// `failoverd check` gives.
    pub async fn reload(&self, actor: &str) -> Result<u64, String> {
        let _guard = self.reload_lock.lock().await;
        let result = self.try_reload(actor).await;
        let label = if result.is_ok() { "ok" } else { "error" };
        counter!(m::CONFIG_RELOADS_TOTAL, "result" => label).increment(1);
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

    async fn try_reload(&self, actor: &str) -> Result<u64, String> {
        let path = self
            .config_path
            .clone()
            .ok_or("this process was not started from a config file")?;
        let new = Config::load(&path).map_err(|e| format!("invalid config: {e}"))?;
        crate::server::preflight(&new)
            .map_err(|e| format!("invalid config: {}: {e:#}", path.display()))?;
        let current = self.config();
        immutable(&current, &new)?;
        // Bind what is new before changing anything: a port in use must leave all as it was.
        let mut fresh = HashMap::new();
        for g in &new.groups {
            for (li, l) in g.listeners.iter().enumerate() {
                let key = slot_key(&g.name, li, l.listen);
                if !self.lock().listeners.contains_key(&key) {
                    let sock = crate::server::listen_proxy(l.listen).map_err(|e| {
                        format!("group {:?}: cannot listen on {}: {e}", g.name, l.listen)
                    })?;
                    fresh.insert(key, sock);
                }
            }
        }
        let generation = self
            .supervisor
            .command(Command::Reload(Box::new(new.clone())), actor)
            .await
            .map_err(|e| e.to_string())?;
        let needed = crate::fd_limit::needed_for(&new);
        let generation = self.swap_in(new, generation, fresh)?;
        // Outside the state lock: a log line, maybe a warning.
        crate::fd_limit::report_current(needed);
        Ok(generation)
    }

    /// Restarts checkers and reconciles listeners for the new generation.
    fn swap_in(
        &self,
        new: Config,
        generation: u64,
        mut fresh: HashMap<String, std::net::TcpListener>,
    ) -> Result<u64, String> {
        let checkers = self.stop_accepting.child_token();
        checker::spawn_all(
            &new,
            generation,
            &self.supervisor,
            &self.background,
            &self.control,
            &checkers,
        )
        .map_err(|e| format!("health checks: {e}"))?;
        let mut state = self.lock();
        state.checkers.cancel();
        state.checkers = checkers;
        let mut listeners = HashMap::new();
        for (gi, g) in new.groups.iter().enumerate() {
            for (li, l) in g.listeners.iter().enumerate() {
                let key = slot_key(&g.name, li, l.listen);
                let make = |prev: Option<&ListenerCtx>| {
                    ListenerCtx::new(
                        gi,
                        g,
                        l.clone(),
                        self.snapshot.clone(),
                        self.supervisor.clone(),
                        prev,
                    )
                };
                if let Some(slot) = state.listeners.remove(&key) {
                    let ctx = make(Some(&slot.ctx.load()));
                    slot.ctx.store(Arc::new(ctx));
                    listeners.insert(key, slot);
                } else if let Some(sock) = fresh.remove(&key) {
                    if let Ok(addr) = sock.local_addr() {
                        info!(kind = "proxy", group = %g.name, %addr, target_port = l.target_port, "listening");
                    }
                    listeners.insert(key, self.spawn_listener(sock, make(None)));
                }
            }
        }
        for (key, slot) in state.listeners.drain() {
            info!(listener = %key, "listener removed by reload; its open connections finish");
            slot.stop.cancel();
        }
        state.listeners = listeners;
        self.tokens.replace(new.admin.tokens.clone());
        state.config = new;
        Ok(generation)
    }
}

/// A listener's identity across reloads: its address, or, for an ephemeral port (`:0`,
/// tests), its group and position.
fn slot_key(group: &str, index: usize, addr: SocketAddr) -> String {
    if addr.port() == 0 {
        format!("{group}#{index}@{addr}")
    } else {
        addr.to_string()
    }
}

/// What a reload cannot change without a restart.
fn immutable(current: &Config, new: &Config) -> Result<(), String> {
    if current.admin.listen != new.admin.listen {
        return Err("admin.listen cannot change on reload; restart failoverd".into());
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
    Ok(())
}
