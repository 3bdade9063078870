//! UDP: one loop per socket, each with buffers it owns. Several sockets share each
//! address through SO_REUSEPORT (one per core), so the kernel spreads clients over the
//! loops and no lock or channel sits between them.
//!
//! On Linux each loop is a thread of its own blocked in recvmmsg (`mmsg.rs`: one
//! recvmmsg, one sendmmsg per batch of queued queries). A query then wakes exactly the
//! thread that answers it, with no async runtime between the kernel and the answer: that
//! took the p99 latency at a fixed rate from about 1.6x NSD's to NSD's level. Elsewhere a
//! task does one recv_from / send_to per query.

use std::sync::Arc;
use std::time::Duration;

#[cfg(not(target_os = "linux"))]
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::respond::{respond, Transport};
use super::stats::Tally;
use super::{answers_of, Ctx};

/// A burst of receive errors (e.g. ICMP-induced ECONNREFUSED) must not spin the task.
const ERROR_PAUSE: Duration = Duration::from_millis(1);

/// How often a blocked receive looks up to see whether it should stop.
#[cfg(target_os = "linux")]
const STOP_CHECK: Duration = Duration::from_millis(200);

/// Serves one socket on the calling (blocking) thread until `cancel` fires.
#[cfg(target_os = "linux")]
pub fn serve_blocking(sock: std::net::UdpSocket, ctx: Arc<Ctx>, cancel: CancellationToken) {
    use std::os::fd::AsRawFd;

    use super::mmsg::{self, RecvSlots, BATCH};

    if let Err(e) = sock
        .set_nonblocking(false)
        .and_then(|_| sock.set_read_timeout(Some(STOP_CHECK)))
    {
        tracing::error!(error = %e, "dns udp socket setup failed; this socket is not served");
        return;
    }
    let fd = sock.as_raw_fd();
    let mut slots = RecvSlots::new();
    let mut outs: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(2048)).collect();
    let mut answered: Vec<usize> = Vec::with_capacity(BATCH);
    let mut tally = Tally::new();
    while !cancel.is_cancelled() {
        let n = match mmsg::recv_wait(fd, &mut slots) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                tally.flush(&ctx.metrics);
                continue;
            }
            Err(e) => {
                debug!(error = %e, "dns udp receive failed");
                std::thread::sleep(ERROR_PAUSE);
                continue;
            }
        };
        answered.clear();
        {
            let snap = ctx.reader.load();
            for (i, out) in outs.iter_mut().enumerate().take(n) {
                if respond(
                    answers_of(&snap),
                    slots.packet(i),
                    Transport::Udp,
                    out,
                    &mut tally,
                ) {
                    answered.push(i);
                }
            }
        }
        send_all(fd, &outs, &slots, &answered);
        // A short batch means the queue ran dry: a good moment to publish the counts, once
        // the answers are on their way.
        if n < BATCH || tally.due() {
            tally.flush(&ctx.metrics);
        }
    }
}

/// Sends the answers; a full send buffer drops the rest after a short wait (clients retry,
/// as with any lost datagram), never stalling the loop for long.
#[cfg(target_os = "linux")]
fn send_all(
    fd: std::os::fd::RawFd,
    outs: &[Vec<u8>],
    slots: &super::mmsg::RecvSlots,
    answered: &[usize],
) {
    use super::mmsg::{self, BATCH};
    let mut done = 0;
    // Each pass sends at least one datagram or skips a failed one; bounded anyway.
    for _ in 0..4 * BATCH {
        if done >= answered.len() {
            break;
        }
        match mmsg::send(fd, outs, slots, &answered[done..]) {
            Ok(k) => done += k.max(1),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(ERROR_PAUSE),
            Err(e) => {
                debug!(error = %e, "dns udp send failed");
                done += 1;
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub async fn serve(sock: UdpSocket, ctx: Arc<Ctx>, cancel: CancellationToken) {
    let mut inbuf = vec![0u8; 65_535];
    let mut out = Vec::with_capacity(2048);
    let mut tally = Tally::new();
    let cancelled = cancel.cancelled();
    tokio::pin!(cancelled);
    loop {
        let (n, peer) = tokio::select! {
            biased;
            r = sock.recv_from(&mut inbuf) => match r {
                Ok(got) => got,
                Err(e) => {
                    debug!(error = %e, "dns udp receive failed");
                    tokio::time::sleep(ERROR_PAUSE).await;
                    continue;
                }
            },
            _ = &mut cancelled => return,
        };
        let answered = {
            let snap = ctx.reader.load();
            let packet = inbuf.get(..n).unwrap_or_default();
            respond(
                answers_of(&snap),
                packet,
                Transport::Udp,
                &mut out,
                &mut tally,
            )
        };
        if answered {
            if let Err(e) = sock.send_to(&out, peer).await {
                debug!(error = %e, peer = %peer, "dns udp send failed");
            }
        }
        tally.flush(&ctx.metrics);
    }
}
