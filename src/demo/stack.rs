//! The demo's stacks: a tiny HTTP service per address, stopped and restarted to play a
//! dying and recovering main.
//!
//! A stack holds its bound socket for the whole demo: stopping it stops listening
//! (`shutdown(SHUT_RD)` on a listening socket, which Linux turns back into a bound,
//! non-listening one: connections are refused) and restarting listens again on the same
//! socket. So the port is never free in between for something else to take.

use std::net::{IpAddr, Shutdown, SocketAddr};

use anyhow::Context;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const BACKLOG: i32 = 1024;

/// A tiny HTTP service: `/health` answers `ok`, anything else `hello from NAME`.
pub(super) struct Stack {
    name: String,
    pub(super) addr: SocketAddr,
    /// The bound socket, held while the stack is stopped too.
    socket: Socket,
    /// Whether `socket` listens: it is shut down once per listen (shutting down a socket
    /// that no longer listens would mark it, and what it accepts later, as read-closed).
    listening: bool,
    stop: CancellationToken,
    /// The accept loop, which owns a copy of the socket.
    accepting: Option<tokio::task::JoinHandle<()>>,
}

impl Stack {
    /// Two stacks on one port: `port`, or with 0 one the kernel picks that is free on both
    /// addresses. Returns (main, backup).
    pub(super) fn pair(
        main: (&str, IpAddr),
        backup: (&str, IpAddr),
        port: u16,
    ) -> anyhow::Result<(Stack, Stack)> {
        if port != 0 {
            let b = Stack::start(backup.0, SocketAddr::new(backup.1, port))?;
            return Ok((Stack::start(main.0, SocketAddr::new(main.1, port))?, b));
        }
        // The backup takes the kernel's pick; the main binds that port by number, which
        // the kernel keeps bound to it while it is stopped (a port picked by the kernel
        // would go back to the pool when the socket stops listening).
        for _ in 0..50 {
            let b = Stack::start(backup.0, SocketAddr::new(backup.1, 0))?;
            match Stack::start(main.0, SocketAddr::new(main.1, b.addr.port())) {
                Ok(m) => return Ok((m, b)),
                Err(e) if in_use(&e) => continue,
                Err(e) => return Err(e),
            }
        }
        anyhow::bail!("no port free on both {} and {}", main.1, backup.1)
    }

    fn start(name: &str, addr: SocketAddr) -> anyhow::Result<Stack> {
        let socket =
            bind(addr).with_context(|| format!("stack {name}: cannot listen on {addr}"))?;
        let addr = socket
            .local_addr()?
            .as_socket()
            .context("a TCP socket has an IP address")?;
        let mut stack = Stack {
            name: name.to_string(),
            addr,
            socket,
            listening: true,
            stop: CancellationToken::new(),
            accepting: None,
        };
        stack.serve()?;
        Ok(stack)
    }

    fn serve(&mut self) -> anyhow::Result<()> {
        let copy: std::net::TcpListener = self.socket.try_clone()?.into();
        let listener = TcpListener::from_std(copy)?;
        self.stop = CancellationToken::new();
        let (name, stop) = (self.name.clone(), self.stop.clone());
        self.accepting = Some(tokio::spawn(serve_stack(listener, name, stop)));
        Ok(())
    }

    /// Closes every open connection of the stack and stops listening, and returns once
    /// the port refuses. The port stays bound to the stack.
    pub(super) async fn stop(&mut self) {
        self.stop.cancel();
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.await;
        }
        if std::mem::take(&mut self.listening) {
            let _ = self.socket.shutdown(Shutdown::Read);
        }
    }

    /// Listens again on the same socket, after `stop`.
    pub(super) fn restart(&mut self) -> anyhow::Result<()> {
        self.socket.listen(BACKLOG).with_context(|| {
            format!("stack {}: cannot listen on {} again", self.name, self.addr)
        })?;
        self.listening = true;
        self.serve()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn in_use(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::AddrInUse)
}

/// A listening, non-blocking socket with SO_REUSEADDR (listening again does not wait out
/// the TIME_WAIT of the connections the stack closed).
fn bind(addr: SocketAddr) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket)
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
