//! What resolvers see while something fails: the A answer for `app.fo.test.` asked of every
//! instance every 50 ms, and the cluster's two promises checked on the samples: every answer
//! is a committed decision (taken in order, never back), and no two instances answer
//! differently for longer than a second.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::dns_client::{answer_data, query};

const EVERY: Duration = Duration::from_millis(50);

/// One round: when, and each instance's answer (`None`: no reply within the round, e.g.
/// the instance is down; a loopback answer takes well under a millisecond).
#[derive(Debug)]
pub(crate) struct Round {
    at: Duration,
    answers: Vec<Option<Vec<String>>>,
}

pub(crate) struct Sampler {
    stop: CancellationToken,
    task: JoinHandle<Vec<Round>>,
}

impl Sampler {
    /// Starts asking the DNS addresses `servers` (one per instance) every 50 ms.
    pub(crate) fn start(servers: Vec<SocketAddr>) -> Sampler {
        let stop = CancellationToken::new();
        let until = stop.clone();
        let task = tokio::spawn(async move {
            let t0 = Instant::now();
            let mut rounds = Vec::new();
            let mut tick = tokio::time::interval(EVERY);
            while !until.is_cancelled() {
                tick.tick().await;
                let asks = servers.iter().map(|s| answer(*s));
                let answers = futures_util::future::join_all(asks).await;
                rounds.push(Round {
                    at: t0.elapsed(),
                    answers,
                });
            }
            rounds
        });
        Sampler { stop, task }
    }

    /// Stops sampling; checks every round against `decisions` (the A answers the cluster
    /// committed, in order) and `longest_split`; returns how many rounds were checked.
    pub(crate) async fn check(self, decisions: &[&str], longest_split: Duration) -> usize {
        self.stop.cancel();
        let rounds = self.task.await.expect("the sampler");
        check_rounds(&rounds, decisions, longest_split);
        rounds.len()
    }
}

async fn answer(server: SocketAddr) -> Option<Vec<String>> {
    let sock = UdpSocket::bind("0.0.0.0:0").await.ok()?;
    let packet = query("app.fo.test.", RecordType::A, None);
    sock.send_to(&packet, server).await.ok()?;
    let mut buf = vec![0u8; 4096];
    // Within the round, so a dead instance does not slow the sampling of the others.
    let wait = EVERY - Duration::from_millis(5);
    let (n, _) = tokio::time::timeout(wait, sock.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some(answer_data(&Message::from_vec(&buf[..n]).ok()?))
}

/// Panics, showing the rounds around the first breach, when an answer is not one of
/// `decisions`, when an instance goes back to an earlier decision, or when instances
/// disagree for longer than `longest_split`. Instances are compared by their place in
/// `decisions`, so two that serve the same value of different decisions disagree.
pub(crate) fn check_rounds(rounds: &[Round], decisions: &[&str], longest_split: Duration) {
    let near = |i: usize| &rounds[i.saturating_sub(3)..(i + 3).min(rounds.len())];
    let width = rounds.first().map_or(0, |r| r.answers.len());
    let mut reached = vec![0usize; width];
    let mut split_since: Option<Duration> = None;
    for (i, r) in rounds.iter().enumerate() {
        let mut seen = Vec::new();
        for (n, a) in r.answers.iter().enumerate() {
            let Some(a) = a else { continue };
            // The first decision at or after the one this instance served last: a value
            // may come back later in `decisions` (switched, then released).
            let later = &decisions[reached[n]..];
            let at = match a.as_slice() {
                [one] => later.iter().position(|d| d == one),
                _ => None,
            };
            let Some(at) = at else {
                panic!(
                    "instance {} answered {a:?}: not {decisions:?}[{}..] (a committed \
                     decision, in order): {:?}",
                    n + 1,
                    reached[n],
                    near(i)
                );
            };
            reached[n] += at;
            let at = reached[n];
            seen.push(at);
        }
        let split = seen.windows(2).any(|w| w[0] != w[1]);
        match (split, split_since) {
            (true, None) => split_since = Some(r.at),
            (false, _) => split_since = None,
            (true, Some(since)) => assert!(
                r.at - since <= longest_split,
                "instances disagreed for {:?} (limit {longest_split:?}): {:?}",
                r.at - since,
                near(i)
            ),
        }
    }
}

#[test]
fn a_breach_of_either_promise_is_caught() {
    let round = |ms: u64, answers: &[Option<&str>]| Round {
        at: Duration::from_millis(ms),
        answers: answers
            .iter()
            .map(|a| a.map(|s| vec![s.to_string()]))
            .collect(),
    };
    let order = ["m", "b", "m"];
    let second = Duration::from_secs(1);
    let fine = [
        round(0, &[Some("m"), Some("m")]),
        round(50, &[Some("b"), None]),
        round(900, &[Some("b"), Some("m")]),
        round(1000, &[Some("b"), Some("b")]),
        round(1050, &[Some("m"), Some("b")]),
        round(1100, &[Some("m"), Some("m")]),
    ];
    check_rounds(&fine, &order, second);
    // (decisions, rounds): an answer never decided; back to the main although the main
    // was decided once only; a second value served by one instance, the other never
    // following; a disagreement for longer than a second.
    let breaches: [(&[&str], Vec<Round>); 4] = [
        (&order, vec![round(0, &[Some("x"), Some("m")])]),
        (
            &["m", "b"],
            vec![round(0, &[Some("b"), None]), round(50, &[Some("m"), None])],
        ),
        (
            &order,
            vec![
                round(0, &[Some("m"), Some("b")]),
                round(50, &[Some("m"), Some("m")]),
                round(1100, &[Some("m"), Some("m")]),
            ],
        ),
        (
            &order,
            vec![
                round(0, &[Some("b"), Some("m")]),
                round(1100, &[Some("b"), Some("m")]),
            ],
        ),
    ];
    for (decided, rounds) in &breaches {
        let caught = std::panic::catch_unwind(|| check_rounds(rounds, decided, second));
        assert!(caught.is_err(), "not caught: {rounds:?}");
    }
}
