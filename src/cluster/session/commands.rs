//! A session's part in operator commands asked of this instance (see `forward.rs`).

use etcd_client::GetOptions;

use super::Session;
use crate::cluster::sync::Sync;

impl Session<'_> {
    /// A command asked of this instance: run here if it leads now, else written for the
    /// leader.
    pub(super) async fn ask(&mut self, sync: &mut Sync, f: crate::cluster::forward::Forward) {
        if self.is_leader() {
            let sup = sync.supervisor.clone();
            tokio::spawn(async move {
                let answer = sup.command(f.command.into_command(), &f.actor).await;
                let _ = f.reply.send(answer);
            });
            return;
        }
        let at = (
            self.keys.prefix.as_str(),
            self.cfg.instance.as_str(),
            self.lease,
        );
        sync.fwd
            .ask(&mut self.client, at, self.cfg.lease_ttl * 2, f)
            .await;
    }

    /// On becoming leader: the commands that waited for a leader.
    pub(super) async fn take_waiting(&mut self, sync: &mut Sync) {
        let all = Some(GetOptions::new().with_prefix());
        let Ok(r) = self.client.get(self.keys.commands.as_str(), all).await else {
            return;
        };
        for kv in r.kvs() {
            let key = String::from_utf8_lossy(kv.key()).to_string();
            if let Some(id) = key.strip_prefix(self.keys.commands.as_str()) {
                let (prefix, sup) = (&self.keys.prefix, &sync.supervisor);
                sync.fwd
                    .take(&mut self.client, prefix, id, kv.value(), sup)
                    .await;
            }
        }
    }
}
