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
use super::{CheckReport, Reports};

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

/// Every checker the scheduler holds, when each is due, and the checks in flight.
struct Schedule {
    slots: HashMap<CheckId, Slot>,
    /// (due, id), earliest first. An entry whose checker was stopped is skipped when it
    /// comes up (ids are never reused).
    due: BinaryHeap<Reverse<(Instant, CheckId)>>,
    in_flight: FuturesUnordered<Round>,
    /// Checks in flight at most.
    cap: usize,
}

impl Schedule {
    /// Starts every check due by `now`, as far as the cap allows.
    fn start_due(&mut self, now: Instant) {
        while let Some(&Reverse((at, id))) = self.due.peek() {
            if at > now || self.in_flight.len() >= self.cap {
                break;
            }
            self.due.pop();
            let Some(slot) = self.slots.get_mut(&id) else {
                continue; // stopped
            };
            if let Slot::Waiting(_) = slot {
                if let Slot::Waiting(checker) =
                    std::mem::replace(slot, Slot::InFlight { stopped: false })
                {
                    self.in_flight.push(round(checker));
                }
            }
        }
    }

    /// When a timer must wake the scheduler: the next due check, unless at the cap (then
    /// the next free place, a check ending, is what wakes it).
    fn next_wake(&self) -> Option<Instant> {
        let next = self.due.peek().map(|r| r.0 .0);
        next.filter(|_| self.in_flight.len() < self.cap)
    }

    fn add(&mut self, checker: Box<Checker>) {
        self.due.push(Reverse((checker.due, checker.id)));
        self.slots.insert(checker.id, Slot::Waiting(checker));
    }

    fn remove(&mut self, id: CheckId) {
        if let Entry::Occupied(mut e) = self.slots.entry(id) {
            match e.get_mut() {
                Slot::Waiting(_) => {
                    e.remove();
                }
                Slot::InFlight { stopped } => *stopped = true,
            }
        }
    }

    /// A check ended: the checker waits for its next turn, unless it was stopped meanwhile
    /// (then its report is dropped too). Returns the report to send.
    fn finished(
        &mut self,
        mut checker: Box<Checker>,
        report: Option<CheckReport>,
    ) -> Option<CheckReport> {
        let id = checker.id;
        if matches!(
            self.slots.get(&id),
            Some(Slot::InFlight { stopped: true }) | None
        ) {
            self.slots.remove(&id);
            return None;
        }
        checker.reschedule(Instant::now());
        self.add(checker);
        report
    }
}

/// Runs until `stop` or until the owner drops its sender.
pub(super) async fn run(
    mut orders: mpsc::UnboundedReceiver<Order>,
    supervisor: Reports,
    stop: CancellationToken,
) {
    let mut s = Schedule {
        slots: HashMap::new(),
        due: BinaryHeap::new(),
        in_flight: FuturesUnordered::new(),
        cap: usize::MAX,
    };
    // One timer, moved only when the next due time changes: a new timer per wake-up cost
    // a registration and a cancellation in the runtime's timer wheel per check.
    let timer = tokio::time::sleep_until(Instant::now());
    tokio::pin!(timer);
    let mut armed: Option<Instant> = None;
    loop {
        let now = Instant::now();
        s.start_due(now);
        let next = s.next_wake();
        if let Some(at) = next.filter(|at| armed != Some(*at)) {
            timer.as_mut().reset(at);
        }
        armed = next;
        tokio::select! {
            _ = stop.cancelled() => return,
            order = orders.recv() => match order {
                Some(Order::Start(checker)) => s.add(checker),
                Some(Order::Stop(id)) => s.remove(id),
                Some(Order::InFlight(n)) => s.cap = n.max(1),
                None => return,
            },
            Some((checker, report)) = s.in_flight.next(), if !s.in_flight.is_empty() => {
                if let Some(report) = s.finished(checker, report) {
                    // A closed channel: shutting down; the result no longer matters.
                    let _ = supervisor.send(report).await;
                }
            }
            _ = &mut timer, if next.is_some() => armed = None,
        }
    }
}
