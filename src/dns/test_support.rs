//! Shared by the DNS unit tests: a zone with every kind of name, answers built from chosen
//! active targets, and queries made with hickory-proto's `Message`.

use std::sync::Arc;

use hickory_proto::op::{Edns, Message, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};

use super::answers::Answers;
use super::build::AnswerBuilder;
use super::respond::{respond, Transport};
use super::stats::Tally;
use crate::config::{Config, GroupConfig};
use crate::group::snapshot::GroupSnap;
use crate::group::GroupStatus;

/// Zone `zone.test.` (written mixed-case: the config lowercases it) with:
/// app (main 192.0.2.1; backup 192.0.2.2 + 2001:db8::2), v6.eu (AAAA only, so eu is an
/// empty non-terminal), alias (hostname target), closed (fail_closed), big (40 IPv6),
/// mixed (a tier of a hostname and an IP); ns1 in zone with glue, ns.other.test. outside.
pub const ZONE_CONFIG: &str = r#"
[dns]
listen = ["127.0.0.1:0"]
zone = "Zone.Test."
nameservers = [
  { name = "ns1.zone.test.", addresses = ["127.0.0.1", "::1"] },
  { name = "ns.other.test." },
]
soa_ttl = "1h"
negative_ttl = "5s"

[[group]]
name = "app"
ttl = "7s"
[group.health]
port = 80
[[group.target]]
name = "main"
address = "192.0.2.1"
[[group.target]]
name = "backup"
address = ["192.0.2.2", "2001:db8::2"]

[[group]]
name = "v6"
dns_name = "v6.eu"
[group.health]
port = 80
[[group.target]]
name = "main"
address = "2001:db8::6"

[[group]]
name = "alias"
[group.health]
port = 80
[[group.target]]
name = "main"
address = "Host.Example.NET"

[[group]]
name = "closed"
all_down = "fail_closed"
[group.health]
port = 80
[[group.target]]
name = "main"
address = "192.0.2.9"

[[group]]
name = "mixed"
[group.health]
port = 80
[[group.target]]
name = "web"
address = "192.0.2.20"
priority = 1
[[group.target]]
name = "cdn"
address = "cdn.example.net"
priority = 1
"#;

pub fn config() -> Config {
    let mut text = ZONE_CONFIG.to_string();
    text.push_str("\n[[group]]\nname = \"big\"\n[group.health]\nport = 80\n[[group.target]]\nname = \"main\"\naddress = [");
    let ips: Vec<String> = (1..=40).map(|i| format!("\"2001:db8::{i:x}\"")).collect();
    text.push_str(&ips.join(", "));
    text.push_str("]\n");
    Config::parse(&text).expect("test zone config")
}

pub fn snap(g: &GroupConfig, active: Vec<usize>) -> GroupSnap {
    GroupSnap {
        config: Arc::new(g.clone()),
        epoch: 0,
        status: GroupStatus::Primary,
        active,
        targets: Vec::new(),
        last_change: None,
        pin: None,
        failback_at: None,
        disconnect_gen: 0,
        held: None,
        changed: tokio::sync::watch::channel(0).1,
    }
}

/// Answers with the first target of each group active (both for `mixed`), `closed`
/// having nothing active, and `app` on `app_active`.
pub fn answers_with(config: &Config, app_active: usize) -> Arc<Answers> {
    let mut b = AnswerBuilder::new(config).unwrap().unwrap();
    let groups: Vec<Arc<GroupSnap>> = config
        .groups
        .iter()
        .map(|g| match g.name.as_str() {
            "app" => snap(g, vec![app_active]),
            "closed" => snap(g, vec![]),
            "mixed" => snap(g, vec![0, 1]),
            _ => snap(g, vec![0]),
        })
        .map(Arc::new)
        .collect();
    b.build_all(3, &groups)
}

pub fn answers() -> Arc<Answers> {
    answers_with(&config(), 0)
}

/// A query message: `edns` is (payload, version, DO).
pub fn query_msg(name: &str, qtype: RecordType, edns: Option<(u16, u8, bool)>) -> Message {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    let mut q = Query::query(Name::from_ascii(name).unwrap(), qtype);
    q.set_query_class(DNSClass::IN);
    m.add_query(q);
    if let Some((payload, version, dnssec_ok)) = edns {
        let mut e = Edns::new();
        e.set_max_payload(payload);
        e.set_version(version);
        e.set_dnssec_ok(dnssec_ok);
        m.set_edns(e);
    }
    m.metadata.op_code = OpCode::Query;
    m
}

pub fn query(name: &str, qtype: RecordType, edns: Option<(u16, u8, bool)>) -> Vec<u8> {
    query_msg(name, qtype, edns).to_vec().unwrap()
}

/// Our response bytes to `packet`, or None when dropped.
pub fn ask(answers: &Answers, packet: &[u8], transport: Transport) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    respond(
        Some(answers),
        packet,
        transport,
        &mut out,
        &mut Tally::new(),
    )
    .then_some(out)
}

pub fn ask_msg(answers: &Answers, packet: &[u8], transport: Transport) -> Message {
    let bytes = ask(answers, packet, transport).expect("an answer");
    Message::from_vec(&bytes).expect("a response hickory can decode")
}
