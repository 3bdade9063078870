//! The descriptor budget: bulk sessions (each moving megabytes, so each wants splice pipes)
//! up to far more than the open-file limit allows. Sessions beyond the budget are refused
//! at once; none of failoverd's own work runs out of descriptors, no target is marked
//! down, and the sessions that were taken carry their bytes whole.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::*;

/// Pushes `len` bytes through an echo session and reads them back; `None` when the proxy
/// refused the session (closed it at once).
async fn bulk_echo(proxy: std::net::SocketAddr, len: usize) -> Option<bool> {
    let s = TcpStream::connect(proxy).await.ok()?;
    let (mut r, mut w) = s.into_split();
    let writer = tokio::spawn(async move {
        let chunk = vec![7u8; 64 * 1024];
        let mut sent = 0;
        while sent < len {
            if w.write_all(&chunk).await.is_err() {
                return;
            }
            sent += chunk.len();
        }
        let _ = w.shutdown().await;
    });
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    let _ = writer.await;
    if got == 0 {
        return None;
    }
    Some(got >= len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_bulk_sessions_beyond_the_open_file_limit_fail_nothing_over() {
    let backends = echo_backends();
    let checks = "kind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nrise = 1\nfall = 2";
    let config = header("") + &pair_group("app", backends.port, "", checks);
    let opts = StartOptions {
        nofile: Some((1024, 1024)),
        ..StartOptions::default()
    };
    let f = Failoverd::start_with(&config, opts).await;
    let g = f.wait_both_up("app", Duration::from_secs(10)).await;
    let epoch = g["epoch"].clone();
    let proxy = f.proxy("app");
    // 600 sessions of 4 MiB each, all open together: 2 descriptors a session and 4 more
    // for its two pipes would be 3,600, against a limit of 1,024. They arrive 20 every
    // 20 ms, so the test's own backends (accept backlog 128) keep up.
    let mut sessions = Vec::new();
    for i in 0..600 {
        sessions.push(tokio::spawn(bulk_echo(proxy, 4 << 20)));
        if i % 20 == 19 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let (mut whole, mut cut, mut refused) = (0, 0, 0);
    for s in sessions {
        match tokio::time::timeout(Duration::from_secs(60), s).await {
            Ok(Ok(Some(true))) => whole += 1,
            Ok(Ok(Some(false))) => cut += 1,
            Ok(Ok(None)) => refused += 1,
            other => panic!("a session hung or failed: {other:?}"),
        }
    }
    eprintln!("600 bulk sessions against a 1,024 open-file limit: {whole} whole, {refused} refused at once, {cut} cut");
    assert_eq!(cut, 0, "sessions taken must carry their bytes whole");
    assert!(whole > 0);
    let scrape = f.metrics().await;
    assert_eq!(
        metric(&scrape, "failoverd_local_errors_total{kind=\"emfile\"}"),
        Some(0.0),
        "failoverd ran out of descriptors"
    );
    let g = f.group("app").await;
    let downs = f.log_lines_with("target down");
    assert_eq!(g["epoch"], epoch, "a transition: {g}; {downs:?}");
    assert_eq!(active(&g), ["main"]);
}

/// Clients that spend the whole descriptor budget (idle proxy sessions, as many as are
/// taken) do not lock an operator out: the admin API keeps a few descriptors of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_a_spent_budget_leaves_the_admin_api_reachable() {
    let backends = echo_backends();
    let checks = "kind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nrise = 1\nfall = 2";
    let config = header("") + &pair_group("app", backends.port, "", checks);
    let opts = StartOptions {
        nofile: Some((512, 512)),
        ..StartOptions::default()
    };
    let f = Failoverd::start_with(&config, opts).await;
    f.wait_both_up("app", Duration::from_secs(10)).await;
    let proxy = f.proxy("app");
    // Open sessions until the proxy refuses them (bounded: the limit is 512).
    let mut held = Vec::new();
    let mut refused = false;
    for _ in 0..400 {
        let mut s = TcpStream::connect(proxy).await.expect("connect");
        s.write_all(b"x").await.expect("write");
        let mut one = [0u8; 1];
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut one)).await {
            Ok(Ok(1)) => held.push(s),
            _ => {
                refused = true;
                break;
            }
        }
    }
    assert!(refused, "{} sessions and none refused", held.len());
    let scrape = f.metrics().await;
    assert!(
        metric(&scrape, "failoverd_fd_budget_refused_total{what=\"proxy\"}").unwrap_or(0.0) > 0.0,
        "the budget refused a session"
    );
    let (status, _) = f.get("/v1/groups").await;
    assert_eq!(status, 200, "the admin API answers with the budget spent");
    drop(held);
}
