//! Starting the subsystems of a run: the decision core (supervisor, hooks, DNS, checkers)
//! and the threads it runs on, the admin server, the state file and event history.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::admin::{self, AdminCtx};
use crate::config::Config;
use crate::critical::Subsystems;
use crate::dns;
use crate::group::notices::NoticeQueue;
use crate::group::snapshot::SnapshotReader;
use crate::group::supervisor::{Services, Supervisor, SupervisorHandle};
use crate::health::checker::Checkers;
use crate::hooks;
use crate::reconfig::{self, Listeners, ProxyRuntime, Reconfig, ReloadHandle};
use crate::runtime_thread::RuntimeThreads;
use crate::store::events::EventLog;
use crate::store::{with_suffix, StateFile};
use crate::tokens::Tokens;

/// What the subsystems of one run are started under.
pub(super) struct Scope {
    pub subsystems: Subsystems,
    pub background: TaskTracker,
    /// Cancelled when one of them fails, or at the end of the drain.
    pub root: CancellationToken,
}

impl Scope {
    pub fn spawn<F>(&self, name: &'static str, task: F, runtime: &tokio::runtime::Handle)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.subsystems.spawn(name, task, runtime, &self.background);
    }
}

/// The decision core, running: the supervisor's handle, its snapshot, and the checkers
/// that feed it (handed on to the reconfiguration task).
pub(super) struct Core {
    pub supervisor: SupervisorHandle,
    pub snapshot: SnapshotReader,
    pub checkers: Checkers,
}

/// Starts the supervisor and the metric upkeep on the control thread, the hook runner and
/// DNS on the main runtime, then the health checkers (once the supervisor knows their ids).
#[allow(clippy::too_many_arguments)]
pub(super) fn start_core(
    run: &Scope,
    config: &Config,
    (saved, store): (Option<&crate::store::State>, StateFile),
    events: &Arc<EventLog>,
    threads: &Threads,
    dns_sockets: Vec<dns::Listen>,
    metrics: &metrics_exporter_prometheus::PrometheusHandle,
    stop_accepting: &CancellationToken,
    cluster: Option<crate::group::cluster_link::ClusterLink>,
) -> anyhow::Result<Core> {
    let notices = Arc::new(NoticeQueue::new());
    let (gate_runs, gates) = tokio::sync::mpsc::unbounded_channel();
    let services = Services {
        cluster,
        store: Some(store),
        events: events.clone(),
        notices: Some(notices.clone()),
        gates: Some(gate_runs),
        derive: Some(dns::deriver),
    };
    let mut checkers = Checkers::new(stop_accepting.child_token(), run.subsystems.clone());
    let plan = checkers.plan(config)?;
    let (supervisor, handle, snapshot) = Supervisor::new(config, saved, &plan.ids, services);
    let (control, main_rt) = (threads.control(), tokio::runtime::Handle::current());
    run.spawn(
        "supervisor",
        supervisor.run(run.root.child_token()),
        &control,
    );
    let upkeep = crate::metrics::upkeep(metrics.clone(), run.root.child_token());
    run.background.spawn_on(upkeep, &control);
    let hooks = hooks::dispatch::run(
        notices,
        snapshot.clone(),
        events.clone(),
        run.background.clone(),
        run.root.child_token(),
    );
    run.spawn("hooks", hooks, &main_rt);
    let gates = hooks::gates::run(
        gates,
        snapshot.clone(),
        handle.clone(),
        events.clone(),
        run.background.clone(),
        run.root.child_token(),
    );
    run.spawn("gates", gates, &main_rt);
    if let (false, Some(dns)) = (dns_sockets.is_empty(), &config.dns) {
        let (reader, limits) = (snapshot.clone(), dns.tcp);
        let dns = dns::serve(dns_sockets, reader, limits, run.root.child_token());
        run.spawn("dns", dns, &main_rt);
    }
    checkers.apply(plan, &handle.reports(), &run.background, &control);
    Ok(Core {
        supervisor: handle,
        snapshot,
        checkers,
    })
}

/// The proxy listeners (bound at start), and the reconfiguration task that owns them and
/// the checkers from here on; the handle reloads go through, and the admin tokens a
/// reload replaces.
#[allow(clippy::too_many_arguments)]
pub(super) fn start_reconfig(
    run: &Scope,
    config: &Config,
    config_path: Option<PathBuf>,
    core: Core,
    events: &Arc<EventLog>,
    threads: &Threads,
    proxies: Vec<(usize, usize, std::net::TcpListener)>,
    proxy_rt: ProxyRuntime,
) -> (ReloadHandle, Tokens) {
    let mut listeners = Listeners::new(proxy_rt, core.snapshot.clone(), core.supervisor.clone());
    listeners.start(config, proxies);
    let tokens = Tokens::new(config.admin.tokens.clone());
    let (reload, requests) = reconfig::channel();
    let task = Reconfig {
        config: config.clone(),
        config_path,
        supervisor: core.supervisor,
        events: events.clone(),
        tokens: tokens.clone(),
        checkers: core.checkers,
        listeners,
        control: threads.control(),
        background: run.background.clone(),
    };
    let main_rt = tokio::runtime::Handle::current();
    run.spawn(
        "reload",
        task.run(requests, run.root.child_token()),
        &main_rt,
    );
    (reload, tokens)
}

/// The threads besides the main runtime's, each with its own event loop: the control
/// thread first, then the proxy workers (`[proxy] workers`).
///
/// The supervisor and the health checks run on the control thread: thousands of checks a
/// second then wake one thread that owns their timers, sockets and the supervisor's queue,
/// not the proxy workers. With metric handles registered once per target, this took
/// 2,000 checks a second from 11% to 6.5% of a core (`benches/compare.sh health-scale`).
pub(super) struct Threads(RuntimeThreads);

impl Threads {
    pub fn start(config: &Config) -> std::io::Result<Threads> {
        let workers = (0..config.proxy.workers.max(1)).map(|i| format!("failoverd-proxy-{i}"));
        let names = std::iter::once("failoverd-control".to_string()).chain(workers);
        RuntimeThreads::start(names).map(Threads)
    }

    pub fn control(&self) -> tokio::runtime::Handle {
        self.0.handles()[0].clone()
    }

    pub fn workers(&self) -> Vec<tokio::runtime::Handle> {
        self.0.handles()[1..].to_vec()
    }

    /// Stops every thread and waits for it (blocking: call off the runtime).
    pub fn stop(self) {
        self.0.stop();
    }
}

/// The admin API, a critical subsystem: its end (an error) stops the process.
pub(super) fn spawn_admin(listener: TcpListener, config: &Config, ctx: AdminCtx, run: &Scope) {
    let (stop, admin) = (run.root.child_token(), config.admin.clone());
    let task = async move {
        if let Err(e) = admin::serve(listener, &admin, ctx, stop).await {
            warn!(error = %format!("{e:#}"), "admin server ended with an error");
        }
    };
    run.spawn("admin", task, &tokio::runtime::Handle::current());
}

/// The state file (its saved decisions) and the event history beside it.
pub(super) fn open_store(
    config: &Config,
    fresh_state: bool,
) -> anyhow::Result<(StateFile, Option<crate::store::State>, Arc<EventLog>)> {
    let store = StateFile::new(&config.state.path);
    let saved = load_state(&store, fresh_state)?;
    let history = with_suffix(&config.state.path, ".events");
    let events = Arc::new(EventLog::open(Some(&history), super::EVENTS_KEPT));
    let details = json!({ "version": env!("CARGO_PKG_VERSION"), "resumed": saved.is_some() });
    events.record("start", None, None, details);
    Ok((store, saved, events))
}

/// The saved decisions; a corrupt file stops the start unless `fresh` says to move it aside.
pub(super) fn load_state(
    store: &StateFile,
    fresh: bool,
) -> anyhow::Result<Option<crate::store::State>> {
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
