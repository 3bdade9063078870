//! Opening TCP connections for the proxy and the health checks.
//!
//! Not tokio's `TcpStream::connect`, which reads SO_ERROR after every connect: the outcome
//! is in the first readiness already. A connected socket turns writable; a refused or
//! reset one reports HUP/ERR with it (write-closed), and only then is SO_ERROR read, for
//! the reason. Socket options are set before the SYN leaves.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// A connection to `addr`, with `prepare` applied to the socket before connecting
/// (its failures are the caller's to ignore or not).
pub async fn connect(
    addr: SocketAddr,
    prepare: impl FnOnce(&Socket) -> io::Result<()>,
) -> io::Result<TcpStream> {
    #[cfg(target_os = "linux")]
    let sock = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    #[cfg(not(target_os = "linux"))]
    let sock = {
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        s.set_nonblocking(true)?;
        s
    };
    prepare(&sock)?;
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let stream = TcpStream::from_std(std::net::TcpStream::from(sock))?;
    let ready = stream.ready(Interest::WRITABLE).await?;
    // Only HUP/ERR: a peer that accepted, wrote and closed at once (FIN, read-closed) is
    // connected all the same, and its bytes are waiting.
    if ready.is_write_closed() {
        return Err(stream.take_error()?.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::ConnectionReset, "closed while connecting")
        }));
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn connects_prepared_and_reports_a_refusal_as_such() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = connect(addr, |s| s.set_tcp_nodelay(true))
            .await
            .expect("connect to a listening port");
        assert_eq!(stream.peer_addr().unwrap(), addr);
        assert!(stream.nodelay().unwrap(), "prepared before connecting");
        let (_accepted, from) = listener.accept().await.unwrap();
        assert_eq!(from, stream.local_addr().unwrap());

        drop(listener); // nothing listens there any more: the connect is refused
        let err = connect(addr, |_| Ok(()))
            .await
            .expect_err("connect to a closed port");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    }

    /// A server that answers and closes before the connect is looked at is still a
    /// connection, with its bytes readable.
    #[tokio::test]
    async fn a_peer_that_writes_and_closes_at_once_is_connected() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            use std::io::Write;
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"banner").unwrap();
        });
        let mut stream = connect(addr, |_| Ok(())).await.expect("connected");
        server.join().unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"banner");
        stream.shutdown().await.unwrap();
    }
}
