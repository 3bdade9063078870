//! The demo's stacks: a tiny HTTP service per address, stopped and restarted to play a
//! dying and recovering main.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::server;

/// A tiny HTTP service: `/health` answers `ok`, anything else `hello from NAME`.
pub(super) struct Stack {
    stop: CancellationToken,
    /// The accept loop, which owns the listener.
    accepting: Option<tokio::task::JoinHandle<()>>,
}

impl Stack {
    pub(super) async fn start(name: &str, addr: SocketAddr) -> anyhow::Result<Stack> {
        let listener = server::listen_tcp(addr)
            .with_context(|| format!("stack {name}: cannot listen on {addr}"))?;
        let stop = CancellationToken::new();
        let accepting = tokio::spawn(serve_stack(listener, name.to_string(), stop.clone()));
        Ok(Stack {
            stop,
            accepting: Some(accepting),
        })
    }

    /// Closes the listener and every open connection of the stack, and returns once the
    /// port refuses: until the accept loop has dropped the listener, the kernel would
    /// still complete handshakes there, and reset them when it goes.
    pub(super) async fn stop(&mut self) {
        self.stop.cancel();
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.await;
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve_stack(listener: TcpListener, name: String, stop: CancellationToken) {
    loop {
        let conn = tokio::select! {
            _ = stop.cancelled() => return,
            c = listener.accept() => c,
        };
        let Ok((sock, _)) = conn else { continue };
        let (name, stop) = (name.clone(), stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = answer(sock, &name) => {}
            }
        });
    }
}

async fn answer(mut sock: TcpStream, name: &str) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let body = if head.starts_with(b"GET /health ") {
        "ok\n".to_string()
    } else {
        format!("hello from {name}\n")
    };
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(resp.as_bytes()).await?;
    sock.shutdown().await
}
