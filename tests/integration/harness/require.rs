//! What a test needs from the machine (root, a command such as `dig` or `promtool`), and
//! what happens when it is missing: outside CI the test says `SKIP` and passes; in CI
//! (`CI=true`, where `.ci/run` installs everything and runs as root) it fails, so a missing
//! install step can never hide behind a green run.

use std::os::unix::fs::PermissionsExt;

/// Whether the test may go on. `what` says what it needs, `available` whether it is there.
/// Missing: in CI, panics naming it; elsewhere prints `SKIP <test>: needs <what>` and
/// returns false (the caller returns).
#[track_caller]
pub fn require(what: &str, available: bool) -> bool {
    if available {
        return true;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string();
    if in_ci() {
        panic!("{test}: needs {what}, which CI must provide (CI=true: no skipping)");
    }
    eprintln!("SKIP {test}: needs {what}");
    false
}

/// `CI=true` (or `1`): the environment CI runs in.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Whether this process runs as root (network namespaces, iptables).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `name` is an executable file in a directory of `PATH` (or `/usr/sbin`,
/// `/sbin`, where `ip` and `iptables` live and which a non-login root shell may lack).
pub fn has_command(name: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(name))
        .any(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
