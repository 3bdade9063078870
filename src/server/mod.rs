//! Wiring: binds every socket named by the config (`bind.rs`), then runs supervisor,
//! checkers, proxy listeners and the admin server (`start.rs`) until shutdown, draining
//! sessions under a grace period.

mod bind;
mod start;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use crate::sockets::{listen_proxy, listen_tcp};
pub use bind::{bind, Bound};
use start::{open_store, spawn_admin, start_core, start_reconfig, Scope, Threads};

use crate::admin::AdminCtx;
use crate::config::Config;
use crate::critical::Subsystems;
use crate::reconfig::ProxyRuntime;
use crate::store::events::EventLog;

pub use crate::reconfig::preflight;

/// Checks that the state file can be written where the config puts it: `check` and `run`
/// (not reload: `state.path` cannot change on reload).
pub fn check_state_dir(config: &Config) -> anyhow::Result<()> {
    crate::store::check_dir(&config.state.path).context("state.path")
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
    crate::fd_budget::register();
    crate::fd_limit::raise_and_report(&config);
    let (store, saved, events) = open_store(&config, options.fresh_state)?;
    if config.admin.tokens.is_empty() {
        info!(addr = %config.admin.listen, "no [[admin.token]] configured: the admin API is open to local users only");
    }

    let root = CancellationToken::new();
    let run = Scope {
        subsystems: Subsystems::new(root.clone()),
        background: TaskTracker::new(),
        root: root.clone(),
    };
    let subsystems = run.subsystems.clone();
    let background = run.background.clone();
    let stop_accepting = root.child_token();
    let threads = Threads::start(&config)?;
    let wiring = config.cluster.as_ref().map(|_| crate::cluster::wiring());
    let core = start_core(
        &run,
        &config,
        (saved.as_ref(), store),
        &events,
        &threads,
        bound.dns,
        &metrics,
        &stop_accepting,
        wiring.as_ref().map(|w| w.link.clone()),
    )?;
    let cluster = config.cluster.clone().zip(wiring).map(|(c, wiring)| {
        let (stop, sup) = (root.child_token(), core.supervisor.clone());
        // On the main runtime, not the control thread: renewals must not queue behind
        // thousands of checks.
        let rt = tokio::runtime::Handle::current();
        crate::cluster::start(c, wiring, sup, stop, &background, &rt)
    });
    let (handle, snapshot) = (core.supervisor.clone(), core.snapshot.clone());

    let proxy_rt = ProxyRuntime {
        background: background.clone(),
        workers: threads.workers(),
        sessions: TaskTracker::new(),
        stop_accepting: stop_accepting.clone(),
        session_kill: kill.child_token(),
    };
    let (sessions, session_kill) = (proxy_rt.sessions.clone(), proxy_rt.session_kill.clone());
    let (reload, tokens) = start_reconfig(
        &run,
        &config,
        options.config_path.clone(),
        core,
        &events,
        &threads,
        bound.proxies,
        proxy_rt,
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
        cluster,
        drills: Default::default(),
    };
    spawn_admin(bound.admin, &config, admin_ctx, &run);
    // Everything is bound and running: what is open now stays outside the budget.
    crate::fd_budget::apply(&config);
    // Building every group and DNS answer (on this thread) is done.
    crate::memory::release_free();

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
