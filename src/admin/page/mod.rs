//! The web status page at `/` on the admin listener: the HTML, its two assets, and the
//! JSON calls only the page needs (`/v1/whoami`, `/v1/stream`).
//!
//! The page loads without a token (a browser cannot send a bearer header for a page it
//! navigates to). What it shows then depends on the config:
//! - no tokens (the API is open, which the config allows only on loopback): the state is
//!   rendered on the server, so the page reads without JavaScript;
//! - tokens: the HTML is a shell with the token field and no state at all, so nothing
//!   leaks to a browser without a token; the script asks for the token, keeps it in the
//!   tab's `sessionStorage`, and sends it as a bearer header on every call (no cookie, so
//!   no cross-site request can ride on it).
//!
//! Every answer carries a strict Content-Security-Policy: scripts and styles only from
//! this origin's files (no inline code), no frames, no form posts, no outside fetches.

mod explain;
mod render;
#[cfg(test)]
mod render_tests;
mod stream;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AdminCtx;
use crate::config::Role;
use crate::store::events::Event;
use crate::tokens::Denied;

pub use explain::explain;
pub use stream::stream;

const PAGE_JS: &str = include_str!("page.js");
const RENDER_JS: &str = include_str!("render.js");
const PAGE_CSS: &str = include_str!("page.css");

/// No inline script or style, nothing from another origin, no framing, no form posts.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; \
     base-uri 'none'";

/// How many of the newest events the server-rendered page lists.
const EVENTS_ON_PAGE: usize = 50;

/// `GET /`: the page, with the state when the API is open, else the shell.
pub async fn index(State(ctx): State<AdminCtx>) -> Response {
    let html = if ctx.tokens.is_empty() {
        let snap = ctx.snapshot.load_full();
        let events = ctx.events.query(None, None, EVENTS_ON_PAGE);
        render::page(render::Auth::Open, Some((&snap, &events)))
    } else {
        render::page(render::Auth::Token, None)
    };
    secured(html, "text/html; charset=utf-8")
}

pub async fn script() -> Response {
    secured(PAGE_JS.to_string(), "text/javascript; charset=utf-8")
}

/// The module `page.js` imports to draw the groups and the history.
pub async fn render_script() -> Response {
    secured(RENDER_JS.to_string(), "text/javascript; charset=utf-8")
}

pub async fn style() -> Response {
    secured(PAGE_CSS.to_string(), "text/css; charset=utf-8")
}

/// `body` with its type and the page's security headers.
fn secured(body: String, content_type: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The state is in the page when the API is open: never keep it in a cache.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `GET /v1/whoami`: the token's name and role (`read` or `operate`), so the page knows
/// whether to enable its buttons. Behind the read check like every read.
pub async fn whoami(State(ctx): State<AdminCtx>, headers: HeaderMap) -> Response {
    let open = ctx.tokens.is_empty();
    match ctx.tokens.authorize(&headers, Role::Operate) {
        Ok(name) => Json(json!({ "name": name, "role": "operate", "tokens": !open })),
        Err(Denied::Forbidden(_)) => {
            let name = ctx
                .tokens
                .authorize(&headers, Role::Read)
                .unwrap_or_default();
            Json(json!({ "name": name, "role": "read", "tokens": !open }))
        }
        Err(denied) => return denied.into_response(),
    }
    .into_response()
}

/// The event as the API gives it, with its one-sentence `summary` (see `explain`).
pub fn with_summary(e: &Event) -> serde_json::Value {
    let mut v = serde_json::to_value(e).unwrap_or_else(|_| json!({ "id": e.id }));
    v["summary"] = json!(explain(e));
    v
}
