//! Random and mutated packets through the fast path: it never panics, and what it sends
//! is a whole DNS header that fits the transport.

use super::*;
use crate::dns::stats::Tally;
use crate::dns::test_support::*;
use hickory_proto::rr::RecordType;

#[test]
fn random_and_mutated_packets_never_panic() {
    let z = answers();
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let seeds: Vec<Vec<u8>> = [
        ("app.zone.test.", RecordType::A),
        ("big.zone.test.", RecordType::AAAA),
        ("nope.zone.test.", RecordType::MX),
    ]
    .iter()
    .map(|(name, t)| query(name, *t, Some((1232, 0, true))))
    .collect();
    let (mut out, mut tally) = (Vec::new(), Tally::new());
    for i in 0..30_000 {
        let mut p = seeds[i % seeds.len()].clone();
        if i % 3 == 0 {
            p = (0..rng.usize(0..300)).map(|_| rng.u8(..)).collect();
        } else {
            for _ in 0..rng.usize(1..5) {
                let at = rng.usize(0..p.len());
                p[at] = rng.u8(..);
            }
        }
        for transport in [Transport::Udp, Transport::Tcp] {
            if respond(Some(&z), &p, transport, &mut out, &mut tally) {
                assert!(out.len() >= 12);
                assert!(transport == Transport::Tcp || out.len() <= OUR_PAYLOAD as usize);
            }
        }
    }
}
