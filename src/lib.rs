//! failoverd: a failover proxy. Health checkers feed one supervisor, which publishes one
//! snapshot; the TCP proxy, the DNS server and the admin API all serve from that snapshot.

pub mod admin;
mod bound_addrs;
mod cluster;
pub mod config;
pub mod critical;
pub mod demo;
pub mod dns;
mod drill;
mod fault;
mod fd_budget;
pub mod fd_limit;
pub mod group;
mod health;
mod hooks;
mod http1;
mod local_error;
pub mod memory;
pub mod metrics;
mod proxy;
pub mod reconfig;
mod runtime_thread;
pub mod server;
mod sockets;
pub mod store;
mod tcp;
pub mod tls_client;
mod tokens;
mod vocab;
