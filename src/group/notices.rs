//! From the supervisor to the hook runner: notices of transitions and operator actions,
//! queued per group, bounded by coalescing.
//!
//! The supervisor never waits here and the queue cannot grow without bound: per group, at
//! most one notice per trigger is pending. A newer notice of a trigger replaces the pending
//! one and goes to the back, so a group that flaps while its hooks are slow runs each
//! trigger's hooks once more for the latest state, not once per flap. A group's queue is
//! freed once it is empty, and a removed group's pending notices are dropped by the runner.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use tokio::sync::Notify;

use super::commands::Notice;

/// A pending notice and how many older ones of its trigger it replaced.
#[derive(Debug)]
pub struct Pending {
    pub notice: Notice,
    pub replaced: u32,
}

#[derive(Default)]
pub struct NoticeQueue {
    inner: Mutex<Inner>,
    wake: Notify,
}

#[derive(Default)]
struct Inner {
    groups: HashMap<String, VecDeque<Pending>>,
    /// Groups whose runner is working; nobody else takes their notices.
    busy: HashSet<String>,
}

impl NoticeQueue {
    pub fn new() -> NoticeQueue {
        NoticeQueue::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a notice (never blocks), replacing a pending one of the same trigger.
    pub fn push(&self, notice: Notice) {
        {
            let mut inner = self.lock();
            let queue = inner.groups.entry(notice.group.clone()).or_default();
            let mut replaced = 0;
            if let Some(at) = queue
                .iter()
                .position(|p| p.notice.trigger == notice.trigger)
            {
                if let Some(old) = queue.remove(at) {
                    replaced = old.replaced + 1;
                }
            }
            queue.push_back(Pending { notice, replaced });
        }
        self.wake.notify_one();
    }

    /// Groups with pending notices and no runner; each is marked busy for its new runner.
    pub fn claim_idle(&self) -> Vec<String> {
        let mut inner = self.lock();
        let Inner { groups, busy } = &mut *inner;
        let idle: Vec<String> = groups
            .keys()
            .filter(|g| !busy.contains(*g))
            .cloned()
            .collect();
        busy.extend(idle.iter().cloned());
        idle
    }

    /// The next notice of a group its runner claimed; `None` (and the group no longer
    /// busy, its queue freed) when there is none.
    pub fn next(&self, group: &str) -> Option<Pending> {
        let mut inner = self.lock();
        let next = inner.groups.get_mut(group).and_then(VecDeque::pop_front);
        if next.is_none() {
            inner.groups.remove(group);
            inner.busy.remove(group);
        }
        next
    }

    /// Drops everything pending for a group (it no longer exists).
    pub fn forget(&self, group: &str) {
        self.lock().groups.remove(group);
    }

    /// Waits until something was pushed since the last wake-up.
    pub async fn pushed(&self) {
        self.wake.notified().await;
    }

    /// Notices pending, over all groups.
    pub fn len(&self) -> usize {
        self.lock().groups.values().map(VecDeque::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::Cause;

    fn notice(group: &str, trigger: &'static str, epoch: u64) -> Notice {
        Notice {
            group: group.into(),
            trigger,
            from: vec![],
            to: vec![],
            cause: Cause::Health,
            epoch,
            actor: None,
            at: std::time::SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_flapping_group_keeps_one_pending_notice_per_trigger_latest_last() {
        let q = NoticeQueue::new();
        for epoch in 1..=100 {
            let trigger = if epoch % 2 == 1 {
                "failover"
            } else {
                "failback"
            };
            q.push(notice("web", trigger, epoch));
        }
        q.push(notice("db", "all_down", 1));
        assert_eq!(q.len(), 3);
        let mut claimed = q.claim_idle();
        claimed.sort();
        assert_eq!(claimed, ["db", "web"]);
        assert!(
            q.claim_idle().is_empty(),
            "busy groups are not claimed twice"
        );
        let first = q.next("web").unwrap();
        assert_eq!((first.notice.trigger, first.notice.epoch), ("failover", 99));
        assert_eq!(first.replaced, 49);
        assert_eq!(q.next("web").unwrap().notice.epoch, 100);
        assert!(q.next("web").is_none());
        // Freed: a new notice makes the group claimable again.
        q.push(notice("web", "failover", 101));
        assert_eq!(q.claim_idle(), ["web"]);
        q.forget("web");
        q.forget("db");
        assert!(q.is_empty());
    }
}
