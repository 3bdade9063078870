//! Small pieces shared by our HTTP/1.1 clients (health checks, webhooks): hyper's
//! connection task tied to the request's lifetime, and hyper errors with their causes.

use std::error::Error as _;

use tokio::task::JoinHandle;

/// The connection task of one request: aborted when the request is done or dropped
/// (a timeout), so no task or socket outlives it.
pub struct AbortOnDrop(pub JoinHandle<Result<(), hyper::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

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
