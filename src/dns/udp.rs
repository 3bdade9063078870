//! UDP: one task per socket, each with buffers it owns. Several sockets share each
//! address through SO_REUSEPORT (one per core), so the kernel spreads clients over the
//! tasks and no lock or channel sits between them. On Linux a task takes queued queries
//! in batches (`mmsg.rs`: one recvmmsg, one sendmmsg per batch); elsewhere it does one
//! recv_from / send_to per query.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::respond::{respond, Transport};
use super::stats::Tally;
use super::Ctx;

/// A burst of receive errors (e.g. ICMP-induced ECONNREFUSED) must not spin the task.
const ERROR_PAUSE: Duration = Duration::from_millis(1);

#[cfg(target_os = "linux")]
pub async fn serve(sock: UdpSocket, ctx: Arc<Ctx>, cancel: CancellationToken) {
    use std::os::fd::AsRawFd;

    use super::mmsg::{self, RecvSlots, BATCH};
    use tokio::io::Interest;

    let fd = sock.as_raw_fd();
    let mut slots = RecvSlots::new();
    let mut outs: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(2048)).collect();
    let mut answered: Vec<usize> = Vec::with_capacity(BATCH);
    let mut tally = Tally::new();
    let cancelled = cancel.cancelled();
    tokio::pin!(cancelled);
    loop {
        let n = tokio::select! {
            biased;
            r = sock.async_io(Interest::READABLE, || mmsg::recv(fd, &mut slots)) => match r {
                Ok(n) => n,
                Err(e) => {
                    debug!(error = %e, "dns udp receive failed");
                    tokio::time::sleep(ERROR_PAUSE).await;
                    continue;
                }
            },
            _ = &mut cancelled => return,
        };
        answered.clear();
        {
            let snap = ctx.reader.load();
            for (i, out) in outs.iter_mut().enumerate().take(n) {
                if respond(
                    snap.dns.as_deref(),
                    slots.packet(i),
                    Transport::Udp,
                    out,
                    &mut tally,
                ) {
                    answered.push(i);
                }
            }
        }
        // A short batch means the queue ran dry: a good moment to publish the counts.
        if n < BATCH || tally.due() {
            tally.flush(&ctx.metrics);
        }
        let mut done = 0;
        // Each pass sends at least one datagram or skips a failed one; bounded anyway.
        for _ in 0..4 * BATCH {
            if done >= answered.len() {
                break;
            }
            let rest = &answered[done..];
            match sock.try_io(Interest::WRITABLE, || mmsg::send(fd, &outs, &slots, rest)) {
                Ok(k) => done += k.max(1),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // The send buffer is full: wait a little for room, else drop the rest
                    // (clients retry, as with any lost datagram).
                    if tokio::time::timeout(ERROR_PAUSE * 10, sock.writable())
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Err(e) => {
                    debug!(error = %e, "dns udp send failed");
                    done += 1;
                }
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
                snap.dns.as_deref(),
                packet,
                Transport::Udp,
                &mut out,
                &mut tally,
            )
        };
        tally.flush(&ctx.metrics);
        if answered {
            if let Err(e) = sock.send_to(&out, peer).await {
                debug!(error = %e, peer = %peer, "dns udp send failed");
            }
        }
    }
}
