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

/// Copies `from` to `to` until EOF, then half-closes `to` (the other direction goes on).
/// `moved` is told the size of every chunk written.
pub async fn pump(
    from: &TcpStream,
    to: &TcpStream,
    mut moved: impl FnMut(usize),
) -> io::Result<()> {
    loop {
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
