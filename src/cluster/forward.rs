//! Operator commands asked of a follower, decided by the leader, through etcd.
//!
//! The follower writes `commands/ID` under its own lease and waits. The leader claims it by
//! deleting it in a transaction (so it runs once, and a follower that gave up and deleted
//! it first means it never runs), runs it through its supervisor (which commits the
//! decision before it answers), and writes the answer to `results/ID`. The follower reads
//! the answer, deletes it and answers its caller: a 200 there means committed in etcd.
//! If no leader claims the command in time, the follower deletes it itself and answers
//! 503: nothing changed.

use std::collections::HashMap;
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, PutOptions, Txn, TxnOp};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::group::supervisor::CommandError;
use crate::group::supervisor::SupervisorHandle;
use crate::group::wire_command::{WireAnswer, WireCommand};

/// A command a follower hands on, and where its answer goes.
pub struct Forward {
    pub command: WireCommand,
    pub actor: String,
    pub reply: oneshot::Sender<WireAnswer>,
}

#[derive(Serialize, Deserialize)]
struct Asked {
    command: WireCommand,
    actor: String,
}

struct Pending {
    reply: oneshot::Sender<WireAnswer>,
    deadline: Instant,
    /// The leader took it (our delete found nothing): only its answer is awaited now.
    taken: bool,
}

pub(super) struct Forwarding {
    pub asks: mpsc::Receiver<Forward>,
    /// Answers of commands this instance ran as leader, to write back.
    pub answers: mpsc::UnboundedReceiver<(String, WireAnswer)>,
    answers_tx: mpsc::UnboundedSender<(String, WireAnswer)>,
    pending: HashMap<String, Pending>,
    next: u64,
}

impl Forwarding {
    pub fn new(asks: mpsc::Receiver<Forward>) -> Forwarding {
        let (answers_tx, answers) = mpsc::unbounded_channel();
        Forwarding {
            asks,
            answers,
            answers_tx,
            pending: HashMap::new(),
            next: 0,
        }
    }

    /// Writes a follower's command for the leader; its answer comes back by `answered`.
    pub async fn ask(
        &mut self,
        client: &mut Client,
        (prefix, instance, lease): (&str, &str, i64),
        wait: Duration,
        f: Forward,
    ) {
        self.next += 1;
        let id = format!("{instance}-{}-{}", std::process::id(), self.next);
        let asked = Asked {
            command: f.command,
            actor: f.actor,
        };
        let value = serde_json::to_string(&asked).unwrap_or_default();
        let put = PutOptions::new().with_lease(lease);
        let key = format!("{prefix}commands/{id}");
        if let Err(e) = client.put(key, value, Some(put)).await {
            let msg = format!("etcd did not take the command: {e}; nothing changed");
            let _ = f.reply.send(Err(CommandError::Unavailable(msg)));
            return;
        }
        let deadline = Instant::now() + wait;
        let pending = Pending {
            reply: f.reply,
            deadline,
            taken: false,
        };
        self.pending.insert(id, pending);
    }

    /// An answer under `results/ID` for one of this instance's commands.
    pub async fn answered(&mut self, client: &mut Client, prefix: &str, id: &str, value: &[u8]) {
        let Some(p) = self.pending.remove(id) else {
            return;
        };
        let answer = serde_json::from_slice::<WireAnswer>(value).unwrap_or_else(|e| {
            Err(CommandError::Internal(format!(
                "unreadable answer from the leader: {e}"
            )))
        });
        let _ = p.reply.send(answer);
        let _ = client.delete(format!("{prefix}results/{id}"), None).await;
    }

    /// The earliest deadline of a waiting command.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    /// Commands whose deadline passed: withdrawn if the leader has not taken them (503,
    /// nothing changed); given one more wait if it has.
    pub async fn expire(&mut self, client: &mut Client, prefix: &str, wait: Duration) {
        let now = Instant::now();
        let due: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            let key = format!("{prefix}commands/{id}");
            let withdraw = Txn::new()
                .when([Compare::version(key.as_str(), CompareOp::Greater, 0)])
                .and_then([TxnOp::delete(key.as_str(), None)]);
            let withdrawn = matches!(client.txn(withdraw).await, Ok(r) if r.succeeded());
            let Some(p) = self.pending.get_mut(&id) else {
                continue;
            };
            if withdrawn {
                let p = self.pending.remove(&id).expect("pending");
                let msg = "no cluster leader took the command in time: nothing changed";
                let _ = p.reply.send(Err(CommandError::Unavailable(msg.into())));
            } else if !p.taken {
                p.taken = true;
                p.deadline = now + wait;
            } else {
                let p = self.pending.remove(&id).expect("pending");
                let msg = "the leader took the command, but its answer did not come back: see failoverd ctl status";
                let _ = p.reply.send(Err(CommandError::Internal(msg.into())));
            }
        }
    }

    /// As leader: claims `commands/ID` (deleting it, so it runs once) and runs it on the
    /// supervisor in a task of its own (the supervisor commits through this session, which
    /// must not wait for it); the answer comes back on `answers`.
    pub async fn take(
        &self,
        client: &mut Client,
        prefix: &str,
        id: &str,
        value: &[u8],
        supervisor: &SupervisorHandle,
    ) {
        let key = format!("{prefix}commands/{id}");
        let claim = Txn::new()
            .when([Compare::version(key.as_str(), CompareOp::Greater, 0)])
            .and_then([TxnOp::delete(key.as_str(), None)]);
        if !matches!(client.txn(claim).await, Ok(r) if r.succeeded()) {
            return; // withdrawn, or taken already
        }
        let (id, answers, sup) = (id.to_string(), self.answers_tx.clone(), supervisor.clone());
        let asked = serde_json::from_slice::<Asked>(value);
        tokio::spawn(async move {
            let answer = match asked {
                Ok(a) => sup.command(a.command.into_command(), &a.actor).await,
                Err(e) => Err(CommandError::Internal(format!("unreadable command: {e}"))),
            };
            let _ = answers.send((id, answer));
        });
    }

    /// Abandons every waiting command (the session ended): their callers get a 503 unless
    /// the leader already took them, which nobody can tell now.
    pub fn abandon(&mut self) {
        for (_, p) in self.pending.drain() {
            let msg = match p.taken {
                false => "lost etcd while the command waited for the leader: it may still be decided; see failoverd ctl status",
                true => "lost etcd after the leader took the command: see failoverd ctl status",
            };
            let _ = p.reply.send(Err(CommandError::Unavailable(msg.into())));
        }
    }
}

/// Writes a command's answer where the asking follower waits for it.
pub(super) async fn write_answer(
    client: &mut Client,
    (prefix, lease): (&str, i64),
    id: &str,
    answer: &WireAnswer,
) -> Result<(), String> {
    let value = serde_json::to_string(answer).unwrap_or_default();
    let put = PutOptions::new().with_lease(lease);
    client
        .put(format!("{prefix}results/{id}"), value, Some(put))
        .await
        .map(|_| ())
        .map_err(|e| format!("etcd: writing a command's answer: {e}"))
}
