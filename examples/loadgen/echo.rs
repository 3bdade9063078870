//! `echo`: the echo backend (the proxies' health checks, pingpong, idle, failover-load).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::server;

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on; repeat for several addresses served by one process.
    #[arg(long, required = true)]
    listen: Vec<SocketAddr>,
    #[arg(long)]
    name: Option<String>,
    /// Stop by itself after this long.
    #[arg(long, default_value_t = 3600)]
    max_seconds: u64,
}

pub async fn run(a: Args) -> Result<()> {
    server::bounded(a.max_seconds, echo(a.listen, a.name)).await
}

async fn echo(addrs: Vec<SocketAddr>, name: Option<String>) -> Result<()> {
    let greeting: Option<Arc<[u8]>> = name.map(|n| format!("{n}\n").into_bytes().into());
    server::serve(addrs, move |mut s: TcpStream| {
        let greeting = greeting.clone();
        async move {
            if let Some(g) = greeting {
                if s.write_all(&g).await.is_err() {
                    return;
                }
            }
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    })
    .await
}
