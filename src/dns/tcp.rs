//! DNS over TCP (RFC 7766): 2-byte length framing, several queries per connection answered
//! in order (pipelined: responses are buffered and flushed when no query is waiting), an
//! idle timeout, a cap on connections (beyond it new ones are closed at once, never
//! queued), and responses never truncated.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use super::respond::{respond, Transport};
use super::Ctx;

/// Concurrent connections per listening address.
pub const MAX_CONNECTIONS: usize = 1_000;
/// A connection with no complete query for this long is closed (RFC 7766 6.2.3 asks for
/// seconds, not minutes, so idle clients cannot hold the connection slots).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Writing one response (or the rest of a query once its length arrived) may take this long.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// After accept fails (EMFILE and friends), wait before trying again instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub async fn serve(listener: TcpListener, ctx: Arc<Ctx>, cancel: CancellationToken) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    warn!(error = %e, "dns tcp accept failed; backing off");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            debug!(peer = %peer, "dns tcp connection limit reached; closing");
            continue;
        };
        let (ctx, cancel) = (ctx.clone(), cancel.clone());
        connections.spawn(async move {
            if let Err(e) = connection(stream, &ctx, &cancel).await {
                debug!(peer = %peer, error = %e, "dns tcp connection ended");
            }
            drop(permit);
        });
    }
    connections.close();
    connections.wait().await;
}

async fn connection(
    stream: TcpStream,
    ctx: &Ctx,
    cancel: &CancellationToken,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut w = BufWriter::new(w);
    let mut msg = Vec::new();
    let mut out = Vec::new();
    loop {
        if r.buffer().is_empty() {
            timed(w.flush()).await?;
        }
        let len = tokio::select! {
            r = tokio::time::timeout(IDLE_TIMEOUT, r.read_u16()) => match r {
                Ok(Ok(len)) => len as usize,
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Ok(Err(e)) => return Err(e),
                Err(_) => break,
            },
            _ = cancel.cancelled() => break,
        };
        msg.resize(len, 0);
        timed(r.read_exact(&mut msg)).await?;
        let answered = {
            let snap = ctx.reader.load();
            respond(
                snap.dns.as_deref(),
                &msg,
                Transport::Tcp,
                &mut out,
                &ctx.metrics,
            )
        };
        if answered {
            let n = u16::try_from(out.len()).unwrap_or(u16::MAX);
            timed(w.write_u16(n)).await?;
            timed(w.write_all(&out[..n as usize])).await?;
        }
    }
    timed(w.flush()).await?;
    timed(w.shutdown()).await
}

async fn timed<T>(f: impl std::future::Future<Output = std::io::Result<T>>) -> std::io::Result<T> {
    tokio::time::timeout(IO_TIMEOUT, f)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "dns tcp i/o timed out"))?
}
