//! `failoverd check` and the command line given what is not a config: a missing file, a
//! directory, unreadable bytes, unknown flags. Each gives an exit code and a message, never
//! a panic.

use std::path::Path;
use std::process::Command;

use crate::config_files::{assert_no_panic, check, stderr, EX_USAGE};
use crate::harness::{repo_path, BIN};

#[test]
fn check_of_a_missing_file_exits_64_naming_it() {
    let out = check(Path::new("config/no-such-file.toml"));
    assert_no_panic("check of a missing file", &out);
    assert_eq!(out.status.code(), Some(EX_USAGE));
    let err = stderr(&out);
    assert!(
        err.contains("failoverd: invalid config: config/no-such-file.toml: cannot read"),
        "{err}"
    );
}

/// Command-line mistakes are reported by clap, which exits with its own code 2 (before
/// failoverd's code runs), not with 64: scripts see 0 valid, 64 bad config, 2 bad usage.
#[test]
fn unknown_flag_is_a_usage_error() {
    for args in [
        &["--no-such-flag"][..],
        &[
            "check",
            "--config",
            "config/failoverd.toml",
            "--no-such-flag",
        ],
        &["check"],
        &["no-such-command"],
    ] {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(repo_path(""))
            .output()
            .expect("run failoverd");
        assert_no_panic(&format!("failoverd {args:?}"), &out);
        assert!(!out.status.success(), "failoverd {args:?} succeeded");
        assert_eq!(
            out.status.code(),
            Some(2),
            "failoverd {args:?}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("Usage:"), "{}", stderr(&out));
    }
}

/// The logging flags belong to the commands that log: `failoverd --help` lists them,
/// `failoverd ctl --help` does not (ctl prints no logs), and after `ctl` they are a usage
/// error rather than flags silently ignored.
#[test]
fn logging_flags_are_not_offered_to_ctl() {
    let help = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .output()
            .expect("run failoverd");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let top = help(&["--help"]);
    assert!(
        top.contains("--log-level") && top.contains("--log-format"),
        "{top}"
    );
    let ctl = help(&["ctl", "--help"]);
    assert!(ctl.contains("--admin"), "{ctl}");
    assert!(
        !ctl.contains("--log-level") && !ctl.contains("--log-format"),
        "ctl --help lists logging flags: {ctl}"
    );
    let out = Command::new(BIN)
        .args(["ctl", "--log-level", "debug", "status"])
        .output()
        .expect("run failoverd");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// Files that are not configs at all: an error and exit 64, never a panic.
#[test]
fn bad_config_does_not_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: [(&str, &[u8], &str); 5] = [
        ("empty.toml", b"", "no [[group]] defined"),
        ("binary.toml", b"\xff\xfe\x00garbage", "cannot read"),
        ("not-toml.toml", b"[[group]\nname = ", "TOML parse error"),
        ("wrong-type.toml", b"group = 5\n", "invalid type"),
        (
            "huge-numbers.toml",
            b"[[group]]\nname = \"web\"\nttl = \"99999999999999999999s\"\n",
            "number too large",
        ),
    ];
    for (name, bytes, expect) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = check(&path);
        assert_no_panic(name, &out);
        assert_eq!(
            out.status.code(),
            Some(EX_USAGE),
            "{name}: {}",
            stderr(&out)
        );
        let err = stderr(&out);
        assert!(err.contains(name) && err.contains(expect), "{name}: {err}");
    }
    // A directory instead of a file.
    let out = check(dir.path());
    assert_no_panic("a directory", &out);
    assert_eq!(out.status.code(), Some(EX_USAGE), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot read"), "{}", stderr(&out));
}
