//! Sockets as failoverd binds and tunes them, in one place for every listener (admin, proxy,
//! DNS's TCP side) and for the proxy's connections to targets: SO_REUSEADDR, the backlog,
//! TCP_NODELAY and keepalive.

use std::net::SocketAddr;
use std::time::Duration;

use socket2::{SockRef, Socket, TcpKeepalive};
use tokio::net::TcpListener;

const BACKLOG: i32 = 1024;
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// How many UDP sockets to bind per DNS address: one per core, so each core has a queue.
pub fn udp_sockets_per_address() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A proxy listener: TCP_NODELAY and keepalive set once here, inherited by every client.
/// Not yet registered with any runtime: every proxy worker registers a copy of its own.
pub fn listen_proxy(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = listen_std(addr)?;
    tune_listener(&listener);
    Ok(listener)
}

/// A TCP listening socket with SO_REUSEADDR (restarts do not wait out TIME_WAIT).
pub fn listen_tcp(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::from_std(listen_std(addr)?)
}

/// The same, non-blocking, before any runtime knows of it.
pub fn listen_std(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let sock = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(BACKLOG)?;
    Ok(sock.into())
}

/// TCP_NODELAY and keepalive on a listening socket: every accepted connection inherits them.
pub fn tune_listener(listener: &impl std::os::fd::AsFd) {
    tune(&SockRef::from(listener));
}

/// Low latency for small writes, and keepalive so dead peers do not pin a session forever.
/// Failing to set either costs latency or detection time, not the connection.
pub fn tune(sock: &Socket) {
    let _ = sock.set_tcp_nodelay(true);
    let keepalive = TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL);
    let _ = sock.set_tcp_keepalive(&keepalive);
}
