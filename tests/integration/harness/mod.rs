//! Test harness: runs the real `failoverd` binary on a config with `127.0.0.1:0` ports,
//! reads the bound addresses from its JSON log, and stops it (by PID) when dropped.
//! Also real backends (HTTP stacks, echo servers) on loopback addresses, and the clients
//! the tests talk to them with.
//!
//! Every test module does `use crate::harness::*;`: this module re-exports all of it.
//! - `process`: the `Failoverd` process (start, restart, logs, signals);
//! - `api`: the admin API as the tests read it (groups, health, targets, metrics);
//! - `http`: one-shot HTTP/1.1 requests (`http_get`, `http_post`, `http_request`);
//! - `backends`: HTTP stacks and echo servers on main (127.0.0.2) and backup (127.0.0.3);
//! - `sessions`: TCP sessions through the proxy (round trips, closes);
//! - `scrape`: values out of a Prometheus scrape;
//! - `config`: config text and repository paths;
//! - `tls`: a test CA and an admin listener that serves TLS;
//! - `poll`: waiting with a deadline, and watching that something holds;
//! - `require`: what a test needs from the machine (root, `dig`, ...): SKIP, or in CI fail;
//! - `netns`: a network namespace per test, for rules that must not touch the host's;
//! - `ports`: a port that refuses connections, held for as long as the test needs it;
//! - `etcd`: a real three-member etcd cluster on loopback addresses of the test's own;
//! - `postgres`, `redis`: real database primaries and replicas (role checks, runbooks).

#![allow(dead_code)]

mod api;
mod backends;
mod config;
mod etcd;
mod http;
mod netns;
mod poll;
mod ports;
mod postgres;
mod process;
mod redis;
mod require;
mod scrape;
mod sessions;
mod tls;

pub use self::redis::*;
pub use api::*;
pub use backends::*;
pub use config::*;
pub use etcd::*;
pub use http::*;
pub use netns::*;
pub use poll::*;
pub use ports::*;
pub use postgres::*;
pub use process::*;
pub use require::*;
pub use scrape::*;
pub use sessions::*;
pub use tls::*;
