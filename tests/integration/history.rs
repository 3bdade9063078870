//! What failoverd keeps on disk and writes to its logs, read back by the real binary: an
//! event history with a bad line and a torn last line, a state path in a missing
//! directory, an absurd epoch in the state file, and the log formats.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

const EX_USAGE: i32 = 64;

const FAST_TCP: &str = r#"kind = "tcp"
interval = "200ms"
timeout = "100ms"
rise = 1
fall = 2"#;

/// One event line as failoverd writes it.
fn event_line(id: u64, kind: &str) -> String {
    format!("{{\"id\":{id},\"at\":1700000000.0,\"kind\":\"{kind}\",\"details\":{{}}}}\n")
}

/// The ids of the history file's lines; `None` while its end is torn (mid-write) or a
/// line is not an event.
fn history_ids(path: &Path) -> Option<Vec<u64>> {
    let bytes = std::fs::read(path).ok()?;
    if !bytes.ends_with(b"\n") {
        return None;
    }
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice::<Value>(l).ok()?["id"].as_u64())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_survives_a_bad_line_and_a_torn_line() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("failoverd.state.events");
    let mut body = Vec::new();
    body.extend(event_line(1, "before").as_bytes());
    body.extend(b"{\"id\":2,\"kind\":\"\xff\xfe\"}\n");
    body.extend(event_line(90, "after").as_bytes());
    body.extend(event_line(3, "last").as_bytes());
    body.extend(&event_line(4, "torn").as_bytes()[..25]);
    std::fs::write(&history, body).unwrap();

    let (port, _main, _backup) = http_stacks(MAIN, BACKUP);
    let config = two_stack_config(port, MAIN, BACKUP, "", FAST_TCP);
    let f = Failoverd::start_with(
        &config,
        StartOptions {
            dir: Some(dir),
            ..Default::default()
        },
    )
    .await;
    let events = f.events().await;
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    for kind in ["before", "after", "last"] {
        assert!(kinds.contains(&kind), "no {kind:?} event: {events:?}");
    }
    assert!(!kinds.contains(&"torn"), "{events:?}");
    let start = events
        .iter()
        .find(|e| e["kind"] == "start")
        .unwrap_or_else(|| panic!("no start event: {events:?}"));
    assert_eq!(start["id"], 91, "{events:?}");

    // Every line of the file parses, the new ones after the old ones.
    let history = f.dir.path().join("failoverd.state.events");
    let ids = eventually(
        Duration::from_secs(5),
        "the start event in the file, every line an event",
        || {
            let ids = history_ids(&history);
            async move { ids.filter(|ids| ids.contains(&91)) }
        },
    )
    .await;
    assert_eq!(&ids[..3], &[1, 90, 3], "{ids:?}");
    assert!(ids[3..].iter().all(|&id| id >= 91), "{ids:?}");
}

/// `failoverd ARGS --config <dir>/failoverd.toml` holding `config`, without a terminal;
/// one still running after 10 s is killed and the test fails.
fn run_binary(args: &[&str], dir: &Path, config: &str) -> Output {
    let path = dir.join("failoverd.toml");
    std::fs::write(&path, config.replace("{dir}", &dir.display().to_string())).unwrap();
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run failoverd");
    for _ in 0..500 {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    panic!(
        "failoverd {args:?} still running after 10 s: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_and_run_refuse_a_state_path_in_a_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let config = two_stack_config(9, MAIN, BACKUP, "", FAST_TCP)
        .replace("{dir}/failoverd.state", "{dir}/no-such-dir/failoverd.state");
    let missing = dir.path().join("no-such-dir");
    let wanted = format!("state.path: directory {} does not exist", missing.display());
    for command in ["check", "run"] {
        let out = run_binary(&[command], dir.path(), &config);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(EX_USAGE), "{command}: {err}");
        assert!(err.contains(&wanted), "{command}: {err}");
    }
    assert!(!missing.exists());
}

#[test]
fn run_refuses_a_state_file_with_an_absurd_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("failoverd.state");
    let text = r#"{"format": 1, "groups": {"app": {"epoch": 18446744073709551615,
        "active": ["main"], "pin": null, "targets": {}}}}"#;
    std::fs::write(&state, text).unwrap();
    let config = two_stack_config(9, MAIN, BACKUP, "", FAST_TCP);
    let out = run_binary(&["run"], dir.path(), &config);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    for part in [
        state.display().to_string().as_str(),
        "group \"app\"",
        "epoch 18446744073709551615",
    ] {
        assert!(err.contains(part), "{part:?} not in: {err}");
    }
    assert_eq!(std::fs::read_to_string(&state).unwrap(), text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_name_the_target_once() {
    let (_main, _backup, f) = stacks("", FAST_TCP).await;
    // The API shows both up once the verdicts are published; their log lines reach the
    // harness through its stderr reader, which may not have read them yet: poll.
    let both_named = |ups: &[Value]| {
        let named: Vec<&str> = ups.iter().filter_map(|l| l["target"].as_str()).collect();
        named.contains(&"main") && named.contains(&"backup")
    };
    eventually(
        Duration::from_secs(5),
        "target up lines for main and backup",
        || {
            let ups = f.log_lines_with("target up");
            async move { both_named(&ups).then_some(()) }
        },
    )
    .await;
    let ups = f.log_lines_with("target up");
    assert!(both_named(&ups), "{ups:?}");
    // The module path is gone from every line, not only these.
    let with_path: Vec<Value> = f
        .logs()
        .into_iter()
        .filter(|l| l["target"].as_str().is_some_and(|t| t.contains("::")))
        .collect();
    assert!(with_path.is_empty(), "{with_path:?}");
}

#[test]
fn text_logs_without_a_terminal_have_no_colours() {
    let dir = tempfile::tempdir().unwrap();
    let config = two_stack_config(9, MAIN, BACKUP, "", FAST_TCP)
        .replace("{dir}", &dir.path().display().to_string());
    let path = dir.path().join("failoverd.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(BIN)
        .args(["--log-format", "text", "run", "--config"])
        .arg(&path)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn failoverd");
    let pid = child.id().to_string();
    let mut text = String::new();
    // Read until the admin listener is logged (or stderr ends), then stop it cleanly.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref().map_while(Result::ok) {
        text.push_str(&line);
        text.push('\n');
        if line.contains("listening") && line.contains("admin") {
            break;
        }
    }
    let killed = Command::new("kill").args(["-s", "TERM", &pid]).status();
    assert!(killed.is_ok_and(|s| s.success()), "{text}");
    for line in lines.map_while(Result::ok) {
        text.push_str(&line);
        text.push('\n');
    }
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}: {text}");
    assert!(
        text.contains("listening") && text.contains("stopped"),
        "{text}"
    );
    assert!(!text.contains("\x1b["), "colours in: {text:?}");
    // A clean exit leaves the stop event in the file: the writer thread was drained.
    let history = std::fs::read_to_string(dir.path().join("failoverd.state.events")).unwrap();
    let last: Value = serde_json::from_str(history.lines().last().expect("a line")).unwrap();
    assert_eq!(last["kind"], "stop", "{history}");
}

/// The history file is written by a thread of its own, never by the control thread that
/// runs the probes: the thread exists, and events reach the file while failoverd runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_written_by_its_own_thread() {
    let (port, _main, _backup) = http_stacks(MAIN, BACKUP);
    let f = Failoverd::start(&two_stack_config(port, MAIN, BACKUP, "", FAST_TCP)).await;
    // The run starts it just after the sockets are bound (and logged).
    let thread = || {
        std::fs::read_dir(format!("/proc/{}/task", f.pid()))
            .expect("read /proc/PID/task")
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            // comm holds the first 15 bytes of the name: "failoverd-event".
            .any(|name| name.trim() == "failoverd-event")
    };
    eventually(
        Duration::from_secs(10),
        "the history writer thread",
        || async { thread().then_some(()) },
    )
    .await;
    let history = f.dir.path().join("failoverd.state.events");
    eventually(
        Duration::from_secs(10),
        "the start event in the file",
        || async {
            let text = std::fs::read_to_string(&history).ok()?;
            text.lines()
                .any(|l| l.contains("\"kind\":\"start\""))
                .then_some(())
        },
    )
    .await;
}
