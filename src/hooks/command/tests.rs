//! Tests of command hooks: real processes, killed and checked through /proc.

use std::time::Duration;

use tokio::time::Instant;

use crate::hooks::test_support::{command, event};
use crate::hooks::{run_hook, HookTrigger};

/// A process is gone when it no longer exists or is a zombie: once killed, a
/// grandchild is reparented to PID 1, which in a container may never reap it.
fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the ")" that ends the command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// `sleep 30 & sleep 30`, both children writing their pid first: the hook is killed at
/// its timeout, and so are both sleeps (the group kill, not just the leader).
#[tokio::test]
async fn hanging_hook_and_its_children_are_killed_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (bg, fg) = (dir.path().join("bg.pid"), dir.path().join("fg.pid"));
    let script = format!(
        "sleep 30 & echo $! > '{}'; sleep 30 & echo $! > '{}'; wait",
        bg.display(),
        fg.display()
    );
    let hook = command(
        "hangs",
        &[HookTrigger::Failover],
        &["sh", "-c", &script],
        300,
    );
    let started = Instant::now();
    let result = run_hook(&hook, &event(HookTrigger::Failover)).await;
    let took = started.elapsed();
    assert!(!result.ok, "{result:?}");
    assert_eq!(result.hook, "hangs");
    assert_eq!(result.detail, "killed after timeout 300ms");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");

    for file in [&bg, &fg] {
        assert!(
            file.exists(),
            "the script wrote {} before the timeout",
            file.display()
        );
        assert_gone(pid_from(file).await).await;
    }
}

#[tokio::test]
async fn failing_command_reports_code_and_last_stderr_line() {
    let hook = command(
        "fails",
        &[HookTrigger::Commit],
        &[
            "sh",
            "-c",
            "echo out; echo first >&2; echo boom >&2; exit 3",
        ],
        5000,
    );
    let result = run_hook(&hook, &event(HookTrigger::Commit)).await;
    assert!(!result.ok);
    assert_eq!(result.hook, "fails");
    assert_eq!(result.detail, "exit 3: boom");
}

#[tokio::test]
async fn stdout_is_quoted_when_stderr_is_silent() {
    let argv = ["sh", "-c", "echo 'no replica to promote'; exit 2"];
    let hook = command("h", &[HookTrigger::Commit], &argv, 5000);
    let result = run_hook(&hook, &event(HookTrigger::Commit)).await;
    assert_eq!(result.detail, "exit 2: no replica to promote");
    let hook = command("h", &[HookTrigger::Commit], &["false"], 5000);
    assert_eq!(
        run_hook(&hook, &event(HookTrigger::Commit)).await.detail,
        "exit 1"
    );
}

#[tokio::test]
async fn killed_by_a_signal_is_reported() {
    let hook = command(
        "h",
        &[HookTrigger::Commit],
        &["sh", "-c", "kill -TERM $$"],
        5000,
    );
    let result = run_hook(&hook, &event(HookTrigger::Commit)).await;
    assert!(!result.ok);
    assert_eq!(result.detail, "killed by signal 15");
}

#[tokio::test]
async fn missing_program_is_a_clear_failure() {
    let hook = command(
        "missing",
        &[HookTrigger::Failover],
        &["/nonexistent/promote", "--fast"],
        5000,
    );
    let result = run_hook(&hook, &event(HookTrigger::Failover)).await;
    assert!(!result.ok);
    assert_eq!(
        result.detail,
        "cannot start \"/nonexistent/promote\": No such file or directory (os error 2)"
    );
    let hook = command(
        "h",
        &[HookTrigger::Failover],
        &["failoverd-no-such-hook"],
        5000,
    );
    let result = run_hook(&hook, &event(HookTrigger::Failover)).await;
    assert!(
        result
            .detail
            .starts_with("cannot start \"failoverd-no-such-hook\": "),
        "{result:?}"
    );
}

/// A command writing far more than the kept tail neither blocks nor grows memory,
/// and its last line is still the one quoted.
#[tokio::test]
async fn large_output_is_bounded_and_does_not_block() {
    let script = "i=0; while [ $i -lt 20000 ]; do echo line $i; echo err $i >&2; \
                  i=$((i+1)); done; echo the end >&2; exit 4";
    let hook = command(
        "chatty",
        &[HookTrigger::Failover],
        &["sh", "-c", script],
        20_000,
    );
    let result = run_hook(&hook, &event(HookTrigger::Failover)).await;
    assert_eq!(result.detail, "exit 4: the end");
}

#[tokio::test]
async fn exit_leaves_background_processes_and_does_not_wait_for_their_pipes() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("bg.pid");
    let script = format!("sleep 30 & echo $! > '{}'; exit 0", pid_file.display());
    let hook = command("bg", &[HookTrigger::Failover], &["sh", "-c", &script], 5000);
    let started = Instant::now();
    let result = run_hook(&hook, &event(HookTrigger::Failover)).await;
    assert_eq!(result.detail, "exit 0");
    assert!(started.elapsed() < Duration::from_secs(2));
    // Clean up the background sleep ourselves.
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let _ = std::process::Command::new("kill").arg(pid.trim()).status();
}

/// Waits (bounded) until `file` holds a pid, and returns it.
async fn pid_from(file: &std::path::Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if let Ok(pid) = text.trim().parse() {
            return pid;
        }
        assert!(Instant::now() < deadline, "no pid in {}", file.display());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn assert_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !is_gone(pid) {
        assert!(Instant::now() < deadline, "pid {pid} is still running");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A run abandoned half-way (its future dropped, as at shutdown) kills the group too.
#[tokio::test]
async fn dropping_a_running_hook_kills_its_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    let script = format!("sleep 30 & echo $! > '{}'; wait", pid_file.display());
    let hook = command(
        "long",
        &[HookTrigger::Failover],
        &["sh", "-c", &script],
        60_000,
    );
    let ev = event(HookTrigger::Failover);
    let pid = tokio::select! {
        result = run_hook(&hook, &ev) => panic!("the hook ended: {result:?}"),
        pid = pid_from(&pid_file) => pid,
    };
    assert_gone(pid).await;
}

/// The fallback for systems without procps' `kill`: the shell builtin.
#[tokio::test]
async fn killing_the_group_kills_the_leader_and_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    let script = format!("sleep 30 & echo $! > '{}'; wait", pid_file.display());
    let mut leader = tokio::process::Command::new("sh")
        .args(["-c", &script])
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let child = pid_from(&pid_file).await;
    let mut group = super::ProcessGroup(leader.id());
    group.kill();
    let status = tokio::time::timeout(Duration::from_secs(2), leader.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.to_string(), "signal: 9 (SIGKILL)");
    assert_gone(child).await;
}
