//! DNS over TCP (RFC 7766): 2-byte length framing, several queries per connection answered
//! in order (pipelined: responses are buffered and flushed when no query is waiting), an
//! idle timeout, a cap on connections and a cap per client network (beyond either, a new
//! connection is closed at once, never queued), and responses never truncated.
//!
//! The per-client cap (`[dns] tcp_max_per_client`, per IPv4 /24 or IPv6 /56) is what keeps
//! one host from holding every slot with connections that each ask a query now and then
//! (and so never idle out): the others always find room.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use super::respond::{respond, Transport};
use super::stats::Tally;
use super::{answers_of, Ctx};
use crate::config::DnsTcpLimits;

/// Writing one response (or the rest of a query once its length arrived) may take this long.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// After accept fails (EMFILE and friends), wait before trying again instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub async fn serve(
    listener: TcpListener,
    ctx: Arc<Ctx>,
    limits: DnsTcpLimits,
    cancel: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let clients = Arc::new(Clients::default());
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    match crate::local_error::kind(&e) {
                        Some(kind) => crate::local_error::record(kind, "dns tcp accept", &e),
                        None => warn!(error = %e, "dns tcp accept failed; backing off"),
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => break,
        };
        let Some(seat) = Clients::take(&clients, peer.ip(), limits.max_per_client) else {
            debug!(peer = %peer, "dns tcp per-client limit reached; closing");
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            debug!(peer = %peer, "dns tcp connection limit reached; closing");
            continue;
        };
        let Some(lease) = crate::fd_budget::lease(1, "dns_tcp") else {
            debug!(peer = %peer, "descriptor budget spent; closing");
            continue;
        };
        let (ctx, cancel) = (ctx.clone(), cancel.clone());
        let idle = limits.idle_timeout;
        connections.spawn(async move {
            if let Err(e) = connection(stream, &ctx, idle, &cancel).await {
                debug!(peer = %peer, error = %e, "dns tcp connection ended");
            }
            drop((permit, seat, lease));
        });
    }
    connections.close();
    connections.wait().await;
}

/// Open connections per client network.
#[derive(Default)]
struct Clients(Mutex<HashMap<IpAddr, usize>>);

/// One connection's place in its client's count; given back when dropped.
struct Seat {
    clients: Arc<Clients>,
    net: IpAddr,
}

impl Clients {
    /// A seat for a connection from `ip`, unless its network already holds `max`.
    fn take(this: &Arc<Clients>, ip: IpAddr, max: usize) -> Option<Seat> {
        let net = network(ip);
        let mut open = this.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(net).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Seat {
            clients: this.clone(),
            net,
        })
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut open = self.clients.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.net) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.net);
            }
        }
    }
}

/// The client network of an address: its IPv4 /24, or its IPv6 /56 (an IPv4-mapped IPv6
/// address counts as the IPv4 one).
fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network(IpAddr::V4(v4)),
            None => {
                let mut o = v6.octets();
                o[7..].fill(0);
                IpAddr::from(o)
            }
        },
    }
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
    idle: Duration,
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
    let result = queries(&mut c, ctx, idle, cancel).await;
    c.tally.flush(&ctx.metrics);
    result?;
    timed(c.w.flush()).await?;
    timed(c.w.shutdown()).await
}

/// Answers queries in order until the client closes, idles out, or we shut down.
async fn queries(
    c: &mut Conn,
    ctx: &Ctx,
    idle: Duration,
    cancel: &CancellationToken,
) -> std::io::Result<()> {
    loop {
        // Nothing more already received: send what is buffered before waiting.
        if c.r.buffer().is_empty() {
            c.tally.flush(&ctx.metrics);
            timed(c.w.flush()).await?;
        }
        let len = tokio::select! {
            r = tokio::time::timeout(idle, c.r.read_u16()) => match r {
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
            let dns = answers_of(&snap);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_counted_by_network_and_seats_come_back() {
        let clients = Arc::new(Clients::default());
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let a = Clients::take(&clients, ip("192.0.2.1"), 2).expect("first");
        let _b = Clients::take(&clients, ip("192.0.2.200"), 2).expect("same /24");
        assert!(
            Clients::take(&clients, ip("::ffff:192.0.2.7"), 2).is_none(),
            "full"
        );
        assert!(
            Clients::take(&clients, ip("192.0.3.1"), 2).is_some(),
            "another /24"
        );
        drop(a);
        assert!(
            Clients::take(&clients, ip("192.0.2.9"), 2).is_some(),
            "a seat came back"
        );
        let _c = Clients::take(&clients, ip("2001:db8:0:ff::1"), 1).expect("v6");
        assert!(
            Clients::take(&clients, ip("2001:db8:0:ab::2"), 1).is_none(),
            "same /56"
        );
        assert!(
            Clients::take(&clients, ip("2001:db8:0:100::2"), 1).is_some(),
            "other /56"
        );
    }
}
