//! One answer from every instance: the leader decides on the majority's verdicts, every
//! instance serves what is committed in etcd, with one SOA serial.

use std::time::Duration;

use hickory_proto::rr::RecordType;
use tokio::time::Instant;

use super::sampler::Sampler;
use super::*;
use crate::dns_client::*;
use crate::harness::*;

/// (active targets, epoch, SOA serial, A answer) as instance `f` serves them.
async fn served(f: &Failoverd) -> (Vec<String>, u64, Option<u32>, Vec<String>) {
    let g = f.group("app").await;
    let soa = ask_type(f.dns[0], Via::Udp, "fo.test.", RecordType::SOA).await;
    let a = ask_type(f.dns[0], Via::Udp, "app.fo.test.", RecordType::A).await;
    (
        active(&g),
        g["epoch"].as_u64().unwrap_or(u64::MAX),
        soa_serial(&soa),
        answer_data(&a),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_a_dead_main_flips_every_instance_to_one_committed_decision() {
    let Some(etcd) = EtcdCluster::start(3).await else {
        return;
    };
    let (port, main, _backup) = http_stacks(MAIN, BACKUP);
    let (fs, _) = three_instances(&etcd, port).await;
    let first = eventually(Duration::from_secs(10), "one answer: main", || async {
        let mut seen = Vec::new();
        for f in &fs {
            seen.push(served(f).await);
        }
        let same = seen.windows(2).all(|w| w[0] == w[1]);
        (same && seen[0].0 == ["main"] && seen[0].3 == [MAIN]).then(|| seen[0].clone())
    })
    .await;

    main.stop();
    let t0 = Instant::now();
    // Polled by hand (every 20 ms) to note when each instance flipped.
    let mut flipped: Vec<Option<Duration>> = vec![None; fs.len()];
    while flipped.iter().any(Option::is_none) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "not all flipped: {flipped:?}"
        );
        for (i, f) in fs.iter().enumerate() {
            // Every answer sampled is a committed decision: the main, then the backup.
            let a = served(f).await.3;
            assert!(a == [MAIN] || a == [BACKUP], "{} answered {a:?}", i + 1);
            if flipped[i].is_none() && a == [BACKUP] {
                flipped[i] = Some(t0.elapsed());
            }
            assert!(
                flipped[i].is_none() || a == [BACKUP],
                "{} went back to {a:?}",
                i + 1
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let times: Vec<Duration> = flipped.into_iter().flatten().collect();
    let spread = *times.iter().max().unwrap() - *times.iter().min().unwrap();
    eprintln!("flipped after {times:?}: spread {spread:?}");
    assert!(spread < Duration::from_secs(1), "spread {spread:?}");

    // One decision everywhere: same active, epoch and serial, the serial grown.
    let after = eventually(Duration::from_secs(5), "one answer: backup", || async {
        let mut seen = Vec::new();
        for f in &fs {
            seen.push(served(f).await);
        }
        let same = seen.windows(2).all(|w| w[0] == w[1]);
        (same && seen[0].0 == ["backup"]).then(|| seen[0].clone())
    })
    .await;
    assert_eq!(after.1, first.1 + 1, "one transition, one epoch");
    assert!(
        after.2 > first.2,
        "the SOA serial grew: {:?} -> {:?}",
        first.2,
        after.2
    );
}

/// An operator command asked of a follower is decided by the leader, committed, and
/// served by every instance; the leader's refusal comes back as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_a_command_on_a_follower_is_committed_and_served_by_all() {
    let Some(etcd) = EtcdCluster::start(4).await else {
        return;
    };
    let (port, _main, _backup) = http_stacks(MAIN, BACKUP);
    let (fs, leader) = three_instances(&etcd, port).await;
    for f in &fs {
        f.wait_both_up("app", Duration::from_secs(10)).await;
    }
    let follower = ["ns1", "ns2", "ns3"]
        .iter()
        .position(|n| *n != leader)
        .unwrap();
    let f = &fs[follower];
    let switch = r#"{"target": "backup"}"#;
    let (status, body) = http_post(f.admin, "/v1/groups/app/switch", switch, None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let g = parse_json("switch", &body);
    assert_eq!(
        g["pinned"], "backup",
        "the answer shows the committed pin: {g}"
    );
    eventually(
        Duration::from_secs(1),
        "every instance serves the pin",
        || async {
            for f in &fs {
                let (active, _, _, a) = served(f).await;
                if active != ["backup"] || a != [BACKUP] {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;

    let bad = r#"{"target": "nowhere"}"#;
    let (status, body) = http_post(f.admin, "/v1/groups/app/switch", bad, None)
        .await
        .unwrap();
    assert_eq!(status, 404, "the leader's refusal, as it was: {body}");
}

/// Without etcd nobody decides: a dead main changes no DNS answer (fail static) while the
/// proxy's per-connection retry still reaches the backup; once etcd is back, every
/// instance fails over together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_without_etcd_answers_stay_and_converge_once_it_is_back() {
    let Some(mut etcd) = EtcdCluster::start(5).await else {
        return;
    };
    let (port, main, _backup) = http_stacks(MAIN, BACKUP);
    let (mut fs, _) = three_instances(&etcd, port).await;
    for f in &fs {
        f.wait_both_up("app", Duration::from_secs(10)).await;
    }
    let serial = eventually(Duration::from_secs(5), "one SOA serial", || async {
        let mut serials = Vec::new();
        for f in &fs {
            serials.push(served(f).await.2);
        }
        (serials.windows(2).all(|w| w[0] == w[1]) && serials[0] > Some(0)).then(|| serials[0])
    })
    .await;
    let mut sampler = Sampler::start(dns_of(&fs));
    for i in 0..3 {
        etcd.kill(i);
    }
    // Restarted while etcd is down, an instance serves its last decision and serial.
    let f0 = fs.remove(0);
    fs.insert(0, f0.restart(StartOptions::default()).await);
    // Sampled from here on at its new DNS address.
    sampler.check(&[MAIN], Duration::ZERO).await;
    sampler = Sampler::start(dns_of(&fs));
    assert_eq!(served(&fs[0]).await.2, serial, "the serial never goes back");
    for f in &fs {
        eventually(Duration::from_secs(8), "disconnected", || async {
            (cluster_view(f).await["connected"] == false).then_some(())
        })
        .await;
    }
    main.stop();
    // Every instance sees the main down itself (its own verdict, logged; the API shows the
    // cluster's), and still serves the last decision.
    for f in &fs {
        eventually(Duration::from_secs(5), "main seen down", || async {
            let down = f.log_lines_with("target down");
            down.iter().any(|l| l["target"] == "main").then_some(())
        })
        .await;
    }
    for f in &fs {
        let (active, _, _, a) = served(f).await;
        assert_eq!(
            (active, a),
            (vec!["main".to_string()], vec![MAIN.to_string()])
        );
        let (status, body) = http_get(f.proxy("app"), "/").await.unwrap();
        assert_eq!(
            (status, body.as_str()),
            (200, "hello from backup"),
            "proxy retry"
        );
    }

    for i in 0..3 {
        etcd.restart(i);
    }
    etcd.wait_healthy(Duration::from_secs(20)).await;
    // By hand rather than `eventually`, to show every instance's view when it fails.
    let t0 = Instant::now();
    loop {
        let mut seen = Vec::new();
        for f in &fs {
            seen.push(served(f).await);
        }
        if seen.windows(2).all(|w| w[0] == w[1]) && seen[0].3 == [BACKUP] {
            break;
        }
        // Until then: every answer sampled is the main, then the backup, and the
        // instances disagree for at most a second.
        if t0.elapsed() > Duration::from_secs(20) {
            for f in &fs {
                eprintln!("{}\n{}", cluster_view(f).await, f.group("app").await);
            }
            panic!("not one answer 20 s after etcd came back: {seen:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rounds = sampler.check(&[MAIN, BACKUP], Duration::from_secs(1)).await;
    eprintln!("{rounds} rounds sampled from 3 instances");
}
