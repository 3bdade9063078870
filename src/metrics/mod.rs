//! Prometheus metrics: every name as a constant. Process-wide series go through the
//! `metrics` recorder installed here, each described (HELP) once at start; per-group and
//! per-target families are written at scrape time from the snapshot and the counter book
//! (`book.rs`, `admin::fleet`), which is what keeps 10,000 groups cheap.
//!
//! Labels are bounded: group, target, hook, state, cause, result, direction, qtype, rcode
//! (names and values from the config or fixed lists). Never a client address. The admin
//! server renders both at `/metrics`, after the standard `process_*` metrics are read.

pub mod book;

use std::sync::{LazyLock, OnceLock};

use metrics::{describe_counter, describe_gauge, describe_histogram, gauge, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const TARGET_UP: &str = "failoverd_target_up";
pub const TARGET_ACTIVE: &str = "failoverd_target_active";
pub const GROUP_EPOCH: &str = "failoverd_group_epoch";
pub const TRANSITIONS_TOTAL: &str = "failoverd_transitions_total";
pub const HEALTH_CHECKS_TOTAL: &str = "failoverd_health_checks_total";
pub const HEALTH_CHECK_DURATION: &str = "failoverd_health_check_duration_seconds";
pub const DNS_QUERIES_TOTAL: &str = "failoverd_dns_queries_total";
pub const DNS_RESPONSES_TOTAL: &str = "failoverd_dns_responses_total";
pub const DNS_ANSWERS_TOTAL: &str = "failoverd_dns_answers_total";
pub const PROXY_CONNECTIONS_TOTAL: &str = "failoverd_proxy_connections_total";
pub const PROXY_ACTIVE_CONNECTIONS: &str = "failoverd_proxy_active_connections";
pub const PROXY_BYTES_TOTAL: &str = "failoverd_proxy_bytes_total";
pub const PROXY_CONNECT_DURATION: &str = "failoverd_proxy_connect_duration_seconds";
pub const CONFIG_RELOADS_TOTAL: &str = "failoverd_config_reloads_total";
pub const CONFIG_LAST_RELOAD_SUCCESSFUL: &str = "failoverd_config_last_reload_successful";
pub const CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP: &str =
    "failoverd_config_last_reload_success_timestamp_seconds";
pub const HOOK_RUNS_TOTAL: &str = "failoverd_hook_runs_total";
pub const BUILD_INFO: &str = "failoverd_build_info";
pub const GROUP_STATE: &str = "failoverd_group_state";
pub const TARGET_FLAPPING: &str = "failoverd_target_flapping";
pub const TARGET_ROLE: &str = "failoverd_target_role";
pub const TARGET_ADMIN_STATE: &str = "failoverd_target_admin_state";
pub const LOCAL_ERRORS_TOTAL: &str = "failoverd_local_errors_total";
pub const SUBSYSTEM_UP: &str = "failoverd_subsystem_up";
pub const ADMIN_CONNECTIONS_REFUSED_TOTAL: &str = "failoverd_admin_connections_refused_total";
pub const FD_BUDGET_REFUSED_TOTAL: &str = "failoverd_fd_budget_refused_total";
pub const FD_BUDGET: &str = "failoverd_fd_budget";
pub const SNAPSHOT_PUBLISHES_TOTAL: &str = "failoverd_snapshot_publishes_total";
pub const SNAPSHOT_GROUPS_REBUILT_TOTAL: &str = "failoverd_snapshot_groups_rebuilt_total";
pub const DNS_NAMES_REBUILT_TOTAL: &str = "failoverd_dns_names_rebuilt_total";
pub const TARGET_CHECK_DURATION: &str = "failoverd_target_check_duration_seconds";
pub const CLUSTER_CONNECTED: &str = "failoverd_cluster_connected";
pub const CLUSTER_IS_LEADER: &str = "failoverd_cluster_is_leader";
pub const CLUSTER_MEMBERS: &str = "failoverd_cluster_members";

/// Every metric name, for the test that checks each has a HELP line.
pub const ALL: &[&str] = &[
    TARGET_UP,
    TARGET_ACTIVE,
    GROUP_EPOCH,
    TRANSITIONS_TOTAL,
    HEALTH_CHECKS_TOTAL,
    HEALTH_CHECK_DURATION,
    DNS_QUERIES_TOTAL,
    DNS_RESPONSES_TOTAL,
    DNS_ANSWERS_TOTAL,
    PROXY_CONNECTIONS_TOTAL,
    PROXY_ACTIVE_CONNECTIONS,
    PROXY_BYTES_TOTAL,
    PROXY_CONNECT_DURATION,
    CONFIG_RELOADS_TOTAL,
    CONFIG_LAST_RELOAD_SUCCESSFUL,
    CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP,
    HOOK_RUNS_TOTAL,
    BUILD_INFO,
    GROUP_STATE,
    TARGET_FLAPPING,
    TARGET_ROLE,
    TARGET_ADMIN_STATE,
    LOCAL_ERRORS_TOTAL,
    SUBSYSTEM_UP,
    ADMIN_CONNECTIONS_REFUSED_TOTAL,
    FD_BUDGET_REFUSED_TOTAL,
    FD_BUDGET,
    SNAPSHOT_PUBLISHES_TOTAL,
    SNAPSHOT_GROUPS_REBUILT_TOTAL,
    DNS_NAMES_REBUILT_TOTAL,
    TARGET_CHECK_DURATION,
    CLUSTER_CONNECTED,
    CLUSTER_IS_LEADER,
    CLUSTER_MEMBERS,
];

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The standard `process_*` metrics (the names every Prometheus client library uses, so
/// stock dashboards and alerts work), read from /proc when `collect_process` runs.
static PROCESS: LazyLock<metrics_process::Collector> =
    LazyLock::new(metrics_process::Collector::default);

/// Reads the process metrics now; the admin server calls it before each render.
pub fn collect_process() {
    PROCESS.collect();
}

/// Installs the global recorder (once per process; later calls return the same handle).
/// Must run inside the tokio runtime: the exporter spawns its upkeep there.
pub fn install() -> Result<PrometheusHandle, String> {
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
        .map_err(|e| format!("metrics buckets: {e}"))?;
    let handle = builder
        .install_recorder()
        .map_err(|e| format!("metrics recorder: {e}"))?;
    describe();
    PROCESS.describe();
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds recorded histogram samples into their buckets every few seconds until `stop`.
/// The exporter keeps every sample until then; with no upkeep and no scrape, one sample
/// per proxied connection and per health check would pile up without bound.
pub async fn upkeep(handle: PrometheusHandle, stop: tokio_util::sync::CancellationToken) {
    let mut every = tokio::time::interval(UPKEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => handle.run_upkeep(),
        }
    }
}

fn describe() {
    describe_gauge!(
        CLUSTER_CONNECTED,
        "1 while this instance holds a session with etcd ([cluster]); 0 while it serves the last decision it saw."
    );
    describe_gauge!(
        CLUSTER_IS_LEADER,
        "1 while this instance is the cluster's leader (the one that decides)."
    );
    describe_gauge!(
        CLUSTER_MEMBERS,
        "Live instances of the cluster as this instance sees them (0 while disconnected)."
    );
    describe_counter!(
        TRANSITIONS_TOTAL,
        "Changes of a group's active targets, by cause."
    );
    describe_histogram!(
        HEALTH_CHECK_DURATION,
        Unit::Seconds,
        "Duration of health check probes, every target together (per target: failoverd_target_check_duration_seconds)."
    );
    describe_counter!(DNS_QUERIES_TOTAL, "DNS queries received, by query type.");
    describe_counter!(DNS_RESPONSES_TOTAL, "DNS responses sent, by response code.");
    describe_counter!(
        PROXY_CONNECTIONS_TOTAL,
        "Proxied client connections by the target they went to and result (ok, connect_failed, refused)."
    );
    describe_gauge!(
        PROXY_ACTIVE_CONNECTIONS,
        "Client connections currently proxied to the target."
    );
    describe_counter!(
        PROXY_BYTES_TOTAL,
        Unit::Bytes,
        "Bytes proxied, direction to_target or to_client."
    );
    describe_histogram!(
        PROXY_CONNECT_DURATION,
        Unit::Seconds,
        "Time to connect to a target, successful attempts."
    );
    describe_counter!(
        CONFIG_RELOADS_TOTAL,
        "Config reloads by result (ok or error)."
    );
    describe_gauge!(
        CONFIG_LAST_RELOAD_SUCCESSFUL,
        "1 when the last load of the config file (at start or a reload) took effect, 0 when it was rejected."
    );
    describe_gauge!(
        CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP,
        Unit::Seconds,
        "Unix time of the last load of the config file that took effect (start or reload)."
    );
    describe_gauge!(BUILD_INFO, "Build information; the value is always 1.");
    describe_counter!(
        LOCAL_ERRORS_TOTAL,
        "Failures that were failoverd's own (out of descriptors, buffers or local ports), by kind; never counted against a target."
    );
    describe_counter!(
        ADMIN_CONNECTIONS_REFUSED_TOTAL,
        "Admin connections closed at once because [admin] max_connections were open."
    );
    describe_counter!(
        FD_BUDGET_REFUSED_TOTAL,
        "Client work refused because the descriptor budget was spent (what: proxy, pipe, dns_tcp, admin); a refused pipe means a buffered copy."
    );
    describe_gauge!(
        FD_BUDGET,
        "Descriptors client-facing work may hold: the open-file limit less what the process held at start and the reserve for checks, hooks and files."
    );
    describe_counter!(
        SNAPSHOT_PUBLISHES_TOTAL,
        "Snapshots published (one per batch of changes the supervisor handled together)."
    );
    describe_counter!(
        SNAPSHOT_GROUPS_REBUILT_TOTAL,
        "Group snapshots rebuilt by publishes; an unchanged group is shared, not rebuilt."
    );
    describe_counter!(
        DNS_NAMES_REBUILT_TOTAL,
        "Failover addresses whose DNS responses were encoded again (their active targets changed)."
    );
    describe_gauge!(
        SUBSYSTEM_UP,
        "1 while the subsystem (supervisor, checkers, dns, hooks, reload, admin) runs; 0 once it has ended."
    );
}
