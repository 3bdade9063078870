//! TCP sessions through the proxy to echo backends: open one, prove it with round trips,
//! and watch it (or a listener) close. Every exchange is bounded by `IO_LIMIT`.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// Limit for one network exchange through the proxy (a round trip, a response).
pub const IO_LIMIT: Duration = Duration::from_secs(5);

/// The error of an exchange that took longer than its limit.
pub fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
}

/// Writes `msg` and reads the same bytes back within `IO_LIMIT`.
pub async fn round_trip<S>(s: &mut S, msg: &[u8]) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let exchange = async {
        s.write_all(msg).await?;
        let mut got = vec![0u8; msg.len()];
        s.read_exact(&mut got).await?;
        if got != msg {
            return Err(io::Error::other(format!(
                "echo mismatch: sent {:?}, got {:?}",
                String::from_utf8_lossy(msg),
                String::from_utf8_lossy(&got)
            )));
        }
        Ok(())
    };
    timeout(IO_LIMIT, exchange)
        .await
        .map_err(|_| timed_out("round trip"))?
}

/// Connects through the proxy and proves the session works with one echo round trip.
pub async fn echo_session(proxy: SocketAddr) -> io::Result<TcpStream> {
    let mut s = timeout(IO_LIMIT, TcpStream::connect(proxy))
        .await
        .map_err(|_| timed_out("connect"))??;
    round_trip(&mut s, b"ping").await?;
    Ok(s)
}

/// Opens `count` echo sessions through `proxy`, all held at once, then proves each still
/// relays once the last is open; panics naming the session that failed. Returns them open.
pub async fn hold_echo_sessions(proxy: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut sessions = Vec::with_capacity(count);
    for i in 0..count {
        let s = echo_session(proxy)
            .await
            .unwrap_or_else(|e| panic!("session {i}: {e}"));
        sessions.push(s);
    }
    for (i, s) in sessions.iter_mut().enumerate() {
        round_trip(s, format!("session {i}").as_bytes())
            .await
            .unwrap_or_else(|e| panic!("session {i} after all {count} were open: {e}"));
    }
    sessions
}

/// Waits up to `limit` for the peer to close `s` (a read returns EOF or an error) and
/// returns how long that took. Data, or nothing within `limit`, is an error.
pub async fn wait_closed<S>(s: &mut S, limit: Duration) -> Result<Duration, String>
where
    S: AsyncRead + Unpin,
{
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    match timeout(limit, s.read(&mut buf)).await {
        Err(_) => Err(format!("still open after {limit:?}")),
        Ok(Ok(0)) | Ok(Err(_)) => Ok(started.elapsed()),
        Ok(Ok(n)) => Err(format!(
            "expected a close, got {n} bytes: {:?}",
            String::from_utf8_lossy(&buf[..n])
        )),
    }
}

/// True when a fresh connection to `addr` is refused, or closed by the peer at once.
pub async fn refused_or_closed(addr: SocketAddr) -> bool {
    match timeout(Duration::from_secs(1), TcpStream::connect(addr)).await {
        Err(_) => false,
        Ok(Err(_)) => true,
        Ok(Ok(mut s)) => {
            let mut buf = [0u8; 64];
            matches!(
                timeout(Duration::from_millis(300), s.read(&mut buf)).await,
                Ok(Ok(0)) | Ok(Err(_))
            )
        }
    }
}
