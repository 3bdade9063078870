//! `free-ports`: ports for the harness's servers, free on 127.0.0.1-3 for TCP and UDP.

use std::net::{SocketAddr, TcpListener, UdpSocket};

use anyhow::{bail, Result};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 1)]
    count: usize,
}

pub fn run(a: Args) -> Result<()> {
    let mut found: Vec<u16> = Vec::new();
    let mut tries = 0;
    while found.len() < a.count {
        tries += 1;
        if tries > 10_000 {
            bail!("no free ports found");
        }
        // Below the ephemeral range (32768-60999 by default) so that outgoing connections
        // of the benchmarks never take a port a server is about to bind.
        let p = 20000 + fastrand::u16(..12000);
        if found.contains(&p) {
            continue;
        }
        let free = ["127.0.0.1", "127.0.0.2", "127.0.0.3"].iter().all(|ip| {
            let a: SocketAddr = format!("{ip}:{p}").parse().unwrap();
            TcpListener::bind(a).is_ok() && UdpSocket::bind(a).is_ok()
        });
        if free {
            found.push(p);
        }
    }
    for p in found {
        println!("{p}");
    }
    Ok(())
}
