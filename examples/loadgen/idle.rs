//! `idle`: many proven, idle connections held open (the memory section).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::client::{connect, loopback, round3};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    target: SocketAddr,
    #[arg(long)]
    count: usize,
    #[arg(long)]
    hold_seconds: f64,
    /// Connections opened at once.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
}

pub async fn run(a: Args) -> Result<()> {
    loopback(a.target)?;
    idle(
        a.target,
        a.count,
        crate::secs(a.hold_seconds),
        a.batch.max(1),
        Duration::from_millis(a.timeout_ms),
    )
    .await
}

async fn idle(
    target: SocketAddr,
    count: usize,
    hold: Duration,
    batch: usize,
    timeout: Duration,
) -> Result<()> {
    let start = Instant::now();
    let mut open: Vec<TcpStream> = Vec::with_capacity(count);
    let mut failed = 0usize;
    while open.len() + failed < count {
        let n = batch.min(count - open.len() - failed);
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            set.spawn(async move {
                tokio::time::timeout(timeout, async {
                    let mut s = connect(target).await?;
                    s.write_all(b"i").await?;
                    let mut b = [0u8; 1];
                    s.read_exact(&mut b).await?;
                    if b[0] != b'i' {
                        return Err(std::io::Error::other("not an echo"));
                    }
                    std::io::Result::Ok(s)
                })
                .await
            });
        }
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok(Ok(s))) => open.push(s),
                _ => failed += 1,
            }
        }
        // A batch that failed entirely means the target is gone: stop trying.
        if failed >= n && open.is_empty() {
            break;
        }
    }
    let opened_in = start.elapsed().as_secs_f64();
    let ready = open.len();
    println!("READY {ready}");
    eprintln!(
        "idle: {} open, {} failed, opened in {:.2}s; holding {:.1}s",
        open.len(),
        failed,
        opened_in,
        hold.as_secs_f64()
    );
    tokio::select! {
        _ = tokio::time::sleep(hold) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    // Check they are still alive at the end (one more round trip each, bounded).
    let mut alive = 0usize;
    let mut set = tokio::task::JoinSet::new();
    for mut s in open.drain(..) {
        set.spawn(async move {
            tokio::time::timeout(Duration::from_secs(5), async move {
                s.write_all(b"j").await?;
                let mut b = [0u8; 1];
                s.read_exact(&mut b).await?;
                std::io::Result::Ok(())
            })
            .await
        });
        if set.len() >= batch {
            while let Some(r) = set.join_next().await {
                if matches!(r, Ok(Ok(Ok(())))) {
                    alive += 1;
                }
            }
        }
    }
    while let Some(r) = set.join_next().await {
        if matches!(r, Ok(Ok(Ok(())))) {
            alive += 1;
        }
    }
    let out = json!({
        "ready": ready,
        "failed": failed,
        "alive_at_end": alive,
        "open_seconds": round3(opened_in),
    });
    println!("{out}");
    Ok(())
}
