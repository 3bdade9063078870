//! The DNS server end to end: the real binary, hickory-proto messages over real UDP and
//! TCP sockets on loopback.
//!
//! Every target here is a loopback address (IPv6 answers use ::1 and IPv4-mapped
//! ::ffff:127.x addresses), and the hostname target is `localhost`, so health checks
//! never leave the machine.

use std::time::Duration;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};

use crate::dns_client::*;
use crate::harness::*;

const ZONE: &str = r#"
[dns]
listen = ["127.0.0.1:0"]
zone = "Fo.Test."
nameservers = [
  { name = "ns1.fo.test.", addresses = ["127.0.0.1", "::1"] },
  { name = "ns2.elsewhere.test." },
]
soa_ttl = "1h"
negative_ttl = "30s"
"#;

/// Single-target groups: the active target never changes, whatever the health checks
/// (on port 1, where nothing listens) say.
fn static_config() -> String {
    let big: Vec<String> = (1..=40)
        .map(|i| format!("\"::ffff:127.0.1.{i}\""))
        .collect();
    let group = |name: &str, extra: &str, address: &str| {
        format!(
            "[[group]]\nname = \"{name}\"\n{extra}\n[group.health]\nport = 1\n\
             [[group.target]]\nname = \"main\"\naddress = {address}\n"
        )
    };
    format!(
        "{ZONE}\n[admin]\nlisten = \"127.0.0.1:0\"\n[state]\npath = \"{{dir}}/state\"\n{}{}{}{}",
        group("app", "ttl = \"9s\"", "[\"127.0.0.2\", \"::1\"]"),
        group("v4", "dns_name = \"v4.eu\"", "\"127.0.0.4\""),
        group("alias", "", "\"localhost\""),
        group("big", "", &format!("[{}]", big.join(", "))),
    )
}

const APP: &str = "app.fo.test.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_every_kind_of_name_over_udp_and_tcp() {
    let f = Failoverd::start(&static_config()).await;
    let dns = f.dns[0];
    for via in [Via::Udp, Via::Tcp] {
        let m = ask_type(dns, via, APP, RecordType::A).await;
        assert_eq!(m.response_code, ResponseCode::NoError);
        assert!(
            m.authoritative && !m.recursion_available && m.recursion_desired,
            "{via:?} flags"
        );
        assert_eq!(answer_data(&m), ["127.0.0.2"]);
        assert_eq!(m.answers[0].ttl, 9);
        let m = ask_type(dns, via, APP, RecordType::AAAA).await;
        assert_eq!(answer_data(&m), ["::1"]);

        let m = ask_type(dns, via, "alias.fo.test.", RecordType::A).await;
        assert_eq!(m.answers[0].record_type(), RecordType::CNAME);
        assert_eq!(answer_data(&m), ["localhost."]);

        let m = ask_type(dns, via, "fo.test.", RecordType::SOA).await;
        assert_eq!((m.answers.len(), m.answers[0].ttl), (1, 3600));
        assert!(soa_serial(&m).is_some());

        let m = ask_type(dns, via, "fo.test.", RecordType::NS).await;
        assert_eq!(answer_data(&m), ["ns1.fo.test.", "ns2.elsewhere.test."]);
        let glue: Vec<String> = m
            .additionals
            .iter()
            .map(|r| format!("{} {}", r.name, r.data))
            .collect();
        assert_eq!(glue, ["ns1.fo.test. 127.0.0.1", "ns1.fo.test. ::1"]);

        // NODATA: a name with no data of the type, and an empty non-terminal.
        for (name, qtype) in [
            ("v4.eu.fo.test.", RecordType::AAAA),
            (APP, RecordType::MX),
            ("eu.fo.test.", RecordType::A),
        ] {
            let m = ask_type(dns, via, name, qtype).await;
            assert_eq!(
                (m.response_code, m.answers.len()),
                (ResponseCode::NoError, 0),
                "{name} {qtype}"
            );
            assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
            assert_eq!(
                m.authorities[0].ttl, 30,
                "negative TTL = min(SOA TTL, minimum)"
            );
            assert!(m.authoritative);
        }
        // NXDOMAIN, also below a failover address.
        for name in ["nope.fo.test.", "www.app.fo.test."] {
            let m = ask_type(dns, via, name, RecordType::A).await;
            assert_eq!(m.response_code, ResponseCode::NXDomain, "{name}");
            assert_eq!(
                (m.authorities[0].record_type(), m.authorities[0].ttl),
                (RecordType::SOA, 30)
            );
            assert!(m.authoritative);
        }
        // REFUSED: outside the zone, zone transfers, another class.
        for (name, qtype) in [
            ("example.com.", RecordType::A),
            ("xfo.test.", RecordType::A),
            ("fo.test.", RecordType::AXFR),
            ("fo.test.", RecordType::IXFR),
        ] {
            let m = ask_type(dns, via, name, qtype).await;
            assert_eq!(m.response_code, ResponseCode::Refused, "{name} {qtype}");
            assert!(!m.authoritative);
        }
        let mut ch = Message::from_vec(&query(APP, RecordType::A, None)).unwrap();
        ch.queries[0].set_query_class(DNSClass::CH);
        let m = ask(dns, via, &ch.to_vec().unwrap()).await;
        assert_eq!(m.response_code, ResponseCode::Refused);
    }
    let metrics = f.metrics().await;
    for line in [
        "failoverd_dns_queries_total{qtype=\"A\"}",
        "failoverd_dns_queries_total{qtype=\"AXFR\"}",
        "failoverd_dns_responses_total{rcode=\"NXDOMAIN\"}",
        "failoverd_dns_responses_total{rcode=\"REFUSED\"}",
        "failoverd_dns_answers_total{group=\"app\",target=\"main\"}",
        "# HELP failoverd_dns_answers_total",
    ] {
        assert!(metrics.contains(line), "metrics lack {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_case_comes_back_byte_identical() {
    let f = Failoverd::start(&static_config()).await;
    let q = query("aPp.Fo.TeSt.", RecordType::A, None);
    let raw = udp_raw(f.dns[0], &q, TIMEOUT).await.unwrap();
    assert_eq!(&raw[12..q.len()], &q[12..], "question bytes");
    let m = Message::from_vec(&raw).unwrap();
    assert_eq!(m.answers[0].name.to_string(), "aPp.Fo.TeSt.");
    let m = ask(
        f.dns[0],
        Via::Tcp,
        &query("NoPe.FO.test.", RecordType::A, None),
    )
    .await;
    assert_eq!(m.queries[0].name().to_string(), "NoPe.FO.test.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edns_sizes_badvers_and_truncation_with_tcp_retry() {
    let f = Failoverd::start(&static_config()).await;
    let dns = f.dns[0];
    let big = "big.fo.test.";
    // 40 AAAA records: about 1,160 bytes.
    for edns in [None, Some((512, 0, false)), Some((100, 0, false))] {
        let raw = udp_raw(dns, &query(big, RecordType::AAAA, edns), TIMEOUT)
            .await
            .unwrap();
        assert!(raw.len() <= 512, "{edns:?}: {} bytes", raw.len());
        let m = Message::from_vec(&raw).unwrap();
        assert!(
            m.truncation && m.answers.is_empty(),
            "{edns:?}: TC and no answers"
        );
        assert_eq!(m.queries.len(), 1);
        assert_eq!(m.edns.is_some(), edns.is_some(), "OPT echoed when sent");
    }
    // The resolver's retry over TCP gets everything.
    let m = ask_type(dns, Via::Tcp, big, RecordType::AAAA).await;
    assert!(!m.truncation);
    assert_eq!(m.answers.len(), 40);
    // An EDNS client with room gets it all over UDP, and our payload size 1232.
    for payload in [1232, 4096] {
        let m = ask(
            dns,
            Via::Udp,
            &query(big, RecordType::AAAA, Some((payload, 0, true))),
        )
        .await;
        assert!(!m.truncation);
        assert_eq!(m.answers.len(), 40);
        let e = m.edns.expect("OPT in the reply");
        assert_eq!(
            (e.max_payload(), e.version(), e.flags().dnssec_ok),
            (1232, 0, true)
        );
    }
    let m = ask(
        dns,
        Via::Udp,
        &query(APP, RecordType::A, Some((1232, 1, false))),
    )
    .await;
    // hickory decodes 16 as BADSIG, the TSIG meaning of the same number.
    assert_eq!(u16::from(m.response_code), 16, "BADVERS");
    assert_eq!(m.edns.map(|e| e.version()), Some(0));
    assert!(m.answers.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_never_crashes_the_server() {
    let mut f = Failoverd::start(&static_config()).await;
    let dns = f.dns[0];
    let good = query(APP, RecordType::A, None);
    let mut rng = fastrand::Rng::with_seed(0xbad_d00d);
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // Random datagrams and mutated queries.
    for i in 0..3_000 {
        let p: Vec<u8> = if i % 2 == 0 {
            (0..rng.usize(0..700)).map(|_| rng.u8(..)).collect()
        } else {
            let mut p = good.clone();
            for _ in 0..rng.usize(1..4) {
                let at = rng.usize(0..p.len());
                p[at] = rng.u8(..);
            }
            p
        };
        sock.send_to(&p, dns).await.unwrap();
    }
    // Truncated headers: dropped without a reply.
    for n in 0..12 {
        assert_eq!(
            udp_raw(dns, &good[..n], Duration::from_millis(100)).await,
            None,
            "{n} bytes"
        );
    }
    // 10,000 labels, a pointer loop in the question and in an additional record.
    let header = |counts: [u16; 4]| -> Vec<u8> {
        let mut h = vec![0xab, 0xcd, 0, 0];
        counts
            .iter()
            .for_each(|c| h.extend_from_slice(&c.to_be_bytes()));
        h
    };
    let mut junk = header([1, 0, 0, 0]);
    (0..10_000).for_each(|_| junk.extend_from_slice(&[1, b'x']));
    junk.extend_from_slice(&[0, 0, 1, 0, 1]);
    let mut looped = header([1, 0, 0, 0]);
    looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    let mut opt_loop = good.clone();
    opt_loop[11] = 1;
    let at = opt_loop.len() as u8;
    opt_loop.extend_from_slice(&[0xc0, at, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]);
    for p in [&junk, &looped, &opt_loop] {
        for via in [Via::Udp, Via::Tcp] {
            let m = ask(dns, via, p).await;
            assert_eq!(m.response_code, ResponseCode::FormErr, "{via:?}");
        }
    }
    let mut notify = Message::from_vec(&good).unwrap();
    notify.metadata.op_code = OpCode::Notify;
    let m = ask(dns, Via::Udp, &notify.to_vec().unwrap()).await;
    assert_eq!(m.response_code, ResponseCode::NotImp);
    // Garbage over TCP, including a length prefix promising more than is sent.
    for junk in [vec![0u8, 5, 1, 2, 3, 4, 5], vec![0xff, 0xff, 1, 2, 3]] {
        let mut s = tokio::net::TcpStream::connect(dns).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut s, &junk)
            .await
            .unwrap();
        drop(s);
    }
    // Still alive and answering.
    assert_eq!(f.exited(), None);
    for via in [Via::Udp, Via::Tcp] {
        let m = ask(dns, via, &good).await;
        assert_eq!(answer_data(&m), ["127.0.0.2"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_gets_answers() {
    if !require("dig (Debian bind9-dnsutils)", has_command("dig")) {
        return;
    }
    let f = Failoverd::start(&static_config()).await;
    let dns = f.dns[0];
    let dig = |args: &[&str]| {
        let mut cmd = std::process::Command::new("dig");
        cmd.args([
            "+time=2",
            "+tries=1",
            "-p",
            &dns.port().to_string(),
            &format!("@{}", dns.ip()),
        ]);
        cmd.args(args);
        String::from_utf8_lossy(&cmd.output().expect("run dig").stdout).to_string()
    };
    let short = dig(&["+short", APP, "A"]);
    assert_eq!(short.trim(), "127.0.0.2");
    let full = dig(&["big.fo.test.", "AAAA", "+bufsize=512", "+ignore"]);
    assert!(full.contains("flags: qr aa tc rd;"), "{full}");
    let tcp = dig(&["+tcp", "+short", "big.fo.test.", "AAAA"]);
    assert_eq!(tcp.lines().count(), 40, "{tcp}");
    let nx = dig(&["nope.fo.test.", "A"]);
    assert!(
        nx.contains("status: NXDOMAIN") && nx.contains("flags: qr aa rd;"),
        "{nx}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_answers_pipelined_queries_in_order() {
    let f = Failoverd::start(&static_config()).await;
    let names = [
        "app.fo.test.",
        "nope.fo.test.",
        "big.fo.test.",
        "example.com.",
        "fo.test.",
    ];
    let queries: Vec<Vec<u8>> = (0..50)
        .map(|i| query(names[i % names.len()], RecordType::AAAA, None))
        .collect();
    let replies = tcp_raw(f.dns[0], &queries).await;
    for (q, r) in queries.iter().zip(&replies) {
        let m = Message::from_vec(r).unwrap();
        assert_eq!(
            m.id,
            u16::from_be_bytes([q[0], q[1]]),
            "replies come back in query order"
        );
        assert!(!m.truncation, "TCP answers are never truncated");
    }
    let big = Message::from_vec(&replies[2]).unwrap();
    assert_eq!(big.answers.len(), 40);
}

/// Each UDP socket (one per CPU) is served by a thread named `failoverd-dns`, so `top -H`
/// tells them apart; a graceful stop waits for them and exits 0.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_threads_are_named_one_per_cpu_and_end_on_shutdown() {
    let mut f = Failoverd::start(&static_config()).await;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pid = f.pid();
    let named = || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .expect("read /proc/PID/task")
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.trim_end() == "failoverd-dns")
            .count()
    };
    // A thread names itself once it runs, which on a busy machine can be after the log
    // line the harness waited for.
    eventually(
        Duration::from_secs(5),
        "one UDP thread per CPU for the one address",
        || async { (named() == cpus).then_some(()) },
    )
    .await;
    assert_eq!(named(), cpus, "no more than one per CPU");
    let m = ask_type(f.dns[0], Via::Udp, APP, RecordType::A).await;
    assert_eq!(m.response_code, ResponseCode::NoError);

    f.signal("TERM");
    let status = f.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "graceful stop: {status:?}");
}
