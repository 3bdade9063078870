//! The DNS query path, packet in, answer out, with hickory-proto's parser as the oracle:
//! every answer failoverd gives must parse, carry the query's ID and the QR bit, and a
//! query whose header or question hickory rejects must never get a NOERROR answer.
//!
//! The oracle stops at the question: failoverd reads the OPT record of the additional
//! section and skips the other records without decoding their RDATA (a DS record with
//! empty data, say), which hickory decodes and rejects; answering such a query is fine.
#![no_main]

use std::sync::{Arc, OnceLock};

use failoverd::config::Config;
use failoverd::dns::{respond, Answers, Tally, Transport};
use failoverd::group::supervisor::{Services, Supervisor};
use failoverd::store::events::EventLog;
use hickory_proto::op::{Header, Message, Query, ResponseCode};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use libfuzzer_sys::fuzz_target;

/// A zone with an IPv4 target, a dual-stack one, a CNAME target and a big tier.
const CONFIG: &str = r#"
[dns]
listen = ["127.0.0.1:0"]
zone = "fo.test."
nameservers = [{ name = "ns1.fo.test.", addresses = ["127.0.0.1", "::1"] }]

[[group]]
name = "app"
[group.health]
port = 80
[[group.target]]
name = "main"
address = "192.0.2.1"
[[group.target]]
name = "backup"
address = ["198.51.100.1", "2001:db8::1"]

[[group]]
name = "alias"
dns_name = "www.alias"
[group.health]
port = 80
[[group.target]]
name = "main"
address = "app.example.com"

[[group]]
name = "big"
[group.health]
port = 80
[[group.target]]
name = "a"
address = ["192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13", "2001:db8::10", "2001:db8::11"]
"#;

fn answers() -> &'static Arc<Answers> {
    static ANSWERS: OnceLock<Arc<Answers>> = OnceLock::new();
    ANSWERS.get_or_init(|| {
        let config = Config::parse(CONFIG).expect("fuzz config");
        let services = Services {
            store: None,
            events: Arc::new(EventLog::open(None, 16)),
            notices: None,
            cluster: None,
            gates: None,
            derive: Some(failoverd::dns::deriver),
        };
        let (_sup, _handle, reader) = Supervisor::new(&config, None, &[], services);
        let snap = reader.load_full();
        // The answers the publish derived, shared as the DNS server shares them.
        let derived = snap.derived.clone().expect("derived answers");
        let answers = derived.0.downcast::<Answers>().ok();
        answers.expect("answers")
    })
}

/// Hickory reads the header and every question of the packet.
fn question_parses(data: &[u8]) -> bool {
    let mut d = BinDecoder::new(data);
    let Ok(header) = Header::read(&mut d) else {
        return false;
    };
    (0..header.counts.queries).all(|_| Query::read(&mut d).is_ok())
}

fuzz_target!(|data: &[u8]| {
    let answers = answers();
    let readable = question_parses(data);
    let mut out = Vec::new();
    let mut tally = Tally::new();
    for transport in [Transport::Udp, Transport::Tcp] {
        if !respond(Some(answers), data, transport, &mut out, &mut tally) {
            continue;
        }
        let answer = Message::from_vec(&out)
            .unwrap_or_else(|e| panic!("our answer does not parse ({e}): {out:02x?}"));
        assert_eq!(answer.id, u16::from_be_bytes([data[0], data[1]]), "ID");
        assert!(answer.message_type == hickory_proto::op::MessageType::Response);
        if !readable {
            assert_ne!(
                answer.response_code,
                ResponseCode::NoError,
                "a query hickory rejects was answered NOERROR: {data:02x?}"
            );
        }
    }
});
