//! Shared by our HTTP/1.1 clients (health checks, webhooks, ctl): hyper errors with their
//! causes.

use std::error::Error as _;

/// hyper's own message is terse ("connection closed before message completed" without
/// saying why), so the causes are appended.
pub fn describe(e: &hyper::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
