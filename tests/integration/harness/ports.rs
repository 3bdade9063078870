//! Ports that refuse connections. A port "free a moment ago" (bound, read, released) can be
//! taken by anything before the test uses it; a socket that is bound but never listens
//! keeps the port for the test and makes the kernel refuse every connection to it.

use std::net::{IpAddr, SocketAddr};

/// A TCP port that refuses connections for as long as this lives.
pub struct RefusingPort {
    pub addr: SocketAddr,
    _sock: socket2::Socket,
}

impl RefusingPort {
    /// Binds `addr` (port 0: one the kernel picks) without listening. No SO_REUSEADDR:
    /// nothing else can bind the address while it is held.
    pub fn bind(addr: SocketAddr) -> std::io::Result<RefusingPort> {
        let sock = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        sock.bind(&addr.into())?;
        let addr = sock
            .local_addr()?
            .as_socket()
            .expect("an inet socket has an inet address");
        Ok(RefusingPort { addr, _sock: sock })
    }
}

/// A refusing port on `ip`, picked by the kernel.
pub fn refusing_port(ip: &str) -> RefusingPort {
    let ip: IpAddr = ip.parse().expect("an IP address");
    RefusingPort::bind(SocketAddr::new(ip, 0)).expect("bind a refusing port")
}

/// A listener on `listening_ip` and a refusing port on `refusing_ip`, on one port: a
/// group's targets share one `target_port`, and one of them refuses.
pub fn refusing_beside(
    refusing_ip: &str,
    listening_ip: &str,
) -> (RefusingPort, std::net::TcpListener) {
    let ip: IpAddr = refusing_ip.parse().expect("an IP address");
    for _ in 0..50 {
        let listener = std::net::TcpListener::bind((listening_ip, 0)).expect("bind");
        let port = listener.local_addr().unwrap().port();
        if let Ok(refusing) = RefusingPort::bind(SocketAddr::new(ip, port)) {
            return (refusing, listener);
        }
    }
    panic!("no common free port on {refusing_ip} and {listening_ip}");
}
