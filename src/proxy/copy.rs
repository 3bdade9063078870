//! Copying one direction of a session, holding a buffer only while bytes are in flight.
//!
//! An idle session owns no buffer at all: the copy waits for readability on the socket
//! itself, takes a buffer from a small per-thread pool only once bytes are there, and
//! gives it back as soon as they are written. Ten thousand idle connections therefore
//! cost their sockets and a few hundred bytes of task state, not 2 x 10,000 buffers.

use std::cell::RefCell;
use std::io;
use std::net::Shutdown;

use socket2::SockRef;
use tokio::net::TcpStream;

/// Large enough that a bulk transfer moves in few syscalls; only busy sessions hold one.
pub const BUFFER: usize = 64 * 1024;
/// Buffers kept per thread for reuse; beyond it they are freed.
const POOL_KEEP: usize = 32;

thread_local! {
    static POOL: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// A pooled buffer, returned to the pool of the thread that drops it.
struct Buffer(Option<Box<[u8]>>);

impl Buffer {
    fn take() -> Buffer {
        let pooled = POOL.with(|p| p.borrow_mut().pop());
        Buffer(Some(
            pooled.unwrap_or_else(|| vec![0u8; BUFFER].into_boxed_slice()),
        ))
    }

    fn bytes(&mut self) -> &mut [u8] {
        self.0.as_deref_mut().unwrap_or_default()
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        if let Some(b) = self.0.take() {
            POOL.with(|p| {
                let mut pool = p.borrow_mut();
                if pool.len() < POOL_KEEP {
                    pool.push(b);
                }
            });
        }
    }
}

/// A direction that has moved this much is a bulk flow and switches to `splice(2)`.
#[cfg(target_os = "linux")]
const SPLICE_AFTER: u64 = 256 * 1024;

/// Copies `from` to `to` until EOF, then half-closes `to` (the other direction goes on).
/// `moved` is told the size of every chunk written. A bulk flow continues zero-copy.
pub async fn pump(
    from: &TcpStream,
    to: &TcpStream,
    mut moved: impl FnMut(usize),
) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    let mut total: u64 = 0;
    loop {
        #[cfg(target_os = "linux")]
        if total >= SPLICE_AFTER {
            if super::splice::pump(from, to, &mut moved).await? {
                return half_close(to);
            }
            total = 0; // no pipe to be had now: copy on, and try again later
        }
        from.readable().await?;
        let mut buf = Buffer::take();
        let n = match from.try_read(buf.bytes()) {
            Ok(0) => {
                drop(buf);
                return half_close(to);
            }
            Ok(n) => n,
            // Readiness was stale: wait again, without holding the buffer.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        write_all(to, &buf.bytes()[..n]).await?;
        drop(buf);
        moved(n);
        #[cfg(target_os = "linux")]
        {
            total += n as u64;
        }
    }
}

async fn write_all(to: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        to.writable().await?;
        match to.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn half_close(to: &TcpStream) -> io::Result<()> {
    match SockRef::from(to).shutdown(Shutdown::Write) {
        // The peer is already gone: nothing left to tell it.
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A connected pair of loopback sockets.
    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (b, _) = l.accept().await.unwrap();
        (a, b)
    }

    /// Bytes that are not all alike, so a reordering or loss shows.
    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[tokio::test]
    async fn bulk_flow_arrives_whole_then_eof_small_and_large() {
        // 100 KiB stays on the buffered copy; 3 MiB switches to splice on Linux.
        for len in [100 * 1024, 3 * 1024 * 1024] {
            let (mut client, proxy_in) = pair().await;
            let (proxy_out, mut server) = pair().await;
            let mut counted = 0usize;
            let data = payload(len);
            let sender = async {
                client.write_all(&data).await.unwrap();
                client.shutdown().await.unwrap();
                client
            };
            let relay = async {
                pump(&proxy_in, &proxy_out, |n| counted += n).await.unwrap();
            };
            let receiver = async {
                let mut got = Vec::new();
                server.read_to_end(&mut got).await.unwrap();
                got
            };
            let (_client, (), got) = tokio::join!(sender, relay, receiver);
            assert_eq!(got.len(), len);
            assert!(got == data, "payload of {len} bytes changed on the way");
            assert_eq!(counted, len);
        }
    }
}
