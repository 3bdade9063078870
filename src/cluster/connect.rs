//! A client for the configured etcd members: TLS and credentials as `[cluster]` says, and
//! timeouts short enough that a dead member is noticed well within a lease.

use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};

use crate::config::ClusterConfig;

pub async fn client(cfg: &ClusterConfig) -> Result<Client, String> {
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
    Client::connect(&cfg.endpoints, Some(opts))
        .await
        .map_err(|e| format!("cannot connect to etcd ({}): {e}", cfg.endpoints.join(", ")))
}
