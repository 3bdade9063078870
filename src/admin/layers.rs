//! The layers every admin request passes, outermost first:
//! - `json_errors`: whatever error a layer or the framework answers (413, 400, 408, 414,
//!   431, 404, 405, ...) goes out as JSON `{"error": "..."}`, like the API's own errors;
//! - `request_limits`: a URI over 8 KiB is 414, headers over 16 KiB are 431;
//! - per route group, `require_read` / `require_operate`: the bearer token is checked
//!   before any handler runs, so before any body is read; the token's name travels on as
//!   the request's [`Actor`];
//! - inside the token check, on operating calls: a body limit (64 KiB: an operating call
//!   needs a few bytes) and a body read timeout (tower-http);
//! - on operating calls, before the token check: `same_origin`, which refuses a call a
//!   browser makes from another site's page;
//! - while the API is open (no tokens), on every request: `no_rebinding`, which refuses a
//!   request addressed to a host name other than `localhost`.

use std::net::IpAddr;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error;
use crate::config::Role;
use crate::tokens::Tokens;

/// Bodies beyond this are refused (413) before they are read.
pub const BODY_LIMIT: usize = 64 * 1024;
/// A longer URI is refused (414).
const URI_LIMIT: usize = 8 * 1024;
/// Longer headers, all together, are refused (431).
const HEADERS_LIMIT: usize = 16 * 1024;
/// What an error body may be to be turned into JSON; longer ones are summed up.
const ERROR_TEXT_LIMIT: usize = 4 * 1024;

/// Who made an authorized request: the token's name, or "local" without tokens.
#[derive(Debug, Clone)]
pub struct Actor(pub String);

async fn require(tokens: &Tokens, role: Role, mut req: Request, next: Next) -> Response {
    match tokens.authorize(req.headers(), role) {
        Ok(actor) => {
            req.extensions_mut().insert(Actor(actor));
            next.run(req).await
        }
        Err(denied) => denied.into_response(),
    }
}

pub async fn require_read(State(tokens): State<Tokens>, req: Request, next: Next) -> Response {
    require(&tokens, Role::Read, req, next).await
}

pub async fn require_operate(State(tokens): State<Tokens>, req: Request, next: Next) -> Response {
    require(&tokens, Role::Operate, req, next).await
}

pub async fn request_limits(req: Request, next: Next) -> Response {
    let uri = req.uri().path().len() + req.uri().query().map_or(0, str::len);
    if uri > URI_LIMIT {
        let msg = format!("URI of {uri} bytes; at most {URI_LIMIT}");
        return error(StatusCode::URI_TOO_LONG, msg);
    }
    let headers: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if headers > HEADERS_LIMIT {
        let msg = format!("headers of {headers} bytes; at most {HEADERS_LIMIT}");
        return error(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, msg);
    }
    next.run(req).await
}

/// Turns an error response that is not JSON into `{"error": <its text>}`.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, ERROR_TEXT_LIMIT).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).trim().to_string(),
        _ => String::new(),
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    let json = error(status, message);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let (_, body) = json.into_parts();
    Response::from_parts(parts, Body::new(body))
}

/// Refuses (403) an operating call whose `Origin` names another site than the `Host` it
/// was sent to. Browsers send `Origin` on every cross-site POST, even the ones they send
/// without asking first (a form, a `no-cors` fetch), and the API reads a body whatever its
/// type: without this, any page a local user opened could switch traffic while the API
/// is open (no tokens, loopback only). The status page's own calls carry its origin;
/// `ctl`, curl and scripts send no `Origin` and pass.
pub async fn same_origin(req: Request, next: Next) -> Response {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return next.run(req).await;
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    // `http://host:port` or `https://host:port`: its authority must be the Host header.
    let authority = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest);
    match (authority, host) {
        (Some(a), Some(h)) if a.eq_ignore_ascii_case(h) => next.run(req).await,
        _ => error(
            StatusCode::FORBIDDEN,
            "cross-origin request refused: an operating call from a browser must come from the status page of this admin address",
        ),
    }
}

/// Refuses (403) a request to the open API (no tokens) whose `Host` is a name other than
/// `localhost`. DNS rebinding: a page on `evil.example`, whose name then resolves to
/// 127.0.0.1, is to the browser the same origin as the API, so `same_origin` lets its calls
/// through and it may read the answers. A browser names in `Host` the host of the page's
/// URL, so an open API answers only URLs with an IP address or `localhost`. Behind tokens
/// the name does not matter: a page cannot get the token. No `Host` at all (HTTP/1.0, a
/// script) passes: a browser always sends one.
pub async fn no_rebinding(State(tokens): State<Tokens>, req: Request, next: Next) -> Response {
    let host = req.headers().get(header::HOST);
    if tokens.is_empty() {
        if let Some(host) = host.filter(|h| !addresses_this_machine(h.as_bytes())) {
            let msg = format!(
                "request to {:?} refused: the API has no tokens, so it answers only requests \
                 addressed to an IP address or localhost (a guard against DNS rebinding); \
                 use such a URL, or configure [[admin.token]]",
                String::from_utf8_lossy(host.as_bytes())
            );
            return error(StatusCode::FORBIDDEN, msg);
        }
    }
    next.run(req).await
}

/// A `Host` header of an IP address or `localhost` (or a name under `.localhost`, RFC 6761),
/// with or without a port.
fn addresses_this_machine(host: &[u8]) -> bool {
    let Ok(host) = std::str::from_utf8(host) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        // `[v6]` or `[v6]:port`
        Some(rest) => match rest.split_once(']') {
            Some((ip, port)) => {
                return ip.parse::<std::net::Ipv6Addr>().is_ok()
                    && (port.is_empty() || is_port(port.strip_prefix(':')));
            }
            None => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) if is_port(Some(port)) => name,
            Some(_) => return false,
            None => host,
        },
    };
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name.parse::<IpAddr>().is_ok() || name == "localhost" || name.ends_with(".localhost")
}

fn is_port(port: Option<&str>) -> bool {
    port.is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::addresses_this_machine;

    #[test]
    fn only_addresses_and_localhost_address_this_machine() {
        for ok in [
            "127.0.0.1",
            "127.0.0.1:8439",
            "10.1.2.3:80",
            "[::1]",
            "[::1]:8439",
            "localhost",
            "LocalHost:8439",
            "localhost.:8439",
            "app.localhost:8439",
        ] {
            assert!(addresses_this_machine(ok.as_bytes()), "{ok}");
        }
        for refused in [
            "evil.example",
            "evil.example:8439",
            "localhost.evil.example",
            "127.0.0.1.nip.io:8439",
            "evilocalhost",
            "[::1",
            "[::1]8439",
            "[evil]:80",
            "127.0.0.1:",
            "127.0.0.1:port",
            "",
            "\u{ff}",
        ] {
            assert!(!addresses_this_machine(refused.as_bytes()), "{refused:?}");
        }
    }
}
