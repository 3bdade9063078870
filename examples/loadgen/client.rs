//! What the load clients share: the loopback-only rule, connecting, and the statistics
//! they print.

use std::net::{IpAddr, SocketAddr};

use anyhow::{bail, Result};
use tokio::net::TcpStream;

/// Refuses any target outside 127.0.0.0/8 and ::1: this is a loopback tool.
pub fn loopback(addr: SocketAddr) -> Result<()> {
    let ok = match addr.ip() {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback(),
    };
    if !ok {
        bail!("{addr}: loadgen only sends to loopback addresses");
    }
    Ok(())
}

pub async fn connect(target: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(target).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Nearest-rank percentile `p` (0-100) of `sorted`; 0 when it is empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
