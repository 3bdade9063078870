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

use super::status::StatusWriter;
use crate::config::ClusterConfig;

/// The keys of one cluster, under its prefix.
pub(super) struct Keys {
    pub members: String,
    pub leader: String,
    pub me: String,
}

impl Keys {
    pub fn new(cfg: &ClusterConfig) -> Keys {
        let members = format!("{}members/", cfg.prefix);
        Keys {
            me: format!("{members}{}", cfg.instance),
            leader: format!("{}leader", cfg.prefix),
            members,
        }
    }
}

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
}

impl<'a> Session<'a> {
    /// Takes a lease, writes this instance's member key, reads the members and the leader,
    /// watches both from there, and runs for leader if nobody leads.
    pub async fn open(
        mut client: Client,
        cfg: &'a ClusterConfig,
        keys: &'a Keys,
        status: &'a StatusWriter,
    ) -> Result<Session<'a>, String> {
        let ttl = cfg.lease_ttl.as_secs().max(1) as i64;
        let granted = Instant::now();
        let lease = client
            .lease_grant(ttl, None)
            .await
            .map_err(e("lease"))?
            .id();
        let (keeper, acks) = client.lease_keep_alive(lease).await.map_err(e("lease"))?;
        let member = json!({ "instance": cfg.instance, "pid": std::process::id() }).to_string();
        let put = PutOptions::new().with_lease(lease);
        client
            .put(keys.me.as_str(), member, Some(put))
            .await
            .map_err(e("member key"))?;
        // Members and leader at one revision, then every change after it.
        let read = Txn::new().and_then([
            TxnOp::get(keys.members.as_str(), Some(GetOptions::new().with_prefix())),
            TxnOp::get(keys.leader.as_str(), None),
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
        watch
            .watch(keys.leader.as_str(), from(revision))
            .await
            .map_err(e("watch"))?;
        let mut s = Session {
            client,
            cfg,
            keys,
            status,
            lease,
            keeper,
            acks,
            // `lease_keep_alive` sent the first renewal itself.
            sent: VecDeque::from([granted]),
            valid_until: granted + margin_of(cfg.lease_ttl),
            watch,
            members: BTreeSet::new(),
            leader: None,
            revision,
        };
        for r in snapshot.op_responses() {
            if let TxnOpResponse::Get(g) = r {
                for kv in g.kvs() {
                    s.saw_put(kv);
                }
            }
        }
        s.campaign().await?;
        s.publish(true);
        Ok(s)
    }

    /// Runs until `stop` (then resigns: Ok) or until something ends the session (Err).
    pub async fn run(mut self, stop: &CancellationToken) -> Result<(), String> {
        let mut renew = tokio::time::interval(self.cfg.lease_ttl / 3);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        renew.tick().await; // the first renewal went out with the lease
        loop {
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
                    for ev in msg.events() {
                        match (ev.event_type(), ev.kv()) {
                            (EventType::Put, Some(kv)) => self.saw_put(kv),
                            (EventType::Delete, Some(kv)) => self.saw_delete(kv),
                            _ => {}
                        }
                    }
                    self.campaign().await?;
                    self.publish(true);
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

    fn publish(&self, connected: bool) {
        let (leader, is_leader) = match &self.leader {
            Some((name, mine)) => (Some(name.clone()), *mine),
            None => (None, false),
        };
        self.status.update(|s| {
            s.connected = connected;
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

/// How long a lease acknowledged at `t` surely lives after `t`: its TTL less a tenth (at
/// least 300 ms) for clock rate differences and etcd's own expiry checks.
fn margin_of(ttl: Duration) -> Duration {
    ttl.saturating_sub((ttl / 10).max(Duration::from_millis(300)))
}
