//! Building answers: which names exist, reuse of unchanged groups, and the cost of a
//! rebuild with 1,000 groups.
use hickory_proto::rr::{RData, RecordType};
use tokio::time::Instant;

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

#[test]
fn unchanged_groups_are_reused_and_changed_ones_rebuilt() {
    let config = config();
    let mut b = AnswerBuilder::new(&config).unwrap().unwrap();
    let mut groups: Vec<GroupSnap> = config.groups.iter().map(|g| snap(g, vec![0])).collect();
    let first = b.build(1, &groups);
    groups[0].active = vec![1];
    let second = b.build(2, &groups);
    let node = |a: &Answers, n: &str| a.names.get(&wire_name(n)[..]).unwrap().clone();
    assert!(!Arc::ptr_eq(
        &node(&first, "app.zone.test."),
        &node(&second, "app.zone.test.")
    ));
    assert!(Arc::ptr_eq(
        &node(&first, "alias.zone.test."),
        &node(&second, "alias.zone.test.")
    ));
    assert!(Arc::ptr_eq(
        &node(&first, "zone.test."),
        &node(&second, "zone.test.")
    ));
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

#[test]
fn a_thousand_groups_rebuild_in_milliseconds() {
    let config = many_groups(1000);
    let mut b = AnswerBuilder::new(&config).unwrap().unwrap();
    let mut groups: Vec<GroupSnap> = config.groups.iter().map(|g| snap(g, vec![0])).collect();
    let started = Instant::now();
    let first = b.build(1, &groups);
    let full = started.elapsed();
    assert!(exists(&first, "g999.big.test."));
    // The usual publish: one group changed.
    groups[500].active = vec![1];
    let started = Instant::now();
    let second = b.build(2, &groups);
    let one = started.elapsed();
    assert_eq!(second.names.len(), first.names.len());
    println!("1,000 groups: full build {full:?}, rebuild after one change {one:?}");
    // Generous bounds: this runs unoptimized, next to other tests.
    assert!(one.as_millis() < 50, "rebuild took {one:?}");
    assert!(full.as_millis() < 2_000, "full build took {full:?}");
}

#[test]
fn serial_is_patched_into_every_soa() {
    let config = config();
    let mut b = AnswerBuilder::new(&config).unwrap().unwrap();
    let groups: Vec<_> = config.groups.iter().map(|g| snap(g, vec![0])).collect();
    let first = b.build(1, &groups);
    let later = b.build(2, &groups);
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
