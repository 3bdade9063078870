//! Slow readers: a backend that accepts and never reads, with hundreds of clients pushing
//! through failoverd. What the clients send must wait in the kernel's socket buffers (where
//! TCP flow control pushes back on the sender), not in failoverd's memory: a stalled
//! session holds no user-space buffer.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::rss_kib;
use crate::harness::*;

/// Accepts on `listener` and never reads; the sockets stay open until `stop`. The
/// listener's receive buffer is made small (accepted sockets inherit it), so the first
/// kilobytes of each connection fill it and failoverd's writes towards it stall at once.
async fn never_read(listener: std::net::TcpListener, stop: CancellationToken) {
    socket2::SockRef::from(&listener)
        .set_recv_buffer_size(4096)
        .expect("SO_RCVBUF");
    serve_each(listener, stop.clone(), move |sock| {
        let stop = stop.clone();
        async move {
            stop.cancelled().await;
            drop(sock);
        }
    })
    .await
}

/// Opens a session through `proxy` and pushes bytes until a write makes no progress for
/// 300 ms (the path is full) or 4 MiB are sent. The socket is returned so the session
/// stays open while failoverd's memory is measured.
async fn push_until_stalled(proxy: std::net::SocketAddr) -> Option<TcpStream> {
    let mut s = TcpStream::connect(proxy).await.ok()?;
    let chunk = vec![7u8; 64 * 1024];
    for _ in 0..64 {
        match tokio::time::timeout(Duration::from_millis(300), s.write_all(&chunk)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return None,
            Err(_) => break,
        }
    }
    Some(s)
}

/// Opens `n` stalled sessions, 50 at a time.
async fn stalled_sessions(proxy: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut open = Vec::new();
    for _ in 0..n / 50 {
        let batch: Vec<_> = (0..50)
            .map(|_| tokio::spawn(push_until_stalled(proxy)))
            .collect();
        for b in batch {
            open.extend(b.await.expect("client task"));
        }
    }
    open
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_a_backend_that_never_reads_costs_no_proxy_memory() {
    let backends = Backends::spawn(|listener, _name, stop| never_read(listener, stop));
    let checks = "kind = \"tcp\"\ninterval = \"500ms\"\ntimeout = \"300ms\"\nrise = 1\nfall = 2";
    let config = header("") + &pair_group("app", backends.port, "", checks);
    let f = Failoverd::start(&config).await;
    f.wait_both_up("app", Duration::from_secs(10)).await;
    let proxy = f.proxy("app");
    // Warm up first (thread pools, per-thread buffer pools, allocator arenas), so the
    // difference below is what the stalled sessions hold.
    let warm = stalled_sessions(proxy, 100).await;
    let before = rss_kib(f.pid());
    let stalled = stalled_sessions(proxy, 600).await;
    assert!(
        stalled.len() >= 550,
        "only {} sessions opened",
        stalled.len()
    );
    let after = rss_kib(f.pid());
    let per_session = (after.saturating_sub(before)) as f64 / stalled.len() as f64;
    eprintln!(
        "{} stalled sessions (backend never reads): RSS {before} -> {after} KiB, {per_session:.1} KiB a session",
        stalled.len()
    );
    // A session's own state (task, two sockets' registrations) is a few hundred bytes;
    // one 64 KiB copy buffer held per stalled session would be 37 MiB here.
    assert!(
        per_session < 8.0,
        "a stalled session holds {per_session:.1} KiB of failoverd's memory"
    );
    drop((warm, stalled));
}
