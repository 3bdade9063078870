//! Membership and the leader.

use std::time::Duration;

use tokio::time::Instant;

use super::sampler::Sampler;
use super::*;
use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_three_instances_elect_one_leader_and_another_when_it_is_killed() {
    let Some(etcd) = EtcdCluster::start(1).await else {
        return;
    };
    let backends = echo_backends();
    let prefix = format!("/failoverd/test-{}/", std::process::id());
    let mut fs = Vec::new();
    for name in ["ns1", "ns2", "ns3"] {
        fs.push(Failoverd::start(&instance_config(&etcd, name, backends.port, &prefix)).await);
    }
    let all = ["ns1", "ns2", "ns3"];
    let refs: Vec<&Failoverd> = fs.iter().collect();
    let leader = agreed_leader(&refs, &all, Duration::from_secs(10)).await;
    let leading: Vec<bool> = {
        let mut v = Vec::new();
        for f in &fs {
            v.push(cluster_view(f).await["is_leader"] == true);
        }
        v
    };
    assert_eq!(
        leading.iter().filter(|l| **l).count(),
        1,
        "exactly one leader: {leading:?}"
    );
    let out = crate::ctl::ctl(&fs[0], &["cluster"]).await;
    assert_eq!(out.code, Some(0));
    assert!(
        out.stdout.contains(&format!("leader     {leader}")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("members    3 live: ns1, ns2, ns3"),
        "{}",
        out.stdout
    );
    let status = crate::ctl::ctl(&fs[0], &["status"]).await;
    let first = status.stdout.lines().next().unwrap_or_default().to_string();
    assert!(
        first.starts_with("cluster: instance ns1, leader "),
        "{}",
        status.stdout
    );
    let scrape = fs[0].metrics().await;
    assert_eq!(metric(&scrape, "failoverd_cluster_connected"), Some(1.0));
    assert_eq!(metric(&scrape, "failoverd_cluster_members"), Some(3.0));

    // The leader dies without a word (no resign): the others wait out its lease (2 s),
    // then one of them leads. No answer changes meanwhile.
    for f in &fs {
        f.wait_both_up("app", Duration::from_secs(10)).await;
    }
    let sampler = Sampler::start(dns_of(&fs));
    let at = all.iter().position(|n| *n == leader).unwrap();
    let killed_at = Instant::now();
    let dead = fs.remove(at);
    let dir = dead.kill_keep_dir();
    let rest: Vec<&str> = all.iter().copied().filter(|n| *n != leader).collect();
    let refs: Vec<&Failoverd> = fs.iter().collect();
    let next = agreed_leader(&refs, &rest, Duration::from_secs(8)).await;
    let took = killed_at.elapsed();
    assert_ne!(next, leader);
    eprintln!("new leader {next} after {took:?} (lease 2 s)");

    // The killed instance comes back and rejoins, as a member, not as the leader.
    let back = Failoverd::start_with(
        &instance_config(&etcd, &leader, backends.port, &prefix),
        StartOptions {
            dir: Some(dir),
            ..Default::default()
        },
    )
    .await;
    fs.push(back);
    let refs: Vec<&Failoverd> = fs.iter().collect();
    let again = agreed_leader(&refs, &all, Duration::from_secs(10)).await;
    assert_eq!(again, next, "a rejoining instance does not take the lead");
    let rounds = sampler.check(&[MAIN], Duration::ZERO).await;
    eprintln!("{rounds} rounds: every answer the main");
}

/// `[cluster]` with etcd gone: the instance says it is disconnected, and says so again
/// connected once etcd is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_an_instance_reports_etcd_lost_and_found() {
    let Some(mut etcd) = EtcdCluster::start(2).await else {
        return;
    };
    let backends = echo_backends();
    let prefix = format!("/failoverd/test-{}/", std::process::id());
    let f = Failoverd::start(&instance_config(&etcd, "ns1", backends.port, &prefix)).await;
    agreed_leader(&[&f], &["ns1"], Duration::from_secs(10)).await;
    for i in 0..3 {
        etcd.kill(i);
    }
    eventually(
        Duration::from_secs(8),
        "disconnected, not leading",
        || async {
            let v = cluster_view(&f).await;
            (v["connected"] == false && v["is_leader"] == false && v["last_error"].is_string())
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        metric(&f.metrics().await, "failoverd_cluster_connected"),
        Some(0.0)
    );
    let out = crate::ctl::ctl(&f, &["cluster"]).await;
    assert!(
        out.stdout
            .contains("DISCONNECTED: serving the last decision seen"),
        "{}",
        out.stdout
    );
    let status = crate::ctl::ctl(&f, &["status"]).await;
    let disconnected = "cluster: instance ns1 DISCONNECTED from etcd";
    assert!(status.stdout.starts_with(disconnected), "{}", status.stdout);
    for i in 0..3 {
        etcd.restart(i);
    }
    etcd.wait_healthy(Duration::from_secs(20)).await;
    agreed_leader(&[&f], &["ns1"], Duration::from_secs(15)).await;
}
