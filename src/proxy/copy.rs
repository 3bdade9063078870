//! Copying one direction of a session, holding a buffer only while bytes are in flight.
//!
//! An idle session owns no buffer at all: the copy waits for readability on the socket
//! itself, takes a buffer from a small per-thread pool only once bytes are there, and
//! gives it back as soon as they are written. Ten thousand idle connections therefore
//! cost their sockets and a few hundred bytes of task state, not 2 x 10,000 buffers.

use std::cell::RefCell;
use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};

use socket2::SockRef;
use tokio::io::Interest;
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
///
/// `ended` is shared by the two directions of a session: the direction that reaches EOF
/// second skips the shutdown, because the session then closes both sockets and the close
/// sends that FIN anyway (both receive queues are empty by then, so no RST): one system
/// call less per connection.
pub async fn pump(
    from: &TcpStream,
    to: &TcpStream,
    ended: &AtomicBool,
    mut moved: impl FnMut(usize),
) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    let mut total: u64 = 0;
    loop {
        #[cfg(target_os = "linux")]
        if total >= SPLICE_AFTER {
            if super::splice::pump(from, to, &mut moved).await? {
                return finish(to, ended);
            }
            total = 0; // no pipe to be had now: copy on, and try again later
        }
        let ready = from.ready(Interest::READABLE).await?;
        let mut buf = Buffer::take();
        let n = match read(from, buf.bytes()) {
            Ok(0) => {
                drop(buf);
                return finish(to, ended);
            }
            Ok(n) => n,
            // Readiness was stale: wait again, without holding the buffer.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        // The peer's FIN had arrived before this read, and the read drained the queue: these
        // are its last bytes. They go out with our FIN in one segment (MSG_MORE, then the
        // shutdown tacks the FIN on), and the read that would only return EOF is saved.
        let last = ready.is_read_closed() && n < BUFFER;
        write_all(to, &buf.bytes()[..n], last).await?;
        drop(buf);
        moved(n);
        if last {
            return finish(to, ended);
        }
        #[cfg(target_os = "linux")]
        {
            total += n as u64;
        }
    }
}

/// One read. A short read means the socket's queue is empty now, so its readiness is
/// cleared too, as tokio's own `AsyncRead` does: the next round waits for the next edge
/// instead of spending a read on EAGAIN. Bytes that arrive meanwhile raise a new edge, which
/// tokio's readiness ticks never lose.
fn read(from: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    let cap = buf.len();
    match from.try_io(Interest::READABLE, || {
        got = from.try_read(buf)?;
        if got > 0 && got < cap {
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            Ok(got)
        }
    }) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
        other => other,
    }
}

/// Writes all of `data`; with `more`, the last chunk is held back for the FIN that follows.
async fn write_all(to: &TcpStream, mut data: &[u8], more: bool) -> io::Result<()> {
    while !data.is_empty() {
        to.writable().await?;
        match send(to, data, more) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn send(to: &TcpStream, data: &[u8], more: bool) -> io::Result<usize> {
    #[cfg(target_os = "linux")]
    if more {
        let flags = libc::MSG_MORE | libc::MSG_NOSIGNAL;
        return to.try_io(Interest::WRITABLE, || {
            SockRef::from(to).send_with_flags(data, flags)
        });
    }
    let _ = more;
    to.try_write(data)
}

/// EOF from one side: pass it on, unless the other direction has ended already.
fn finish(to: &TcpStream, ended: &AtomicBool) -> io::Result<()> {
    if ended.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    half_close(to)
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
    use std::time::Duration;
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
                let ended = AtomicBool::new(false);
                pump(&proxy_in, &proxy_out, &ended, |n| counted += n)
                    .await
                    .unwrap();
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

    /// The peer wrote and closed before the relay read anything: its last bytes and its FIN
    /// are forwarded together (the MSG_MORE path), whole, and the FIN still arrives.
    #[tokio::test]
    async fn last_bytes_before_a_fin_arrive_whole_then_eof() {
        for len in [1, 256, BUFFER - 1, BUFFER, BUFFER + 1] {
            let (mut client, proxy_in) = pair().await;
            let (proxy_out, mut server) = pair().await;
            let data = payload(len);
            client.write_all(&data).await.unwrap();
            client.shutdown().await.unwrap();
            // Wait until the relay's socket has seen the FIN: readiness then says read-closed.
            tokio::time::timeout(Duration::from_secs(5), async {
                while !proxy_in
                    .ready(Interest::READABLE)
                    .await
                    .unwrap()
                    .is_read_closed()
                {
                    tokio::task::yield_now().await;
                }
            })
            .await
            .expect("the FIN never reached the relay's socket");
            let ended = AtomicBool::new(false);
            let mut counted = 0usize;
            let relay = pump(&proxy_in, &proxy_out, &ended, |n| counted += n);
            let receiver = async {
                let mut got = Vec::new();
                server.read_to_end(&mut got).await.unwrap();
                got
            };
            let (relayed, got) = tokio::join!(relay, receiver);
            relayed.unwrap();
            assert!(got == data, "{len} bytes: the payload changed on the way");
            assert_eq!(counted, len);
            assert!(
                ended.load(Ordering::Relaxed),
                "the direction must record its end"
            );
        }
    }

    /// The second direction to end leaves the FIN to the close: no shutdown is sent, and
    /// the peer sees EOF (not a reset) once the sockets are dropped.
    #[tokio::test]
    async fn second_direction_to_end_leaves_the_fin_to_the_close() {
        let (mut client, proxy_in) = pair().await;
        let (proxy_out, mut server) = pair().await;
        client.write_all(b"ping").await.unwrap();
        client.shutdown().await.unwrap();
        let ended = AtomicBool::new(true); // the other direction has ended already
        pump(&proxy_in, &proxy_out, &ended, |_| {}).await.unwrap();
        let mut got = [0u8; 4];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        let mut one = [0u8; 1];
        let early = tokio::time::timeout(Duration::from_millis(50), server.read(&mut one));
        assert!(early.await.is_err(), "no FIN may be sent before the close");
        drop((proxy_in, proxy_out));
        let mut rest = Vec::new();
        assert_eq!(
            server.read_to_end(&mut rest).await.unwrap(),
            0,
            "EOF after the close"
        );
    }
}
