//! Rise/fall counting: turns a stream of check results into up/down verdicts.
//!
//! Pure and tiny on purpose: `record` returns a verdict only when it flips, so one lost
//! packet (fewer than `fall` failures) never marks a target down. Passive signals (client
//! connects the proxy saw refused) are counted apart, in a time window (`PassiveWindow`),
//! as HAProxy's `error-limit` does; a full window counts as one failed check. A backlog
//! that overflows for an instant is not a dead main, a main that refuses every client is.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::vocab::Health;

#[derive(Debug, Clone)]
pub struct Counter {
    rise: u32,
    fall: u32,
    health: Health,
    /// Consecutive good and bad results; one of them is always 0.
    good: u32,
    bad: u32,
}

impl Counter {
    pub fn new(rise: u32, fall: u32) -> Self {
        Counter {
            rise: rise.max(1),
            fall: fall.max(1),
            health: Health::Unknown,
            good: 0,
            bad: 0,
        }
    }

    /// A counter that already holds a verdict (carried over a config reload).
    pub fn with_health(rise: u32, fall: u32, health: Health) -> Self {
        Counter {
            health,
            ..Counter::new(rise, fall)
        }
    }

    pub fn health(&self) -> Health {
        self.health
    }

    /// Records one check result; returns the new verdict only when it changes.
    ///
    /// From `unknown` too, the first verdict needs `rise` good or `fall` bad results in a
    /// row, so a target is never judged on a single observation.
    pub fn record(&mut self, ok: bool) -> Option<Health> {
        if ok {
            self.good = self.good.saturating_add(1);
            self.bad = 0;
        } else {
            self.bad = self.bad.saturating_add(1);
            self.good = 0;
        }
        let next = if self.good >= self.rise {
            Health::Up
        } else if self.bad >= self.fall {
            Health::Down
        } else {
            return None;
        };
        if next == self.health {
            return None;
        }
        self.health = next;
        Some(next)
    }
}

/// Passive failures of one target within a sliding window.
#[derive(Debug, Clone)]
pub struct PassiveWindow {
    fall: usize,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl PassiveWindow {
    pub fn new(fall: u32, window: Duration) -> Self {
        let fall = fall.max(1) as usize;
        PassiveWindow {
            fall,
            window,
            recent: VecDeque::with_capacity(fall),
        }
    }

    /// Records one failure; true when `fall` of them fell within the window (then the
    /// window starts empty again).
    pub fn record(&mut self, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|&t| now.duration_since(t) >= self.window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() == self.fall {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        if self.recent.len() >= self.fall {
            self.recent.clear();
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passive_failures_count_only_within_the_window() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut w = PassiveWindow::new(3, Duration::from_secs(2));
        // Two refusals, a pause longer than the window, two more: never three in 2 s.
        assert!(!w.record(ms(0)));
        assert!(!w.record(ms(100)));
        assert!(!w.record(ms(2500)));
        assert!(!w.record(ms(2600)));
        assert!(w.record(ms(2700)), "three within 2 s");
        // It starts over after speaking.
        assert!(!w.record(ms(2800)));
        assert!(!w.record(ms(2900)));
        assert!(w.record(ms(3000)));
        // One at a time, each 1.5 s apart: at most two in any window.
        let mut w = PassiveWindow::new(3, Duration::from_secs(2));
        for i in 0..20 {
            assert!(!w.record(ms(10_000 + i * 1500)), "step {i}");
        }
    }

    fn feed(c: &mut Counter, results: &str) -> Vec<Option<Health>> {
        results.chars().map(|r| c.record(r == '+')).collect()
    }

    #[test]
    fn first_verdict_needs_rise_or_fall_in_a_row() {
        let mut c = Counter::new(2, 3);
        assert_eq!(feed(&mut c, "+-+"), vec![None, None, None]);
        assert_eq!(c.record(true), Some(Health::Up));
        let mut c = Counter::new(2, 3);
        assert_eq!(feed(&mut c, "--"), vec![None, None]);
        assert_eq!(c.record(false), Some(Health::Down));
    }

    #[test]
    fn flips_only_after_fall_consecutive_failures() {
        let mut c = Counter::new(2, 2);
        feed(&mut c, "++");
        assert_eq!(c.health(), Health::Up);
        // One lost check never flips.
        assert_eq!(feed(&mut c, "-+-+-+"), vec![None; 6]);
        assert_eq!(feed(&mut c, "--"), vec![None, Some(Health::Down)]);
        assert_eq!(feed(&mut c, "+-+"), vec![None; 3]);
        assert_eq!(c.record(true), Some(Health::Up));
    }

    #[test]
    fn no_spurious_verdicts_on_steady_results() {
        let mut c = Counter::new(1, 1);
        assert_eq!(c.record(true), Some(Health::Up));
        for _ in 0..100 {
            assert_eq!(c.record(true), None);
        }
        assert_eq!(c.record(false), Some(Health::Down));
        for _ in 0..100 {
            assert_eq!(c.record(false), None);
        }
    }
}
