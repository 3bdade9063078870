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
use super::stats::Tally;
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

type Reader = BufReader<tokio::net::tcp::OwnedReadHalf>;
type Writer = BufWriter<tokio::net::tcp::OwnedWriteHalf>;

/// One connection's state: its buffers are reused for every query on it.
struct Conn {
    r: Reader,
    w: Writer,
    msg: Vec<u8>,
    out: Vec<u8>,
    tally: Tally,
}

async fn connection(
    stream: TcpStream,
    ctx: &Ctx,
    cancel: &CancellationToken,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let mut c = Conn {
        r: BufReader::new(r),
        w: BufWriter::new(w),
        msg: Vec::new(),
        out: Vec::new(),
        tally: Tally::new(),
    };
    let result = queries(&mut c, ctx, cancel).await;
    c.tally.flush(&ctx.metrics);
    result?;
    timed(c.w.flush()).await?;
    timed(c.w.shutdown()).await
}

/// Answers queries in order until the client closes, idles out, or we shut down.
async fn queries(c: &mut Conn, ctx: &Ctx, cancel: &CancellationToken) -> std::io::Result<()> {
    loop {
        // Nothing more already received: send what is buffered before waiting.
        if c.r.buffer().is_empty() {
            c.tally.flush(&ctx.metrics);
            timed(c.w.flush()).await?;
        }
        let len = tokio::select! {
            r = tokio::time::timeout(IDLE_TIMEOUT, c.r.read_u16()) => match r {
                Ok(Ok(len)) => len as usize,
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(()),
            },
            _ = cancel.cancelled() => return Ok(()),
        };
        c.msg.resize(len, 0);
        timed(c.r.read_exact(&mut c.msg)).await?;
        let answered = {
            let snap = ctx.reader.load();
            let dns = snap.dns.as_deref();
            respond(dns, &c.msg, Transport::Tcp, &mut c.out, &mut c.tally)
        };
        if answered {
            let n = u16::try_from(c.out.len()).unwrap_or(u16::MAX);
            timed(c.w.write_u16(n)).await?;
            timed(c.w.write_all(&c.out[..n as usize])).await?;
        }
    }
}

async fn timed<T>(f: impl std::future::Future<Output = std::io::Result<T>>) -> std::io::Result<T> {
    tokio::time::timeout(IO_TIMEOUT, f)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "dns tcp i/o timed out"))?
}
