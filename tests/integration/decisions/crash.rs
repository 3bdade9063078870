//! A critical subsystem that dies stops the process with a non-zero exit (so the service
//! manager restarts it) instead of leaving DNS and the proxy on a frozen snapshot; while
//! all runs, `/ready` names every subsystem.

use std::time::Duration;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_ready_names_every_subsystem() {
    let (port, _main, _backup) = http_stacks(MAIN, BACKUP);
    let checks = "kind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"150ms\"";
    let f = Failoverd::start(&(header("") + &pair_group("app", port, "", checks))).await;
    let (status, body) = f.get("/ready").await;
    assert_eq!(status, 200, "{body}");
    let v = parse_json("ready", &body);
    assert_eq!(v["status"], "ready", "{body}");
    for name in ["supervisor", "checkers", "hooks", "reload", "admin"] {
        assert_eq!(v["subsystems"][name], "running", "{name}: {body}");
    }
}

/// The supervisor panics (a test-only fault, compiled with the `fault-injection` feature
/// the tests turn on): the process logs it and exits non-zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_a_supervisor_panic_stops_the_process_non_zero() {
    let (port, _main, _backup) = http_stacks(MAIN, BACKUP);
    let checks = "kind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"150ms\"";
    let opts = StartOptions {
        env: vec![("FAILOVERD_FAULT_PANIC".into(), "supervisor".into())],
        ..StartOptions::default()
    };
    let mut f =
        Failoverd::start_with(&(header("") + &pair_group("app", port, "", checks)), opts).await;
    let status = f.wait_exit(Duration::from_secs(20)).await;
    assert!(!status.success(), "exit status {status:?}");
    assert_eq!(status.code(), Some(1), "{status:?}");
    let logs = f.log_lines_with(
        "a critical subsystem stopped; failoverd stops so that it can be restarted",
    );
    assert!(
        logs.iter().any(|l| l["subsystem"] == "supervisor"),
        "{:?}",
        f.logs()
    );
}
