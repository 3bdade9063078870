//! The process's open-file limit (RLIMIT_NOFILE).
//!
//! Every proxied connection holds two descriptors, and a listener's default
//! `max_connections` is 10,000; the usual soft limit of a service is 1,024. Left as it
//! is, failoverd would stop accepting at about 500 connections, with nothing but
//! "accept failed" lines to say why. So at start the soft limit is raised to the hard
//! limit (the ceiling any unprivileged process may set for itself, as Go and HAProxy do),
//! and the limit is compared with what the config can need at its caps; a shortfall is
//! logged at start and at every reload, naming both numbers.

use tracing::{info, warn};

use crate::config::Config;

/// Descriptors beyond the counted sockets: stdio, the event loops' epoll and wake-up
/// descriptors, the state and event files, hook pipes, the admin API's clients.
const BASE: u64 = 128;

/// The limit in effect after `raise`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub soft: u64,
    pub hard: u64,
    /// The soft limit before `raise` changed it, when it did.
    pub raised_from: Option<u64>,
}

/// Reads the limit.
pub fn current() -> std::io::Result<Limit> {
    let (soft, hard) = get()?;
    Ok(Limit {
        soft,
        hard,
        raised_from: None,
    })
}

/// Raises the soft limit to the hard one. When the kernel refuses (a hard limit of
/// "unlimited" is above what the kernel accepts), the limit stays as it was.
pub fn raise() -> std::io::Result<Limit> {
    let (soft, hard) = get()?;
    if soft >= hard {
        return current();
    }
    set(hard, hard)?;
    let (now, hard) = get()?;
    Ok(Limit {
        soft: now,
        hard,
        raised_from: (now != soft).then_some(soft),
    })
}

/// How many descriptors the config can hold open at once when every cap is reached.
/// `workers`: proxy event loops (each holds a copy of every listening socket);
/// `udp_sockets`: UDP sockets per DNS address.
pub fn needed(config: &Config, workers: usize, udp_sockets: usize) -> u64 {
    let listeners: u64 = config
        .groups
        .iter()
        .flat_map(|g| &g.listeners)
        // A session holds the client's socket and the target's, and a bulk one a splice
        // pipe (two descriptors) per direction.
        .map(|l| 6 * l.max_connections as u64 + workers as u64)
        .sum();
    // A check holds one socket while it runs.
    let checks = config.checks_at_once() as u64;
    let dns: u64 = config
        .dns
        .iter()
        .map(|d| d.listen.len() as u64 * (udp_sockets as u64 + 1 + d.tcp.max_connections as u64))
        .sum();
    BASE + listeners + checks + dns
}

/// `needed` for the workers and DNS sockets this process runs.
pub fn needed_for(config: &Config) -> u64 {
    needed(
        config,
        config.proxy.workers,
        crate::sockets::udp_sockets_per_address(),
    )
}

/// Raises the limit and reports it against `config`; at start.
pub fn raise_and_report(config: &Config) {
    match raise() {
        Ok(limit) => report(&limit, needed_for(config)),
        Err(e) => warn!(error = %e, "cannot read or raise the open-file limit"),
    }
}

/// Reports the limit against what a reloaded config `needed`.
pub fn report_current(needed: u64) {
    if let Ok(limit) = current() {
        report(&limit, needed);
    }
}

/// Logs the limit, and warns when `needed` is above it: what happens then (accepts wait
/// in the backlog, checks fail with "too many open files") and what to change.
pub fn report(limit: &Limit, needed: u64) {
    if let Some(from) = limit.raised_from {
        info!(
            from,
            to = limit.soft,
            "open-file limit raised to the hard limit"
        );
    }
    if needed > limit.soft {
        warn!(
            limit = limit.soft,
            needed,
            "the open-file limit is below what the config's max_connections can use: \
             past the descriptor budget, new connections are closed at once and bulk \
             sessions copy instead of splicing; raise the hard limit (LimitNOFILE= in the \
             systemd unit, ulimit -Hn) or lower max_connections"
        );
    }
}

// rlim_t is u64 on Linux, not on every Unix.
#[allow(clippy::unnecessary_cast)]
fn get() -> std::io::Result<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((r.rlim_cur as u64, r.rlim_max as u64))
}

#[allow(clippy::unnecessary_cast)]
fn set(soft: u64, hard: u64) -> std::io::Result<()> {
    let r = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit reads one rlimit from the struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text).expect("valid config")
    }

    #[test]
    fn needed_counts_two_descriptors_per_connection_and_every_socket() {
        let c = config(
            r#"
[admin]
listen = "127.0.0.1:0"
[dns]
listen = ["127.0.0.1:0"]
zone = "failover.example.test."
hostmaster = "hostmaster.example.test."
nameservers = [{ name = "ns1.failover.example.test.", addresses = ["127.0.0.1"] }]
[[group]]
name = "app"
[[group.listener]]
listen = "127.0.0.1:0"
target_port = 80
max_connections = 100
[[group.listener]]
listen = "127.0.0.1:0"
target_port = 81
max_connections = 50
[[group.target]]
name = "main"
address = "127.0.0.1"
[[group.target]]
name = "backup"
address = "127.0.0.2"
"#,
        );
        let dns = 3 + 1 + 1_000;
        // Two targets checked for at most 500 ms every second: one check open at a time,
        // and 16 for bursts.
        assert_eq!(
            needed(&c, 2, 3),
            BASE + (600 + 2) + (300 + 2) + 1 + 16 + dns
        );
    }

    #[test]
    fn checks_count_as_many_as_can_run_at_once() {
        let mut text = String::from("[admin]\nlisten = \"127.0.0.1:0\"\n");
        for i in 0..100 {
            text += &format!(
                "[[group]]\nname = \"g{i}\"\n[group.health]\nport = 80\ninterval = \"5s\"\n\
                 timeout = \"1s\"\n[[group.target]]\nname = \"main\"\naddress = \"127.0.0.2\"\n\
                 [[group.target]]\nname = \"backup\"\naddress = \"127.0.0.3\"\n"
            );
        }
        // 100 groups x 2 targets x 1 s / 5 s, and 16 for bursts.
        assert_eq!(config(&text).checks_at_once(), 56);
    }

    #[test]
    fn raise_never_lowers_and_reaches_the_hard_limit_when_allowed() {
        let before = current().expect("getrlimit");
        let after = raise().expect("raise");
        assert!(after.soft >= before.soft);
        assert_eq!(after.hard, before.hard);
        if before.hard <= 1 << 20 {
            assert_eq!(after.soft, after.hard, "soft limit left below the hard one");
        }
    }
}
