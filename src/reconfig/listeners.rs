//! The proxy listeners that run for the current config, and how a reload reconciles them:
//! a kept listener keeps its socket and connections and gets a new context, a new one is
//! bound before anything changes (by `Listeners::bind_new`), a removed one stops accepting
//! while its sessions finish.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::Config;
use crate::group::snapshot::SnapshotReader;
use crate::group::supervisor::SupervisorHandle;
use crate::proxy::{self, ListenerCtx};

/// Where listeners and their sessions run.
pub struct ProxyRuntime {
    pub background: TaskTracker,
    /// The proxy workers: every listener has an accept loop on each.
    pub workers: Vec<tokio::runtime::Handle>,
    pub sessions: TaskTracker,
    pub stop_accepting: CancellationToken,
    pub session_kill: CancellationToken,
}

struct Slot {
    ctx: Arc<ArcSwap<ListenerCtx>>,
    stop: CancellationToken,
    /// Where it listens, as bound.
    addr: Option<SocketAddr>,
}

pub struct Listeners {
    slots: HashMap<String, Slot>,
    rt: ProxyRuntime,
    snapshot: SnapshotReader,
    supervisor: SupervisorHandle,
}

/// Sockets bound for a reload, before it is applied.
pub struct Fresh(HashMap<String, std::net::TcpListener>);

impl Listeners {
    pub fn new(rt: ProxyRuntime, snapshot: SnapshotReader, supervisor: SupervisorHandle) -> Self {
        Listeners {
            slots: HashMap::new(),
            rt,
            snapshot,
            supervisor,
        }
    }

    /// Binds what `config` adds; a port in use fails here, before anything changed.
    pub fn bind_new(&self, config: &Config) -> Result<Fresh, String> {
        let mut fresh = HashMap::new();
        for g in &config.groups {
            for (li, l) in g.listeners.iter().enumerate() {
                let key = slot_key(&g.name, li, l.listen);
                if !self.slots.contains_key(&key) {
                    let sock = crate::sockets::listen_proxy(l.listen).map_err(|e| {
                        format!("group {:?}: cannot listen on {}: {e}", g.name, l.listen)
                    })?;
                    fresh.insert(key, sock);
                }
            }
        }
        Ok(Fresh(fresh))
    }

    /// Starts the listeners bound at start (`(group, listener, socket)`).
    pub fn start(&mut self, config: &Config, sockets: Vec<(usize, usize, std::net::TcpListener)>) {
        let mut fresh = HashMap::new();
        for (gi, li, sock) in sockets {
            let g = &config.groups[gi];
            fresh.insert(slot_key(&g.name, li, g.listeners[li].listen), sock);
        }
        self.apply(config, Fresh(fresh), false);
    }

    /// Reconciles the running listeners with `config`: cannot fail.
    pub fn apply(&mut self, config: &Config, fresh: Fresh, log_new: bool) {
        let mut fresh = fresh.0;
        let mut slots = HashMap::new();
        let mut bound: HashMap<String, Vec<SocketAddr>> = HashMap::new();
        for (gi, g) in config.groups.iter().enumerate() {
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
                if let Some(slot) = self.slots.remove(&key) {
                    let ctx = make(Some(&slot.ctx.load()));
                    slot.ctx.store(Arc::new(ctx));
                    slots.insert(key.clone(), slot);
                } else if let Some(sock) = fresh.remove(&key) {
                    if let (true, Ok(addr)) = (log_new, sock.local_addr()) {
                        info!(kind = "proxy", group = %g.name, %addr, target_port = l.target_port, "listening");
                    }
                    slots.insert(key.clone(), self.spawn(sock, make(None)));
                }
                if let Some(addr) = slots.get(&key).and_then(|s: &Slot| s.addr) {
                    bound.entry(g.name.clone()).or_default().push(addr);
                }
            }
        }
        crate::bound_addrs::set_proxies(bound);
        for (key, slot) in self.slots.drain() {
            info!(listener = %key, "listener removed by reload; its open connections finish");
            slot.stop.cancel();
        }
        self.slots = slots;
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
    fn spawn(&self, sock: std::net::TcpListener, ctx: ListenerCtx) -> Slot {
        let addr = sock.local_addr().ok();
        let ctx = Arc::new(ArcSwap::from_pointee(ctx));
        let stop = self.rt.stop_accepting.child_token();
        let workers = &self.rt.workers;
        let mut copies = Vec::with_capacity(workers.len());
        for _ in 1..workers.len() {
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
        for (copy, worker) in copies.into_iter().zip(workers) {
            let (ctx, sessions) = (ctx.clone(), self.rt.sessions.clone());
            let (stop, kill) = (stop.clone(), self.rt.session_kill.clone());
            let accept = async move {
                // Registered with the worker's own event loop, hence inside its runtime.
                match TcpListener::from_std(copy) {
                    Ok(l) => proxy::serve(l, ctx, sessions, stop, kill).await,
                    Err(e) => warn!(error = %e, "a proxy worker cannot watch a listening socket"),
                }
            };
            self.rt.background.spawn_on(accept, worker);
        }
        Slot { ctx, stop, addr }
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
