//! Fault injection for the integration tests, compiled only with the `fault-injection`
//! feature (the tests enable it; a release build has none of it).
//!
//! `FAILOVERD_FAULT_PANIC=<subsystem>` makes that subsystem panic at its first piece of
//! work one second or more after it started, so the tests can show that a dead subsystem
//! stops the process with a non-zero exit instead of leaving a frozen snapshot served.

#[cfg(feature = "fault-injection")]
mod enabled {
    use std::sync::OnceLock;
    use std::time::{Duration, SystemTime};

    static TARGET: OnceLock<Option<(String, SystemTime)>> = OnceLock::new();

    pub fn maybe_panic(subsystem: &str) {
        let target = TARGET.get_or_init(|| {
            std::env::var("FAILOVERD_FAULT_PANIC")
                .ok()
                .map(|s| (s, SystemTime::now()))
        });
        if let Some((name, since)) = target {
            let waited = since.elapsed().unwrap_or_default();
            if name == subsystem && waited >= Duration::from_secs(1) {
                panic!("fault injection: {subsystem} panics as asked");
            }
        }
    }
}

/// Panics if the tests asked `subsystem` to (see the module comment); nothing otherwise.
#[inline]
pub fn maybe_panic(subsystem: &str) {
    #[cfg(feature = "fault-injection")]
    enabled::maybe_panic(subsystem);
    #[cfg(not(feature = "fault-injection"))]
    let _ = subsystem;
}
