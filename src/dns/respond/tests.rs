//! The fast path against a reference: for each query, our bytes must decode to the same
//! message as one built the straightforward way with hickory-proto (`Message` from the
//! query, records added, `to_vec`): header flags, rcode, every section, TTLs and EDNS.
use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Edns, Message, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::*;
use crate::dns::test_support::*;

const ZONE: &str = "zone.test.";

fn n(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn rec(name: &str, ttl: u32, data: RData) -> Record {
    Record::from_rdata(n(name), ttl, data)
}

fn a(name: &str, ttl: u32, ip: [u8; 4]) -> Record {
    rec(name, ttl, RData::A(A(Ipv4Addr::from(ip))))
}

fn aaaa(name: &str, ttl: u32, ip: &str) -> Record {
    rec(
        name,
        ttl,
        RData::AAAA(AAAA(ip.parse::<Ipv6Addr>().unwrap())),
    )
}

fn soa(answers: &Answers, ttl: u32) -> Record {
    let data = SOA::new(
        n("ns1.zone.test."),
        n("hostmaster.zone.test."),
        answers.serial(),
        14_400,
        3_600,
        1_209_600,
        5,
    );
    rec(ZONE, ttl, RData::SOA(data))
}

#[derive(Default)]
struct Expect {
    rcode: Option<ResponseCode>,
    not_authoritative: bool,
    answers: Vec<Record>,
    authorities: Vec<Record>,
    additionals: Vec<Record>,
    truncated: bool,
}

/// The reference: what a plain hickory `Message` response to `query` looks like.
fn reference(query: &[u8], e: Expect) -> Message {
    let q = Message::from_vec(query).unwrap();
    let mut m = Message::response(q.id, q.op_code);
    m.metadata = Metadata::response_from_request(&q.metadata);
    m.metadata.authoritative = !e.not_authoritative;
    m.metadata.response_code = e.rcode.unwrap_or(ResponseCode::NoError);
    m.add_queries(q.queries.clone());
    m.add_answers(e.answers);
    m.add_authorities(e.authorities);
    m.add_additionals(e.additionals);
    if let Some(qe) = &q.edns {
        let mut ours = Edns::new();
        ours.set_max_payload(OUR_PAYLOAD);
        ours.set_dnssec_ok(qe.flags().dnssec_ok);
        m.set_edns(ours);
    }
    if e.truncated {
        m = m.truncate();
    }
    Message::from_vec(&m.to_vec().unwrap()).unwrap()
}

fn ttls(m: &Message) -> Vec<u32> {
    m.answers
        .iter()
        .chain(&m.authorities)
        .chain(&m.additionals)
        .map(|r| r.ttl)
        .collect()
}

fn check(answers: &Answers, query: &[u8], transport: Transport, e: Expect) {
    let ours = ask_msg(answers, query, transport);
    let want = reference(query, e);
    assert_eq!(ours, want, "\nours: {ours}\nwant: {want}");
    assert_eq!(ttls(&ours), ttls(&want), "TTLs");
    assert!(!ours.metadata.recursion_available);
}

fn udp(answers: &Answers, name: &str, qtype: RecordType, e: Expect) {
    check(answers, &query(name, qtype, None), Transport::Udp, e);
}

fn nodata(answers: &Answers) -> Expect {
    Expect {
        authorities: vec![soa(answers, 5)],
        ..Expect::default()
    }
}

fn answer(records: Vec<Record>) -> Expect {
    Expect {
        answers: records,
        ..Expect::default()
    }
}

#[test]
fn failover_address_answers_the_active_tier() {
    let z = answers();
    let app = "app.zone.test.";
    udp(
        &z,
        app,
        RecordType::A,
        answer(vec![a(app, 7, [192, 0, 2, 1])]),
    );
    udp(
        &z,
        app,
        RecordType::ANY,
        answer(vec![a(app, 7, [192, 0, 2, 1])]),
    );
    for t in [
        RecordType::AAAA,
        RecordType::MX,
        RecordType::TXT,
        RecordType::Unknown(65000),
    ] {
        udp(&z, app, t, nodata(&z));
    }
    let z = answers_with(&config(), 1);
    udp(
        &z,
        app,
        RecordType::A,
        answer(vec![a(app, 7, [192, 0, 2, 2])]),
    );
    udp(
        &z,
        app,
        RecordType::AAAA,
        answer(vec![aaaa(app, 7, "2001:db8::2")]),
    );
    let v6 = "v6.eu.zone.test.";
    udp(
        &z,
        v6,
        RecordType::AAAA,
        answer(vec![aaaa(v6, 5, "2001:db8::6")]),
    );
    udp(
        &z,
        v6,
        RecordType::ANY,
        answer(vec![aaaa(v6, 5, "2001:db8::6")]),
    );
    udp(&z, v6, RecordType::A, nodata(&z));
}

#[test]
fn hostname_targets_answer_cname_for_every_type() {
    let z = answers();
    for (name, target) in [
        ("alias.zone.test.", "host.example.net."),
        ("mixed.zone.test.", "cdn.example.net."),
    ] {
        let cname = rec(name, 5, RData::CNAME(CNAME(n(target))));
        for t in [
            RecordType::A,
            RecordType::AAAA,
            RecordType::CNAME,
            RecordType::TXT,
            RecordType::ANY,
        ] {
            udp(&z, name, t, answer(vec![cname.clone()]));
        }
    }
}

#[test]
fn apex_nameservers_and_empty_non_terminals() {
    let z = answers();
    udp(&z, ZONE, RecordType::SOA, answer(vec![soa(&z, 3600)]));
    udp(&z, ZONE, RecordType::ANY, answer(vec![soa(&z, 3600)]));
    let ns = |t: &str| rec(ZONE, 3600, RData::NS(NS(n(t))));
    let glue = vec![
        a("ns1.zone.test.", 3600, [127, 0, 0, 1]),
        aaaa("ns1.zone.test.", 3600, "::1"),
    ];
    let e = Expect {
        additionals: glue,
        ..answer(vec![ns("ns1.zone.test."), ns("ns.other.test.")])
    };
    udp(&z, ZONE, RecordType::NS, e);
    udp(&z, ZONE, RecordType::A, nodata(&z));
    let ns1 = "ns1.zone.test.";
    udp(
        &z,
        ns1,
        RecordType::A,
        answer(vec![a(ns1, 3600, [127, 0, 0, 1])]),
    );
    udp(
        &z,
        ns1,
        RecordType::AAAA,
        answer(vec![aaaa(ns1, 3600, "::1")]),
    );
    udp(&z, ns1, RecordType::MX, nodata(&z));
    udp(&z, "eu.zone.test.", RecordType::A, nodata(&z));
}

#[test]
fn unknown_names_are_nxdomain_and_other_zones_refused() {
    let z = answers();
    for name in [
        "nope.zone.test.",
        "x.app.zone.test.",
        "a.b.v6.eu.zone.test.",
    ] {
        let e = Expect {
            rcode: Some(ResponseCode::NXDomain),
            ..nodata(&z)
        };
        udp(&z, name, RecordType::A, e);
    }
    let refused = || Expect {
        rcode: Some(ResponseCode::Refused),
        not_authoritative: true,
        ..Expect::default()
    };
    for name in ["example.com.", "xzone.test.", "test.", "."] {
        udp(&z, name, RecordType::A, refused());
    }
    udp(&z, ZONE, RecordType::AXFR, refused());
    udp(&z, ZONE, RecordType::IXFR, refused());
    let mut ch = query_msg("app.zone.test.", RecordType::A, None);
    ch.queries[0].set_query_class(DNSClass::CH);
    check(&z, &ch.to_vec().unwrap(), Transport::Udp, refused());
}

#[test]
fn fail_closed_with_nothing_active_is_servfail() {
    let z = answers();
    let e = Expect {
        rcode: Some(ResponseCode::ServFail),
        not_authoritative: true,
        ..Expect::default()
    };
    udp(&z, "closed.zone.test.", RecordType::A, e);
}

#[test]
fn edns_is_echoed_with_do_and_badvers_for_newer_versions() {
    let z = answers();
    let app = "app.zone.test.";
    for (payload, dnssec_ok) in [(512, false), (1232, true), (4096, false), (100, true)] {
        let q = query(app, RecordType::A, Some((payload, 0, dnssec_ok)));
        check(
            &z,
            &q,
            Transport::Udp,
            answer(vec![a(app, 7, [192, 0, 2, 1])]),
        );
    }
    let q = query(app, RecordType::A, Some((1232, 1, false)));
    let e = Expect {
        rcode: Some(ResponseCode::BADVERS),
        not_authoritative: true,
        ..Expect::default()
    };
    check(&z, &q, Transport::Udp, e);
    let raw = ask(&z, &q, Transport::Udp).unwrap();
    assert_eq!(raw[3] & 0x0f, 0, "BADVERS has 0 in the header's rcode bits");
    assert_eq!(
        &raw[raw.len() - 11..raw.len() - 4],
        &[0, 0, 41, 0x04, 0xd0, 1, 0],
        "OPT: 1232, ext rcode 1, version 0"
    );
}

#[test]
fn large_answers_truncate_over_udp_and_not_over_tcp() {
    let z = answers();
    let big = "big.zone.test.";
    let all: Vec<Record> = (1..=40)
        .map(|i| aaaa(big, 5, &format!("2001:db8::{i:x}")))
        .collect();
    let full = || answer(all.clone());
    let cut = || Expect {
        truncated: true,
        ..full()
    };
    check(
        &z,
        &query(big, RecordType::AAAA, None),
        Transport::Udp,
        cut(),
    );
    check(
        &z,
        &query(big, RecordType::AAAA, Some((512, 0, false))),
        Transport::Udp,
        cut(),
    );
    check(
        &z,
        &query(big, RecordType::AAAA, Some((1232, 0, false))),
        Transport::Udp,
        full(),
    );
    check(
        &z,
        &query(big, RecordType::AAAA, None),
        Transport::Tcp,
        full(),
    );
    let tc = ask(&z, &query(big, RecordType::AAAA, None), Transport::Udp).unwrap();
    assert!(tc.len() <= 512);
    assert_ne!(tc[2] & 0x02, 0, "TC set");
}

#[test]
fn question_case_is_preserved_in_every_owner_name() {
    let z = answers();
    let q = query("ApP.ZoNe.TeSt.", RecordType::A, None);
    let r = ask(&z, &q, Transport::Udp).unwrap();
    let qend = q.len();
    assert_eq!(&r[12..qend], &q[12..qend], "question bytes");
    let m = Message::from_vec(&r).unwrap();
    assert_eq!(m.answers[0].name.to_string(), "ApP.ZoNe.TeSt.");
    let nodata = ask_msg(
        &z,
        &query("ApP.ZoNe.TeSt.", RecordType::MX, None),
        Transport::Udp,
    );
    assert_eq!(nodata.authorities[0].name.to_string(), "ZoNe.TeSt.");
}

#[test]
fn malformed_queries_get_formerr_notimp_or_nothing() {
    let z = answers();
    let mut notify = query_msg("app.zone.test.", RecordType::SOA, None);
    notify.metadata.op_code = OpCode::Notify;
    let e = Expect {
        rcode: Some(ResponseCode::NotImp),
        not_authoritative: true,
        ..Expect::default()
    };
    check(&z, &notify.to_vec().unwrap(), Transport::Udp, e);
    let mut two = query_msg("app.zone.test.", RecordType::A, None);
    two.add_query(two.queries[0].clone());
    let r = ask_msg(&z, &two.to_vec().unwrap(), Transport::Udp);
    assert_eq!(
        (r.response_code, r.queries.len()),
        (ResponseCode::FormErr, 0)
    );
    let q = query("app.zone.test.", RecordType::A, None);
    assert_eq!(ask(&z, &q[..11], Transport::Udp), None);
    let mut response = q.clone();
    response[2] |= 0x80;
    assert_eq!(ask(&z, &response, Transport::Udp), None);
}
