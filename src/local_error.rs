//! Failures that are failoverd's own, not the target's: out of descriptors (EMFILE,
//! ENFILE), of socket buffers (ENOBUFS, ENOMEM) or of local ports (EADDRNOTAVAIL). A check
//! or a connect that fails this way says nothing about the target, so it never counts
//! against it: marking a healthy main down because failoverd ran out of descriptors would
//! fail traffic over for nothing. Each one is counted in `local_errors_total{kind}` and
//! logged, at most once a second per kind.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use metrics::counter;
use tracing::warn;

use crate::metrics as m;

/// The kinds, as metric labels.
const KINDS: [(i32, &str); 5] = [
    (libc::EMFILE, "emfile"),
    (libc::ENFILE, "enfile"),
    (libc::ENOBUFS, "enobufs"),
    (libc::ENOMEM, "enomem"),
    (libc::EADDRNOTAVAIL, "eaddrnotavail"),
];

/// The kind of a local error, or `None` when the error may be the peer's.
pub fn kind(e: &io::Error) -> Option<&'static str> {
    let code = e.raw_os_error()?;
    KINDS.iter().find(|(c, _)| *c == code).map(|(_, k)| *k)
}

/// Unix second of the last warning, per kind (same order as `KINDS`).
static LAST_WARNED: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

/// Counts and (rate-limited) logs a local error met while doing `what`.
pub fn record(kind: &'static str, what: &str, error: &io::Error) {
    counter!(m::LOCAL_ERRORS_TOTAL, "kind" => kind).increment(1);
    let Some(slot) = KINDS.iter().position(|(_, k)| *k == kind) else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if LAST_WARNED[slot].swap(now, Ordering::Relaxed) != now {
        warn!(kind, what, error = %error, "failoverd's own resources ran out; not counted against the target");
    }
}

/// Both metric series exist from the start, so an alert can fire on the first one.
pub fn register() {
    for (_, kind) in KINDS {
        counter!(m::LOCAL_ERRORS_TOTAL, "kind" => kind).absolute(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_resource_errors_are_local_peer_errors_are_not() {
        let local = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(kind(&local), Some("emfile"));
        assert_eq!(
            kind(&io::Error::from_raw_os_error(libc::ENFILE)),
            Some("enfile")
        );
        assert_eq!(
            kind(&io::Error::from_raw_os_error(libc::EADDRNOTAVAIL)),
            Some("eaddrnotavail")
        );
        for peer in [
            libc::ECONNREFUSED,
            libc::ECONNRESET,
            libc::ETIMEDOUT,
            libc::EHOSTUNREACH,
        ] {
            assert_eq!(kind(&io::Error::from_raw_os_error(peer)), None);
        }
        assert_eq!(kind(&io::Error::other("no errno")), None);
    }
}
