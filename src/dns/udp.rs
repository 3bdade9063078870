//! UDP: one task per socket, each doing recv_from / respond / send_to with buffers it owns.
//! Several sockets share each address through SO_REUSEPORT (one per core), so the kernel
//! spreads clients over the tasks and no lock or channel sits between them.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::respond::{respond, Transport};
use super::Ctx;

/// Big enough for any datagram, so a large query is parsed (and answered) rather than cut.
const RECV_BUF: usize = 65_535;
/// A burst of receive errors (e.g. ICMP-induced ECONNREFUSED) must not spin the task.
const ERROR_PAUSE: Duration = Duration::from_millis(1);

pub async fn serve(sock: UdpSocket, ctx: Arc<Ctx>, cancel: CancellationToken) {
    let mut inbuf = vec![0u8; RECV_BUF];
    let mut out = Vec::with_capacity(RECV_BUF);
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
        let snap = ctx.reader.load();
        let Some(packet) = inbuf.get(..n) else {
            continue;
        };
        if respond(
            snap.dns.as_deref(),
            packet,
            Transport::Udp,
            &mut out,
            &ctx.metrics,
        ) {
            drop(snap);
            if let Err(e) = sock.send_to(&out, peer).await {
                debug!(error = %e, peer = %peer, "dns udp send failed");
            }
        }
    }
}
