//! Query parsing: good queries, every malformation, and random bytes.
use hickory_proto::rr::RecordType;

use super::*;
use crate::dns::test_support::query;

/// A header with the given counts, then `rest`.
fn packet(counts: [u16; 4], rest: &[u8]) -> Vec<u8> {
    let mut p = vec![0x12, 0x34, 0x01, 0x00];
    for c in counts {
        p.extend_from_slice(&c.to_be_bytes());
    }
    p.extend_from_slice(rest);
    p
}

const QUESTION: &[u8] = &[
    3, b'a', b'p', b'p', 4, b'z', b'o', b'n', b'e', 0, 0, 1, 0, 1,
];

fn opt(owner: &[u8], version: u8, rdata: &[u8]) -> Vec<u8> {
    let mut r = owner.to_vec();
    r.extend_from_slice(&[0, 41, 0x04, 0xd0, 0, version, 0x80, 0]);
    r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    r.extend_from_slice(rdata);
    r
}

fn problem(p: &[u8]) -> Option<Problem> {
    parse(p).expect("a readable header").problem
}

#[test]
fn parses_a_hickory_query_with_edns() {
    let bytes = query("App.Zone.Test.", RecordType::AAAA, Some((4096, 0, true)));
    let req = parse(&bytes).unwrap();
    assert_eq!(req.problem, None);
    assert_eq!(req.opcode(), 0);
    assert_ne!(req.flags & FLAG_RD, 0);
    let q = req.question.unwrap();
    assert_eq!(
        &bytes[HEADER_LEN..q.name_end],
        b"\x03App\x04Zone\x04Test\x00"
    );
    assert_eq!((q.qtype, q.qclass, q.end), (28, 1, q.name_end + 4));
    assert_eq!(
        req.edns,
        Some(Edns {
            payload: 4096,
            version: 0,
            dnssec_ok: true
        })
    );
}

#[test]
fn parses_without_edns_and_ignores_unknown_options_and_other_records() {
    let mut rest = QUESTION.to_vec();
    // A record in the answer section (compressed owner) is skipped.
    rest.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2, 3, 4]);
    rest.extend(opt(&[0], 0, &[0xfe, 0xed, 0, 2, 9, 9]));
    let req = parse(&packet([1, 1, 0, 1], &rest)).unwrap();
    assert_eq!(req.problem, None);
    assert_eq!(
        req.edns.map(|e| (e.payload, e.dnssec_ok)),
        Some((1232, true))
    );
    let plain = parse(&packet([1, 0, 0, 0], QUESTION)).unwrap();
    assert_eq!((plain.problem, plain.edns), (None, None));
}

#[test]
fn short_packets_and_responses_are_dropped() {
    for n in 0..HEADER_LEN {
        assert_eq!(
            parse(&packet([1, 0, 0, 0], QUESTION)[..n]),
            None,
            "{n} bytes"
        );
    }
    let mut response = packet([1, 0, 0, 0], QUESTION);
    response[2] |= 0x80;
    assert_eq!(parse(&response), None);
}

#[test]
fn question_count_must_be_one() {
    assert_eq!(
        problem(&packet([0, 0, 0, 0], &[])),
        Some(Problem::QuestionCount)
    );
    let two = [QUESTION, QUESTION].concat();
    assert_eq!(
        problem(&packet([2, 0, 0, 0], &two)),
        Some(Problem::QuestionCount)
    );
}

#[test]
fn truncated_questions_are_formerr() {
    for cut in 0..QUESTION.len() {
        let p = packet([1, 0, 0, 0], &QUESTION[..cut]);
        assert_eq!(problem(&p), Some(Problem::Truncated), "cut at {cut}");
    }
}

#[test]
fn bad_names_are_formerr() {
    let pointer = packet([1, 0, 0, 0], &[3, b'a', b'p', b'p', 0xc0, 12, 0, 1, 0, 1]);
    assert_eq!(problem(&pointer), Some(Problem::CompressedQuestion));
    let self_loop = packet([1, 0, 0, 0], &[0xc0, 12, 0, 1, 0, 1]);
    assert_eq!(problem(&self_loop), Some(Problem::CompressedQuestion));
    let extended = packet([1, 0, 0, 0], &[0x41, 0, 0, 1, 0, 1]);
    assert_eq!(problem(&extended), Some(Problem::BadLabel));
    // 10,000 one-letter labels: stopped at 255 bytes, long before the end.
    let junk: Vec<u8> = (0..10_000)
        .flat_map(|_| [1u8, b'x'])
        .chain([0, 0, 1, 0, 1])
        .collect();
    assert_eq!(
        problem(&packet([1, 0, 0, 0], &junk)),
        Some(Problem::NameTooLong)
    );
    // Exactly 255 bytes is fine: 127 labels "x" (254 bytes) + root.
    let max: Vec<u8> = (0..127)
        .flat_map(|_| [1u8, b'x'])
        .chain([0, 0, 1, 0, 1])
        .collect();
    assert_eq!(problem(&packet([1, 0, 0, 0], &max)), None);
}

#[test]
fn bad_opt_records_are_formerr() {
    let with = |records: Vec<Vec<u8>>| {
        let rest: Vec<u8> = QUESTION.iter().copied().chain(records.concat()).collect();
        packet([1, 0, 0, records.len() as u16], &rest)
    };
    let two = with(vec![opt(&[0], 0, &[]), opt(&[0], 0, &[])]);
    assert_eq!(problem(&two), Some(Problem::TwoOpts));
    let not_root = with(vec![opt(&[1, b'x', 0], 0, &[])]);
    assert_eq!(problem(&not_root), Some(Problem::OptNotRoot));
    let bad_option = with(vec![opt(&[0], 0, &[0, 10, 0, 9, 1])]);
    assert_eq!(problem(&bad_option), Some(Problem::BadOptOptions));
    let mut cut = with(vec![opt(&[0], 0, &[0, 10, 0, 1, 1])]);
    cut.pop();
    assert_eq!(problem(&cut), Some(Problem::Truncated));
    // Version is parsed, not judged, here (the responder answers BADVERS).
    let v1 = parse(&with(vec![opt(&[0], 1, &[])])).unwrap();
    assert_eq!(v1.edns.map(|e| e.version), Some(1));
}

#[test]
fn huge_record_counts_and_pointer_loops_end_quickly() {
    let p = packet([1, 65535, 65535, 65535], QUESTION);
    assert_eq!(problem(&p), Some(Problem::Truncated));
    // An additional record whose owner is a pointer to itself: never followed.
    let mut rest = QUESTION.to_vec();
    let at = (HEADER_LEN + rest.len()) as u8;
    rest.extend_from_slice(&[0xc0, at, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(problem(&packet([1, 0, 0, 1], &rest)), None);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0x0d15ea5e);
    let good = query("app.zone.test.", RecordType::A, Some((1232, 0, false)));
    for i in 0..50_000 {
        let p: Vec<u8> = if i % 2 == 0 {
            let n = rng.usize(0..600);
            (0..n).map(|_| rng.u8(..)).collect()
        } else {
            // Mutations of a good query reach deeper into the parser.
            let mut p = good.clone();
            for _ in 0..rng.usize(1..6) {
                let at = rng.usize(0..p.len());
                p[at] = rng.u8(..);
            }
            p.truncate(rng.usize(0..=p.len()));
            p
        };
        let _ = parse(&p);
    }
}
