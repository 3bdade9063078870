//! The HTTP(S) client of `failoverd ctl` (reqwest, HTTP/1.1, no proxy, no redirects): one
//! request to the admin API under one deadline that covers the connect, the TLS handshake,
//! the request and the whole answer. Every failure becomes a [`CtlError`] that says which
//! URL and why.

use std::error::Error as _;
use std::time::Duration;

use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, StatusCode, Uri};
use serde_json::Value;

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
        if authority.host().trim_matches(['[', ']']).is_empty() {
            return Err(bad("the URL needs a host"));
        }
        Ok(AdminUrl {
            https,
            authority: authority.as_str().to_string(),
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
    http: reqwest::Client,
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
        // The process's one crypto provider, also for plain http (reqwest asks for one).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut http = reqwest::Client::builder()
            .http1_only()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(AGENT)
            .timeout(s.timeout);
        // Plain http ignores --ca-file and --insecure, so one environment can serve both.
        if s.admin.is_https() {
            http = http.tls_backend_preconfigured(tls::config(s.ca_file.as_deref(), s.insecure)?);
        }
        let http = http
            .build()
            .map_err(|e| CtlError::Failed(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Client {
            admin: s.admin,
            token,
            http,
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
        let (status, bytes) = self.exchange(method, &url, body).await.map_err(|e| {
            let reason = match e {
                Failed::Http(e) if e.is_timeout() => {
                    format!("no answer within {}", show_duration(self.timeout))
                }
                e => reason(&e),
            };
            CtlError::Unreachable {
                url: url.clone(),
                reason,
            }
        })?;
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

    /// Sends the request and reads the whole answer (up to the limit).
    async fn exchange(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Vec<u8>), Failed> {
        let mut request = self
            .http
            .request(method, url)
            .header(ACCEPT, "application/json");
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, token.clone());
        }
        if let Some(v) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(v.to_string());
        }
        let mut response = request.send().await?;
        let status = response.status();
        let mut out = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if out.len() + chunk.len() > BODY_LIMIT {
                return Err(Failed::TooLarge);
            }
            out.extend_from_slice(&chunk);
        }
        Ok((status, out))
    }
}

#[derive(Debug)]
enum Failed {
    Http(reqwest::Error),
    TooLarge,
}

impl From<reqwest::Error> for Failed {
    fn from(e: reqwest::Error) -> Self {
        Failed::Http(e)
    }
}

/// Why a request failed, in the words of its innermost cause: the TLS error (`TLS:
/// invalid peer certificate: ...`) or the socket's (`Connection refused`); reqwest's own
/// message only says that sending failed.
fn reason(e: &Failed) -> String {
    let e = match e {
        Failed::TooLarge => return format!("the answer is larger than {BODY_LIMIT} bytes"),
        Failed::Http(e) => e,
    };
    let mut source = e.source();
    let mut innermost = None;
    while let Some(cause) = source {
        if let Some(tls) = failoverd::tls_client::rustls_error(cause) {
            return format!("TLS: {tls}");
        }
        innermost = Some(cause);
        source = cause.source();
    }
    match innermost {
        Some(cause) => cause.to_string(),
        None => e.to_string(),
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
