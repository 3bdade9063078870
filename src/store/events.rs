//! The event history: transitions, verdict changes, admin actions (with the token's name),
//! hook results, reloads. Kept in memory (the last `capacity`) and appended as JSON lines to
//! a file beside the state file, so the history survives restarts.
//!
//! `record` only touches memory and queues the line; a thread of its own writes the file
//! (`history.rs`). Lines are flushed but not fsynced: history, unlike decisions, may lose
//! its last lines to a power cut; a killed process loses only what was still queued.
//! [`EventLog::close`] writes what is queued before a clean exit ends.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::warn;

use super::history::{self, Refused, Writer};

/// At most one warning per this many seconds about lines the writer could not take.
const DROP_WARN_SECS: f64 = 10.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Grows by one per event, across restarts; `?since=` filters on it.
    pub id: u64,
    /// Seconds since the Unix epoch.
    pub at: f64,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    pub details: Value,
}

pub struct EventLog {
    capacity: usize,
    /// Lines of the file that were not events, at open.
    bad_lines: u64,
    inner: Mutex<Inner>,
}

struct Inner {
    ring: VecDeque<Event>,
    next_id: u64,
    /// `None` without a file, or after `close`.
    writer: Option<Writer>,
    /// Events kept in memory only (the writer's queue was full or it was gone).
    unwritten: u64,
    /// When the last warning about them was logged (`Event::at` time).
    warned_at: Option<f64>,
}

impl EventLog {
    /// Opens the log, reading back what an earlier run wrote (bad lines are skipped and
    /// counted, a torn last line is cut off), and starts its writer thread.
    pub fn open(path: Option<&Path>, capacity: usize) -> EventLog {
        EventLog::open_with(path, capacity, history::QUEUE, None)
    }

    /// [`EventLog::open`] with the writer's queue length, and a gate the writer waits on
    /// before its first line (tests hold it to see a full queue).
    fn open_with(
        path: Option<&Path>,
        capacity: usize,
        queue: usize,
        gate: Option<std::sync::mpsc::Receiver<()>>,
    ) -> EventLog {
        let capacity = capacity.max(1);
        let Some(path) = path else {
            return EventLog::in_memory(capacity, VecDeque::new(), 1, 0, None);
        };
        let back = match history::read_back(path, capacity) {
            Ok(back) => back,
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cannot read the event history; keeping it in memory only");
                return EventLog::in_memory(capacity, VecDeque::new(), 1, 0, None);
            }
        };
        if back.bad_lines > 0 {
            warn!(path = %path.display(), bad_lines = back.bad_lines, "the event history held lines that are not events; they were skipped");
        }
        let next_id = back.max_id.saturating_add(1);
        let (lines, rewrite) = (back.lines, back.needs_rewrite());
        let (ring, tail): (VecDeque<Event>, VecDeque<Vec<u8>>) = back.kept.into_iter().unzip();
        let writer = match Writer::start(path, capacity, (tail, lines, rewrite), queue, gate) {
            Ok(w) => Some(w),
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cannot open the event history; keeping it in memory only");
                None
            }
        };
        EventLog::in_memory(capacity, ring, next_id, back.bad_lines, writer)
    }

    fn in_memory(
        capacity: usize,
        ring: VecDeque<Event>,
        next_id: u64,
        bad_lines: u64,
        writer: Option<Writer>,
    ) -> EventLog {
        let inner = Inner {
            ring,
            next_id,
            writer,
            unwritten: 0,
            warned_at: None,
        };
        EventLog {
            capacity,
            bad_lines,
            inner: Mutex::new(inner),
        }
    }

    /// Lines of the file that were skipped at open because they were not events.
    pub fn bad_lines(&self) -> u64 {
        self.bad_lines
    }

    /// Keeps the event in memory and queues it for the file; never waits for the disk.
    pub fn record(
        &self,
        kind: &str,
        group: Option<&str>,
        epoch: Option<u64>,
        details: Value,
    ) -> Event {
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let event = Event {
            id: inner.next_id,
            at,
            kind: kind.into(),
            group: group.map(String::from),
            epoch,
            details,
        };
        inner.next_id = inner.next_id.saturating_add(1);
        if inner.ring.len() == self.capacity {
            inner.ring.pop_front();
        }
        inner.ring.push_back(event.clone());
        // Queued under the lock, so the file gets the lines in id order.
        let refused = match &inner.writer {
            Some(w) => w.send(event.clone()).err(),
            None => None,
        };
        if let Some(why) = refused {
            inner.not_written(why, at);
        }
        event
    }

    /// Events of one group (or all), oldest first, at most `limit`: the first ones after
    /// `since` (an id), so a client can page forward, or the newest ones without it.
    pub fn query(&self, group: Option<&str>, since: Option<u64>, limit: usize) -> Vec<Event> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let matching = inner
            .ring
            .iter()
            .filter(|e| since.is_none_or(|s| e.id > s))
            .filter(|e| group.is_none_or(|g| e.group.as_deref() == Some(g)));
        let all: Vec<&Event> = matching.collect();
        let window = match since {
            Some(_) => &all[..all.len().min(limit)],
            None => &all[all.len().saturating_sub(limit)..],
        };
        window.iter().map(|e| (*e).clone()).collect()
    }

    /// Writes what is queued and stops the writer thread (blocking: call it off the async
    /// workers). Events recorded afterwards stay in memory only.
    pub fn close(&self) {
        let writer = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            inner.writer.take()
        };
        if let Some(w) = writer {
            w.stop();
        }
    }

    /// Lines the writer could not take, counted since the start.
    pub fn unwritten(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwritten
    }
}

impl Inner {
    /// Counts an event the file will not get, warning at most every `DROP_WARN_SECS`.
    fn not_written(&mut self, why: Refused, at: f64) {
        self.unwritten += 1;
        if self
            .warned_at
            .is_some_and(|w| (at - w).abs() < DROP_WARN_SECS)
        {
            return;
        }
        self.warned_at = Some(at);
        let reason = match why {
            Refused::Full => "the writer is behind (slow disk?)",
            Refused::Gone => "the writer thread is gone",
        };
        warn!(
            unwritten = self.unwritten,
            reason, "event history lines kept in memory only, not in the file"
        );
    }
}

impl Drop for EventLog {
    /// Dropped without `close`, the queued lines still reach the file.
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_the_last_events_across_reopen_and_filters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.events");
        let log = EventLog::open(Some(&path), 5);
        for i in 0..12 {
            let group = if i % 2 == 0 { "a" } else { "b" };
            log.record("transition", Some(group), Some(i), json!({ "i": i }));
        }
        let all = log.query(None, None, 100);
        assert_eq!(
            all.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![8, 9, 10, 11, 12]
        );
        drop(log);
        let log = EventLog::open(Some(&path), 5);
        assert_eq!(log.query(None, None, 100).len(), 5);
        assert_eq!(log.record("reload", None, None, json!({})).id, 13);
        let a = log.query(Some("a"), Some(9), 100);
        assert_eq!(a.iter().map(|e| e.id).collect::<Vec<_>>(), vec![11]);
        assert_eq!(
            log.query(None, None, 2)
                .iter()
                .map(|e| e.id)
                .collect::<Vec<_>>(),
            vec![12, 13]
        );
    }

    #[test]
    fn survives_a_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.events");
        std::fs::write(&path, "not json\n").unwrap();
        let log = EventLog::open(Some(&path), 5);
        assert_eq!(log.record("start", None, None, json!({})).id, 1);
    }

    /// Lines as `record` would write them, for files made by hand.
    fn line(id: u64, kind: &str) -> Vec<u8> {
        let e = Event {
            id,
            at: 1.0,
            kind: kind.into(),
            group: None,
            epoch: None,
            details: json!({}),
        };
        let mut l = serde_json::to_vec(&e).unwrap();
        l.push(b'\n');
        l
    }

    fn ids(log: &EventLog) -> Vec<u64> {
        log.query(None, None, 100).iter().map(|e| e.id).collect()
    }

    /// Every line of the file parses as an event; returns their ids.
    fn file_ids(path: &Path) -> Vec<u64> {
        try_file_ids(path).unwrap_or_else(|| {
            let text = std::fs::read(path).unwrap();
            panic!("not whole events: {}", String::from_utf8_lossy(&text))
        })
    }

    /// The ids of the file's lines; `None` while it is missing, torn or has a bad line.
    fn try_file_ids(path: &Path) -> Option<Vec<u64>> {
        let text = std::fs::read(path).ok()?;
        if !text.is_empty() && !text.ends_with(b"\n") {
            return None;
        }
        text.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice::<Event>(l).ok().map(|e| e.id))
            .collect()
    }

    #[test]
    fn a_non_utf8_line_is_skipped_and_ids_continue_above_the_largest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.events");
        let mut body = line(7, "a");
        body.extend(b"{\"id\": 99, \"kind\": \"\xff\xfe\"}\n");
        body.extend(line(40, "b"));
        body.extend(line(12, "c"));
        std::fs::write(&path, body).unwrap();
        let log = EventLog::open(Some(&path), 10);
        assert_eq!(ids(&log), vec![7, 40, 12]);
        assert_eq!(log.bad_lines(), 1);
        drop(log);
        // The bad line is gone from the file too.
        assert_eq!(file_ids(&path), vec![7, 40, 12]);
        // A ring smaller than the file: the largest id (40) is not among the kept ones.
        let log = EventLog::open(Some(&path), 1);
        assert_eq!(ids(&log), vec![12]);
        assert_eq!(log.record("start", None, None, json!({})).id, 41);
    }

    #[test]
    fn a_torn_last_line_is_cut_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.events");
        let mut body = line(1, "a");
        body.extend(line(2, "b"));
        body.extend(&line(3, "torn")[..20]);
        std::fs::write(&path, body).unwrap();
        let log = EventLog::open(Some(&path), 10);
        assert_eq!(ids(&log), vec![1, 2]);
        assert_eq!(log.record("start", None, None, json!({})).id, 3);
        log.close();
        assert_eq!(file_ids(&path), vec![1, 2, 3]);
        let log = EventLog::open(Some(&path), 10);
        assert_eq!(ids(&log), vec![1, 2, 3]);
    }

    /// Polls `f` every 10 ms until it holds, for at most 10 s.
    fn within_10s(what: &str, f: impl Fn() -> bool) {
        for _ in 0..1000 {
            if f() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("not within 10 s: {what}");
    }

    #[test]
    fn the_writer_thread_puts_lines_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.events");
        let log = EventLog::open(Some(&path), 3);
        for i in 0..10 {
            log.record("transition", Some("a"), Some(i), json!({}));
        }
        // Compacted past twice the capacity: at most 6 lines, the last one id 10.
        within_10s("event 10 in the file", || {
            try_file_ids(&path).is_some_and(|ids| ids.last() == Some(&10))
        });
        let on_disk = file_ids(&path);
        assert!(
            on_disk.len() <= 6 && on_disk.ends_with(&[8, 9, 10]),
            "{on_disk:?}"
        );
        // Close writes what is queued: the last event is there at once.
        log.record("stop", None, None, json!({}));
        log.close();
        assert_eq!(file_ids(&path).last(), Some(&11));
        // After close, events stay in memory.
        assert_eq!(log.record("late", None, None, json!({})).id, 12);
        assert_eq!(log.query(None, None, 1)[0].id, 12);
    }

    #[test]
    fn a_full_queue_never_blocks_and_keeps_events_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.events");
        let (open_gate, gate) = std::sync::mpsc::channel();
        let log = EventLog::open_with(Some(&path), 100, 4, Some(gate));
        // The writer waits at its gate: the queue takes 4 lines, then is full.
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..50 {
                    log.record("transition", Some("a"), Some(i), json!({}));
                }
                done_tx.send(()).unwrap();
            });
            done_rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("record blocked on a full queue");
        });
        assert_eq!(log.unwritten(), 46);
        assert_eq!(log.query(None, None, 100).len(), 50);
        open_gate.send(()).unwrap();
        log.close();
        assert_eq!(file_ids(&path), vec![1, 2, 3, 4]);
    }
}
