//! The health check scheduler: one task that holds every checker in a schedule sorted by
//! due time, starts each check when it is due, and reports results to the supervisor.
//!
//! A checker waiting for its turn is plain data in the schedule; only a check in flight is
//! a future (in a `FuturesUnordered` polled by this task). With checks every 5 s timing
//! out after at most 1 s, at most a fifth of the checkers are ever in flight, and usually
//! a handful. A timer is armed for the earliest due check only; checks that fall due
//! together (first checks are placed in 10 ms slots, see `checker.rs`) start in one
//! wake-up. No more than `Config::checks_at_once` run at once: a due check waits for a
//! free place, so a burst (checks that fell due while the process was starting) never
//! takes more descriptors than the reserve holds for checks.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::pin::Pin;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::checker::{CheckId, Checker};
use crate::group::supervisor::{CheckReport, SupervisorHandle};

/// What the owner of the checkers (`Checkers::apply`) tells the scheduler.
pub(super) enum Order {
    Start(Box<Checker>),
    Stop(CheckId),
    /// Checks in flight at most.
    InFlight(usize),
}

/// A checker the scheduler holds.
enum Slot {
    /// Waiting for its due time (it has an entry in the schedule).
    Waiting(Box<Checker>),
    /// A check of it is in flight; `stopped` once a reload removed it meanwhile.
    InFlight { stopped: bool },
}

type Round = Pin<Box<dyn Future<Output = (Box<Checker>, Option<CheckReport>)> + Send>>;

fn round(mut checker: Box<Checker>) -> Round {
    Box::pin(async move {
        let report = checker.round().await;
        (checker, report)
    })
}

/// Runs until `stop` or until the owner drops its sender.
pub(super) async fn run(
    mut orders: mpsc::UnboundedReceiver<Order>,
    supervisor: SupervisorHandle,
    stop: CancellationToken,
) {
    let mut slots: HashMap<CheckId, Slot> = HashMap::new();
    // (due, id), earliest first. An entry whose checker was stopped is skipped when it
    // comes up (ids are never reused).
    let mut due: BinaryHeap<Reverse<(Instant, CheckId)>> = BinaryHeap::new();
    let mut in_flight: FuturesUnordered<Round> = FuturesUnordered::new();
    let mut cap = usize::MAX;
    loop {
        let now = Instant::now();
        while let Some(&Reverse((at, id))) = due.peek() {
            if at > now || in_flight.len() >= cap {
                break;
            }
            due.pop();
            if let Some(slot) = slots.get_mut(&id) {
                if let Slot::Waiting(_) = slot {
                    let Slot::Waiting(checker) =
                        std::mem::replace(slot, Slot::InFlight { stopped: false })
                    else {
                        unreachable!("matched above")
                    };
                    in_flight.push(round(checker));
                }
            }
        }
        // At the cap, the next free place (a check ending) is what wakes us, not a timer.
        let next = due.peek().map(|r| r.0 .0).filter(|_| in_flight.len() < cap);
        tokio::select! {
            _ = stop.cancelled() => return,
            order = orders.recv() => match order {
                Some(Order::Start(checker)) => {
                    due.push(Reverse((checker.due, checker.id)));
                    slots.insert(checker.id, Slot::Waiting(checker));
                }
                Some(Order::Stop(id)) => {
                    if let Entry::Occupied(mut e) = slots.entry(id) {
                        match e.get_mut() {
                            Slot::Waiting(_) => {
                                e.remove();
                            }
                            Slot::InFlight { stopped } => *stopped = true,
                        }
                    }
                }
                Some(Order::InFlight(n)) => cap = n.max(1),
                None => return,
            },
            Some((mut checker, report)) = in_flight.next(), if !in_flight.is_empty() => {
                let id = checker.id;
                if matches!(slots.get(&id), Some(Slot::InFlight { stopped: true }) | None) {
                    slots.remove(&id);
                    continue;
                }
                if let Some(report) = report {
                    supervisor.report(report).await;
                }
                checker.reschedule(Instant::now());
                due.push(Reverse((checker.due, id)));
                slots.insert(id, Slot::Waiting(checker));
            }
            _ = tokio::time::sleep_until(next.unwrap_or(now)), if next.is_some() => {}
        }
    }
}
