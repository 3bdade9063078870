//! The HTTP(S) client of `failoverd ctl`: one HTTP/1.1 request per connection to the admin
//! API, under one deadline that covers the connect, the TLS handshake, the request and the
//! whole answer. Every failure becomes a [`CtlError`] that says which URL and why.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::header::{
    HeaderValue, ACCEPT, AUTHORIZATION, CONNECTION, CONTENT_TYPE, HOST, USER_AGENT,
};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_util::task::AbortOnDropHandle;

use super::tls;

/// The admin API never sends more than this (1000 events at most); a larger answer is not
/// the API talking.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

const AGENT: &str = concat!("failoverd-ctl/", env!("CARGO_PKG_VERSION"));

/// Why a ctl command failed; [`CtlError::exit_code`] maps it to the process exit code.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// Bad arguments: a malformed URL, an unreadable token or CA file (exit 64).
    #[error("{0}")]
    Usage(String),
    /// No connection, a TLS failure, or no answer in time.
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The API answered with an error status; `message` is its `{"error": ...}`.
    #[error("{status}: {message}")]
    Api { status: StatusCode, message: String },
    /// Anything else that stops the command here (exit 1).
    #[error("{0}")]
    Failed(String),
    /// A 2xx answer that is not the API's JSON (something else listens there).
    #[error("{url}: unexpected answer: {reason}")]
    BadAnswer { url: String, reason: String },
}

impl CtlError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CtlError::Usage(_) => super::EX_USAGE,
            _ => 1,
        }
    }
}

/// Where the admin API is: parsed once from `--admin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUrl {
    https: bool,
    /// `host:port` as written, for the Host header and messages.
    authority: String,
    /// The host to connect to (an IPv6 literal without its brackets).
    host: String,
    port: u16,
    /// A path prefix (a reverse proxy's mount point), without a trailing slash.
    prefix: String,
}

impl AdminUrl {
    /// `from` names where the text came from (`--admin`, `FAILOVERD_ADMIN`) for errors.
    pub fn parse(text: &str, from: &str) -> Result<AdminUrl, CtlError> {
        let bad = |why: &str| {
            CtlError::Usage(format!(
                "{from} {text:?}: {why} (expected e.g. http://127.0.0.1:8439 or https://admin.example:8439)"
            ))
        };
        let uri: Uri = text.trim().parse().map_err(|_| bad("not a URL"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(_) => return Err(bad("the scheme must be http or https")),
            None => return Err(bad("the URL needs a scheme")),
        };
        let authority = uri.authority().ok_or_else(|| bad("the URL needs a host"))?;
        if authority.as_str().contains('@') {
            return Err(bad(
                "credentials in the URL are not supported; use --token-file",
            ));
        }
        if uri.query().is_some() {
            return Err(bad("the URL must not have a query"));
        }
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(bad("the URL needs a host"));
        }
        Ok(AdminUrl {
            https,
            authority: authority.as_str().to_string(),
            host: host.to_string(),
            port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
            prefix: uri.path().trim_end_matches('/').to_string(),
        })
    }

    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The full URL of an API path, for messages.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}{}{path}", self.authority, self.prefix)
    }
}

/// How to reach the API: URL, credentials, trust and deadline.
pub struct Settings {
    pub admin: AdminUrl,
    pub token: Option<String>,
    pub ca_file: Option<std::path::PathBuf>,
    pub insecure: bool,
    pub timeout: Duration,
}

/// A successful answer: parsed, and as sent (for `--json`, which keeps the API's key order).
pub struct Answer {
    pub json: Value,
    pub text: String,
}

pub struct Client {
    admin: AdminUrl,
    token: Option<HeaderValue>,
    tls: Option<TlsConnector>,
    timeout: Duration,
}

impl Client {
    pub fn new(s: Settings) -> Result<Client, CtlError> {
        let token = match s.token {
            Some(t) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| {
                    CtlError::Usage("the token holds characters an HTTP header cannot carry".into())
                })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        // Plain http ignores --ca-file and --insecure, so one environment can serve both.
        let tls = if s.admin.is_https() {
            Some(tls::connector(s.ca_file.as_deref(), s.insecure)?)
        } else {
            None
        };
        Ok(Client {
            admin: s.admin,
            token,
            tls,
            timeout: s.timeout,
        })
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// One request; the API's JSON on a 2xx answer, else why not. `path` includes the query.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, CtlError> {
        let url = self.admin.url(path);
        let request = self.request(method, path, body)?;
        let answer = tokio::time::timeout(self.timeout, self.exchange(request, &url)).await;
        let (status, bytes) = match answer {
            Ok(result) => result?,
            Err(_) => {
                return Err(CtlError::Unreachable {
                    url,
                    reason: format!("no answer within {}", show_duration(self.timeout)),
                })
            }
        };
        let json = serde_json::from_slice::<Value>(&bytes);
        if status.is_success() {
            return match json {
                Ok(json) => Ok(Answer {
                    json,
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                }),
                Err(e) => Err(CtlError::BadAnswer {
                    url,
                    reason: format!("{status} with a body that is not JSON ({e})"),
                }),
            };
        }
        let message = match json.as_ref().ok().and_then(|v| v["error"].as_str()) {
            Some(m) => m.to_string(),
            None => fallback_message(status, &bytes),
        };
        Err(CtlError::Api { status, message })
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Request<Full<Bytes>>, CtlError> {
        let target = format!("{}{path}", self.admin.prefix);
        let mut builder = Request::builder()
            .method(method)
            .uri(target.as_str())
            .header(HOST, self.admin.authority.as_str())
            .header(USER_AGENT, AGENT)
            .header(ACCEPT, "application/json")
            .header(CONNECTION, "close");
        if let Some(token) = &self.token {
            builder = builder.header(AUTHORIZATION, token.clone());
        }
        let bytes = match body {
            Some(v) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        builder
            .body(Full::new(bytes))
            .map_err(|e| CtlError::Usage(format!("cannot build a request for {target:?}: {e}")))
    }

    async fn exchange(
        &self,
        request: Request<Full<Bytes>>,
        url: &str,
    ) -> Result<(StatusCode, Bytes), CtlError> {
        let unreachable = |reason: String| CtlError::Unreachable {
            url: url.to_string(),
            reason,
        };
        let tcp = TcpStream::connect((self.admin.host.as_str(), self.admin.port))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let result = match &self.tls {
            None => send(tcp, request).await,
            Some(connector) => {
                let name = tls::server_name(&self.admin.host)?;
                let stream = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| unreachable(format!("TLS: {e}")))?;
                send(stream, request).await
            }
        };
        result.map_err(|e| unreachable(hyper_error(&e)))
    }
}

/// Sends one request over a connected stream and reads the whole answer (up to the limit).
async fn send<S>(stream: S, request: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), Failed>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    // hyper does the socket I/O in this future; aborting it when we return closes the socket.
    // Aborted when the request is done or dropped (a timeout): no task or socket outlives it.
    let _conn = AbortOnDropHandle::new(tokio::spawn(conn));
    let response = sender.send_request(request).await?;
    let status = response.status();
    let mut body = response.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame?.data_ref() {
            if out.len() + data.len() > BODY_LIMIT {
                return Err(Failed::TooLarge);
            }
            out.extend_from_slice(data);
        }
    }
    Ok((status, Bytes::from(out)))
}

#[derive(Debug)]
enum Failed {
    Http(hyper::Error),
    TooLarge,
}

impl From<hyper::Error> for Failed {
    fn from(e: hyper::Error) -> Self {
        Failed::Http(e)
    }
}

/// What went wrong, with hyper's causes (its own message is terse).
fn hyper_error(e: &Failed) -> String {
    match e {
        Failed::TooLarge => format!("the answer is larger than {BODY_LIMIT} bytes"),
        Failed::Http(e) => failoverd::http1::describe(e),
    }
}

/// An error answer without the API's JSON (a proxy in between, say): its text, shortened.
fn fallback_message(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return status
            .canonical_reason()
            .unwrap_or("error without a message")
            .to_string();
    }
    let short: String = text.chars().take(200).collect();
    if short.len() < text.len() {
        format!("{short}...")
    } else {
        short
    }
}

/// `5s`, `1500ms`: the way durations are written on the command line.
pub fn show_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Percent-encodes one path segment or query value (names are user input).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
