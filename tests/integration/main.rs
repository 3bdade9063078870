//! Integration tests: the real binary, real sockets on loopback, real backends.

mod config_files;
mod dns;
mod dns_client;
mod dns_failover;
mod failover;
mod failover_timing;
mod harness;
mod metrics_api;
mod proxy;
