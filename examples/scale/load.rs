//! A reload under load: DNS queries and proxied echo connections, each counted ok or
//! failed, from before POST /v1/reload until after its answer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcp, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use tokio::time::Instant;

use crate::api::http;

/// A DNS query for `name` (type A); the answer's first A record, if any.
pub fn ask_a(sock: &UdpSocket, server: SocketAddr, id: u16, name: &str) -> Option<[u8; 4]> {
    let mut q = vec![(id >> 8) as u8, id as u8, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    sock.send_to(&q, server).ok()?;
    let mut buf = [0u8; 512];
    loop {
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        if n < 12 || buf[0..2] != q[0..2] {
            continue; // a late answer to an earlier query
        }
        let (rcode, ancount) = (buf[3] & 0x0f, u16::from_be_bytes([buf[6], buf[7]]));
        if rcode != 0 || ancount == 0 || n < 4 {
            return None;
        }
        // The first answer is an A record (owner compressed): its last 4 bytes.
        let end = q.len() + 16;
        return (n >= end).then(|| [buf[end - 4], buf[end - 3], buf[end - 2], buf[end - 1]]);
    }
}

/// A load thread; it returns (ok, failed).
type Counting = std::thread::JoinHandle<(u64, u64)>;

/// Background load while a reload runs: DNS queries and proxied echo connections, each
/// counted ok or failed, until `stop`.
fn load(
    dns: SocketAddr,
    proxy: SocketAddr,
    groups: usize,
    stop: Arc<AtomicBool>,
) -> (Counting, Counting) {
    let stop_dns = stop.clone();
    let dns_load = std::thread::spawn(move || {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("udp");
        sock.set_read_timeout(Some(Duration::from_millis(500))).ok();
        let (mut ok, mut failed) = (0u64, 0u64);
        let mut i = 0usize;
        while !stop_dns.load(Ordering::Relaxed) {
            i += 1;
            let name = format!("g{}.scale.test.", (i * 7919) % groups);
            match ask_a(&sock, dns, i as u16, &name) {
                Some(_) => ok += 1,
                None => failed += 1,
            }
            std::thread::sleep(Duration::from_micros(2500));
        }
        (ok, failed)
    });
    let proxy_load = std::thread::spawn(move || {
        let (mut ok, mut failed) = (0u64, 0u64);
        while !stop.load(Ordering::Relaxed) {
            let once = || -> Result<()> {
                let mut s = StdTcp::connect_timeout(&proxy, Duration::from_secs(2))?;
                s.set_read_timeout(Some(Duration::from_secs(2)))?;
                s.write_all(b"ping")?;
                let mut got = [0u8; 4];
                s.read_exact(&mut got)?;
                if &got != b"ping" {
                    bail!("echo changed");
                }
                Ok(())
            };
            match once() {
                Ok(()) => ok += 1,
                Err(_) => failed += 1,
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (ok, failed)
    });
    (dns_load, proxy_load)
}

/// What a reload under load measured: its seconds, and (ok, failed) of each load.
pub struct Reload {
    pub secs: f64,
    pub dns: (u64, u64),
    pub proxy: (u64, u64),
}

/// Reloads the same config with the load running from 1 s before to 2 s after; an
/// answer other than 200 fails the bench.
pub fn reload_under_load(
    admin: SocketAddr,
    dns: SocketAddr,
    proxy: SocketAddr,
    groups: usize,
) -> Result<Reload> {
    let stop_load = Arc::new(AtomicBool::new(false));
    let (dns_load, proxy_load) = load(dns, proxy, groups, stop_load.clone());
    std::thread::sleep(Duration::from_secs(1));
    let t = Instant::now();
    let (status, body) = http(admin, "POST", "/v1/reload")?;
    let secs = t.elapsed().as_secs_f64();
    if status != 200 {
        bail!("reload answered {status}: {body}");
    }
    std::thread::sleep(Duration::from_secs(2));
    stop_load.store(true, Ordering::Relaxed);
    let (dns_ok, dns_failed) = dns_load.join().expect("dns load");
    let (px_ok, px_failed) = proxy_load.join().expect("proxy load");
    eprintln!(
        "  reload {secs:.3} s; DNS {dns_ok} ok {dns_failed} failed; proxy {px_ok} ok {px_failed} failed"
    );
    Ok(Reload {
        secs,
        dns: (dns_ok, dns_failed),
        proxy: (px_ok, px_failed),
    })
}
