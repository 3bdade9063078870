//! The monitoring kit against a real failoverd: every metric the Grafana dashboard and the
//! alert rules read exists in a scrape of a failoverd (a member of a real etcd cluster)
//! that went through a failover, a drain, a failing hook and a rejected reload, with HELP;
//! and the values of the series the kit added (admin state, hook runs, last reload,
//! process) follow what happened.

use std::collections::BTreeSet;
use std::time::Duration;

use hickory_proto::rr::RecordType;

use crate::dns_client::*;
use crate::harness::*;

const CHECK: &str = "kind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"100ms\"\nrise = 1\nfall = 1";

const DNS: &str = r#"
[dns]
listen = ["127.0.0.1:0"]
zone = "kit.test."
nameservers = [{ name = "ns1.kit.test.", addresses = ["127.0.0.1"] }]
"#;

/// A group with a DNS name, a hook that fails on failover and one that never runs.
const GROUP: &str = r#"dns_name = "app"
failback = "manual"

[[group.hook]]
name = "page"
on = ["failover"]
command = ["sh", "-c", "exit 3"]

[[group.hook]]
name = "audit"
on = ["commit"]
command = ["true"]"#;

/// Names the kit reads that this failoverd cannot have yet, and what brings them. The test
/// fails when one appears, so that it leaves this list.
const PENDING: &[(&str, &str)] = &[];

/// Series Prometheus itself makes for every scrape.
const PROMETHEUS_OWN: &[&str] = &["up"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_of_the_dashboard_and_alerts_is_in_a_real_scrape() {
    // The cluster's metrics exist only with [cluster]: the kit's etcd profile and alert.
    let Some(etcd) = EtcdCluster::start(16).await else {
        return;
    };
    let (port, main, _backup) = http_stacks("127.0.0.2", "127.0.0.3");
    let cluster = format!(
        "[cluster]\nbackend = \"etcd\"\nendpoints = {}\nprefix = \"/kit/\"\ninstance = \"ns1\"\n",
        etcd.endpoints_toml()
    );
    let config = format!(
        "{DNS}{cluster}{}",
        two_stack_config(port, "127.0.0.2", "127.0.0.3", GROUP, CHECK)
    );
    let f = Failoverd::start(&config).await;
    f.wait_both_up("app", Duration::from_secs(10)).await;
    let before = f.metrics().await;
    assert_eq!(
        hook_runs(&before, "page", "error"),
        Some(0.0),
        "a zero before the first run"
    );
    assert_eq!(hook_runs(&before, "audit", "ok"), Some(0.0));

    // Traffic through DNS and the proxy, then a failover that runs the failing hook.
    ask_type(f.dns[0], Via::Udp, "app.kit.test.", RecordType::A).await;
    assert_eq!(http_get(f.proxy("app"), "/").await.unwrap().0, 200);
    main.stop();
    f.wait_group("app", Duration::from_secs(10), "failover", |g| {
        active(g) == ["backup"]
    })
    .await;
    let scrape = eventually(
        Duration::from_secs(10),
        "the hook's run counted",
        || async {
            let s = f.metrics().await;
            (hook_runs(&s, "page", "error") == Some(1.0)).then_some(s)
        },
    )
    .await;
    assert_eq!(hook_runs(&scrape, "page", "ok"), Some(0.0));
    assert_eq!(hook_runs(&scrape, "audit", "ok"), Some(0.0), "never ran");

    // An operator drains the backup: its admin state series move.
    let (status, body) = f
        .post(
            "/v1/groups/app/targets/backup/state",
            r#"{"state":"drain"}"#,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let scrape = f.metrics().await;
    let admin = |target: &str, state: &str| {
        let labels = [("group", "app"), ("target", target), ("state", state)];
        sample(&scrape, "failoverd_target_admin_state", &labels)
    };
    assert_eq!(admin("backup", "drain"), Some(1.0));
    assert_eq!(
        admin("backup", "enabled"),
        None,
        "one sample a target: its state"
    );
    assert_eq!(admin("main", "enabled"), Some(1.0));
    assert_eq!(admin("main", "maintenance"), None);

    let loaded = reload_metrics(&scrape);
    assert_eq!(
        loaded.0,
        Some(1.0),
        "the config loaded at start counts as loaded"
    );
    rejected_reload_keeps_the_time(&f, loaded.1.expect("a load time")).await;

    let scrape = eventually(Duration::from_secs(10), "the instance leading", || async {
        let s = f.metrics().await;
        (metric(&s, "failoverd_cluster_is_leader") == Some(1.0)).then_some(s)
    })
    .await;
    assert_eq!(metric(&scrape, "failoverd_cluster_connected"), Some(1.0));
    process_metrics_are_real(&scrape, f.pid());
    every_name_has_help(&scrape, failoverd::metrics::ALL);
    kit_names_are_scraped(&scrape);
}

fn hook_runs(scrape: &str, hook: &str, result: &str) -> Option<f64> {
    let labels = [("group", "app"), ("hook", hook), ("result", result)];
    sample(scrape, "failoverd_hook_runs_total", &labels)
}

/// (last load successful, its time).
fn reload_metrics(scrape: &str) -> (Option<f64>, Option<f64>) {
    (
        metric(scrape, "failoverd_config_last_reload_successful"),
        metric(
            scrape,
            "failoverd_config_last_reload_success_timestamp_seconds",
        ),
    )
}

/// A reload of a broken file: the gauge drops to 0 and the time of the good load stays.
async fn rejected_reload_keeps_the_time(f: &Failoverd, loaded_at: f64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - 120.0..=now).contains(&loaded_at),
        "load time {loaded_at} is not within the last two minutes of {now}"
    );
    let good = std::fs::read_to_string(&f.config_path).unwrap();
    std::fs::write(&f.config_path, good.replace("rise = 1", "rise = 0")).unwrap();
    let (status, body) = f.post("/v1/reload", "", None).await;
    assert_eq!(status, 422, "{body}");
    let scrape = f.metrics().await;
    assert_eq!(reload_metrics(&scrape), (Some(0.0), Some(loaded_at)));
    assert_eq!(
        sample(
            &scrape,
            "failoverd_config_reloads_total",
            &[("result", "error")]
        ),
        Some(1.0)
    );
}

/// The standard process metrics describe this very process. (CPU seconds is a counter of
/// whole seconds, as the crate keeps it one: zero this early.)
fn process_metrics_are_real(scrape: &str, pid: u32) {
    let cpu = metric(scrape, "process_cpu_seconds_total");
    assert!(
        cpu.is_some_and(|v| v >= 0.0),
        "process_cpu_seconds_total: {cpu:?}"
    );
    assert!(scrape.contains("# HELP process_cpu_seconds_total "));
    for name in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
        "process_threads",
    ] {
        assert!(
            scrape.contains(&format!("# HELP {name} ")),
            "no HELP for {name}"
        );
        let v = metric(scrape, name).unwrap_or_else(|| panic!("no {name} in the scrape"));
        assert!(v > 0.0, "{name} = {v}");
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let threads: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    let scraped = metric(scrape, "process_threads").unwrap();
    assert!(
        (scraped - threads).abs() <= 4.0,
        "process_threads {scraped}, /proc says {threads}"
    );
}

fn every_name_has_help(scrape: &str, names: &[&str]) {
    let missing: Vec<&&str> = names
        .iter()
        .filter(|n| {
            !scrape.contains(&format!("# HELP {n} ")) || !scrape.contains(&format!("# TYPE {n} "))
        })
        .collect();
    assert!(missing.is_empty(), "no HELP or TYPE for {missing:?}");
}

/// Every metric name in the dashboard JSON and the alert rules is a sample in the scrape
/// (a histogram's `_bucket` included), except those still pending.
fn kit_names_are_scraped(scrape: &str) {
    let sampled: BTreeSet<&str> = scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let mut used = BTreeSet::new();
    for file in [
        "docker/grafana/dashboards/failoverd.json",
        "docker/prometheus/alerts.yml",
    ] {
        let text = std::fs::read_to_string(repo_path(file)).unwrap();
        let names = metric_names(&text);
        assert!(names.len() >= 5, "{file}: only {names:?}");
        used.extend(names);
    }
    let mut missing = Vec::new();
    for name in &used {
        let pending = PENDING.iter().find(|(n, _)| n == name);
        match (sampled.contains(name.as_str()), pending) {
            (true, Some((_, why))) => panic!("{name} is scraped now: drop it from PENDING ({why})"),
            (false, None) if !PROMETHEUS_OWN.contains(&name.as_str()) => missing.push(name),
            _ => {}
        }
    }
    assert!(
        missing.is_empty(),
        "used by the kit, not in the scrape: {missing:?}"
    );
    assert!(used.iter().any(|n| n == "failoverd_target_admin_state"));
}

/// Words that are metric names: `failoverd_*`, `process_*`, and `up` when a query uses it.
fn metric_names(text: &str) -> BTreeSet<String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names: BTreeSet<String> = text
        .split(|c: char| !word(c))
        .filter(|w| w.starts_with("failoverd_") || w.starts_with("process_"))
        .map(str::to_string)
        .collect();
    if text.contains("up{") {
        names.insert("up".into());
    }
    names
}
