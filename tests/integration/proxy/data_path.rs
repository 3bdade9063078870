//! The data path: bytes both ways intact (8 MiB, hashed) and counted, and half-close in
//! either direction.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::harness::*;

/// 64-bit FNV-1a, fed in chunks.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// xorshift64*: reproducible pseudo-random bytes.
struct Rng(u64);

impl Rng {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_carries_8mib_both_ways_intact_and_counts_bytes() {
    const TOTAL: usize = 8 << 20;
    const CHUNK: usize = 64 << 10;
    let backends = echo_backends();
    let f = Failoverd::start(&echo_config(backends.port, "", "")).await;
    let bytes = |m: &str, dir: &str| {
        metric_sum(
            m,
            "failoverd_proxy_bytes_total",
            &[("group", "app"), ("direction", dir)],
        )
    };
    let before = f.metrics().await;
    let (to_target0, to_client0) = (bytes(&before, "to_target"), bytes(&before, "to_client"));

    let s = echo_session(f.proxy("app")).await.expect("echo session");
    let (mut r, mut w) = s.into_split();
    let writer = tokio::spawn(async move {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut hash = Fnv::new();
        let mut buf = vec![0u8; CHUNK];
        for _ in 0..TOTAL / CHUNK {
            rng.fill(&mut buf);
            hash.update(&buf);
            w.write_all(&buf).await?;
        }
        w.shutdown().await?;
        io::Result::Ok(hash.0)
    });
    let reader = async {
        let mut hash = Fnv::new();
        let mut n = 0usize;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let k = r.read(&mut buf).await?;
            if k == 0 {
                return io::Result::Ok((n, hash.0));
            }
            hash.update(&buf[..k]);
            n += k;
        }
    };
    let (got_len, got_hash) = timeout(Duration::from_secs(60), reader)
        .await
        .expect("8 MiB echoed within 60s")
        .expect("read echo");
    let sent_hash = timeout(Duration::from_secs(10), writer)
        .await
        .expect("writer finished")
        .unwrap()
        .expect("write 8 MiB");
    assert_eq!(got_len, TOTAL, "echoed byte count");
    assert_eq!(
        got_hash, sent_hash,
        "FNV-1a of echoed bytes != of sent bytes"
    );

    // "ping" of the first round trip is counted too, hence at least.
    let grown = eventually(
        Duration::from_secs(5),
        "proxy_bytes_total to grow by 8 MiB both ways",
        || async {
            let m = f.metrics().await;
            let up = bytes(&m, "to_target") - to_target0;
            let down = bytes(&m, "to_client") - to_client0;
            (up >= TOTAL as f64 && down >= TOTAL as f64).then_some((up, down))
        },
    )
    .await;
    assert!(
        grown.0 < (TOTAL + 1024) as f64 && grown.1 < (TOTAL + 1024) as f64,
        "bytes counted more than once? {grown:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_client_half_close_still_gets_full_echo_then_eof() {
    let backends = echo_backends();
    let f = Failoverd::start(&echo_config(backends.port, "", "")).await;
    let mut s = echo_session(f.proxy("app")).await.expect("echo session");
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    s.write_all(&payload).await.unwrap();
    s.shutdown().await.unwrap();
    let mut got = Vec::new();
    timeout(IO_LIMIT, s.read_to_end(&mut got))
        .await
        .expect("echo and EOF after the client's half-close")
        .expect("read after half-close");
    assert_eq!(got.len(), payload.len());
    assert!(got == payload, "echo differs from payload");
}

/// Accepts connections; on each, sends "hello", closes its write side, then reads until
/// EOF and reports what it read.
async fn greeting_backend(
    listener: std::net::TcpListener,
    received: mpsc::UnboundedSender<Vec<u8>>,
    stop: CancellationToken,
) {
    serve_each(listener, stop, move |mut sock| {
        let tx = received.clone();
        async move {
            let serve = async {
                sock.write_all(b"hello").await?;
                sock.shutdown().await?;
                let mut got = Vec::new();
                sock.read_to_end(&mut got).await?;
                io::Result::Ok(got)
            };
            if let Ok(got) = serve.await {
                let _ = tx.send(got);
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_backend_half_close_keeps_client_to_backend_direction() {
    let (m, b) = same_port_pair(MAIN, BACKUP);
    let port = m.local_addr().unwrap().port();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    tokio::spawn(greeting_backend(m, tx.clone(), stop.clone()));
    tokio::spawn(greeting_backend(b, tx, stop.clone()));
    let f = Failoverd::start(&echo_config(port, "", "")).await;

    let mut s = TcpStream::connect(f.proxy("app")).await.unwrap();
    let mut greeting = Vec::new();
    timeout(IO_LIMIT, s.read_to_end(&mut greeting))
        .await
        .expect("greeting and EOF from the backend")
        .expect("read greeting");
    assert_eq!(greeting, b"hello");

    // The backend's half-close must leave the client-to-backend direction open.
    let late = b"sent after the backend closed its side".repeat(100);
    s.write_all(&late).await.expect("write after backend EOF");
    s.shutdown().await.unwrap();
    // Health checks connect to the backends too (and send nothing): skip empty reports.
    let got = timeout(IO_LIMIT, async {
        for _ in 0..100 {
            match rx.recv().await {
                Some(got) if !got.is_empty() => return got,
                Some(_) => continue,
                None => break,
            }
        }
        panic!("backend reports ended");
    })
    .await
    .expect("the backend to receive the client's bytes and EOF");
    assert_eq!(got.len(), late.len());
    assert!(got == late, "backend received other bytes than sent");
    assert_eq!(
        wait_closed(&mut s, IO_LIMIT).await.map(|_| ()),
        Ok(()),
        "session closed once both directions ended"
    );
}
