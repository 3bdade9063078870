//! Webhook hooks: one HTTP/1.1 POST of the event as JSON, over TCP or TLS (rustls, system
//! roots), under one deadline for connect, handshake, request and response head. Every
//! webhook trusts the same roots, so one TLS client config, built at the first https POST,
//! serves them all.
//!
//! Any 2xx answer is success; redirects are not followed (a 3xx is a failure, so a moved
//! endpoint shows up in the event history). Logs name only the URL's origin: the path or
//! query of a webhook URL often carries a secret.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_util::task::AbortOnDropHandle;
use tracing::debug;

use super::{HookEvent, Outcome};
use crate::config::duration::show;
use crate::config::WebhookUrl;
use crate::health::tls::server_name;
use crate::tls_client::{self, Trust};

const AGENT: &str = concat!("failoverd/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
enum WebhookError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("tls: {0}")]
    Tls(std::io::Error),
    #[error("tls: {0:?} is not a valid server name")]
    ServerName(String),
    #[error("tls setup: {0}")]
    TlsSetup(String),
    #[error("http: {0}")]
    Http(String),
    #[error("encode event: {0}")]
    Encode(serde_json::Error),
}

/// POSTs `event` to `url`; the outcome is "HTTP <status>" or why no status came back.
pub(super) async fn post(url: &WebhookUrl, event: &HookEvent, timeout: Duration) -> Outcome {
    post_with(url, event, timeout, &SYSTEM_TLS).await
}

/// [`post`] with the TLS config of `tls` (tests trust their own CA).
async fn post_with(
    url: &WebhookUrl,
    event: &HookEvent,
    timeout: Duration,
    tls: &'static TlsSource,
) -> Outcome {
    debug!(origin = %url.origin(), "webhook POST");
    match tokio::time::timeout(timeout, send(url, event, tls)).await {
        Ok(Ok(status)) if status.is_success() => Outcome::ok(format!("HTTP {}", status.as_u16())),
        Ok(Ok(status)) => Outcome::fail(format!("HTTP {}", status.as_u16())),
        Ok(Err(e)) => Outcome::fail(e.to_string()),
        Err(_) => Outcome::fail(format!("no answer within timeout {}", show(timeout))),
    }
}

async fn send(
    url: &WebhookUrl,
    event: &HookEvent,
    tls: &'static TlsSource,
) -> Result<StatusCode, WebhookError> {
    let body = Bytes::from(serde_json::to_vec(event).map_err(WebhookError::Encode)?);
    let tcp = TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(WebhookError::Connect)?;
    let _ = tcp.set_nodelay(true);
    if !url.tls {
        return request(tcp, url, body).await;
    }
    let name = server_name(&url.host).ok_or_else(|| WebhookError::ServerName(url.host.clone()))?;
    let config = tls.get().await?;
    let stream = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(WebhookError::Tls)?;
    request(stream, url, body).await
}

/// One POST on a connected stream; only the status of the answer is read.
async fn request<S>(stream: S, url: &WebhookUrl, body: Bytes) -> Result<StatusCode, WebhookError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(http_error)?;
    // hyper does the socket I/O in this future; aborting it when we return (or are
    // dropped at the timeout) closes the socket at once.
    // Aborted when the request is done or dropped (a timeout): no task or socket outlives it.
    let _conn = AbortOnDropHandle::new(tokio::spawn(conn));
    let request = Request::builder()
        .method(Method::POST)
        .uri(url.path.as_str())
        .header(HOST, url.authority())
        .header(USER_AGENT, AGENT)
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, body.len())
        .header(CONNECTION, "close")
        .body(Full::new(body))
        .map_err(|e| WebhookError::Http(format!("bad request: {e}")))?;
    let response = sender.send_request(request).await.map_err(http_error)?;
    Ok(response.status())
}

/// A TLS client config built once, at its first use, then shared.
struct TlsSource {
    /// The config, or why it could not be built (kept too: a missing trust store stays
    /// missing until a restart, and retrying would read the disk at every POST).
    cell: OnceLock<Result<Arc<ClientConfig>, String>>,
    build: fn() -> Result<ClientConfig, String>,
}

impl TlsSource {
    const fn new(build: fn() -> Result<ClientConfig, String>) -> TlsSource {
        TlsSource {
            cell: OnceLock::new(),
            build,
        }
    }

    async fn get(&'static self) -> Result<Arc<ClientConfig>, WebhookError> {
        let built = match self.cell.get() {
            Some(built) => built,
            // The first build may read the system roots (files): off the async workers.
            None => tokio::task::spawn_blocking(move || {
                self.cell.get_or_init(|| (self.build)().map(Arc::new))
            })
            .await
            .map_err(|e| WebhookError::TlsSetup(e.to_string()))?,
        };
        built.clone().map_err(WebhookError::TlsSetup)
    }
}

/// Trusting the system roots, offering HTTP/1.1 by ALPN.
static SYSTEM_TLS: TlsSource =
    TlsSource::new(|| tls_client::client_config(Trust::System, true).map_err(|e| e.to_string()));

fn http_error(e: hyper::Error) -> WebhookError {
    WebhookError::Http(crate::http1::describe(&e))
}

#[cfg(test)]
mod tests;
