//! Waiting in tests: every wait polls with a deadline (`eventually`), and "does not
//! happen" is observed repeatedly over a bounded window (`holds_for`).

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// Polls `f` until it returns Some, or panics with `what` after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Checks `check` every 50 ms for `window`; panics with `what` at the first failure.
pub async fn holds_for<F, Fut>(window: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let until = Instant::now() + window;
    for i in 0..10_000 {
        if let Err(e) = check().await {
            panic!("{what}: broken at observation {i}: {e}");
        }
        if Instant::now() >= until {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
