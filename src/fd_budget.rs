//! The descriptor budget: client-facing work (proxy sessions and their splice pipes, DNS
//! over TCP, admin connections) takes descriptors only from a budget that stops short of
//! the open-file limit by a reserve, so health checks, hooks, the state file and the event
//! history always find one; the reserve also keeps a few for the admin API, so clients
//! that spent the budget cannot lock an operator out. Beyond the budget, a new client connection is closed at
//! once and a bulk session keeps copying through a buffer instead of taking a pipe; no
//! client can make failoverd's own work fail with EMFILE.
//!
//! The budget is set at start and after each reload: the open-file limit, minus what the
//! process held before serving (runtimes, listeners, log), minus the reserve.

use std::sync::atomic::{AtomicUsize, Ordering};

use metrics::{counter, gauge};
use tracing::info;

use crate::config::Config;
use crate::metrics as m;

static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);
static USED: AtomicUsize = AtomicUsize::new(0);

/// Descriptors the budget leaves alone beyond the health checks' sockets: hooks (a process
/// with its pipes), the state file and its directory, the event history, webhooks, name
/// lookups, metrics scrapes in flight.
const RESERVE_BASE: usize = 128;

/// Admin connections the reserve keeps for when clients have spent the budget, so that
/// no client load can lock an operator out of the API.
const ADMIN_RESERVED: usize = 8;
static ADMIN_USED: AtomicUsize = AtomicUsize::new(0);

/// What the reserve must hold for `config`: the base, a socket for every check that can
/// run at once (`Config::checks_at_once`; 20,000 targets checked for at most 1 s every 5 s
/// hold at most 4,000, not 20,000), and the admin API's own few.
pub fn reserve(config: &Config) -> usize {
    RESERVE_BASE + config.checks_at_once() + ADMIN_RESERVED
}

/// Sets the budget: `limit` (the soft open-file limit) less `held` (open now, outside the
/// budget) and `reserve`.
pub fn set(limit: u64, held: usize, reserve: usize) -> usize {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let budget = limit.saturating_sub(held).saturating_sub(reserve);
    LIMIT.store(budget, Ordering::Relaxed);
    gauge!(m::FD_BUDGET).set(budget as f64);
    budget
}

/// What the process held outside the budget when it was first set (a reload keeps it:
/// the descriptors open then include the clients').
static HELD: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Sets the budget for `config` under the current open-file limit: at the end of the
/// start (everything bound and running, no client yet) and after each reload.
pub fn apply(config: &Config) {
    let Ok(limit) = crate::fd_limit::current() else {
        return;
    };
    let mut held = HELD.load(Ordering::Relaxed);
    if held == usize::MAX {
        held = open_now().unwrap_or(0).saturating_sub(used());
        HELD.store(held, Ordering::Relaxed);
    }
    let reserve = reserve(config);
    let budget = set(limit.soft, held, reserve);
    info!(
        budget,
        limit = limit.soft,
        held,
        reserve,
        "descriptor budget for client connections"
    );
}

/// Descriptors open in this process now (Linux: /proc/self/fd), if known.
pub fn open_now() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count())
}

/// Descriptors taken from the budget, given back when dropped.
#[derive(Debug)]
pub struct Lease(usize);

/// Takes `n` descriptors from the budget, or `None` (counted, by `what`) when it is spent.
pub fn lease(n: usize, what: &'static str) -> Option<Lease> {
    let limit = LIMIT.load(Ordering::Relaxed);
    let taken = USED.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |used| {
        (used + n <= limit).then_some(used + n)
    });
    match taken {
        Ok(_) => Some(Lease(n)),
        Err(_) => {
            counter!(m::FD_BUDGET_REFUSED_TOTAL, "what" => what).increment(1);
            None
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        USED.fetch_sub(self.0, Ordering::AcqRel);
    }
}

/// An admin connection's descriptor: from the budget, or else one of the few the reserve
/// keeps for the admin API.
#[derive(Debug)]
pub enum AdminLease {
    /// Held for its `Drop`, which gives the descriptor back.
    Budget(#[expect(dead_code, reason = "held for its Drop")] Lease),
    Reserved,
}

/// A descriptor for one admin connection, or `None` (counted) when both the budget and the
/// admin API's reserved few are taken.
pub fn lease_admin() -> Option<AdminLease> {
    let limit = LIMIT.load(Ordering::Relaxed);
    if USED
        .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |used| {
            (used < limit).then_some(used + 1)
        })
        .is_ok()
    {
        return Some(AdminLease::Budget(Lease(1)));
    }
    let reserved = ADMIN_USED.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |used| {
        (used < ADMIN_RESERVED).then_some(used + 1)
    });
    match reserved {
        Ok(_) => Some(AdminLease::Reserved),
        Err(_) => {
            counter!(m::FD_BUDGET_REFUSED_TOTAL, "what" => "admin").increment(1);
            None
        }
    }
}

impl Drop for AdminLease {
    fn drop(&mut self) {
        if let AdminLease::Reserved = self {
            ADMIN_USED.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Descriptors leased now.
pub fn used() -> usize {
    USED.load(Ordering::Relaxed)
}

/// Both kinds of refusal exist from the start, so an alert can fire on the first.
pub fn register() {
    for what in ["proxy", "pipe", "dns_tcp", "admin"] {
        counter!(m::FD_BUDGET_REFUSED_TOTAL, "what" => what).absolute(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test touches the process-wide budget, so nothing else races it.
    #[test]
    fn leases_stop_at_the_budget_and_come_back() {
        assert_eq!(set(1000, 100, 500), 400);
        let base = used();
        let big = lease(390 - base, "proxy").expect("within");
        let a = lease(6, "proxy").expect("within");
        assert!(lease(6, "pipe").is_none(), "beyond the budget");
        drop(a);
        assert!(lease(6, "pipe").is_some(), "given back");
        drop(big);
        assert_eq!(set(10, 20, 5), 0, "never below zero");
        assert!(lease(1, "dns_tcp").is_none());
        // The admin API still gets its reserved few, and no more.
        let admin: Vec<_> = (0..ADMIN_RESERVED).map(|_| lease_admin()).collect();
        assert!(admin.iter().all(Option::is_some));
        assert!(lease_admin().is_none());
        drop(admin);
        assert!(lease_admin().is_some(), "given back");
        set(u64::MAX, 0, 0);
    }
}
