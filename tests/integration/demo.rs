//! `failoverd demo` (the README's first command) end to end: the real binary runs its
//! failover and failback narration and exits 0 only if no client request failed. The
//! demo's ports are fixed in config/demo.toml; the test runs it on a copy whose listeners
//! are `127.0.0.1:0`, with `--stack-port 0`, in a temp dir (the state file is relative):
//! the demo binds every port itself (nothing is reserved and released here) and prints
//! the addresses it bound.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{repo_path, BIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_fails_over_and_back_without_a_failed_request() {
    let mut text = std::fs::read_to_string(repo_path("config/demo.toml")).expect("demo.toml");
    for fixed in ["127.0.0.1:18080", "127.0.0.1:19090", "127.0.0.1:15353"] {
        assert!(text.contains(fixed), "demo.toml no longer has {fixed}");
        text = text.replace(fixed, "127.0.0.1:0");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("demo.toml");
    std::fs::write(&config, text).expect("write the demo config");

    let child = Command::new(BIN)
        .args([
            "--log-level",
            "warn",
            "demo",
            "--stack-port",
            "0",
            "--config",
        ])
        .arg(&config)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn failoverd demo");
    let pid = child.id();
    let waited = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await;
    let Ok(out) = waited else {
        // SAFETY: kill(2) on the PID of the child this test started.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        panic!("failoverd demo did not finish within 90 s");
    };
    let out = out.expect("join").expect("demo output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo failed ({:?}):\n{stdout}\n{stderr}",
        out.status
    );
    // Every address it names is one the kernel picked, none of demo.toml's.
    let proxied = stdout
        .lines()
        .find_map(|l| l.strip_prefix("[demo] failoverd is proxying "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse::<SocketAddr>().ok())
        .unwrap_or_else(|| panic!("no proxy address in:\n{stdout}"));
    assert!(
        ![0, 18080].contains(&proxied.port()),
        "proxy on {proxied}:\n{stdout}"
    );
    assert!(
        !stdout.contains(":18001") && !stdout.contains(":19090"),
        "{stdout}"
    );
    for line in [
        "failover: the group switched to \"backup\"",
        "failback: \"main\" serves again",
        "done: a real failover and failback, and no client request failed",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
    assert!(
        !stdout
            .lines()
            .any(|l| l.contains("requests failed") && !l.contains(" 0 of ")),
        "a phase reported failed requests:\n{stdout}"
    );
}
