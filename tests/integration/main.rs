//! Integration tests: the real binary, real sockets on loopback, real backends.

mod admin_tls;
mod admission;
mod cluster;
mod config_cli;
mod config_files;
mod control;
mod ctl;
mod decisions;
mod demo;
mod dns;
mod dns_client;
mod dns_failover;
mod drill;
mod failover;
mod failover_timing;
mod gates;
mod harness;
mod history;
mod hooks;
mod metrics_api;
mod monitoring_kit;
mod packaging;
mod proxy;
mod roles;
mod scale;
mod status_page;
