//! Copying one direction of a session without ever holding its bytes while waiting.
//!
//! A direction first waits until its source has bytes and its destination has room; then,
//! in one step that does not wait, it peeks at the source's queue (`MSG_PEEK`), sends what
//! the destination takes, and only then removes exactly that much from the source
//! (`MSG_TRUNC` discards without a copy). Bytes the destination does not take stay in the
//! source socket's receive queue, where TCP flow control pushes back on the sender. So a
//! session whose peer stops reading holds no user-space buffer at all, however many there
//! are: the buffer is one per thread and is only borrowed inside that step. The kernel
//! bounds what waits in socket buffers (`tcp_rmem`, `tcp_wmem`, `tcp_mem`).

use std::cell::RefCell;
use std::io;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Large enough that a bulk transfer moves in few syscalls.
pub const BUFFER: usize = 64 * 1024;

thread_local! {
    /// The one copy buffer of this thread, borrowed only inside a step that never waits.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; BUFFER].into_boxed_slice());
}

/// A direction that has moved this much is a bulk flow and switches to `splice(2)`.
#[cfg(target_os = "linux")]
const SPLICE_AFTER: u64 = 256 * 1024;

/// What one step moved.
struct Step {
    /// Bytes the source had queued (0: EOF).
    queued: usize,
    /// Bytes the destination took (and that were removed from the source).
    sent: usize,
}

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
        // Room first: bytes are taken from the source only once the destination can take
        // some, so nothing waits in our memory.
        to.writable().await?;
        let step = match SCRATCH.with(|b| step(from, to, &mut b.borrow_mut(), ready)) {
            Ok(step) => step,
            // Readiness was stale on one side: wait again.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        if step.queued == 0 {
            return finish(to, ended);
        }
        if step.sent > 0 {
            moved(step.sent);
        }
        // The peer's FIN had arrived before the peek, and the peek saw the whole queue:
        // these were its last bytes, sent with MSG_MORE so our FIN (the shutdown) joins
        // them in one segment, and the read that would only return EOF is saved.
        if ready.is_read_closed() && step.queued < BUFFER && step.sent == step.queued {
            return finish(to, ended);
        }
        #[cfg(target_os = "linux")]
        {
            total += step.sent as u64;
        }
    }
}

/// Peek, send, discard what was sent: one step that never waits. `WouldBlock` means the
/// source had nothing after all (its readiness is cleared) or the destination took nothing
/// (its readiness is cleared); either way nothing moved.
///
/// The whole step runs inside the source's `try_io`, so that when it drains the queue it
/// can clear the source's readiness as tokio's own `AsyncRead` does after a short read
/// (the next round then waits for the next edge instead of spending a peek on EAGAIN):
/// `try_io` clears only the readiness it saw before the peek, so bytes arriving during
/// the step raise a newer edge that is kept. Clearing it in a `try_io` of its own, after
/// the step, could erase that newer edge and leave the session waiting on bytes that are
/// already there.
fn step(
    from: &TcpStream,
    to: &TcpStream,
    buf: &mut [u8],
    ready: tokio::io::Ready,
) -> io::Result<Step> {
    let mut done: Option<Step> = None;
    let drained = from.try_io(Interest::READABLE, || {
        let queued = recv(from, buf.as_mut_ptr(), buf.len(), libc::MSG_PEEK)?;
        if queued == 0 {
            done = Some(Step { queued, sent: 0 });
            return Ok(false);
        }
        let last = ready.is_read_closed() && queued < buf.len();
        let sent = match send(to, &buf[..queued], last) {
            Ok(n) => n,
            // The destination is full (its own readiness is cleared); the source's stays.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(io::Error::other(e)),
        };
        discard(from, buf, sent).map_err(io::Error::other)?;
        done = Some(Step { queued, sent });
        if sent == queued && queued < buf.len() {
            return Err(io::ErrorKind::WouldBlock.into()); // drained: clear, see above
        }
        Ok(true)
    });
    match (drained, done) {
        (_, Some(Step { sent: 0, queued })) if queued > 0 => Err(io::ErrorKind::WouldBlock.into()),
        (Ok(_), Some(step)) => Ok(step),
        (Err(e), Some(step)) if e.kind() == io::ErrorKind::WouldBlock => Ok(step),
        (Err(e), _) => Err(unwrap_other(e)),
        (Ok(_), None) => unreachable!("the step sets `done` whenever it returns Ok"),
    }
}

/// An error of the destination or of the discard, passed out of the source's `try_io`
/// wrapped (so that its kind could not be taken for the source's `WouldBlock`).
fn unwrap_other(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::Other {
        if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<io::Error>()) {
            return io::Error::new(inner.kind(), inner.to_string());
        }
    }
    e
}

/// Removes `n` bytes that a peek has shown to be queued, without copying them.
fn discard(from: &TcpStream, buf: &mut [u8], mut n: usize) -> io::Result<()> {
    while n > 0 {
        // MSG_TRUNC on a TCP socket drops the bytes instead of copying them (tcp(7)).
        match recv(from, buf.as_mut_ptr(), n.min(buf.len()), libc::MSG_TRUNC) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(k) => n -= k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // The bytes were there a moment ago and only this task reads this socket.
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn recv(from: &TcpStream, buf: *mut u8, len: usize, flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `len` bytes (with MSG_TRUNC the kernel does not even
    // write them); the descriptor is an open socket owned by `from`.
    let n = unsafe {
        libc::recv(
            from.as_raw_fd(),
            buf.cast(),
            len,
            flags | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Sends what the destination takes now; with `more`, the chunk is held back for the FIN
/// that follows.
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
