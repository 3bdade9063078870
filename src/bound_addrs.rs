//! The addresses this process listens on, as bound (a config may say port 0): the proxy
//! listeners of each group and the DNS server. Written where sockets are bound (at start,
//! and by the listeners a reload adds or removes), read by whatever checks failoverd from
//! the outside in (the drill goes through its own proxy and DNS).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{OnceLock, RwLock};

#[derive(Default)]
struct Addrs {
    proxies: HashMap<String, Vec<SocketAddr>>,
    dns: Vec<SocketAddr>,
}

fn addrs() -> &'static RwLock<Addrs> {
    static ADDRS: OnceLock<RwLock<Addrs>> = OnceLock::new();
    ADDRS.get_or_init(RwLock::default)
}

/// Every group's proxy listeners, replacing what was there.
pub fn set_proxies(proxies: HashMap<String, Vec<SocketAddr>>) {
    addrs().write().unwrap_or_else(|e| e.into_inner()).proxies = proxies;
}

pub fn set_dns(dns: Vec<SocketAddr>) {
    addrs().write().unwrap_or_else(|e| e.into_inner()).dns = dns;
}

pub fn proxies(group: &str) -> Vec<SocketAddr> {
    let a = addrs().read().unwrap_or_else(|e| e.into_inner());
    a.proxies.get(group).cloned().unwrap_or_default()
}

pub fn dns() -> Vec<SocketAddr> {
    addrs()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .dns
        .clone()
}
