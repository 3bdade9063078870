//! failoverd: a failover proxy. Health checkers feed one supervisor, which publishes one
//! snapshot; the TCP proxy, the DNS server and the admin API all serve from that snapshot.

pub mod admin;
pub mod bound_addrs;
pub mod cluster;
pub mod config;
pub mod critical;
pub mod demo;
pub mod dns;
pub mod drill;
pub mod fault;
pub mod fd_budget;
pub mod fd_limit;
pub mod group;
pub mod health;
pub mod hooks;
pub mod http1;
pub mod local_error;
pub mod memory;
pub mod metrics;
pub mod proxy;
pub mod reconfig;
pub mod runtime_thread;
pub mod server;
pub mod sockets;
pub mod store;
pub mod tcp;
pub mod tls_client;
pub mod vocab;
