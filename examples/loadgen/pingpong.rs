//! `pingpong`: 1-byte round trips on one connection (the latency section).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::json;
use tokio::time::Instant;

use crate::client::{loopback, percentile, round3};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    target: SocketAddr,
    #[arg(long)]
    seconds: f64,
    /// Round trips before measuring (warm-up).
    #[arg(long, default_value_t = 1000)]
    warmup: u64,
    /// At most this many measured round trips.
    #[arg(long, default_value_t = 10_000_000)]
    max_count: u64,
}

pub async fn run(a: Args) -> Result<()> {
    loopback(a.target)?;
    tokio::task::spawn_blocking(move || {
        pingpong(a.target, crate::secs(a.seconds), a.warmup, a.max_count)
    })
    .await?
}

/// Blocking sockets on one thread: the client adds as little of its own latency as it can.
fn pingpong(target: SocketAddr, seconds: Duration, warmup: u64, max_count: u64) -> Result<()> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&target, Duration::from_secs(5))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut b = [0u8; 1];
    let mut trip = |s: &mut std::net::TcpStream| -> Result<()> {
        s.write_all(b"p")?;
        s.read_exact(&mut b)
            .context("echo backend closed or timed out")?;
        if b[0] != b'p' {
            bail!(
                "unexpected byte {:?} (is the backend an echo server without --name?)",
                b[0]
            );
        }
        Ok(())
    };
    let warm_deadline = Instant::now() + Duration::from_secs(2);
    for _ in 0..warmup {
        if Instant::now() > warm_deadline {
            break;
        }
        trip(&mut s)?;
    }
    let mut lat = Vec::with_capacity(1 << 20);
    let start = Instant::now();
    let deadline = start + seconds;
    while (lat.len() as u64) < max_count {
        let t0 = Instant::now();
        if t0 >= deadline {
            break;
        }
        trip(&mut s)?;
        lat.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let out = json!({
        "round_trips": lat.len(),
        "round_trips_per_sec": round3(lat.len() as f64 / elapsed),
        "p50_us": round3(percentile(&lat, 50.0)),
        "p90_us": round3(percentile(&lat, 90.0)),
        "p99_us": round3(percentile(&lat, 99.0)),
        "max_us": round3(lat.last().copied().unwrap_or(0.0)),
    });
    println!("{out}");
    Ok(())
}
