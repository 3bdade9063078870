//! The config files in the repository, through the library and through `failoverd check`:
//! - every `config/*.toml` is valid (loads, passes preflight, `check` exits 0), and
//!   `config/failoverd.toml` shows every key the parser accepts;
//! - every `config/invalid/*.toml` is rejected for the reason its first line names
//!   (`# expect: <text>`), and `check` exits 64 printing that reason and the file;
//!
//! Command-line mistakes and unreadable files are in `config_cli.rs`.
//!
//! Paths inside the fixtures (health.ca_file) are relative to the repository root: cargo
//! runs integration tests there, and `check` is started there too.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use failoverd::config::{CheckKind, Config, TargetAddress};
use failoverd::server;

use crate::harness::{repo_path, BIN};

/// `failoverd check` exit code for a bad config (EX_USAGE).
pub(crate) const EX_USAGE: i32 = 64;

/// The `*.toml` files directly in `dir`, sorted.
fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    files
}

/// Runs `failoverd check --config <path>` from the repository root.
pub(crate) fn check(path: &Path) -> Output {
    Command::new(BIN)
        .args(["check", "--config"])
        .arg(path)
        .current_dir(repo_path(""))
        .output()
        .expect("run failoverd check")
}

/// What `failoverd check` does in-process: load, then preflight (builds the health probes).
fn load_and_preflight(path: &Path) -> Result<Config, String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    server::preflight(&config).map_err(|e| format!("{e:#}"))?;
    Ok(config)
}

/// The text after `# expect: ` on the first line of a fixture.
fn expected_error(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read fixture");
    let first = text.lines().next().unwrap_or_default();
    let expect = first.strip_prefix("# expect: ").unwrap_or_else(|| {
        panic!(
            "{}: the first line must be `# expect: <part of the error>`, found {first:?}",
            path.display()
        )
    });
    assert!(
        !expect.trim().is_empty(),
        "{}: empty `# expect:`",
        path.display()
    );
    expect.to_string()
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) fn assert_no_panic(what: &str, out: &Output) {
    let err = stderr(out);
    assert!(!err.contains("panicked"), "{what} panicked:\n{err}");
}

#[test]
fn example_configs_are_valid() {
    let files = toml_files(&repo_path("config"));
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for wanted in ["failoverd.toml", "demo.toml"] {
        assert!(
            names.iter().any(|n| n == wanted),
            "config/{wanted} is missing"
        );
    }
    for path in &files {
        let rel = path.strip_prefix(repo_path("")).unwrap();
        if let Err(e) = load_and_preflight(path) {
            panic!("{} is not valid: {e}", rel.display());
        }
        let out = check(rel);
        assert_no_panic(&format!("check {}", rel.display()), &out);
        // `check` also wants the state file's directory (e.g. /var/lib/failoverd) to
        // exist here; where it does not, a copy with the state in a temp dir must pass.
        let config = Config::load(path).unwrap();
        let state_dir = config
            .state
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty());
        let (out, shown) = match state_dir {
            Some(dir) if !dir.is_dir() => {
                let wanted = format!("state.path: directory {} does not exist", dir.display());
                assert_eq!(out.status.code(), Some(EX_USAGE), "{}", stderr(&out));
                assert!(stderr(&out).contains(&wanted), "{}", stderr(&out));
                let tmp = tempfile::tempdir().unwrap();
                let text = std::fs::read_to_string(path).unwrap();
                let moved = text.replace(
                    &format!("{}", config.state.path.display()),
                    &format!("{}", tmp.path().join("failoverd.state").display()),
                );
                let copy = tmp.path().join("copy.toml");
                std::fs::write(&copy, moved).unwrap();
                (check(&copy), copy)
            }
            _ => (out, rel.to_path_buf()),
        };
        assert_eq!(
            out.status.code(),
            Some(0),
            "failoverd check --config {} failed:\n{}",
            shown.display(),
            stderr(&out)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("{}: ok (", shown.display())),
            "unexpected check output: {stdout}"
        );
    }
}

/// The serde names of every field in src/config/raw.rs (a field's own name, or its
/// `rename`), i.e. every key the parser accepts.
fn raw_keys() -> Vec<String> {
    let source = std::fs::read_to_string(repo_path("src/config/raw.rs")).expect("read raw.rs");
    let mut keys = Vec::new();
    let mut rename: Option<String> = None;
    for line in source.lines().map(str::trim) {
        if line.starts_with("#[serde(") {
            if let Some((_, rest)) = line.split_once("rename = \"") {
                rename = rest.split('"').next().map(str::to_string);
            }
            continue;
        }
        if line.starts_with("///") || line.starts_with("#[") {
            continue;
        }
        let field = line
            .strip_prefix("pub ")
            .and_then(|rest| rest.split_once(':'))
            .map(|(name, _)| name)
            .filter(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        if let Some(field) = field {
            keys.push(rename.take().unwrap_or_else(|| field.to_string()));
        } else {
            rename = None;
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

#[test]
fn example_config_shows_every_key() {
    let keys = raw_keys();
    // Sanity check of the raw.rs scan itself.
    for k in [
        "listen",
        "zone",
        "group",
        "listener",
        "target",
        "tls_skip_verify",
    ] {
        assert!(
            keys.iter().any(|x| x == k),
            "raw.rs scan missed {k:?}: {keys:?}"
        );
    }
    let text = std::fs::read_to_string(repo_path("config/failoverd.toml")).unwrap();
    // A key counts when set or shown commented out (`# ca_file = ...`), or as a table name.
    let shown = |key: &str| {
        text.lines().any(|line| {
            let line = line.trim_start().trim_start_matches('#').trim_start();
            let line = line.trim_start_matches('{').trim_start();
            line.starts_with(&format!("{key} ="))
                || line.contains(&format!(", {key} ="))
                || line.contains(&format!("{{ {key} ="))
                || line.starts_with(&format!("[{key}]"))
                || line.starts_with(&format!("[[{key}]]"))
                || line.contains(&format!(".{key}]"))
        })
    };
    let missing: Vec<&String> = keys.iter().filter(|k| !shown(k)).collect();
    assert!(
        missing.is_empty(),
        "config/failoverd.toml does not show these keys: {missing:?}"
    );

    // Every health check kind and every form of target address, as the file promises.
    let config = Config::load(&repo_path("config/failoverd.toml")).unwrap();
    let groups = &config.groups;
    for kind in ["tcp", "http", "https", "tls", "postgres"] {
        assert!(
            groups.iter().any(|g| g.health.kind.name() == kind),
            "no group with a {kind} check"
        );
    }
    assert!(groups.iter().any(|g| matches!(
        &g.health.kind,
        CheckKind::Http(h) if h.host.is_some() && h.body.is_some() && h.path != "/"
    )));
    let targets = || groups.iter().flat_map(|g| &g.targets);
    assert!(targets().any(|t| matches!(&t.address, TargetAddress::Ips(ips) if ips.len() == 1)));
    assert!(targets().any(|t| matches!(&t.address, TargetAddress::Ips(ips) if ips.len() > 1)));
    assert!(targets().any(|t| matches!(&t.address, TargetAddress::Host(_))));
    assert!(config.dns.is_some(), "the example shows [dns]");
}

/// Loopback, or reserved for documentation (RFC 5737, RFC 3849).
fn is_example_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_unspecified()
                || (a, b, c) == (192, 0, 2)
                || (a, b, c) == (198, 51, 100)
                || (a, b, c) == (203, 0, 113)
        }
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.is_unspecified() || v6.segments()[..2] == [0x2001, 0x0db8]
        }
    }
}

#[test]
fn example_config_uses_only_example_addresses_and_names() {
    let config = Config::load(&repo_path("config/failoverd.toml")).unwrap();
    let mut ips: Vec<IpAddr> = vec![config.admin.listen.ip()];
    let mut names: Vec<String> = Vec::new();
    if let Some(dns) = &config.dns {
        ips.extend(dns.listen.iter().map(|a| a.ip()));
        names.push(dns.zone.clone());
        names.push(dns.hostmaster.clone());
        for ns in &dns.nameservers {
            names.push(ns.name.clone());
            ips.extend(&ns.addresses);
        }
    }
    for g in &config.groups {
        ips.extend(g.listeners.iter().map(|l| l.listen.ip()));
        names.extend(g.dns_name.clone());
        for t in &g.targets {
            match &t.address {
                TargetAddress::Ips(list) => ips.extend(list),
                TargetAddress::Host(h) => names.push(h.clone()),
            }
        }
    }
    for ip in ips {
        assert!(
            is_example_ip(ip),
            "{ip} is not a loopback or documentation address"
        );
    }
    for name in names {
        let name = name.trim_end_matches('.');
        assert!(
            name == "example.test" || name.ends_with(".example.test"),
            "{name} is not under example.test"
        );
    }
}

#[test]
fn invalid_configs_fail_for_the_stated_reason() {
    let files = toml_files(&repo_path("config/invalid"));
    let mut problems = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(repo_path("")).unwrap();
        let expect = expected_error(path);
        match load_and_preflight(path) {
            Ok(_) => problems.push(format!("{}: loaded without error", rel.display())),
            Err(e) if !e.contains(&expect) => problems.push(format!(
                "{}: error does not contain the expected text\n  expected: {expect}\n  got: {e}",
                rel.display()
            )),
            Err(_) => {}
        }
        let out = check(rel);
        let err = stderr(&out);
        if err.contains("panicked") {
            problems.push(format!("{}: check panicked:\n{err}", rel.display()));
        }
        if out.status.code() != Some(EX_USAGE) {
            problems.push(format!(
                "{}: check exited with {:?}, not {EX_USAGE}",
                rel.display(),
                out.status.code()
            ));
        }
        let file_name = format!("failoverd: invalid config: {}: ", rel.display());
        if !err.contains(&file_name) || !err.contains(&expect) {
            problems.push(format!(
                "{}: check's stderr lacks the file name or the expected text\n  expected: {file_name}...{expect}\n  got: {err}",
                rel.display()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn invalid_folder_holds_enough_fixtures() {
    let files = toml_files(&repo_path("config/invalid"));
    assert!(
        files.len() >= 20,
        "config/invalid holds {} fixtures, want at least 20",
        files.len()
    );
    // One rule per file: no two fixtures expect the same error.
    let mut expects: Vec<String> = files.iter().map(|p| expected_error(p)).collect();
    expects.sort();
    let before = expects.len();
    expects.dedup();
    assert_eq!(before, expects.len(), "two fixtures expect the same error");
}
