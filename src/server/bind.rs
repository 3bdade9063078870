//! Binding every socket the config names (admin, proxy listeners, DNS), before anything
//! runs; each bound address is logged (`listening kind=... addr=...`).

use anyhow::Context;
use tokio::net::TcpListener;

use crate::sockets::{listen_proxy, listen_tcp};
use tracing::info;

use crate::config::Config;
use crate::dns;

/// Every socket of a config, bound before anything runs.
pub struct Bound {
    pub admin: TcpListener,
    /// (group index, listener index, socket); registered later by each proxy worker.
    pub proxies: Vec<(usize, usize, std::net::TcpListener)>,
    /// UDP sockets and TCP listener of each `[dns] listen` address.
    pub dns: Vec<dns::Listen>,
}

/// Binds the admin, proxy and DNS sockets, logging each bound address.
pub fn bind(config: &Config) -> anyhow::Result<Bound> {
    let admin = listen_tcp(config.admin.listen)
        .with_context(|| format!("admin: cannot listen on {}", config.admin.listen))?;
    info!(kind = "admin", addr = %admin.local_addr()?, "listening");
    let mut proxies = Vec::new();
    for (gi, g) in config.groups.iter().enumerate() {
        for (li, l) in g.listeners.iter().enumerate() {
            let sock = listen_proxy(l.listen)
                .with_context(|| format!("group {:?}: cannot listen on {}", g.name, l.listen))?;
            info!(kind = "proxy", group = %g.name, addr = %sock.local_addr()?, target_port = l.target_port, "listening");
            proxies.push((gi, li, sock));
        }
    }
    let mut dns_sockets = Vec::new();
    for &addr in config.dns.iter().flat_map(|d| &d.listen) {
        let l = dns::bind(addr, dns::udp_sockets_per_address())
            .with_context(|| format!("dns: cannot listen on {addr}"))?;
        info!(kind = "dns-udp", addr = %l.addr, sockets = l.udp.len(), "listening");
        info!(kind = "dns-tcp", addr = %l.addr, "listening");
        dns_sockets.push(l);
    }
    crate::bound_addrs::set_dns(dns_sockets.iter().map(|l| l.addr).collect());
    Ok(Bound {
        admin,
        proxies,
        dns: dns_sockets,
    })
}
