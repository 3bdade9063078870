//! The cluster's figures, measured (not asserted) on a real three-member etcd and three
//! instances: flip spread across instances over repeated failovers, leader failover time,
//! and etcd's write rate at steady state with many groups. Ignored by `cargo test`;
//! `benches/cluster.sh` runs them and prints the table. Each prints one `FIGURE {json}`
//! line. Counts and durations come from the environment (the script sets them).

use std::time::Duration;

use hickory_proto::rr::RecordType;
use serde_json::json;
use tokio::time::Instant;

use super::*;
use crate::dns_client::*;
use crate::harness::*;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median_max(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[v.len() - 1])
}

async fn answer_of(f: &Failoverd) -> Vec<String> {
    let q = query("app.fo.test.", RecordType::A, None);
    match udp_raw(f.dns[0], &q, Duration::from_millis(200)).await {
        Some(raw) => hickory_proto::op::Message::from_vec(&raw)
            .map(|m| answer_data(&m))
            .unwrap_or_default(),
        None => Vec::new(),
    }
}

/// When each instance first answers `want`, polled every 2 ms, from `t0`; at most `limit`.
async fn flip_times(fs: &[Failoverd], want: &str, t0: Instant, limit: Duration) -> Vec<Duration> {
    let mut at: Vec<Option<Duration>> = vec![None; fs.len()];
    while at.iter().any(Option::is_none) {
        assert!(t0.elapsed() < limit, "not all answer {want}: {at:?}");
        for (i, f) in fs.iter().enumerate() {
            if at[i].is_none() && answer_of(f).await == [want] {
                at[i] = Some(t0.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    at.into_iter().flatten().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: benches/cluster.sh runs it"]
async fn cluster_figures_flip_spread() {
    let n = env_or("CLUSTER_FAILOVERS", 20);
    let etcd = EtcdCluster::start(8).await.expect("etcd");
    let (port, mut main, _backup) = http_stacks(MAIN, BACKUP);
    let group = pair_group("app", port, "failback_hold = \"0s\"", CHECK);
    let prefix = format!("/failoverd/figures-{}/", std::process::id());
    let mut fs = Vec::new();
    for name in ["ns1", "ns2", "ns3"] {
        let cfg = cluster_config(&etcd.endpoints_toml(), name, &prefix, &group);
        fs.push(Failoverd::start(&cfg).await);
    }
    let (mut spreads, mut flips) = (Vec::new(), Vec::new());
    for _ in 0..n {
        flip_times(&fs, MAIN, Instant::now(), Duration::from_secs(20)).await;
        main.stop();
        let t0 = Instant::now();
        let at = flip_times(&fs, BACKUP, t0, Duration::from_secs(20)).await;
        let (first, last) = (at.iter().min().unwrap(), at.iter().max().unwrap());
        spreads.push((*last - *first).as_secs_f64() * 1000.0);
        flips.push(last.as_secs_f64() * 1000.0);
        main.restart();
    }
    let (spread_median, spread_max) = median_max(spreads);
    let (flip_median, flip_max) = median_max(flips);
    let check = "tcp every 200 ms, timeout 100 ms, fall 1";
    println!(
        "FIGURE {}",
        json!({ "figure": "flip", "failovers": n, "check": check,
            "spread_ms_median": spread_median, "spread_ms_max": spread_max,
            "all_flipped_ms_median": flip_median, "all_flipped_ms_max": flip_max })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: benches/cluster.sh runs it"]
async fn cluster_figures_leader_failover() {
    let n = env_or("CLUSTER_LEADER_KILLS", 10);
    let etcd = EtcdCluster::start(9).await.expect("etcd");
    let backends = echo_backends();
    let prefix = format!("/failoverd/figures-{}/", std::process::id());
    let all = ["ns1", "ns2", "ns3"];
    let mut fs = Vec::new();
    for name in all {
        fs.push(Failoverd::start(&instance_config(&etcd, name, backends.port, &prefix)).await);
    }
    let mut took = Vec::new();
    for _ in 0..n {
        let refs: Vec<&Failoverd> = fs.iter().collect();
        let leader = agreed_leader(&refs, &all, Duration::from_secs(20)).await;
        let at = all.iter().position(|m| *m == leader).unwrap();
        let dead = fs.remove(at);
        let t0 = Instant::now();
        let dir = dead.kill_keep_dir();
        let rest: Vec<&str> = all.iter().copied().filter(|m| *m != leader).collect();
        let refs: Vec<&Failoverd> = fs.iter().collect();
        agreed_leader(&refs, &rest, Duration::from_secs(20)).await;
        took.push(t0.elapsed().as_secs_f64() * 1000.0);
        let cfg = instance_config(&etcd, &leader, backends.port, &prefix);
        let opts = StartOptions {
            dir: Some(dir),
            ..Default::default()
        };
        fs.insert(at, Failoverd::start_with(&cfg, opts).await);
    }
    let (median, max) = median_max(took);
    println!(
        "FIGURE {}",
        json!({ "figure": "leader", "kills": n, "lease_ttl_ms": 2000,
            "new_leader_ms_median": median, "new_leader_ms_max": max })
    );
}

/// etcd's counters: puts, txns and deletes (each member applies every one: divided by the
/// members), raft proposals committed, lease renewals received (summed).
async fn etcd_counters(etcd: &EtcdCluster) -> [f64; 5] {
    let mut sum = [0.0; 5];
    for m in &etcd.members {
        let addr = format!("{}:2379", m.ip).parse().unwrap();
        let (_, text) = http_get(addr, "/metrics").await.expect("etcd metrics");
        let value = |name: &str| {
            text.lines()
                .filter(|l| l.starts_with(name))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>()
        };
        let renewals = "grpc_server_msg_received_total{grpc_method=\"LeaseKeepAlive\"";
        // Counted by every member: the cluster's, once.
        let once = |name: &str| value(name) / etcd.members.len() as f64;
        let now = [
            once("etcd_mvcc_put_total "),
            once("etcd_mvcc_txn_total "),
            once("etcd_mvcc_delete_total "),
            once("etcd_server_proposals_committed_total "),
            value(renewals),
        ];
        for (s, v) in sum.iter_mut().zip(now) {
            *s += v;
        }
    }
    sum
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: benches/cluster.sh runs it"]
async fn cluster_figures_etcd_writes_at_steady_state() {
    let groups = env_or("CLUSTER_GROUPS", 1000);
    let steady = Duration::from_secs(env_or("CLUSTER_STEADY", 30));
    let etcd = EtcdCluster::start(10).await.expect("etcd");
    let backends = echo_backends();
    let health = format!(
        "kind = \"tcp\"\nport = {}\ninterval = \"2s\"\ntimeout = \"500ms\"\nrise = 2\nfall = 2",
        backends.port
    );
    let mut text = String::new();
    for g in 0..groups {
        text += &format!(
            "\n[[group]]\nname = \"g{g}\"\n\n[group.health]\n{health}\n\n\
             [[group.target]]\nname = \"main\"\naddress = \"{MAIN}\"\npriority = 1\n\n\
             [[group.target]]\nname = \"backup\"\naddress = \"{BACKUP}\"\npriority = 2\n"
        );
    }
    let prefix = format!("/failoverd/figures-{}/", std::process::id());
    let mut fs = Vec::new();
    for name in ["ns1", "ns2", "ns3"] {
        let cfg = cluster_config(&etcd.endpoints_toml(), name, &prefix, &text);
        fs.push(Failoverd::start(&cfg).await);
    }
    let last = format!("g{}", groups - 1);
    for f in &fs {
        f.wait_both_up(&last, Duration::from_secs(60)).await;
    }
    // Settled: every verdict written once; from here on only changes would be.
    tokio::time::sleep(Duration::from_secs(5)).await;
    // Verdict changes are what an instance writes (each one a put of its verdict).
    let verdicts = |fs: &[Failoverd]| -> usize {
        let changed =
            |l: &serde_json::Value| l["message"] == "target down" || l["message"] == "target up";
        fs.iter()
            .map(|f| f.logs().iter().filter(|l| changed(l)).count())
            .sum()
    };
    let (before, changes) = (etcd_counters(&etcd).await, verdicts(&fs));
    tokio::time::sleep(steady).await;
    let after = etcd_counters(&etcd).await;
    let changes = verdicts(&fs) - changes;
    let rate: Vec<f64> = before
        .iter()
        .zip(after)
        .map(|(b, a)| (a - b) / steady.as_secs_f64())
        .collect();
    println!(
        "FIGURE {}",
        json!({ "figure": "etcd_writes", "groups": groups, "instances": 3,
            "seconds": steady.as_secs(), "checks": "tcp every 2 s, rise 2, fall 2",
            "puts_per_s": rate[0], "txns_per_s": rate[1], "deletes_per_s": rate[2],
            "raft_proposals_per_s": rate[3], "lease_renewals_per_s": rate[4],
            "writes_per_s_per_instance": (rate[0] + rate[1] + rate[2]) / 3.0,
            "verdict_changes": changes })
    );
}
