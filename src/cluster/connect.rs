//! A client for one of the configured etcd members: TLS and credentials as `[cluster]`
//! says, and timeouts short enough that a dead member is noticed well within a lease.
//!
//! One member at a time, not the crate's balanced channel over all of them: that channel
//! keeps sending requests to a member that is down (each fails with a refused connect), so
//! with one of three members dead every session failed although etcd had its quorum. Here a
//! member is taken only once it answers a linearizable read (so it is in the quorum), and a
//! session that fails moves on to the next member.

use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};

use crate::config::ClusterConfig;

/// Where the next connection starts: the member after the one that last failed.
#[derive(Default)]
pub struct Members {
    next: usize,
}

impl Members {
    /// A client of the first member, from `next` on in the configured order, that answers;
    /// the error names every member tried and why it was not taken.
    pub async fn connect(
        &mut self,
        cfg: &ClusterConfig,
        probe_key: &str,
    ) -> Result<Client, String> {
        let n = cfg.endpoints.len();
        let mut why = Vec::new();
        for k in 0..n {
            let i = (self.next + k) % n;
            let endpoint = &cfg.endpoints[i];
            match member(cfg, endpoint, probe_key).await {
                Ok(c) => {
                    // A later failure of this session tries the other members first.
                    self.next = i + 1;
                    return Ok(c);
                }
                Err(e) => why.push(format!("{endpoint}: {e}")),
            }
        }
        self.next += 1;
        Err(format!("no etcd member answered ({})", why.join("; ")))
    }
}

/// A client of `endpoint`, once a linearizable read of `probe_key` went through it.
async fn member(cfg: &ClusterConfig, endpoint: &str, probe_key: &str) -> Result<Client, String> {
    let mut c = client(cfg, endpoint).await?;
    let count = etcd_client::GetOptions::new().with_count_only();
    c.get(probe_key, Some(count))
        .await
        .map_err(|e| format!("no quorum read: {e}"))?;
    Ok(c)
}

async fn client(cfg: &ClusterConfig, endpoint: &str) -> Result<Client, String> {
    let mut opts = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        // A request that takes longer than a third of the lease would let it lapse.
        .with_timeout(cfg.lease_ttl / 3)
        // HTTP/2 pings find a member that went silent (no RST) between requests.
        .with_keep_alive(Duration::from_secs(1), cfg.lease_ttl / 3)
        .with_keep_alive_while_idle(true);
    if let Some(tls) = &cfg.tls {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| format!("cluster: {}: {e}", p.display()))
        };
        let mut t = TlsOptions::new().ca_certificate(Certificate::from_pem(read(&tls.ca)?));
        if let Some((cert, key)) = &tls.identity {
            t = t.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        opts = opts.with_tls(t);
    }
    if let Some(auth) = &cfg.auth {
        opts = opts.with_user(auth.user.clone(), auth.password.expose().to_string());
    }
    Client::connect([endpoint], Some(opts))
        .await
        .map_err(|e| format!("cannot connect: {e}"))
}
