//! `connrate`: short connections as fast as they go (the connrate section).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::client::{connect, loopback, percentile, round3};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    target: SocketAddr,
    #[arg(long)]
    seconds: f64,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, default_value_t = 64)]
    request_bytes: usize,
    #[arg(long, default_value_t = 256)]
    response_bytes: usize,
    /// Give up on one connection after this many milliseconds (counts as failed).
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
}

pub async fn run(a: Args) -> Result<()> {
    loopback(a.target)?;
    connrate(
        a.target,
        crate::secs(a.seconds),
        a.concurrency.max(1),
        a.request_bytes,
        a.response_bytes,
        Duration::from_millis(a.timeout_ms),
    )
    .await
}

async fn connrate(
    target: SocketAddr,
    seconds: Duration,
    concurrency: usize,
    request_bytes: usize,
    response_bytes: usize,
    timeout: Duration,
) -> Result<()> {
    let request: Arc<[u8]> = vec![b'q'; request_bytes].into();
    let start = Instant::now();
    let deadline = start + seconds;
    let failed = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let request = request.clone();
        let failed = failed.clone();
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(1 << 16);
            let mut buf = vec![0u8; 64 * 1024];
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let one = async {
                    let mut s = connect(target).await?;
                    s.write_all(&request).await?;
                    let mut got = 0usize;
                    loop {
                        let n = s.read(&mut buf).await?;
                        if n == 0 {
                            break;
                        }
                        got += n;
                    }
                    std::io::Result::Ok(got)
                };
                match tokio::time::timeout(timeout, one).await {
                    Ok(Ok(got)) if got == response_bytes => {
                        lat.push(t0.elapsed().as_secs_f64() * 1e3);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        // Do not spin on a refusing target.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for w in workers {
        lat.extend(w.await?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let out = json!({
        "connections": lat.len(),
        "connections_per_sec": round3(lat.len() as f64 / elapsed),
        "failed": failed.load(Ordering::Relaxed),
        "p50_ms": round3(percentile(&lat, 50.0)),
        "p99_ms": round3(percentile(&lat, 99.0)),
        "seconds": round3(elapsed),
    });
    println!("{out}");
    Ok(())
}
