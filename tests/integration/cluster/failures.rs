//! Failures around the cluster, with every instance's answer sampled every 50 ms
//! throughout: one instance that cannot reach the main (no failover: the majority sees it
//! up), and one etcd member down (everything still works).

use std::time::Duration;

use hickory_proto::rr::RecordType;

use super::sampler::Sampler;
use super::*;
use crate::dns_client::*;
use crate::harness::*;

/// Until every instance in `fs` answers `want` for `app.fo.test.`.
async fn all_answer(fs: &[Failoverd], want: &str, limit: Duration) {
    eventually(limit, &format!("every instance answers {want}"), || async {
        for f in fs {
            let m = ask_type(f.dns[0], Via::Udp, "app.fo.test.", RecordType::A).await;
            if answer_data(&m) != [want] {
                return None;
            }
        }
        Some(())
    })
    .await;
}

/// ns3 runs in a network namespace of its own, where the main's address is unreachable
/// once the test says so; ns1 and ns2 (on the host) still reach it. One instance's down
/// verdict is not a majority: nobody fails over. Then the main really dies, and all do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_an_instance_cut_off_from_the_main_alone_causes_no_failover() {
    if !require(
        "root (a network namespace for the cut-off instance)",
        is_root(),
    ) {
        return;
    }
    // The namespace's pair carries everything ns3 needs: etcd and both stacks listen on
    // addresses of the host's end, ns3's own listeners are on the namespace's end.
    let ns = Netns::create();
    ns.route_all_via_host();
    let (main_ip, backup_ip) = (ns.add_host_address(1), ns.add_host_address(2));
    let Some(etcd) = EtcdCluster::start_also_on(6, Some(ns.host_ip.to_string())).await else {
        return;
    };
    let (main_s, backup_s) = (main_ip.to_string(), backup_ip.to_string());
    let (a, b) = same_port_pair(&main_s, &backup_s);
    let port = a.local_addr().unwrap().port();
    let (main, _backup) = (HttpStack::start("main", a), HttpStack::start("backup", b));
    let targets = [
        ("main", main_s.as_str(), 1),
        ("backup", backup_s.as_str(), 2),
    ];
    let group = group_toml("app", port, &targets, "", CHECK);
    let prefix = format!("/failoverd/test-{}/", std::process::id());
    let mut fs = Vec::new();
    for name in ["ns1", "ns2"] {
        let cfg = cluster_config(&etcd.endpoints_toml(), name, &prefix, &group);
        fs.push(Failoverd::start(&cfg).await);
    }
    // Off loopback, the admin API needs a token (read is enough for the test).
    let secrets = tempfile::tempdir().unwrap();
    let secret = "cut-off-instance-read-secret-0123";
    let secret_file = secrets.path().join("read.token");
    std::fs::write(&secret_file, secret).unwrap();
    let inside = cluster_config(&etcd.endpoints_also_on_toml(), "ns3", &prefix, &group)
        .replace("127.0.0.1:0", &format!("{}:0", ns.inside_ip));
    let inside = format!(
        "{inside}\n[[admin.token]]\nname = \"viewer\"\nrole = \"read\"\nsecret_file = \"{}\"\n",
        secret_file.display()
    );
    let opts = StartOptions {
        netns: Some(ns.name.clone()),
        token: Some(secret.to_string()),
        ..Default::default()
    };
    fs.push(Failoverd::start_with(&inside, opts).await);
    let refs: Vec<&Failoverd> = fs.iter().collect();
    agreed_leader(&refs, &["ns1", "ns2", "ns3"], Duration::from_secs(15)).await;
    for f in &fs {
        f.wait_both_up("app", Duration::from_secs(10)).await;
    }
    all_answer(&fs, &main_s, Duration::from_secs(5)).await;

    let sampler = Sampler::start(dns_of(&fs));
    ns.cut_off(main_ip, true);
    eventually(Duration::from_secs(5), "ns3 sees the main down", || async {
        let down = fs[2].log_lines_with("target down");
        down.iter().any(|l| l["target"] == "main").then_some(())
    })
    .await;
    // Held for fifteen check intervals: ns3's verdict is in etcd all along, and the
    // sampler sees whether any instance ever answers otherwise.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for f in &fs {
        let g = f.group("app").await;
        assert_eq!(active(&g), ["main"], "no failover: {g}");
        assert_eq!(health(&g, "main"), "up", "the cluster's verdict: {g}");
    }
    ns.cut_off(main_ip, false);

    // The test can see a failover: with the main really gone, every instance flips.
    main.stop();
    all_answer(&fs, &backup_s, Duration::from_secs(10)).await;
    let rounds = sampler
        .check(&[&main_s, &backup_s], Duration::from_secs(1))
        .await;
    eprintln!("{rounds} rounds sampled from 3 instances");
}

/// With one of three etcd members killed, etcd keeps its quorum: one leader (the same one:
/// instances whose member died move to another with their lease), a command on a follower
/// served by all, a dead main failed over by all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_with_one_etcd_member_down_everything_still_works() {
    let Some(mut etcd) = EtcdCluster::start(7).await else {
        return;
    };
    let (port, main, _backup) = http_stacks(MAIN, BACKUP);
    // Released, the group goes back to the main at once.
    let group = pair_group("app", port, "failback_hold = \"0s\"", CHECK);
    let prefix = format!("/failoverd/test-{}/", std::process::id());
    let mut fs = Vec::new();
    for name in ["ns1", "ns2", "ns3"] {
        let cfg = cluster_config(&etcd.endpoints_toml(), name, &prefix, &group);
        fs.push(Failoverd::start(&cfg).await);
    }
    for f in &fs {
        f.wait_both_up("app", Duration::from_secs(10)).await;
    }
    all_answer(&fs, MAIN, Duration::from_secs(5)).await;
    let refs: Vec<&Failoverd> = fs.iter().collect();
    let all = ["ns1", "ns2", "ns3"];
    let before = agreed_leader(&refs, &all, Duration::from_secs(10)).await;
    let sampler = Sampler::start(dns_of(&fs));
    etcd.kill(0);
    let leader = agreed_leader(&refs, &all, Duration::from_secs(10)).await;
    assert_eq!(leader, before, "the leader keeps its lease and its key");
    let follower = ["ns1", "ns2", "ns3"]
        .iter()
        .position(|n| *n != leader)
        .unwrap();
    let f = &fs[follower];
    let (status, body) = f
        .post("/v1/groups/app/switch", r#"{"target": "backup"}"#, None)
        .await;
    assert_eq!(status, 200, "switch: {body}");
    all_answer(&fs, BACKUP, Duration::from_secs(2)).await;
    let (status, body) = f.post("/v1/groups/app/release", "{}", None).await;
    assert_eq!(status, 200, "release: {body}");
    all_answer(&fs, MAIN, Duration::from_secs(2)).await;

    main.stop();
    all_answer(&fs, BACKUP, Duration::from_secs(10)).await;
    let rounds = sampler
        .check(&[MAIN, BACKUP, MAIN, BACKUP], Duration::from_secs(1))
        .await;
    eprintln!("{rounds} rounds sampled from 3 instances");
}

/// A transition's hooks run once in the cluster, on the leader that decided it: each
/// instance's hook writes its own name to one shared file, and one line is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_hooks_run_once_per_transition_on_the_leader() {
    let Some(etcd) = EtcdCluster::start(11).await else {
        return;
    };
    let (port, main, _backup) = http_stacks(MAIN, BACKUP);
    let shared = tempfile::tempdir().unwrap();
    let log = shared.path().join("hooks.log");
    let prefix = format!("/failoverd/test-{}/", std::process::id());
    let mut fs = Vec::new();
    for name in ["ns1", "ns2", "ns3"] {
        let hook = format!(
            "[[group.hook]]\nname = \"tell\"\non = [\"failover\"]\n\
             command = [\"sh\", \"-c\", \"echo {name} $TRIGGER $EPOCH >> {}\"]\n",
            log.display()
        );
        let group = pair_group("app", port, &hook, CHECK);
        let cfg = cluster_config(&etcd.endpoints_toml(), name, &prefix, &group);
        fs.push(Failoverd::start(&cfg).await);
    }
    let refs: Vec<&Failoverd> = fs.iter().collect();
    let leader = agreed_leader(&refs, &["ns1", "ns2", "ns3"], Duration::from_secs(10)).await;
    for f in &fs {
        f.wait_both_up("app", Duration::from_secs(10)).await;
    }
    main.stop();
    all_answer(&fs, BACKUP, Duration::from_secs(10)).await;
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    eventually(Duration::from_secs(5), "the hook ran", || async {
        (!read().is_empty()).then_some(())
    })
    .await;
    // A follower would have run its hook when it served the decision, milliseconds after
    // the leader: a second is ample to see one.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        read(),
        format!("{leader} failover 1\n"),
        "once, on the leader"
    );
}
