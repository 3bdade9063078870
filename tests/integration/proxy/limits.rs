//! Listener limits: `max_connections` refuses the extra connection at once and recovers;
//! `idle_timeout` closes quiet sessions only.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use super::*;
use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_max_connections_refuses_extra_at_once_then_recovers() {
    let backends = echo_backends();
    let f = Failoverd::start(&echo_config(backends.port, "", "max_connections = 2")).await;
    let proxy = f.proxy("app");
    let first = echo_session(proxy).await.expect("1st connection");
    let mut second = echo_session(proxy).await.expect("2nd connection");

    let mut third = TcpStream::connect(proxy)
        .await
        .expect("kernel accepts the 3rd");
    // Closed by failoverd rather than left hanging (the idle timeout is 10 minutes).
    wait_closed(&mut third, Duration::from_secs(20))
        .await
        .expect("3rd connection closed by failoverd, not left hanging");
    let refused = metric_sum(
        &f.metrics().await,
        "failoverd_proxy_connections_total",
        &[("group", "app"), ("result", "refused")],
    );
    assert!(refused >= 1.0, "refused connections counted: {refused}");
    // The held ones are untouched.
    round_trip(&mut second, b"still here")
        .await
        .expect("2nd connection still works");

    drop(first);
    let mut fourth = eventually(
        Duration::from_secs(5),
        "a new connection to work once one held connection closed",
        || async move { echo_session(proxy).await.ok() },
    )
    .await;
    round_trip(&mut fourth, b"again").await.unwrap();
    round_trip(&mut second, b"and me").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_idle_timeout_closes_quiet_sessions_only() {
    let backends = echo_backends();
    let f = Failoverd::start(&echo_config(backends.port, "", "idle_timeout = \"500ms\"")).await;
    let proxy = f.proxy("app");

    let quiet = async {
        // Measured from before the proxy could even start the session: >= the timeout.
        let started = Instant::now();
        let mut s = TcpStream::connect(proxy).await.expect("connect");
        wait_closed(&mut s, Duration::from_secs(3))
            .await
            .map(|_| started.elapsed())
    };
    let busy = async {
        let mut s = echo_session(proxy).await.expect("busy session");
        let started = Instant::now();
        for i in 0..15 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            round_trip(&mut s, format!("tick {i}").as_bytes())
                .await
                .unwrap_or_else(|e| panic!("busy session broke at {:?}: {e}", started.elapsed()));
        }
        let busy_for = started.elapsed();
        // Quiet from now on: it must be closed in turn.
        (busy_for, wait_closed(&mut s, Duration::from_secs(3)).await)
    };
    let (quiet, (busy_for, busy_then_quiet)) = tokio::join!(quiet, busy);
    let quiet = quiet.expect("idle session closed by the proxy");
    assert!(
        quiet >= Duration::from_millis(480),
        "idle session closed after {quiet:?}, before the 500ms idle timeout"
    );
    assert!(busy_for >= Duration::from_millis(1500));
    busy_then_quiet.expect("the busy session closed once quiet");
}

/// The soft open-file limit failoverd was started with (`/proc/PID/limits`).
#[cfg(target_os = "linux")]
fn soft_nofile(pid: u32) -> String {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    // "Max open files  SOFT  HARD  files"
    line.split_whitespace().nth(3).expect("soft").to_string()
}

/// A service manager's usual low soft limit (256 here) is raised to the hard one at
/// start: sessions that need more descriptors than it are served, not left in the
/// backlog by accept's EMFILE.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_raises_a_low_open_file_limit_and_serves_past_it() {
    // This process holds both ends of every session too.
    failoverd::fd_limit::raise().expect("raise the test's own limit");
    let backends = echo_backends();
    let opts = StartOptions {
        nofile: Some((256, 4096)),
        ..Default::default()
    };
    let f = Failoverd::start_with(&echo_config(backends.port, "", ""), opts).await;
    // Raised as the run starts, just after the sockets are bound (and logged).
    eventually(
        std::time::Duration::from_secs(10),
        "soft limit raised to the hard one",
        || async { (soft_nofile(f.pid()) == "4096").then_some(()) },
    )
    .await;
    let raised = f.log_lines_with("open-file limit raised to the hard limit");
    assert_eq!(raised.len(), 1, "one line says so: {:?}", f.logs());
    assert_eq!(
        (raised[0]["from"].as_u64(), raised[0]["to"].as_u64()),
        (Some(256), Some(4096))
    );

    // 200 sessions open at once hold 400 descriptors in failoverd, past the 256 it had.
    let proxy = f.proxy("app");
    let _sessions = hold_echo_sessions(proxy, 200).await;
}

/// A hard limit below what `max_connections` can use is named at start, with both
/// numbers, and failoverd serves anyway.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_warns_when_the_open_file_limit_is_below_max_connections() {
    let backends = echo_backends();
    let opts = StartOptions {
        nofile: Some((256, 256)),
        ..Default::default()
    };
    let f = Failoverd::start_with(
        &echo_config(backends.port, "", "max_connections = 5000"),
        opts,
    )
    .await;
    assert_eq!(soft_nofile(f.pid()), "256");
    let warned: Vec<_> = f
        .logs()
        .into_iter()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("the open-file limit is below"))
        })
        .collect();
    assert_eq!(warned.len(), 1, "one warning: {:?}", f.logs());
    assert_eq!(warned[0]["level"], "WARN");
    assert_eq!(warned[0]["limit"].as_u64(), Some(256));
    let needed = warned[0]["needed"].as_u64().expect("needed");
    assert!(
        needed > 10_000,
        "5,000 sessions need two descriptors each: {needed}"
    );
    let mut s = echo_session(f.proxy("app")).await.expect("still serves");
    round_trip(&mut s, b"served").await.expect("round trip");

    // A reload names the shortfall again.
    let (status, body) = f.post("/v1/reload", "", None).await;
    assert_eq!(status, 200, "{body}");
    let warnings = || {
        f.logs()
            .into_iter()
            .filter(|l| {
                l["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("the open-file limit is below"))
            })
            .count()
    };
    eventually(
        Duration::from_secs(5),
        "a second warning after the reload",
        || {
            let n = warnings();
            async move { (n == 2).then_some(()) }
        },
    )
    .await;
}
