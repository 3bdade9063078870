//! The admin listener's accept loop and connections: admission before anything else.
//!
//! - At most `[admin] max_connections` connections at once; beyond, a new one is closed at
//!   once (never left in the backlog holding a descriptor).
//! - A TLS handshake and a request's headers must each arrive within `header_timeout`
//!   (hyper's header-read timeout); a kept-alive connection with no request in flight for
//!   `idle_timeout` is closed.
//! - Request headers are read into at most 64 KiB (hyper's buffer); the layers in
//!   `layers.rs` then check the token before any body is read, and bound the body.
//!
//! A stranger without a token can so hold at most `max_connections` descriptors, each for
//! a bounded time, and no memory beyond the header buffers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use metrics::counter;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use crate::metrics as m;

/// Request headers beyond this are refused by hyper itself (431): what a client can make
/// failoverd hold per connection before it is authenticated.
const HEADER_BUFFER: usize = 64 * 1024;

/// How long a stop waits for requests in flight.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Admission limits of the admin listener (from `[admin]`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Serves `app` on `listener` until `stop`, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: Limits,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let conns = TaskTracker::new();
    let refused = counter!(m::ADMIN_CONNECTIONS_REFUSED_TOTAL);
    let mut backoff = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            r = listener.accept() => r,
        };
        let sock = match accepted {
            Ok((sock, _)) => {
                backoff = Duration::from_millis(10);
                sock
            }
            Err(e) => {
                if let Some(kind) = crate::local_error::kind(&e) {
                    crate::local_error::record(kind, "admin accept", &e);
                } else {
                    warn!(error = %e, "admin accept failed; retrying");
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refused.increment(1);
            debug!("admin connection limit reached; closing a new connection");
            continue;
        };
        // From the descriptor budget, or one of the few the reserve keeps for the API.
        let Some(lease) = crate::fd_budget::lease_admin() else {
            debug!("descriptor budget spent; closing a new admin connection");
            continue;
        };
        let (app, tls, stop) = (app.clone(), tls.clone(), stop.clone());
        conns.spawn(async move {
            connection(sock, tls, app, limits, stop, slot).await;
            drop(lease);
        });
    }
    conns.close();
    if tokio::time::timeout(STOP_GRACE, conns.wait())
        .await
        .is_err()
    {
        debug!("admin connections still open at the end of the grace period");
    }
}

async fn connection(
    sock: TcpStream,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: Limits,
    stop: CancellationToken,
    _slot: OwnedSemaphorePermit,
) {
    match tls {
        None => http(sock, app, limits, stop).await,
        Some(acceptor) => {
            match tokio::time::timeout(limits.header_timeout, acceptor.accept(sock)).await {
                Ok(Ok(stream)) => http(stream, app, limits, stop).await,
                Ok(Err(e)) => debug!(error = %e, "admin TLS handshake failed"),
                Err(_) => debug!("admin TLS handshake timed out"),
            }
        }
    }
}

/// When a connection last finished a request, and how many it has in flight.
struct Activity {
    in_flight: AtomicUsize,
    last: Mutex<Instant>,
}

impl Activity {
    fn touch(&self) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn idle_since(&self) -> Option<Instant> {
        let last = *self.last.lock().unwrap_or_else(|p| p.into_inner());
        (self.in_flight.load(Ordering::Relaxed) == 0).then_some(last)
    }
}

/// Serves HTTP/1.1 on one connection until the client closes, it stays idle too long, or
/// the process stops.
async fn http<I>(io: I, app: Router, limits: Limits, stop: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity {
        in_flight: AtomicUsize::new(0),
        last: Mutex::new(Instant::now()),
    });
    let tracked = {
        let activity = activity.clone();
        tower::ServiceBuilder::new()
            .map_request(move |req| {
                activity.in_flight.fetch_add(1, Ordering::Relaxed);
                activity.touch();
                (req, activity.clone())
            })
            .service(tower::service_fn(
                move |(req, activity): (_, Arc<Activity>)| {
                    let call = tower::ServiceExt::oneshot(app.clone(), req);
                    async move {
                        let response = call.await;
                        activity.in_flight.fetch_sub(1, Ordering::Relaxed);
                        activity.touch();
                        response
                    }
                },
            ))
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(HEADER_BUFFER)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(tracked));
    tokio::pin!(conn);
    loop {
        let idle_deadline = activity
            .idle_since()
            .map(|since| since + limits.idle_timeout);
        let idle = async {
            match idle_deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                // A request in flight: look again a little later.
                None => tokio::time::sleep(limits.idle_timeout).await,
            }
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = stop.cancelled() => break,
            _ = idle => {
                if activity
                    .idle_since()
                    .is_some_and(|since| since.elapsed() >= limits.idle_timeout)
                {
                    break;
                }
            }
        }
    }
    // Closes at once when idle; lets a request in flight finish first.
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(STOP_GRACE, conn).await;
}
