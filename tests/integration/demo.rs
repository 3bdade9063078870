//! `failoverd demo` (the README's first command) end to end: the real binary runs its
//! failover and failback narration and exits 0 only if no client request failed. The
//! demo's ports are fixed in config/demo.toml; the test runs it on a copy whose ports are
//! free ones the kernel picked, in a temp dir (the state file is relative).

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{repo_path, same_port_pair, BACKUP, BIN, MAIN};

/// A port the kernel had free on `ip` a moment ago.
fn free_port(ip: &str) -> u16 {
    let l = std::net::TcpListener::bind((ip, 0)).expect("bind an ephemeral port");
    l.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_fails_over_and_back_without_a_failed_request() {
    let mut text = std::fs::read_to_string(repo_path("config/demo.toml")).expect("demo.toml");
    for fixed in ["127.0.0.1:18080", "127.0.0.1:19090"] {
        assert!(text.contains(fixed), "demo.toml no longer has {fixed}");
        text = text.replace(fixed, &format!("127.0.0.1:{}", free_port("127.0.0.1")));
    }
    assert!(
        text.contains("127.0.0.1:15353"),
        "demo.toml no longer has its DNS port"
    );
    let dns = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    text = text.replace("127.0.0.1:15353", &dns.to_string());
    assert!(
        text.contains("target_port = 18001"),
        "demo.toml no longer has its target port"
    );
    // The demo binds its stacks itself: only the port is wanted.
    let target = same_port_pair(MAIN, BACKUP).0.local_addr().unwrap().port();
    text = text.replace("target_port = 18001", &format!("target_port = {target}"));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("demo.toml");
    std::fs::write(&config, text).expect("write the demo config");

    let child = Command::new(BIN)
        .args(["--log-level", "warn", "demo", "--config"])
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
