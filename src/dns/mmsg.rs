//! Batched UDP I/O on Linux: `recvmmsg` takes up to `BATCH` queued datagrams in one system
//! call and `sendmmsg` sends their answers in one more, instead of two calls per query.
//! Under load that is most of a DNS server's cost; Knot and NSD do the same.
//!
//! The message headers point into the caller's buffers, so they are built on the stack
//! for each call and never outlive it: nothing self-referential is kept across an await.

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::RawFd;

/// Datagrams per system call.
pub const BATCH: usize = 32;
/// Room for any datagram, so no query is cut (a cut one would parse as truncated).
pub const DATAGRAM_MAX: usize = 65_535;

/// Receive buffers and the source address of each received datagram.
pub struct RecvSlots {
    bufs: Vec<Box<[u8]>>,
    addrs: Vec<libc::sockaddr_storage>,
    addr_lens: Vec<libc::socklen_t>,
    lens: Vec<usize>,
}

impl RecvSlots {
    pub fn new() -> RecvSlots {
        RecvSlots {
            bufs: (0..BATCH)
                .map(|_| vec![0u8; DATAGRAM_MAX].into_boxed_slice())
                .collect(),
            // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
            addrs: (0..BATCH).map(|_| unsafe { zeroed() }).collect(),
            addr_lens: vec![0; BATCH],
            lens: vec![0; BATCH],
        }
    }

    /// The `i`th datagram of the last `recv`.
    pub fn packet(&self, i: usize) -> &[u8] {
        match (self.bufs.get(i), self.lens.get(i)) {
            (Some(b), Some(&n)) => b.get(..n).unwrap_or_default(),
            _ => &[],
        }
    }
}

impl Default for RecvSlots {
    fn default() -> Self {
        RecvSlots::new()
    }
}

/// Waits for at least one datagram (up to the socket's receive timeout), then takes what
/// else is queued, up to `BATCH`.
pub fn recv_wait(fd: RawFd, s: &mut RecvSlots) -> io::Result<usize> {
    recv_with(fd, s, libc::MSG_WAITFORONE)
}

fn recv_with(fd: RawFd, s: &mut RecvSlots, flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: iovec and mmsghdr are plain C structs for which all zeroes is valid.
    let mut iov: [libc::iovec; BATCH] = unsafe { zeroed() };
    let mut hdr: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
    for (i, (buf, addr)) in s.bufs.iter_mut().zip(s.addrs.iter_mut()).enumerate() {
        iov[i].iov_base = buf.as_mut_ptr().cast();
        iov[i].iov_len = buf.len();
        hdr[i].msg_hdr.msg_name = (addr as *mut libc::sockaddr_storage).cast();
        hdr[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        hdr[i].msg_hdr.msg_iov = &mut iov[i];
        hdr[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: every header points at a live buffer and address slot of `s` (and at `iov`
    // on this stack frame) with its true length; the kernel writes within those bounds,
    // and nothing here outlives the call.
    let n = unsafe {
        libc::recvmmsg(
            fd,
            hdr.as_mut_ptr(),
            BATCH as libc::c_uint,
            flags,
            std::ptr::null_mut(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = (n as usize).min(BATCH);
    for (i, h) in hdr.iter().enumerate().take(n) {
        s.lens[i] = (h.msg_len as usize).min(DATAGRAM_MAX);
        s.addr_lens[i] = h.msg_hdr.msg_namelen;
    }
    Ok(n)
}

/// Sends the answers `outs[i]` for `i` in `which` (at most `BATCH`) back to where query
/// `i` of `slots` came from, as many as the kernel takes without blocking; returns how
/// many were sent. An error means the first one failed.
pub fn send(fd: RawFd, outs: &[Vec<u8>], slots: &RecvSlots, which: &[usize]) -> io::Result<usize> {
    // SAFETY: as in `recv`.
    let mut iov: [libc::iovec; BATCH] = unsafe { zeroed() };
    let mut hdr: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
    let mut n = 0;
    for &i in which.iter().take(BATCH) {
        let (Some(bytes), Some(addr), Some(&addr_len)) =
            (outs.get(i), slots.addrs.get(i), slots.addr_lens.get(i))
        else {
            continue;
        };
        // The kernel only reads through these pointers for a send.
        iov[n].iov_base = bytes.as_ptr() as *mut libc::c_void;
        iov[n].iov_len = bytes.len();
        hdr[n].msg_hdr.msg_name = addr as *const libc::sockaddr_storage as *mut libc::c_void;
        hdr[n].msg_hdr.msg_namelen = addr_len;
        hdr[n].msg_hdr.msg_iov = &mut iov[n];
        hdr[n].msg_hdr.msg_iovlen = 1;
        n += 1;
    }
    // SAFETY: the first `n` headers point at live buffers and addresses borrowed from
    // `outs` and `slots` with their true lengths; sendmmsg only reads them during the call.
    let sent =
        unsafe { libc::sendmmsg(fd, hdr.as_mut_ptr(), n as libc::c_uint, libc::MSG_DONTWAIT) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sent as usize)
}
