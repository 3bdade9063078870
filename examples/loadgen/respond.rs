//! `respond`: the backend of `connrate` (reads a request, answers a fixed body, closes).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::server;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, required = true)]
    listen: Vec<SocketAddr>,
    #[arg(long)]
    bytes: usize,
    /// Bytes to read before answering (the client's request size).
    #[arg(long, default_value_t = 1)]
    request_bytes: usize,
    #[arg(long, default_value_t = 3600)]
    max_seconds: u64,
}

pub async fn run(a: Args) -> Result<()> {
    server::bounded(a.max_seconds, respond(a.listen, a.bytes, a.request_bytes)).await
}

async fn respond(addrs: Vec<SocketAddr>, bytes: usize, request_bytes: usize) -> Result<()> {
    let body: Arc<[u8]> = vec![b'x'; bytes].into();
    server::serve(addrs, move |mut s: TcpStream| {
        let body = body.clone();
        async move {
            let mut buf = vec![0u8; request_bytes.clamp(1, 64 * 1024)];
            let mut got = 0;
            while got < request_bytes {
                let room = buf.len().min(request_bytes - got);
                match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf[..room])).await
                {
                    Ok(Ok(0)) => break,
                    Ok(Ok(n)) => got += n,
                    _ => return,
                }
            }
            let _ = s.write_all(&body).await;
            // Dropping the stream closes it: the client reads until EOF.
        }
    })
    .await
}
