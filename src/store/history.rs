//! The event history's file (`<state>.events`, one JSON event per line): read back once at
//! start, then appended to by a thread of its own, fed through a bounded channel by
//! `EventLog::record` (see `events.rs`).
//!
//! Writes and compactions (two fsyncs) stay off the thread that records: the supervisor's
//! control thread also runs every probe, and a slow disk there stretched probe timeouts into
//! false "down" verdicts.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;

use tracing::warn;

use super::events::Event;

/// Lines waiting for the writer. Far above a burst (a reload of a thousand groups records
/// about a thousand events); when the disk is stuck, recording goes on in memory.
pub(super) const QUEUE: usize = 4096;

/// What an earlier run left in the file.
pub(super) struct ReadBack {
    /// The last `capacity` events, oldest first, with their lines as read.
    pub kept: VecDeque<(Event, Vec<u8>)>,
    /// The largest id of any line, kept or not.
    pub max_id: u64,
    /// Lines that are not an event (not UTF-8, not JSON, wrong shape).
    pub bad_lines: u64,
    /// Complete lines in the file.
    pub lines: usize,
}

impl ReadBack {
    /// The file holds lines that are not events: the writer rewrites it first, so readers
    /// of the file (and the next start) see only events.
    pub fn needs_rewrite(&self) -> bool {
        self.bad_lines > 0
    }
}

/// Reads the file as bytes split on `\n`, so one bad line costs only itself, and cuts off
/// a torn last line (no `\n`: a crash mid-write), which the next append would otherwise
/// glue to its own line. A missing file is an empty history.
pub(super) fn read_back(path: &Path, capacity: usize) -> io::Result<ReadBack> {
    let mut back = ReadBack {
        kept: VecDeque::with_capacity(capacity),
        max_id: 0,
        bad_lines: 0,
        lines: 0,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(back),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(file);
    let (mut whole, mut line) = (0u64, Vec::new());
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        if line.pop() != Some(b'\n') {
            warn!(path = %path.display(), bytes = n, "cutting off a torn last line of the event history");
            OpenOptions::new().write(true).open(path)?.set_len(whole)?;
            break;
        }
        whole += n as u64;
        back.lines += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Event>(&line) {
            Ok(e) => {
                back.max_id = back.max_id.max(e.id);
                if back.kept.len() == capacity {
                    back.kept.pop_front();
                }
                back.kept.push_back((e, line.clone()));
            }
            Err(e) => {
                back.bad_lines += 1;
                // The first few name where and why; `EventLog::open` sums up the rest.
                if back.bad_lines <= 5 {
                    warn!(path = %path.display(), line = back.lines, error = %e, "skipping a bad line in the event history");
                }
            }
        }
    }
    Ok(back)
}

/// The writer thread's end of the channel. Dropping the sender (see [`Writer::stop`])
/// makes the thread write what is queued and end.
pub(super) struct Writer {
    tx: SyncSender<Event>,
    thread: JoinHandle<()>,
}

/// Why a line was not queued.
pub(super) enum Refused {
    /// The queue is full: the writer is behind (a slow or stuck disk).
    Full,
    /// The writer thread is gone.
    Gone,
}

impl Writer {
    /// Opens the file for appending and starts the thread `failoverd-events`. `tail` is
    /// what the file holds now (the lines kept at read-back), `lines` its line count;
    /// `rewrite` has the thread compact the file before anything else.
    pub(super) fn start(
        path: &Path,
        capacity: usize,
        (tail, lines, rewrite): (VecDeque<Vec<u8>>, usize, bool),
        queue: usize,
        gate: Option<Receiver<()>>,
    ) -> io::Result<Writer> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let len = file.metadata()?.len();
        let (tx, rx) = mpsc::sync_channel(queue);
        let mut state = FileState {
            path: path.to_path_buf(),
            file: Some(file),
            capacity,
            tail,
            lines,
            len,
        };
        let thread = std::thread::Builder::new()
            .name("failoverd-events".into())
            .spawn(move || {
                if let Some(gate) = gate {
                    let _ = gate.recv();
                }
                if rewrite {
                    state.compact();
                }
                state.run(rx)
            })?;
        Ok(Writer { tx, thread })
    }

    /// Queues `event`; never waits.
    pub(super) fn send(&self, event: Event) -> Result<(), Refused> {
        self.tx.try_send(event).map_err(|e| match e {
            TrySendError::Full(_) => Refused::Full,
            TrySendError::Disconnected(_) => Refused::Gone,
        })
    }

    /// Lets the thread write what is queued, then waits for it to end (blocking).
    pub(super) fn stop(self) {
        drop(self.tx);
        if self.thread.join().is_err() {
            warn!("the event history writer panicked; its last lines may be missing");
        }
    }
}

/// The file as the writer thread sees it.
struct FileState {
    path: PathBuf,
    /// `None` after a failed compaction could not reopen it: nothing more is written.
    file: Option<File>,
    capacity: usize,
    /// The last `capacity` lines, what a compaction keeps.
    tail: VecDeque<Vec<u8>>,
    /// Lines in the file; past twice the capacity, the file is compacted.
    lines: usize,
    /// Bytes in the file after the last whole line.
    len: u64,
}

impl FileState {
    fn run(&mut self, rx: Receiver<Event>) {
        for event in rx {
            self.append(&event);
        }
    }

    fn append(&mut self, event: &Event) {
        let Ok(mut line) = serde_json::to_vec(event) else {
            return;
        };
        if self.tail.len() == self.capacity {
            self.tail.pop_front();
        }
        self.tail.push_back(line.clone());
        let Some(file) = self.file.as_mut() else {
            return;
        };
        line.push(b'\n');
        if let Err(e) = file.write_all(&line) {
            warn!(path = %self.path.display(), error = %e, "cannot append to the event history");
            // A part of the line may be in: cut it, or the next line would be glued to it.
            let _ = file.set_len(self.len);
            return;
        }
        self.len += line.len() as u64;
        self.lines += 1;
        if self.lines > self.capacity * 2 {
            self.compact();
        }
    }

    /// Rewrites the file with only the last `capacity` lines.
    fn compact(&mut self) {
        let mut body = Vec::new();
        for line in &self.tail {
            body.extend_from_slice(line);
            body.push(b'\n');
        }
        if let Err(e) = super::write_atomic(&self.path, &body) {
            warn!(path = %self.path.display(), error = %e, "cannot compact the event history");
            return;
        }
        self.file = match OpenOptions::new().append(true).open(&self.path) {
            Ok(f) => Some(f),
            Err(e) => {
                warn!(path = %self.path.display(), error = %e, "cannot reopen the event history; keeping it in memory only");
                None
            }
        };
        self.lines = self.tail.len();
        self.len = body.len() as u64;
    }
}
