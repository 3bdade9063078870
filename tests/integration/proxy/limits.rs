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
    let waited = wait_closed(&mut third, Duration::from_secs(2))
        .await
        .expect("3rd connection closed by failoverd, not left hanging");
    assert!(waited < Duration::from_secs(2));
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
