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
