//! What the test backends (`echo`, `respond`) share: binding, the accept loop, and the
//! deadline after which a forgotten server stops by itself.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Runs `server` until it ends, `max_seconds` pass, or Ctrl-C.
pub async fn bounded(
    max_seconds: u64,
    server: impl std::future::Future<Output = Result<()>>,
) -> Result<()> {
    tokio::select! {
        r = server => r,
        _ = tokio::time::sleep(Duration::from_secs(max_seconds)) => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

fn listener(addr: SocketAddr) -> Result<TcpListener> {
    let sock = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr).with_context(|| format!("bind {addr}"))?;
    Ok(sock.listen(4096)?)
}

/// Accepts forever, surviving EMFILE and friends with a short pause.
pub async fn serve<F, Fut>(addrs: Vec<SocketAddr>, handler: F) -> Result<()>
where
    F: Fn(TcpStream) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut tasks = Vec::new();
    for addr in addrs {
        let l = listener(addr)?;
        eprintln!("listening addr={}", l.local_addr()?);
        let h = handler.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                match l.accept().await {
                    Ok((s, _)) => {
                        let _ = s.set_nodelay(true);
                        tokio::spawn(h(s));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    Ok(())
}
