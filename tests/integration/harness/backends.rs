//! Real backends on loopback: HTTP stacks whose health can be set (or hung), and echo
//! servers; pairs of them on main (127.0.0.2) and backup (127.0.0.3) on one port, as a
//! group's targets share one `target_port`.
//!
//! A stopped HTTP stack keeps its socket, bound but no longer listening (connections are
//! refused), and a restart listens on it again: the port is never free in between for
//! another test to take.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::api::{active, health};
use super::config::two_stack_config;
use super::process::Failoverd;

/// The main target's loopback address.
pub const MAIN: &str = "127.0.0.2";
/// The backup target's loopback address.
pub const BACKUP: &str = "127.0.0.3";

/// Binds two loopback addresses on one free port (e.g. 127.0.0.2 and 127.0.0.3). `b` gets
/// the kernel's pick and `a` binds that port by number: a port bound by number stays bound
/// while its stack is stopped (one the kernel picked goes back to the pool), and `a` is the
/// main, the one tests stop and restart.
pub fn same_port_pair(a: &str, b: &str) -> (std::net::TcpListener, std::net::TcpListener) {
    for _ in 0..50 {
        let second = std::net::TcpListener::bind((b, 0)).expect("bind");
        let port = second.local_addr().unwrap().port();
        if let Ok(first) = std::net::TcpListener::bind((a, port)) {
            return (first, second);
        }
    }
    panic!("no common free port on {a} and {b}");
}

/// HTTP stacks `main` on `main_ip` and `backup` on `backup_ip`, on one free port:
/// (port, main, backup).
pub fn http_stacks(main_ip: &str, backup_ip: &str) -> (u16, HttpStack, HttpStack) {
    let (m, b) = same_port_pair(main_ip, backup_ip);
    let port = m.local_addr().unwrap().port();
    (
        port,
        HttpStack::start("main", m),
        HttpStack::start("backup", b),
    )
}

/// HTTP stacks on MAIN and BACKUP, failoverd with one group `app` (`group_extra`,
/// `health`) in front; returns once both are up and main is active.
pub async fn stacks(group_extra: &str, health_checks: &str) -> (HttpStack, HttpStack, Failoverd) {
    let (port, main, backup) = http_stacks(MAIN, BACKUP);
    let config = two_stack_config(port, MAIN, BACKUP, group_extra, health_checks);
    let f = Failoverd::start(&config).await;
    f.wait_group(
        "app",
        Duration::from_secs(10),
        "main and backup up, main active",
        |g| health(g, "main") == "up" && health(g, "backup") == "up" && active(g) == ["main"],
    )
    .await;
    (main, backup, f)
}

/// An HTTP stack: `/health` answers with a settable status and body; other paths answer
/// `hello from NAME`. Stopping it closes the listener and every open connection.
pub struct HttpStack {
    pub addr: SocketAddr,
    pub name: String,
    pub health_status: Arc<AtomicU16>,
    pub health_body: Arc<Mutex<String>>,
    /// When set, the stack reads requests but never answers: a hung application.
    pub hang: Arc<AtomicBool>,
    /// The listening socket (the accept loop has a copy), kept while stopped.
    socket: socket2::Socket,
    /// Whether `socket` listens: shut down only once (a second shutdown would mark the
    /// socket, and the connections it accepts after a restart, as read-closed).
    listening: AtomicBool,
    /// Ends everything: the listener and every open connection.
    stop: CancellationToken,
    /// Ends only the listener (a child of `stop`).
    accepting: CancellationToken,
}

impl HttpStack {
    pub fn start(name: &str, listener: std::net::TcpListener) -> HttpStack {
        let addr = listener.local_addr().unwrap();
        let socket = socket2::Socket::from(listener);
        let listener: std::net::TcpListener = socket.try_clone().expect("dup the socket").into();
        let stop = CancellationToken::new();
        let stack = HttpStack {
            addr,
            name: name.to_string(),
            health_status: Arc::new(AtomicU16::new(200)),
            health_body: Arc::new(Mutex::new("ok".into())),
            hang: Arc::new(AtomicBool::new(false)),
            socket,
            listening: AtomicBool::new(true),
            accepting: stop.child_token(),
            stop,
        };
        let (status, body, hang, name) = (
            stack.health_status.clone(),
            stack.health_body.clone(),
            stack.hang.clone(),
            name.to_string(),
        );
        let (accepting, stop) = (stack.accepting.clone(), stack.stop.clone());
        tokio::spawn(serve_each_until(listener, accepting, stop, move |sock| {
            let (status, body, hang, name) =
                (status.clone(), body.clone(), hang.clone(), name.clone());
            async move {
                let _ = answer_http(sock, &name, &status, &body, &hang).await;
            }
        }));
        stack
    }

    /// Starts again on the same address: listens on the kept socket again.
    pub fn restart(&mut self) {
        self.stop.cancel();
        self.socket.listen(1024).expect("listen again");
        let again = self.socket.try_clone().expect("dup the socket").into();
        *self = HttpStack::start(&self.name, again);
    }

    /// Closes the listener and every open connection: a crashed stack.
    pub fn stop(&self) {
        self.stop.cancel();
        self.unlisten();
    }

    /// Closes the listener only (new connections are refused); requests in flight finish.
    pub fn stop_listening(&self) {
        self.accepting.cancel();
        self.unlisten();
    }

    /// Stops listening but keeps the port: on Linux, shutdown(SHUT_RD) turns a listening
    /// socket back into a bound one (connections queued and new are refused).
    fn unlisten(&self) {
        if self.listening.swap(false, Ordering::Relaxed) {
            let _ = self.socket.shutdown(std::net::Shutdown::Read);
        }
    }
}

impl Drop for HttpStack {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn answer_http(
    mut sock: TcpStream,
    name: &str,
    status: &AtomicU16,
    body: &Mutex<String>,
    hang: &AtomicBool,
) -> std::io::Result<()> {
    // Keep-alive unless the request says `Connection: close`, so a held session stays open.
    loop {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = sock.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            head.extend_from_slice(&buf[..n]);
        }
        if hang.load(Ordering::Relaxed) {
            return std::future::pending().await;
        }
        let (code, text) = if head.starts_with(b"GET /health ") {
            (status.load(Ordering::Relaxed), body.lock().unwrap().clone())
        } else {
            (200, format!("hello from {name}"))
        };
        let resp = format!(
            "HTTP/1.1 {code} X\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        sock.write_all(resp.as_bytes()).await?;
        if String::from_utf8_lossy(&head)
            .to_ascii_lowercase()
            .contains("connection: close")
        {
            return sock.shutdown().await;
        }
    }
}

/// Accepts on `listener` until `stop` and serves each connection with `serve` in a task
/// of its own, which `stop` ends too.
pub async fn serve_each<F, Fut>(listener: std::net::TcpListener, stop: CancellationToken, serve: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    serve_each_until(listener, stop.clone(), stop, serve).await
}

/// Like `serve_each`, with the listener stopped by `accepting` and the connections by `stop`.
pub async fn serve_each_until<F, Fut>(
    listener: std::net::TcpListener,
    accepting: CancellationToken,
    stop: CancellationToken,
    serve: F,
) where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    listener.set_nonblocking(true).unwrap();
    let listener = TcpListener::from_std(listener).unwrap();
    loop {
        let (sock, _) = tokio::select! {
            // Stopped first: a restarted stack's socket is listening again, and this loop
            // must not take a connection of the new one.
            biased;
            _ = accepting.cancelled() => return,
            r = listener.accept() => match r { Ok(c) => c, Err(_) => continue },
        };
        let (served, stop) = (serve(sock), stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = served => {}
            }
        });
    }
}

/// An echo server that honours half-close: after the client's EOF it finishes sending
/// what it read, then closes its side.
pub async fn echo_server(listener: std::net::TcpListener, stop: CancellationToken) {
    serve_each(listener, stop, |mut sock| async move {
        let (mut r, mut w) = sock.split();
        let _ = tokio::io::copy(&mut r, &mut w).await;
        let _ = w.shutdown().await;
    })
    .await
}

/// Servers `main` on MAIN and `backup` on BACKUP, one port; they stop when dropped.
pub struct Backends {
    pub port: u16,
    _stop: DropGuard,
}

impl Backends {
    /// Spawns `serve(listener, name, stop)` for `main` and for `backup`.
    pub fn spawn<F, Fut>(serve: F) -> Backends
    where
        F: Fn(std::net::TcpListener, &'static str, CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (m, b) = same_port_pair(MAIN, BACKUP);
        let port = m.local_addr().unwrap().port();
        let stop = CancellationToken::new();
        tokio::spawn(serve(m, "main", stop.clone()));
        tokio::spawn(serve(b, "backup", stop.clone()));
        Backends {
            port,
            _stop: stop.drop_guard(),
        }
    }
}

/// Plain echo servers (`echo_server`) on main and backup; they stop when dropped.
pub fn echo_backends() -> Backends {
    Backends::spawn(|listener, _name, stop| echo_server(listener, stop))
}
