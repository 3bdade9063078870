//! Per-target counters that failoverd keeps itself and renders at scrape time
//! (`admin::fleet`), instead of registering a recorder series per target and label set.
//!
//! Why: a recorder series costs its key, its labels and a map entry (about 300 bytes), and
//! a histogram keeps every sample until upkeep. At 20,000 targets with eight series each that
//! was 50 MB, most of failoverd's memory. Here a target costs its atomics (about 100 bytes),
//! and a series that is a pure function of the group state (up, active, epoch) is not stored
//! at all: the renderer reads it from the snapshot.
//!
//! The book is process-wide, like the recorder it stands beside: a target's counters
//! survive reloads that keep it, and `retain` drops those of targets a reload removed.
//!
//! Hook runs are counted here too (`hook`), for the same reasons and one more: the
//! renderer writes a zero for every configured hook that never ran, so the first failure
//! is an increase an alert sees (a series born at 1 shows no `increase()`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// The results a health check is counted under: `ok` or a `ProbeError::kind`.
pub const CHECK_RESULTS: [&str; 9] = [
    "ok", "timeout", "connect", "tls", "status", "body", "http", "auth", "database",
];

/// No check has finished yet.
const NEVER: u64 = u64::MAX;

#[derive(Debug)]
pub struct TargetStats {
    checks: [AtomicU64; CHECK_RESULTS.len()],
    /// The last finished check's duration in nanoseconds (`NEVER` before the first).
    last_check_nanos: AtomicU64,
    dns_answers: AtomicU64,
    /// Proxied sessions open to the target now, over every listener of its group.
    sessions: AtomicU64,
    /// The last failed check: what the status page and `ctl status` show beside the
    /// health. Written once per failed check, read per view: a lock held for a copy.
    last_error: Mutex<Option<CheckError>>,
}

/// A failed health check: the error as the checker worded it, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckError {
    pub message: String,
    pub at: SystemTime,
}

impl Default for TargetStats {
    fn default() -> Self {
        TargetStats {
            checks: Default::default(),
            last_check_nanos: AtomicU64::new(NEVER),
            dns_answers: AtomicU64::new(0),
            sessions: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }
}

impl TargetStats {
    /// Counts one probe under `result` (a name in `CHECK_RESULTS`; another name counts
    /// nothing, which a unit test rules out for every `ProbeError` kind).
    pub fn check(&self, result: &str, took: Duration) {
        if let Some(i) = CHECK_RESULTS.iter().position(|r| *r == result) {
            self.checks[i].fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(NEVER - 1);
        self.last_check_nanos.store(nanos, Ordering::Relaxed);
    }

    /// Probes counted under each result, in `CHECK_RESULTS` order.
    pub fn checks(&self) -> [u64; CHECK_RESULTS.len()] {
        std::array::from_fn(|i| self.checks[i].load(Ordering::Relaxed))
    }

    pub fn last_check(&self) -> Option<Duration> {
        match self.last_check_nanos.load(Ordering::Relaxed) {
            NEVER => None,
            n => Some(Duration::from_nanos(n)),
        }
    }

    /// Counts `n` DNS answers that named the target.
    pub fn answered(&self, n: u64) {
        self.dns_answers.fetch_add(n, Ordering::Relaxed);
    }

    pub fn dns_answers(&self) -> u64 {
        self.dns_answers.load(Ordering::Relaxed)
    }

    /// Keeps `message` as the target's last check error.
    pub fn failed(&self, message: String, at: SystemTime) {
        let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        *last = Some(CheckError { message, at });
    }

    pub fn last_error(&self) -> Option<CheckError> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A proxied session to the target opened.
    pub fn session_opened(&self) {
        self.sessions.fetch_add(1, Ordering::Relaxed);
    }

    /// A proxied session to the target closed (never below zero).
    pub fn session_closed(&self) {
        let _ = self
            .sessions
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    pub fn sessions(&self) -> u64 {
        self.sessions.load(Ordering::Relaxed)
    }
}

/// Group name to its targets' counters (a group has a handful: a list beats a map).
type Groups = HashMap<Box<str>, Vec<(Box<str>, Arc<TargetStats>)>, rustc_hash::FxBuildHasher>;

static BOOK: LazyLock<Mutex<Groups>> = LazyLock::new(Mutex::default);

fn book() -> MutexGuard<'static, Groups> {
    // The map stays consistent whatever panicked while holding it: every change is one
    // insert or one retain.
    BOOK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The counters of `target` in `group`, made at first use and kept until `retain` drops it.
pub fn target(group: &str, target: &str) -> Arc<TargetStats> {
    let mut book = book();
    let targets = match book.get_mut(group) {
        Some(t) => t,
        None => book.entry(group.into()).or_default(),
    };
    if let Some((_, s)) = targets.iter().find(|(name, _)| &**name == target) {
        return s.clone();
    }
    let stats = Arc::new(TargetStats::default());
    targets.push((target.into(), stats.clone()));
    stats
}

/// Looks up counters without making them: what a scrape uses, so that it never adds entries.
pub fn with<R>(f: impl FnOnce(&dyn Fn(&str, &str) -> Option<Arc<TargetStats>>) -> R) -> R {
    let book = book();
    let find = |group: &str, target: &str| {
        book.get(group)?
            .iter()
            .find(|(name, _)| &**name == target)
            .map(|(_, s)| s.clone())
    };
    f(&find)
}

/// Drops the counters of every target for which `keep` is false (after a reload).
pub fn retain(keep: impl Fn(&str, &str) -> bool) {
    let mut book = book();
    book.retain(|group, targets| {
        targets.retain(|(t, _)| keep(group, t));
        !targets.is_empty()
    });
    book.shrink_to_fit();
}

/// The results a hook run is counted under.
pub const HOOK_RESULTS: [&str; 2] = ["ok", "error"];

/// Runs of one hook, by result (`HOOK_RESULTS` order).
#[derive(Debug, Default)]
pub struct HookStats {
    runs: [AtomicU64; HOOK_RESULTS.len()],
}

impl HookStats {
    pub fn ran(&self, ok: bool) {
        self.runs[usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn runs(&self) -> [u64; HOOK_RESULTS.len()] {
        std::array::from_fn(|i| self.runs[i].load(Ordering::Relaxed))
    }
}

/// (group, hook) to its runs. Only hooks that have run are here: a few, whatever the fleet.
type Hooks = HashMap<(Box<str>, Box<str>), Arc<HookStats>, rustc_hash::FxBuildHasher>;

static HOOKS: LazyLock<Mutex<Hooks>> = LazyLock::new(Mutex::default);

fn hooks() -> MutexGuard<'static, Hooks> {
    // As `book`: every change is one insert or one retain.
    HOOKS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The run counters of `hook` in `group`, made at first use.
pub fn hook(group: &str, hook: &str) -> Arc<HookStats> {
    hooks()
        .entry((group.into(), hook.into()))
        .or_default()
        .clone()
}

/// Looks up hook counters without making them (a scrape).
pub fn with_hooks<R>(f: impl FnOnce(&dyn Fn(&str, &str) -> Option<Arc<HookStats>>) -> R) -> R {
    let hooks = hooks();
    let find = |group: &str, hook: &str| {
        let key: (Box<str>, Box<str>) = (group.into(), hook.into());
        hooks.get(&key).cloned()
    };
    f(&find)
}

/// Drops the counters of every hook for which `keep` is false (after a reload).
pub fn retain_hooks(keep: impl Fn(&str, &str) -> bool) {
    hooks().retain(|(group, hook), _| keep(group, hook));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_keeps_its_counters_until_dropped() {
        let a = target("book-test-g", "a");
        a.check("ok", Duration::from_millis(3));
        a.check("timeout", Duration::from_millis(7));
        a.answered(1);
        let again = target("book-test-g", "a");
        assert!(Arc::ptr_eq(&a, &again));
        assert_eq!(again.checks()[0], 1);
        assert_eq!(again.checks()[1], 1);
        assert_eq!(again.last_check(), Some(Duration::from_millis(7)));
        assert_eq!(again.dns_answers(), 1);

        retain(|g, _| g != "book-test-g");
        assert!(with(|find| find("book-test-g", "a")).is_none());
        let fresh = target("book-test-g", "a");
        assert_eq!(fresh.checks(), [0; CHECK_RESULTS.len()]);
        assert_eq!(fresh.last_check(), None);
    }

    #[test]
    fn sessions_and_the_last_error_are_kept_per_target() {
        let s = target("book-test-s", "a");
        assert_eq!((s.sessions(), s.last_error()), (0, None));
        s.session_opened();
        s.session_opened();
        s.session_closed();
        assert_eq!(s.sessions(), 1);
        s.session_closed();
        s.session_closed();
        assert_eq!(s.sessions(), 0, "a count never goes below zero");
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(7);
        s.failed("connection refused".into(), at);
        s.failed("timed out".into(), at + Duration::from_secs(1));
        let e = s.last_error().unwrap();
        assert_eq!(e.message, "timed out");
        assert_eq!(e.at, at + Duration::from_secs(1));
        retain(|g, _| g != "book-test-s");
    }

    #[test]
    fn hook_runs_count_by_result_until_dropped() {
        let h = hook("book-test-h", "page");
        h.ran(true);
        h.ran(false);
        h.ran(false);
        assert!(Arc::ptr_eq(&h, &hook("book-test-h", "page")));
        assert_eq!(h.runs(), [1, 2]);
        assert!(with_hooks(|find| find("book-test-h", "other")).is_none());
        retain_hooks(|g, _| g != "book-test-h");
        assert!(with_hooks(|find| find("book-test-h", "page")).is_none());
    }
}
