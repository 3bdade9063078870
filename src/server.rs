//! Wiring: binds every socket named by the config, then runs supervisor, checkers, proxy
//! listeners and the admin server until shutdown, draining sessions under a grace period.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::admin::{self, AdminCtx, Tokens};
use crate::config::Config;
use crate::critical::Subsystems;
use crate::dns;
use crate::group::notices::NoticeQueue;
use crate::group::supervisor::{Services, Supervisor};
use crate::health::checker::Checkers;
use crate::health::probe::Prober;
use crate::hooks;
use crate::reconfig::{self, Listeners, ProxyRuntime, Reconfig};
use crate::runtime_thread::RuntimeThreads;
use crate::store::events::EventLog;
use crate::store::{with_suffix, StateFile};

const BACKLOG: i32 = 1024;

/// Every socket of a config, bound before anything runs.
pub struct Bound {
    pub admin: TcpListener,
    /// (group index, listener index, socket); registered later by each proxy worker.
    pub proxies: Vec<(usize, usize, std::net::TcpListener)>,
    /// UDP sockets and TCP listener of each `[dns] listen` address.
    pub dns: Vec<dns::Listen>,
}

/// Checks what the config parser cannot: that every group's probe can be built (CA files
/// parse). `failoverd check` runs this too.
pub fn preflight(config: &Config) -> anyhow::Result<()> {
    for g in &config.groups {
        Prober::new(&g.health).with_context(|| format!("group {:?}: health", g.name))?;
    }
    dns::AnswerBuilder::new(config)?;
    Ok(())
}

/// Checks that the state file can be written where the config puts it: `check` and `run`
/// (not reload: `state.path` cannot change on reload).
pub fn check_state_dir(config: &Config) -> anyhow::Result<()> {
    crate::store::check_dir(&config.state.path).context("state.path")
}

/// Binds the admin, proxy and DNS sockets, logging each bound address.
pub fn bind(config: &Config) -> anyhow::Result<Bound> {
    let admin = listen_tcp(config.admin.listen)
        .with_context(|| format!("admin: cannot listen on {}", config.admin.listen))?;
    info!(kind = "admin", addr = %admin.local_addr()?, "listening");
    let mut proxies = Vec::new();
    for (gi, g) in config.groups.iter().enumerate() {
        for (li, l) in g.listeners.iter().enumerate() {
            let sock = listen_proxy(l.listen)
                .with_context(|| format!("group {:?}: cannot listen on {}", g.name, l.listen))?;
            info!(kind = "proxy", group = %g.name, addr = %sock.local_addr()?, target_port = l.target_port, "listening");
            proxies.push((gi, li, sock));
        }
    }
    let mut dns_sockets = Vec::new();
    for &addr in config.dns.iter().flat_map(|d| &d.listen) {
        let l = dns::bind(addr, dns::udp_sockets_per_address())
            .with_context(|| format!("dns: cannot listen on {addr}"))?;
        info!(kind = "dns-udp", addr = %l.addr, sockets = l.udp.len(), "listening");
        info!(kind = "dns-tcp", addr = %l.addr, "listening");
        dns_sockets.push(l);
    }
    Ok(Bound {
        admin,
        proxies,
        dns: dns_sockets,
    })
}

/// A proxy listener: TCP_NODELAY and keepalive set once here, inherited by every client.
/// Not yet registered with any runtime: every proxy worker registers a copy of its own.
pub fn listen_proxy(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = listen_std(addr)?;
    crate::proxy::tune_listener(&listener);
    Ok(listener)
}

/// A TCP listening socket with SO_REUSEADDR (restarts do not wait out TIME_WAIT).
pub fn listen_tcp(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::from_std(listen_std(addr)?)
}

/// The same, non-blocking, before any runtime knows of it.
fn listen_std(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let sock = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(BACKLOG)?;
    Ok(sock.into())
}

/// How `run` was started.
#[derive(Debug, Default, Clone)]
pub struct RunOptions {
    /// The file to re-read on reload (none for the demo).
    pub config_path: Option<PathBuf>,
    /// Move a corrupt state file aside instead of refusing to start.
    pub fresh_state: bool,
}

/// Keeps this many events in memory and in the history file.
const EVENTS_KEPT: usize = 1000;

/// Runs everything until `shutdown` fires, then drains sessions for up to
/// `proxy.drain_timeout` (or until `kill` fires) and returns. A critical subsystem that
/// dies stops it the same way, and then it returns the failure (a non-zero exit).
pub async fn run(
    config: Config,
    bound: Bound,
    options: RunOptions,
    shutdown: CancellationToken,
    kill: CancellationToken,
) -> anyhow::Result<()> {
    let metrics = crate::metrics::install().map_err(anyhow::Error::msg)?;
    crate::local_error::register();
    crate::fd_limit::raise_and_report(&config);
    let (store, saved, events) = open_store(&config, options.fresh_state)?;
    if config.admin.tokens.is_empty() {
        info!(addr = %config.admin.listen, "no [[admin.token]] configured: the admin API is open to local users only");
    }

    let root = CancellationToken::new();
    let subsystems = Subsystems::new(root.clone());
    let notices = Arc::new(NoticeQueue::new());
    let services = Services {
        store: Some(store),
        events: events.clone(),
        notices: Some(notices.clone()),
    };
    let stop_accepting = root.child_token();
    let mut checkers = Checkers::new(stop_accepting.child_token(), subsystems.clone());
    let plan = checkers.plan(&config)?;
    let (supervisor, handle, snapshot) =
        Supervisor::new(&config, saved.as_ref(), &plan.ids, services);
    let background = TaskTracker::new();
    let threads = Threads::start(&config)?;
    let control = threads.control();
    let main_rt = tokio::runtime::Handle::current();
    subsystems.spawn(
        "supervisor",
        supervisor.run(root.child_token()),
        &control,
        &background,
    );
    background.spawn_on(
        crate::metrics::upkeep(metrics.clone(), root.child_token()),
        &control,
    );
    let hooks = hooks::dispatch::run(
        notices,
        snapshot.clone(),
        events.clone(),
        background.clone(),
        root.child_token(),
    );
    subsystems.spawn("hooks", hooks, &main_rt, &background);
    if !bound.dns.is_empty() {
        let dns = dns::serve(bound.dns, snapshot.clone(), root.child_token());
        subsystems.spawn("dns", dns, &main_rt, &background);
    }
    checkers.apply(plan, &handle, &background, &control);

    let proxy_rt = ProxyRuntime {
        background: background.clone(),
        workers: threads.workers(),
        sessions: TaskTracker::new(),
        stop_accepting: stop_accepting.clone(),
        session_kill: kill.child_token(),
    };
    let (sessions, session_kill) = (proxy_rt.sessions.clone(), proxy_rt.session_kill.clone());
    let mut listeners = Listeners::new(proxy_rt, snapshot.clone(), handle.clone());
    listeners.start(&config, bound.proxies);
    let tokens = Tokens::new(config.admin.tokens.clone());
    let (reload, requests) = reconfig::channel();
    let reconfig = Reconfig {
        config: config.clone(),
        config_path: options.config_path.clone(),
        supervisor: handle.clone(),
        events: events.clone(),
        tokens: tokens.clone(),
        checkers,
        listeners,
        control,
        background: background.clone(),
    };
    subsystems.spawn(
        "reload",
        reconfig.run(requests, root.child_token()),
        &main_rt,
        &background,
    );

    let ready = Arc::new(AtomicBool::new(true));
    let admin_ctx = AdminCtx {
        snapshot,
        metrics,
        ready: ready.clone(),
        supervisor: handle,
        reload,
        events: events.clone(),
        tokens,
        subsystems: subsystems.clone(),
    };
    spawn_admin(
        bound.admin,
        &config,
        admin_ctx,
        &root,
        &subsystems,
        &background,
    );

    // A subsystem that dies cancels the root, which stops the process like a signal does.
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = root.cancelled() => warn!("a subsystem stopped; shutting down"),
    }
    subsystems.stopping();
    ready.store(false, Ordering::Relaxed);
    stop_accepting.cancel();
    drain(&sessions, config.proxy.drain_timeout, &session_kill, &kill).await;
    root.cancel();
    background.close();
    background.wait().await;
    finish(threads, events).await;
    match subsystems.failure() {
        Some(failure) => Err(anyhow::anyhow!(failure)),
        None => Ok(()),
    }
}

/// The last of a stop, once every task has ended: threads joined, the stop recorded and
/// the history's writer done (so the stop is on disk when the process exits).
async fn finish(threads: Threads, events: Arc<EventLog>) {
    let _ = tokio::task::spawn_blocking(move || threads.stop()).await;
    events.record("stop", None, None, json!({}));
    let _ = tokio::task::spawn_blocking(move || events.close()).await;
    info!("stopped");
}

/// The threads besides the main runtime's, each with its own event loop: the control
/// thread first, then the proxy workers (`[proxy] workers`).
///
/// The supervisor and the health checks run on the control thread: thousands of checks a
/// second then wake one thread that owns their timers, sockets and the supervisor's queue,
/// not the proxy workers. With metric handles registered once per target, this took
/// 2,000 checks a second from 11% to 6.5% of a core (`benches/compare.sh health-scale`).
struct Threads(RuntimeThreads);

impl Threads {
    fn start(config: &Config) -> std::io::Result<Threads> {
        let workers = (0..config.proxy.workers.max(1)).map(|i| format!("failoverd-proxy-{i}"));
        let names = std::iter::once("failoverd-control".to_string()).chain(workers);
        RuntimeThreads::start(names).map(Threads)
    }

    fn control(&self) -> tokio::runtime::Handle {
        self.0.handles()[0].clone()
    }

    fn workers(&self) -> Vec<tokio::runtime::Handle> {
        self.0.handles()[1..].to_vec()
    }

    /// Stops every thread and waits for it (blocking: call off the runtime).
    fn stop(self) {
        self.0.stop();
    }
}

/// The admin API, a critical subsystem: its end (an error) stops the process.
fn spawn_admin(
    listener: TcpListener,
    config: &Config,
    ctx: AdminCtx,
    root: &CancellationToken,
    subsystems: &Subsystems,
    tracker: &TaskTracker,
) {
    let (stop, tls) = (root.child_token(), config.admin.tls.clone());
    let task = async move {
        if let Err(e) = admin::serve(listener, tls.as_ref(), ctx, stop).await {
            warn!(error = %format!("{e:#}"), "admin server ended with an error");
        }
    };
    subsystems.spawn("admin", task, &tokio::runtime::Handle::current(), tracker);
}

/// The state file (its saved decisions) and the event history beside it.
fn open_store(
    config: &Config,
    fresh_state: bool,
) -> anyhow::Result<(StateFile, Option<crate::store::State>, Arc<EventLog>)> {
    let store = StateFile::new(&config.state.path);
    let saved = load_state(&store, fresh_state)?;
    let history = with_suffix(&config.state.path, ".events");
    let events = Arc::new(EventLog::open(Some(&history), EVENTS_KEPT));
    let details = json!({ "version": env!("CARGO_PKG_VERSION"), "resumed": saved.is_some() });
    events.record("start", None, None, details);
    Ok((store, saved, events))
}

/// Lets open sessions finish for up to `grace` (or until `kill`), then closes the rest.
async fn drain(
    sessions: &TaskTracker,
    grace: std::time::Duration,
    session_kill: &CancellationToken,
    kill: &CancellationToken,
) {
    info!(
        sessions = sessions.len(),
        grace_secs = grace.as_secs_f64(),
        "shutting down: draining connections"
    );
    sessions.close();
    tokio::select! {
        _ = sessions.wait() => {}
        _ = tokio::time::sleep(grace) => {
            warn!(remaining = sessions.len(), "grace period over; closing remaining connections");
        }
        _ = kill.cancelled() => {}
    }
    session_kill.cancel();
    sessions.wait().await;
}

/// The saved decisions; a corrupt file stops the start unless `fresh` says to move it aside.
fn load_state(store: &StateFile, fresh: bool) -> anyhow::Result<Option<crate::store::State>> {
    match store.load() {
        Ok(s) => {
            if s.is_some() {
                info!(path = %store.path().display(), "resuming the decisions of the state file");
            }
            Ok(s)
        }
        Err(e) if fresh => {
            let aside = store.move_aside()?;
            warn!(error = %e, moved_to = ?aside, "--fresh-state: starting without the saved decisions");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}
