//! DNS and proxy flip together: real HTTP stacks on 127.0.0.2 (main) and 127.0.0.3
//! (backup), failoverd in front with both a DNS name and a proxy listener.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::dns_client::*;
use crate::harness::*;

const FAST_TCP: &str =
    "kind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"100ms\"\nrise = 2\nfall = 2";

const DNS: &str = r#"
[dns]
listen = ["127.0.0.1:0"]
zone = "fo.test."
nameservers = [{ name = "ns1.fo.test.", addresses = ["127.0.0.1"] }]
"#;

const APP: &str = "app.fo.test.";

async fn dns_a(dns: std::net::SocketAddr, via: Via) -> (ResponseCode, Vec<String>) {
    let m = ask_type(dns, via, APP, RecordType::A).await;
    (m.response_code, answer_data(&m))
}

async fn serial(dns: std::net::SocketAddr) -> u32 {
    let m = ask_type(dns, Via::Udp, "fo.test.", RecordType::SOA).await;
    soa_serial(&m).expect("SOA")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_flips_dns_answer_and_proxy_target_in_the_same_epoch() {
    let (port, main, _backup) = http_stacks("127.0.0.2", "127.0.0.3");
    let cfg = format!(
        "{DNS}{}",
        two_stack_config(
            port,
            "127.0.0.2",
            "127.0.0.3",
            "ttl = \"1s\"\nfailback = \"manual\"",
            FAST_TCP
        )
    );
    let f = Failoverd::start(&cfg).await;
    let dns = f.dns[0];
    f.wait_both_up("app", Duration::from_secs(10)).await;
    let g = f.group("app").await;
    assert_eq!(
        (active(&g), &g["epoch"]),
        (vec!["main".to_string()], &0.into())
    );
    assert_eq!(
        dns_a(dns, Via::Udp).await,
        (ResponseCode::NoError, vec!["127.0.0.2".into()])
    );
    assert_eq!(
        http_get(f.proxy("app"), "/").await.unwrap().1,
        "hello from main"
    );
    let serial_before = serial(dns).await;

    main.stop();
    let g = f
        .wait_group("app", Duration::from_secs(10), "failover to backup", |g| {
            active(g) == ["backup"]
        })
        .await;
    let epoch = g["epoch"].as_u64().unwrap();
    assert_eq!(epoch, 1);
    // The snapshot that made the backup active carries the DNS answer for it: as soon as
    // the API shows the new epoch, DNS and proxy both say backup, never main.
    for via in [Via::Udp, Via::Tcp] {
        assert_eq!(
            dns_a(dns, via).await,
            (ResponseCode::NoError, vec!["127.0.0.3".into()])
        );
    }
    for _ in 0..5 {
        assert_eq!(
            http_get(f.proxy("app"), "/").await.unwrap().1,
            "hello from backup"
        );
    }
    assert_eq!(f.group("app").await["epoch"], epoch, "still the same epoch");
    let serial_after = serial(dns).await;
    assert!(
        serial_after.wrapping_sub(serial_before) as i32 > 0,
        "SOA serial grew"
    );
    let m = ask_type(dns, Via::Udp, APP, RecordType::A).await;
    assert_eq!(m.answers[0].ttl, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_answers_servfail_when_both_targets_die() {
    let (port, mut main, backup) = http_stacks("127.0.0.2", "127.0.0.3");
    let cfg = format!(
        "{DNS}{}",
        two_stack_config(
            port,
            "127.0.0.2",
            "127.0.0.3",
            "all_down = \"fail_closed\"\nfailback_hold = \"0s\"",
            FAST_TCP
        )
    );
    let f = Failoverd::start(&cfg).await;
    let dns = f.dns[0];
    f.wait_both_up("app", Duration::from_secs(10)).await;
    main.stop();
    backup.stop();
    f.wait_group(
        "app",
        Duration::from_secs(10),
        "all down, nothing active",
        |g| g["state"] == "all_down" && active(g).is_empty(),
    )
    .await;
    for via in [Via::Udp, Via::Tcp] {
        let m = ask_type(dns, via, APP, RecordType::A).await;
        assert_eq!(m.response_code, ResponseCode::ServFail, "{via:?}");
        assert!(m.answers.is_empty() && !m.authoritative);
    }
    // Other names of the zone still answer.
    let m = ask_type(dns, Via::Udp, "fo.test.", RecordType::SOA).await;
    assert_eq!(m.response_code, ResponseCode::NoError);

    main.restart();
    f.wait_group("app", Duration::from_secs(10), "main back", |g| {
        active(g) == ["main"]
    })
    .await;
    assert_eq!(
        dns_a(dns, Via::Udp).await,
        (ResponseCode::NoError, vec!["127.0.0.2".into()])
    );
}
