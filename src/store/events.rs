//! The event history: transitions, verdict changes, admin actions (with the token's name),
//! hook results, reloads. Kept in memory (the last `capacity`) and appended as JSON lines to
//! a file beside the state file, so the history survives restarts.
//!
//! Lines are flushed but not fsynced: history, unlike decisions, may lose its last lines to
//! a power cut; a killed process loses nothing (the kernel has the bytes).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::warn;

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
    path: Option<PathBuf>,
    inner: Mutex<Inner>,
}

struct Inner {
    ring: VecDeque<Event>,
    next_id: u64,
    file: Option<File>,
    lines: usize,
}

impl EventLog {
    /// Opens the log, reading back what an earlier run wrote (bad lines are skipped).
    pub fn open(path: Option<&Path>, capacity: usize) -> EventLog {
        let mut ring = VecDeque::with_capacity(capacity);
        let mut lines = 0;
        if let Some(Ok(f)) = path.map(File::open) {
            for line in BufReader::new(f).lines().map_while(Result::ok) {
                lines += 1;
                match serde_json::from_str::<Event>(&line) {
                    Ok(e) => {
                        if ring.len() == capacity {
                            ring.pop_front();
                        }
                        ring.push_back(e);
                    }
                    Err(e) => warn!(error = %e, "skipping a bad line in the event history"),
                }
            }
        }
        let next_id = ring.back().map(|e| e.id + 1).unwrap_or(1);
        let file = path.and_then(|p| match OpenOptions::new().create(true).append(true).open(p) {
            Ok(f) => Some(f),
            Err(e) => {
                warn!(path = %p.display(), error = %e, "cannot open the event history; keeping it in memory only");
                None
            }
        });
        let inner = Mutex::new(Inner {
            ring,
            next_id,
            file,
            lines,
        });
        EventLog {
            capacity: capacity.max(1),
            path: path.map(Path::to_path_buf),
            inner,
        }
    }

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
        inner.next_id += 1;
        if inner.ring.len() == self.capacity {
            inner.ring.pop_front();
        }
        inner.ring.push_back(event.clone());
        self.append(&mut inner, &event);
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

    fn append(&self, inner: &mut Inner, event: &Event) {
        let Some(file) = inner.file.as_mut() else {
            return;
        };
        let mut line = serde_json::to_vec(event).unwrap_or_default();
        line.push(b'\n');
        if let Err(e) = file.write_all(&line) {
            warn!(error = %e, "cannot append to the event history");
            return;
        }
        inner.lines += 1;
        if inner.lines > self.capacity * 2 {
            self.compact(inner);
        }
    }

    /// Rewrites the file with only the events kept in memory.
    fn compact(&self, inner: &mut Inner) {
        let Some(path) = &self.path else { return };
        let mut body = Vec::new();
        for e in &inner.ring {
            body.extend(serde_json::to_vec(e).unwrap_or_default());
            body.push(b'\n');
        }
        if let Err(e) = super::write_atomic(path, &body) {
            warn!(error = %e, "cannot compact the event history");
            return;
        }
        inner.file = OpenOptions::new().append(true).open(path).ok();
        inner.lines = inner.ring.len();
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
}
