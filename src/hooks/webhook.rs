//! Webhook hooks: one HTTP/1.1 POST of the event as JSON (reqwest), over TCP or TLS
//! (rustls, system roots), under one deadline for connect, handshake, request and answer.
//! Every webhook trusts the same roots, so one client, built at the first POST, serves
//! them all.
//!
//! Any 2xx answer is success; redirects are not followed (a 3xx is a failure, so a moved
//! endpoint shows up in the event history). Logs name only the URL's origin: the path or
//! query of a webhook URL often carries a secret.

use std::sync::OnceLock;
use std::time::Duration;

use hyper::header::CONTENT_TYPE;
use rustls::ClientConfig;
use tracing::debug;

use super::{HookEvent, Outcome};
use crate::config::duration::show;
use crate::config::WebhookUrl;
use crate::tls_client::{self, Trust};

const AGENT: &str = concat!("failoverd/", env!("CARGO_PKG_VERSION"));

/// POSTs `event` to `url`; the outcome is "HTTP <status>" or why no status came back.
pub(super) async fn post(url: &WebhookUrl, event: &HookEvent, timeout: Duration) -> Outcome {
    post_with(url, event, timeout, &SYSTEM_TLS).await
}

/// [`post`] with the client of `source` (tests trust their own CA).
async fn post_with(
    url: &WebhookUrl,
    event: &HookEvent,
    timeout: Duration,
    source: &'static ClientSource,
) -> Outcome {
    debug!(origin = %url.origin(), "webhook POST");
    let body = match serde_json::to_vec(event) {
        Ok(b) => b,
        Err(e) => return Outcome::fail(format!("encode event: {e}")),
    };
    let client = match source.get().await {
        Ok(c) => c,
        Err(e) => return Outcome::fail(format!("tls setup: {e}")),
    };
    let target = format!("{}{}", url.origin(), url.path);
    let sent = client
        .post(target)
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .timeout(timeout)
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Outcome::ok(format!("HTTP {}", r.status().as_u16())),
        Ok(r) => Outcome::fail(format!("HTTP {}", r.status().as_u16())),
        Err(e) if e.is_timeout() => {
            Outcome::fail(format!("no answer within timeout {}", show(timeout)))
        }
        Err(e) => Outcome::fail(describe(&e)),
    }
}

/// Why a POST got no status, by its innermost cause: `tls: ...`, `connect: ...` (the
/// socket's error), or `http: ...`.
fn describe(e: &reqwest::Error) -> String {
    let mut source = std::error::Error::source(e);
    let mut innermost = None;
    while let Some(cause) = source {
        if let Some(tls) = tls_client::rustls_error(cause) {
            return format!("tls: {tls}");
        }
        innermost = Some(cause);
        source = cause.source();
    }
    let text = innermost.map_or_else(|| e.to_string(), |c| c.to_string());
    if e.is_connect() {
        format!("connect: {text}")
    } else {
        format!("http: {text}")
    }
}

/// One HTTP client (HTTP/1.1, no proxy, no redirects: a 3xx is a failure) with its TLS
/// config, built at its first use, then shared by every webhook.
struct ClientSource {
    /// The client, or why it could not be built (kept too: a missing trust store stays
    /// missing until a restart, and retrying would read the disk at every POST).
    cell: OnceLock<Result<reqwest::Client, String>>,
    build: fn() -> Result<ClientConfig, String>,
}

impl ClientSource {
    const fn new(build: fn() -> Result<ClientConfig, String>) -> ClientSource {
        ClientSource {
            cell: OnceLock::new(),
            build,
        }
    }

    async fn get(&'static self) -> Result<reqwest::Client, String> {
        let built = match self.cell.get() {
            Some(built) => built,
            // The first build may read the system roots (files): off the async workers.
            None => tokio::task::spawn_blocking(move || self.cell.get_or_init(|| self.make()))
                .await
                .map_err(|e| e.to_string())?,
        };
        built.clone()
    }

    fn make(&self) -> Result<reqwest::Client, String> {
        reqwest::Client::builder()
            .http1_only()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(AGENT)
            .tcp_nodelay(true)
            .tls_backend_preconfigured((self.build)()?)
            .build()
            .map_err(|e| e.to_string())
    }
}

/// Trusting the system roots, offering HTTP/1.1 by ALPN.
static SYSTEM_TLS: ClientSource =
    ClientSource::new(|| tls_client::client_config(Trust::System, true).map_err(|e| e.to_string()));

#[cfg(test)]
mod tests;
