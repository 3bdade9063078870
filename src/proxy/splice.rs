//! Zero-copy forwarding for bulk flows on Linux: `splice(2)` moves bytes from one socket
//! into a pipe and from the pipe into the other socket without copying them through user
//! space. A pipe costs two file descriptors, so only a direction that has proven to be a
//! bulk flow switches to it (see `copy.rs`); idle and chatty sessions never hold one.
//!
//! What sits in a pipe is kernel memory outside the socket buffers' accounting, and a
//! session whose peer stops reading leaves its pipe full. So pipes are small (256 KiB)
//! and few (`PIPES_MAX`, at most 256 MiB in all); beyond that a bulk session copies on
//! through `copy.rs`, which holds nothing while it waits.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::Interest;
use tokio::net::TcpStream;

/// Pipe size asked for; larger pipes mean fewer splice calls per megabyte, and a stalled
/// session's full pipe holds this much. The kernel may refuse (pipe-user-pages limits):
/// the default 64 KiB then works too.
const PIPE_SIZE: libc::c_int = 256 * 1024;

/// Pipes open at once, in all sessions: 1,024 x 256 KiB is the most a stalled fleet can
/// park in pipes.
const PIPES_MAX: usize = 1024;
static PIPES: AtomicUsize = AtomicUsize::new(0);

/// One of the `PIPES_MAX` places, given back on drop.
struct PipeSlot;

impl PipeSlot {
    fn take() -> Option<PipeSlot> {
        PIPES
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < PIPES_MAX).then_some(n + 1)
            })
            .ok()
            .map(|_| PipeSlot)
    }
}

impl Drop for PipeSlot {
    fn drop(&mut self) {
        PIPES.fetch_sub(1, Ordering::AcqRel);
    }
}

struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    fn new() -> io::Result<Pipe> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: F_SETPIPE_SZ on a pipe we own; failure leaves the default size.
        unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE) };
        Ok(Pipe { read, write })
    }
}

fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
    // SAFETY: plain descriptors and null offsets (sockets and pipes have no offset).
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            flags,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Forwards `from` to `to` through a pipe until EOF (returns `Ok(true)`), or returns
/// `Ok(false)` at once if no pipe can be had (the caller keeps copying).
pub async fn pump(
    from: &TcpStream,
    to: &TcpStream,
    moved: &mut impl FnMut(usize),
) -> io::Result<bool> {
    // A pipe is two descriptors, taken from the budget, and one of the few places for
    // parked bytes; without both the session copies on.
    let Some(_slot) = PipeSlot::take() else {
        return Ok(false);
    };
    let Some(_lease) = crate::fd_budget::lease(2, "pipe") else {
        return Ok(false);
    };
    let Ok(pipe) = Pipe::new() else {
        return Ok(false);
    };
    let (src, dst) = (from.as_raw_fd(), to.as_raw_fd());
    loop {
        // The pipe is empty here, so EAGAIN can only mean the socket has nothing to read.
        // Room first, as in copy.rs: bytes leave the source's queue only once the
        // destination can take some.
        let n = loop {
            from.readable().await?;
            to.writable().await?;
            match from.try_io(Interest::READABLE, || {
                splice(src, pipe.write.as_raw_fd(), PIPE_SIZE as usize)
            }) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            return Ok(true);
        }
        // Drain what came in; EAGAIN here means the destination socket is full.
        let mut pending = n;
        while pending > 0 {
            to.writable().await?;
            match to.try_io(Interest::WRITABLE, || {
                splice(pipe.read.as_raw_fd(), dst, pending)
            }) {
                Ok(written) => {
                    pending -= written;
                    moved(written);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
}
