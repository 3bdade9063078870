//! One session with etcd: a lease kept alive, this instance's member key under it, and the
//! leader election (a leased key created only if absent, as Patroni does).
//!
//! Safety of leadership rests on the lease: etcd deletes the leader key when the lease is
//! not renewed for `lease_ttl`, and another instance may then lead. So this instance stops
//! counting itself leader *before* that can happen: at the send time of the last renewal
//! etcd acknowledged, plus the lease, minus a margin. A renewal is sent every third of the
//! lease. Anything unexpected (an error, a lease etcd says is gone, a watch etcd cancelled)
//! ends the session: the caller marks the instance disconnected and not leading, and opens
//! a new one, which reads everything again (the resync).

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, EventType, GetOptions, KeyValue, LeaseKeepAliveStream, LeaseKeeper,
    PutOptions, Txn, TxnOp, TxnOpResponse, WatchOptions, WatchStream,
};
use serde_json::json;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

mod commands;
mod keys;
mod lease;

pub(super) use keys::Keys;

use lease::{margin_of, take_lease};

use super::status::StatusWriter;
use super::sync::{self, Sync};
use crate::config::ClusterConfig;
use crate::group::cluster_link::Role;

fn e(what: &str) -> impl Fn(etcd_client::Error) -> String + '_ {
    move |err| format!("etcd: {what}: {err}")
}

pub(super) struct Session<'a> {
    client: Client,
    cfg: &'a ClusterConfig,
    keys: &'a Keys,
    status: &'a StatusWriter,
    lease: i64,
    keeper: LeaseKeeper,
    acks: LeaseKeepAliveStream,
    /// Send times of the renewals not yet acknowledged, oldest first.
    sent: VecDeque<Instant>,
    /// Until when the lease surely lives (see the module comment).
    valid_until: Instant,
    watch: WatchStream,
    members: BTreeSet<String>,
    /// The leader key's value and whether it is held under this session's lease.
    leader: Option<(String, bool)>,
    revision: i64,
    /// Commands written before this instance led were taken when it began to.
    took_over: bool,
}

impl<'a> Session<'a> {
    /// Takes a lease (`previous`, the last session's, while etcd still holds it: a session
    /// lost with its etcd member then keeps this instance's keys, the leader key too),
    /// writes this instance's member key, reads the members and the leader, watches both
    /// from there, and runs for leader if nobody leads.
    pub async fn open(
        mut client: Client,
        cfg: &'a ClusterConfig,
        keys: &'a Keys,
        status: &'a StatusWriter,
        sync: &mut Sync,
        previous: Option<i64>,
    ) -> Result<Session<'a>, String> {
        let held = take_lease(&mut client, cfg.lease_ttl, previous).await?;
        let lease = held.lease;
        let member = json!({ "instance": cfg.instance, "pid": std::process::id() }).to_string();
        let put = PutOptions::new().with_lease(lease);
        client
            .put(keys.me.as_str(), member, Some(put))
            .await
            .map_err(e("member key"))?;
        sync.reset();
        sync.write_own(
            &mut client,
            &keys.prefix,
            &cfg.instance,
            lease,
            sync.all_own_groups(),
        )
        .await?;
        // Everything at one revision, then every change after it.
        let all = || Some(GetOptions::new().with_prefix());
        let read = Txn::new().and_then([
            TxnOp::get(keys.members.as_str(), all()),
            TxnOp::get(keys.leader.as_str(), None),
            TxnOp::get(keys.verdicts.as_str(), all()),
            TxnOp::get(keys.decisions.as_str(), all()),
        ]);
        let snapshot = client.txn(read).await.map_err(e("read"))?;
        let revision = snapshot.header().map_or(0, |h| h.revision());
        let from = |rev: i64| Some(WatchOptions::new().with_start_revision(rev + 1));
        let mut watch = client
            .watch(
                keys.members.as_str(),
                from(revision).map(|o| o.with_prefix()),
            )
            .await
            .map_err(e("watch"))?;
        let watched = [
            &keys.leader,
            &keys.verdicts,
            &keys.decisions,
            &keys.commands,
            &keys.results,
        ];
        for key in watched {
            let opts = from(revision).map(|o| match key == &keys.leader {
                true => o,
                false => o.with_prefix(),
            });
            watch.watch(key.as_str(), opts).await.map_err(e("watch"))?;
        }
        let mut s = Session {
            client,
            cfg,
            keys,
            status,
            lease,
            keeper: held.keeper,
            acks: held.acks,
            sent: held.sent,
            valid_until: held.valid_until,
            watch,
            members: BTreeSet::new(),
            leader: None,
            revision,
            took_over: false,
        };
        for r in snapshot.op_responses() {
            if let TxnOpResponse::Get(g) = r {
                for kv in g.kvs() {
                    s.saw(sync, kv, true).await;
                }
            }
        }
        sync.tell(&s.members, None).await;
        s.campaign().await?;
        s.publish(sync).await;
        Ok(s)
    }

    /// The lease this session holds.
    pub fn lease(&self) -> i64 {
        self.lease
    }

    /// Runs until `stop` (then resigns: Ok) or until something ends the session (Err).
    pub async fn run(mut self, stop: &CancellationToken, sync: &mut Sync) -> Result<(), String> {
        let mut renew = tokio::time::interval(self.cfg.lease_ttl / 3);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        renew.tick().await; // the first renewal went out with the lease
        loop {
            // The earliest deadline of a command waiting for the leader.
            let waiting = sync.fwd.next_deadline();
            tokio::select! {
                _ = stop.cancelled() => {
                    self.resign().await;
                    return Ok(());
                }
                _ = renew.tick() => {
                    self.keeper.keep_alive().await.map_err(e("renew"))?;
                    self.sent.push_back(Instant::now());
                }
                ack = self.acks.message() => self.renewed(ack.map_err(e("renew"))?)?,
                Some(v) = sync.local.recv() => {
                    let mut groups = BTreeSet::from([sync.record_own(v)]);
                    while let Ok(v) = sync.local.try_recv() {
                        groups.insert(sync.record_own(v));
                    }
                    let (prefix, me) = (&self.keys.prefix, &self.cfg.instance);
                    sync.write_own(&mut self.client, prefix, me, self.lease, groups).await?;
                }
                Some(f) = sync.fwd.asks.recv() => self.ask(sync, f).await,
                Some((id, answer)) = sync.fwd.answers.recv() => {
                    let at = (self.keys.prefix.as_str(), self.lease);
                    super::forward::write_answer(&mut self.client, at, &id, &answer).await?;
                }
                _ = sleep_until(waiting.unwrap_or(self.valid_until)), if waiting.is_some() =>
                {
                    sync.fwd.expire(&mut self.client, &self.keys.prefix, self.cfg.lease_ttl * 2).await;
                }
                Some(w) = sync.writes.recv() => {
                    let result = match self.is_leader() {
                        true => {
                            let who = (self.keys.leader.as_str(), self.cfg.instance.as_str(), self.lease);
                            sync::commit(&mut self.client, &self.keys.prefix, who, &w.groups).await
                        }
                        false => Err("this instance does not lead the cluster".into()),
                    };
                    let _ = w.reply.send(result);
                }
                _ = sleep_until(self.valid_until) => {
                    return Err(format!(
                        "lease not renewed within {}: no longer leading or counted",
                        crate::config::duration::show(self.cfg.lease_ttl)
                    ));
                }
                msg = self.watch.message() => {
                    let msg = msg.map_err(e("watch"))?.ok_or("etcd: watch closed")?;
                    if msg.canceled() {
                        return Err(format!("etcd: watch cancelled ({})", msg.cancel_reason()));
                    }
                    self.revision = self.revision.max(msg.header().map_or(0, |h| h.revision()));
                    let members = self.members.len();
                    let mut groups = BTreeSet::new();
                    for ev in msg.events() {
                        if let Some(kv) = ev.kv() {
                            let put = ev.event_type() == EventType::Put;
                            groups.extend(self.saw(sync, kv, put).await);
                        }
                    }
                    let all = members != self.members.len();
                    sync.tell(&self.members, (!all).then(|| groups.into_iter().collect())).await;
                    self.campaign().await?;
                    self.publish(sync).await;
                }
            }
        }
    }

    fn renewed(&mut self, ack: Option<etcd_client::LeaseKeepAliveResponse>) -> Result<(), String> {
        let ack = ack.ok_or("etcd: lease renewal stream closed")?;
        if ack.ttl() <= 0 {
            return Err("etcd: the lease expired".into());
        }
        if let Some(sent) = self.sent.pop_front() {
            let ttl = Duration::from_secs(ack.ttl() as u64);
            self.valid_until = sent + margin_of(ttl);
        }
        Ok(())
    }

    /// A key written (`put`) or deleted; returns the group of a verdict key.
    async fn saw(&mut self, sync: &mut Sync, kv: &KeyValue, put: bool) -> Option<String> {
        let key = String::from_utf8_lossy(kv.key()).to_string();
        if let Some(rest) = key.strip_prefix(self.keys.verdicts.as_str()) {
            return sync.saw_verdict(rest, put.then(|| kv.value()));
        }
        if let Some(id) = key.strip_prefix(self.keys.commands.as_str()) {
            if put && self.is_leader() {
                let (prefix, sup) = (&self.keys.prefix, &sync.supervisor);
                sync.fwd
                    .take(&mut self.client, prefix, id, kv.value(), sup)
                    .await;
            }
            return None;
        }
        if let Some(id) = key.strip_prefix(self.keys.results.as_str()) {
            if put {
                sync.fwd
                    .answered(&mut self.client, &self.keys.prefix, id, kv.value())
                    .await;
            }
            return None;
        }
        if let Some(group) = key.strip_prefix(self.keys.decisions.as_str()) {
            if put {
                sync.saw_decision(group, kv.value(), kv.mod_revision())
                    .await;
            }
            return None;
        }
        match put {
            true => self.saw_put(kv),
            false => self.saw_delete(kv),
        }
        None
    }

    fn saw_put(&mut self, kv: &KeyValue) {
        let key = String::from_utf8_lossy(kv.key());
        if let Some(name) = key.strip_prefix(self.keys.members.as_str()) {
            self.members.insert(name.to_string());
        } else if key == self.keys.leader {
            let name = String::from_utf8_lossy(kv.value()).to_string();
            let mine = kv.lease() == self.lease;
            if mine != self.is_leader() {
                info!(instance = %self.cfg.instance, leader = %name, "cluster leader");
            }
            self.leader = Some((name, mine));
        }
    }

    fn saw_delete(&mut self, kv: &KeyValue) {
        let key = String::from_utf8_lossy(kv.key());
        if let Some(name) = key.strip_prefix(self.keys.members.as_str()) {
            self.members.remove(name);
        } else if key == self.keys.leader {
            if self.is_leader() {
                warn!(instance = %self.cfg.instance, "the leader key was deleted under this leader");
            }
            self.leader = None;
        }
    }

    fn is_leader(&self) -> bool {
        matches!(self.leader, Some((_, true)))
    }

    /// With nobody leading, creates the leader key under this session's lease if it is
    /// still absent; whoever wins, the watch reports the key.
    async fn campaign(&mut self) -> Result<(), String> {
        if self.leader.is_some() {
            return Ok(());
        }
        let key = self.keys.leader.as_str();
        let put = PutOptions::new().with_lease(self.lease);
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, self.cfg.instance.as_str(), Some(put))])
            .or_else([TxnOp::get(key, None)]);
        let r = self.client.txn(txn).await.map_err(e("campaign"))?;
        if r.succeeded() {
            info!(instance = %self.cfg.instance, "this instance now leads the cluster");
            self.leader = Some((self.cfg.instance.clone(), true));
        }
        // Lost: the watch brings the winner's key.
        Ok(())
    }

    /// Tells the status and the supervisor (its role) what this session knows now.
    async fn publish(&mut self, sync: &mut Sync) {
        let (leader, is_leader) = match &self.leader {
            Some((name, mine)) => (Some(name.clone()), *mine),
            None => (None, false),
        };
        sync.set_role(if is_leader {
            Role::Leader
        } else {
            Role::Follower
        })
        .await;
        if is_leader && !self.took_over {
            self.took_over = true;
            self.take_waiting(sync).await;
        }
        self.status.update(|s| {
            s.connected = true;
            s.leader = leader;
            s.is_leader = is_leader;
            s.members = self.members.iter().cloned().collect();
            s.revision = self.revision;
            s.last_error = None;
        });
    }

    /// A clean stop: revoking the lease deletes this instance's keys at once, so another
    /// instance leads without waiting for the lease to run out.
    async fn resign(mut self) {
        self.status.update(|s| s.is_leader = false);
        let revoke = self.client.lease_revoke(self.lease);
        match tokio::time::timeout(Duration::from_secs(1), revoke).await {
            Ok(Ok(_)) => info!(instance = %self.cfg.instance, "left the cluster"),
            Ok(Err(err)) => {
                warn!(error = %err, "cannot revoke the cluster lease; it runs out by itself")
            }
            Err(_) => warn!("revoking the cluster lease timed out; it runs out by itself"),
        }
    }
}
