//! Building answers: which names exist, reuse of unchanged groups, and the cost of a
//! rebuild with 1,000 groups.
use hickory_proto::rr::{RData, RecordType};

use crate::dns::respond::Transport;

use super::*;
use crate::dns::encode::wire_name;
use crate::dns::test_support::*;

fn exists(a: &Answers, name: &str) -> bool {
    a.node(&wire_name(name)).is_some()
}

#[test]
fn names_of_the_zone() {
    let z = answers();
    for name in [
        "zone.test.",
        "ns1.zone.test.",
        "app.zone.test.",
        "v6.eu.zone.test.",
        "eu.zone.test.",
        "alias.zone.test.",
        "closed.zone.test.",
    ] {
        assert!(exists(&z, name), "{name} must exist");
    }
    for name in [
        "x.app.zone.test.",
        "ns.other.test.",
        "nope.zone.test.",
        "test.",
    ] {
        assert!(!exists(&z, name), "{name} must not exist");
    }
    assert_eq!(z.zone(), &wire_name("zone.test.")[..]);
}

#[test]
fn no_dns_section_means_no_builder() {
    let text = ZONE_CONFIG
        .split("[[group]]")
        .nth(1)
        .map(|g| format!("[[group]]{g}"))
        .unwrap()
        .replace("ttl = \"7s\"\n", "");
    let config = Config::parse(&text).unwrap();
    assert!(AnswerBuilder::new(&config).unwrap().is_none());
}

/// The node a name answers with, as a pointer (to tell shared from rebuilt).
fn node_ptr(a: &Answers, name: &str) -> *const Node {
    a.node(&wire_name(name)).expect("name exists")
}

#[test]
fn unchanged_groups_are_reused_and_changed_ones_rebuilt() {
    let config = config();
    let mut b = AnswerBuilder::new(&config).unwrap().unwrap();
    let mut groups: Vec<Arc<GroupSnap>> = config
        .groups
        .iter()
        .map(|g| Arc::new(snap(g, vec![0])))
        .collect();
    let first = b.build_all(1, &groups);
    let mut app = (*groups[0]).clone();
    app.active = vec![1];
    groups[0] = Arc::new(app);
    let second = b.build(2, &groups, [0]);
    assert_ne!(
        node_ptr(&first, "app.zone.test."),
        node_ptr(&second, "app.zone.test.")
    );
    for shared in ["alias.zone.test.", "zone.test."] {
        assert_eq!(
            node_ptr(&first, shared),
            node_ptr(&second, shared),
            "{shared}"
        );
    }
    assert_eq!(second.serial(), first.serial().wrapping_add(1));
}

fn many_groups(n: usize) -> Config {
    let mut text = String::from(
        "[dns]\nlisten = [\"127.0.0.1:0\"]\nzone = \"big.test.\"\n\
         nameservers = [{ name = \"ns1.big.test.\", addresses = [\"127.0.0.1\"] }]\n",
    );
    for i in 0..n {
        text.push_str(&format!(
            "[[group]]\nname = \"g{i}\"\n[group.health]\nport = 80\n\
             [[group.target]]\nname = \"main\"\naddress = \"10.0.{}.{}\"\n\
             [[group.target]]\nname = \"backup\"\naddress = [\"10.1.{}.{}\", \"2001:db8::{i:x}\"]\n",
            i / 256,
            i % 256,
            i / 256,
            i % 256
        ));
    }
    Config::parse(&text).unwrap()
}

/// What a publish costs is counted, not timed: one changed group is one encode, whatever
/// the number of groups, and a change that keeps the active targets is none.
#[test]
fn one_change_among_ten_thousand_groups_encodes_one_name() {
    let config = many_groups(10_000);
    let mut b = AnswerBuilder::new(&config).unwrap().unwrap();
    let mut groups: Vec<Arc<GroupSnap>> = config
        .groups
        .iter()
        .map(|g| Arc::new(snap(g, vec![0])))
        .collect();
    let first = b.build_all(1, &groups);
    assert_eq!(b.encoded(), 10_000);
    assert!(exists(&first, "g9999.big.test."));
    let mut g = (*groups[500]).clone();
    g.active = vec![1];
    groups[500] = Arc::new(g);
    let second = b.build(2, &groups, [500]);
    assert_eq!(b.encoded(), 10_001, "one changed group, one encode");
    assert_ne!(
        node_ptr(&first, "g500.big.test."),
        node_ptr(&second, "g500.big.test.")
    );
    assert_eq!(
        node_ptr(&first, "g9999.big.test."),
        node_ptr(&second, "g9999.big.test.")
    );
    // A verdict that leaves the active targets as they were: nothing encoded.
    let mut g = (*groups[500]).clone();
    g.epoch += 0;
    groups[500] = Arc::new(g);
    b.build(3, &groups, [500]);
    assert_eq!(b.encoded(), 10_001);
}

#[test]
fn serial_is_patched_into_every_soa() {
    let config = config();
    let mut b = AnswerBuilder::new(&config).unwrap().unwrap();
    let groups: Vec<_> = config
        .groups
        .iter()
        .map(|g| Arc::new(snap(g, vec![0])))
        .collect();
    let first = b.build_all(1, &groups);
    let later = b.build(2, &groups, []);
    assert_eq!(later.serial(), first.serial().wrapping_add(1));
    for (name, t) in [
        ("zone.test.", RecordType::SOA),
        ("app.zone.test.", RecordType::MX),
        ("nope.zone.test.", RecordType::A),
    ] {
        let m = ask_msg(&later, &query(name, t, None), Transport::Udp);
        let soa = m
            .answers
            .iter()
            .chain(&m.authorities)
            .find_map(|r| match &r.data {
                RData::SOA(s) => Some(s.serial),
                _ => None,
            });
        assert_eq!(soa, Some(later.serial()), "{name} {t}");
    }
}
