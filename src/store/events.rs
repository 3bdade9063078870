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
    /// The id of the last event recorded: what a live reader (the status page's stream)
    /// waits on instead of polling.
    recorded: tokio::sync::watch::Sender<u64>,
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
            recorded: tokio::sync::watch::Sender::new(next_id.saturating_sub(1)),
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
        drop(inner);
        self.recorded.send_replace(event.id);
        event
    }

    /// Wakes at every event recorded from now on (the value: the last event's id).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.recorded.subscribe()
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
mod tests;
