//! `failoverd ctl` end to end: the real binary serves (harness), the real binary again is
//! the client, for every verb, with tokens of both roles, over https, and against an admin
//! URL where nothing (or nothing useful) listens.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::Value;
use tokio::time::Instant;

use crate::harness::*;

const CHECK: &str = r#"kind = "tcp"
interval = "200ms"
timeout = "100ms"
rise = 1
fall = 1"#;

const READ_SECRET: &str = "read-secret-0123456789abcdef";
const OPERATE_SECRET: &str = "operate-secret-0123456789abcdef";

/// What one ctl run printed, and how it exited.
#[derive(Debug)]
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn ok(self) -> Out {
        assert_eq!(self.code, Some(0), "ctl failed: {self:#?}");
        assert!(self.stderr.is_empty(), "stderr must stay clean: {self:#?}");
        self
    }

    fn failed(self, code: i32) -> Out {
        assert_eq!(self.code, Some(code), "{self:#?}");
        assert!(self.stdout.is_empty(), "{self:#?}");
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:#?}"))
    }
}

/// Runs `failoverd ctl ARGS` with no FAILOVERD_* variables but `env`. Killed if it outlives
/// the test's own deadline.
async fn ctl_with(args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.arg("ctl")
        .args(args)
        .env_remove("FAILOVERD_ADMIN")
        .env_remove("FAILOVERD_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("ctl did not finish in 30s")
        .expect("run ctl");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `failoverd ctl --admin http://ADMIN ARGS`.
async fn ctl(f: &Failoverd, args: &[&str]) -> Out {
    let admin = format!("http://{}", f.admin);
    let mut all = vec!["--admin", admin.as_str()];
    all.extend_from_slice(args);
    ctl_with(&all, &[]).await
}

fn target<'a>(g: &'a Value, name: &str) -> &'a Value {
    g["targets"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["name"] == name))
        .unwrap_or_else(|| panic!("no target {name} in {g}"))
}

/// The status table line of a target (indented under its group).
fn target_line<'a>(table: &'a str, name: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(&format!("  {name} ")))
        .unwrap_or_else(|| panic!("no line for {name} in:\n{table}"))
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// main and backup stacks behind failoverd, both up. `token`: the one to read with.
async fn start_two_stacks(
    group_extra: &str,
    admin_extra: &str,
    token: Option<&str>,
) -> (Failoverd, HttpStack, HttpStack) {
    let (a, b) = same_port_pair("127.0.0.2", "127.0.0.3");
    let port = a.local_addr().unwrap().port();
    let main = HttpStack::start("main", a);
    let backup = HttpStack::start("backup", b);
    let cfg = two_stack_config(port, "127.0.0.2", "127.0.0.3", group_extra, CHECK);
    let cfg = format!("{cfg}\n{admin_extra}");
    let f = Failoverd::start(&cfg).await;
    eventually(Duration::from_secs(10), "main and backup up", || async {
        let g = match token {
            Some(t) => group_as(&f, "app", t).await,
            None => f.group("app").await,
        };
        (health(&g, "main") == "up" && health(&g, "backup") == "up").then_some(())
    })
    .await;
    (f, main, backup)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_switch_release_and_refusals() {
    let (f, _main, backup) = start_two_stacks("failback_hold = \"0s\"", "", None).await;

    let out = ctl(&f, &["status"]).await.ok();
    let table = out.stdout.as_str();
    assert_eq!(
        words(table.lines().next().unwrap()),
        ["GROUP", "STATE", "EPOCH", "ACTIVE", "LAST", "CHANGE"],
        "{table}"
    );
    assert!(
        table
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("app    primary  0      main"),
        "{table}"
    );
    assert_eq!(
        words(target_line(table, "main")),
        [
            "main",
            "127.0.0.2",
            "priority",
            "1",
            "up",
            "enabled",
            "active"
        ]
    );
    assert_eq!(
        words(target_line(table, "backup")),
        [
            "backup",
            "127.0.0.3",
            "priority",
            "2",
            "up",
            "enabled",
            "idle"
        ]
    );

    let g = ctl(&f, &["status", "app", "--json"]).await.ok().json();
    assert_eq!(
        (&g["name"], &g["state"]),
        (&"app".into(), &"primary".into())
    );
    assert_eq!(active(&g), ["main"]);
    assert_eq!(target(&g, "backup")["health"], "up");
    let all = ctl(&f, &["--json", "status"]).await.ok().json();
    assert_eq!(all["groups"][0]["name"], "app");

    let out = ctl(&f, &["switch", "app", "backup"]).await.ok();
    assert!(
        out.stdout.starts_with(
            "app: switched to backup; active: backup, epoch 1, state failed_over, pinned to backup"
        ),
        "{out:#?}"
    );
    let g = f.group("app").await;
    assert_eq!(
        (active(&g), &g["pinned"]),
        (vec!["backup".to_string()], &"backup".into())
    );
    let table = ctl(&f, &["status", "app"]).await.ok().stdout;
    assert!(table.contains(" backup (pinned) "), "{table}");
    assert_eq!(words(target_line(&table, "main")).last(), Some(&"idle"));

    let out = ctl(&f, &["release", "app"]).await.ok();
    assert!(
        out.stdout
            .starts_with("app: released the pin; active: main"),
        "{out:#?}"
    );
    let g = f.group("app").await;
    assert_eq!(
        (active(&g), &g["pinned"]),
        (vec!["main".to_string()], &Value::Null)
    );

    let out = ctl(&f, &["switch", "app", "nope"]).await.failed(1);
    assert_eq!(
        out.stderr,
        "failoverd ctl: 404 Not Found: group \"app\" has no target \"nope\"\n"
    );
    let out = ctl(&f, &["status", "nope"]).await.failed(1);
    assert_eq!(
        out.stderr,
        "failoverd ctl: 404 Not Found: no group \"nope\"\n"
    );

    backup.stop();
    f.wait_group("app", Duration::from_secs(10), "backup down", |g| {
        health(g, "backup") == "down"
    })
    .await;
    let out = ctl(&f, &["switch", "app", "backup"]).await.failed(1);
    assert_eq!(
        out.stderr,
        "failoverd ctl: 409 Conflict: target is down; use force to switch to it anyway\n"
    );
    assert_eq!(active(&f.group("app").await), ["main"]);
    let out = ctl(&f, &["switch", "app", "backup", "--force"]).await.ok();
    assert!(
        out.stdout
            .starts_with("app: switched to backup (forced); active: backup"),
        "{out:#?}"
    );
    let g = f.group("app").await;
    assert_eq!(
        (active(&g), &g["pinned"]),
        (vec!["backup".to_string()], &"backup".into())
    );
    let table = ctl(&f, &["status"]).await.ok().stdout;
    assert_eq!(
        words(target_line(&table, "backup"))[4..],
        ["down", "enabled", "active"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_states_failback_commit_events_reload() {
    let (f, _main, _backup) = start_two_stacks("failback = \"manual\"", "", None).await;

    let out = ctl(&f, &["drain", "app", "main"]).await.ok();
    assert!(
        out.stdout
            .starts_with("app: target main set to drain; active: backup"),
        "{out:#?}"
    );
    let g = f.group("app").await;
    assert_eq!(
        (target(&g, "main")["admin_state"].as_str(), active(&g)),
        (Some("drain"), vec!["backup".into()])
    );
    let table = ctl(&f, &["status"]).await.ok().stdout;
    assert_eq!(
        words(target_line(&table, "main"))[4..],
        ["up", "drain", "idle"]
    );

    ctl(&f, &["enable", "app", "main"]).await.ok();
    assert_eq!(
        target(&f.group("app").await, "main")["admin_state"],
        "enabled"
    );
    let out = ctl(&f, &["maintenance", "app", "main"]).await.ok();
    assert!(
        out.stdout
            .starts_with("app: target main set to maintenance; active: backup"),
        "{out:#?}"
    );
    assert_eq!(
        target(&f.group("app").await, "main")["admin_state"],
        "maintenance"
    );
    ctl(&f, &["enable", "app", "main"]).await.ok();

    // failback = "manual": the enabled main waits for an operator.
    let g = f.group("app").await;
    assert_eq!(
        (target(&g, "main")["admin_state"].as_str(), active(&g)),
        (Some("enabled"), vec!["backup".into()])
    );
    let out = ctl(&f, &["failback", "app"]).await.ok();
    assert!(
        out.stdout
            .starts_with("app: failed back to the best healthy tier; active: main"),
        "{out:#?}"
    );
    assert_eq!(active(&f.group("app").await), ["main"]);
    let out = ctl(&f, &["failback", "app"]).await.failed(1);
    assert_eq!(
        out.stderr,
        "failoverd ctl: 409 Conflict: group already serves its best healthy tier\n"
    );

    let out = ctl(&f, &["disconnect", "app"]).await.ok();
    assert!(
        out.stdout
            .starts_with("app: closed every proxied connection; active: main"),
        "{out:#?}"
    );

    ctl(&f, &["switch", "app", "backup"]).await.ok();
    let out = ctl(&f, &["commit", "app"]).await.ok();
    assert!(
        out.stdout.starts_with(
            "app: committed the active tier as the new main (priorities: backup 1, main 2); active: backup"
        ),
        "{out:#?}"
    );
    let g = ctl(&f, &["status", "app", "--json"]).await.ok().json();
    assert_eq!(
        (
            &target(&g, "backup")["priority"],
            &target(&g, "main")["priority"]
        ),
        (&1.into(), &2.into())
    );
    assert_eq!(
        (active(&g), &g["pinned"]),
        (vec!["backup".to_string()], &Value::Null)
    );
    let table = ctl(&f, &["status"]).await.ok().stdout;
    assert!(
        target_line(&table, "backup").contains("priority 1"),
        "{table}"
    );
    let first_target = table.lines().nth(2).unwrap();
    assert!(
        first_target.starts_with("  backup "),
        "by priority:\n{table}"
    );

    let events = ctl(&f, &["events", "--group", "app"]).await.ok().stdout;
    for want in [
        "action=target_state actor=local state=drain target=main",
        "action=target_state actor=local state=maintenance target=main",
        "action=failback actor=local",
        "action=disconnect actor=local",
        "action=switch actor=local force=false target=backup",
        "action=commit actor=local priorities=",
        "action=failback actor=local error=\"group already serves its best healthy tier\"",
    ] {
        assert!(events.contains(want), "no {want:?} in:\n{events}");
    }
    for line in events.lines() {
        let w = words(line);
        assert!(
            w[0].ends_with('Z') && w[0].len() == 24,
            "RFC 3339 UTC time: {line}"
        );
        assert!(w[1].starts_with('#') && w[3] == "app", "{line}");
    }
    let list = ctl(&f, &["events", "--json", "--group", "app", "--limit", "3"])
        .await
        .ok()
        .json();
    let list = list["events"].as_array().unwrap().clone();
    assert_eq!(list.len(), 3);
    let last = list[2]["id"].as_u64().unwrap();
    let since = (last - 1).to_string();
    let newer = ctl(&f, &["events", "--since", &since]).await.ok().stdout;
    assert_eq!(newer.lines().count(), 1, "{newer}");
    assert!(newer.contains(&format!(" #{last} ")), "{newer}");

    let out = ctl(&f, &["reload"]).await.ok();
    assert!(
        out.stdout.starts_with("reloaded the config (generation "),
        "{out:#?}"
    );
    assert_eq!(active(&f.group("app").await), ["backup"]);
}

fn token_config(secrets: &Path) -> String {
    for (file, secret) in [
        ("read.token", READ_SECRET),
        ("operate.token", OPERATE_SECRET),
    ] {
        std::fs::write(secrets.join(file), format!("{secret}\n")).unwrap();
    }
    // [[admin.token]] after the groups still belongs to the [admin] table.
    format!(
        "[[admin.token]]\nname = \"viewer\"\nrole = \"read\"\nsecret_file = \"{}\"\n\n\
         [[admin.token]]\nname = \"ops\"\nrole = \"operate\"\nsecret_file = \"{}\"\n",
        secrets.join("read.token").display(),
        secrets.join("operate.token").display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_roles() {
    // The secrets must exist before failoverd validates its config, so they live in their
    // own temp dir rather than the harness's (made when the process starts).
    let secrets = tempfile::tempdir().unwrap();
    let admin_extra = token_config(secrets.path());
    let (f, _main, _backup) =
        start_two_stacks("failback_hold = \"0s\"", &admin_extra, Some(READ_SECRET)).await;
    let admin = format!("http://{}", f.admin);
    let operate_file = secrets.path().join("operate.token");
    let operate_file = operate_file.to_str().unwrap();

    let out = ctl(&f, &["status"]).await.failed(1);
    assert!(
        out.stderr
            .starts_with("failoverd ctl: 401 Unauthorized: missing bearer token"),
        "{out:#?}"
    );
    assert!(
        out.stderr.contains("hint: give a token with --token-file"),
        "{out:#?}"
    );
    let out = ctl(&f, &["--token", "wrong-token-0123456789", "status"])
        .await
        .failed(1);
    assert!(
        out.stderr
            .starts_with("failoverd ctl: 401 Unauthorized: invalid token"),
        "{out:#?}"
    );

    let table = ctl(&f, &["--token", READ_SECRET, "status"])
        .await
        .ok()
        .stdout;
    assert!(target_line(&table, "main").ends_with("active"), "{table}");
    let out = ctl(&f, &["--token", READ_SECRET, "switch", "app", "backup"])
        .await
        .failed(1);
    assert_eq!(
        out.stderr,
        "failoverd ctl: 403 Forbidden: token \"viewer\" has the read role; this endpoint needs operate\n"
    );
    assert_eq!(active(&group_as(&f, "app", READ_SECRET).await), ["main"]);

    let out = ctl(
        &f,
        &["--token-file", operate_file, "switch", "app", "backup"],
    )
    .await
    .ok();
    assert!(out.stdout.contains("active: backup"), "{out:#?}");
    let env = [
        ("FAILOVERD_TOKEN", OPERATE_SECRET),
        ("FAILOVERD_ADMIN", admin.as_str()),
    ];
    ctl_with(&["release", "app"], &env).await.ok();
    assert_eq!(active(&group_as(&f, "app", READ_SECRET).await), ["main"]);
    // --token-file wins over the environment: the refusal is the rules' (409), not the
    // read token's (403).
    let env = [
        ("FAILOVERD_TOKEN", READ_SECRET),
        ("FAILOVERD_ADMIN", admin.as_str()),
    ];
    let out = ctl_with(&["--token-file", operate_file, "failback", "app"], &env)
        .await
        .failed(1);
    assert!(
        out.stderr.starts_with("failoverd ctl: 409 Conflict: "),
        "{out:#?}"
    );

    let events = ctl(&f, &["--token", READ_SECRET, "events", "--group", "app"])
        .await
        .ok()
        .stdout;
    assert!(events.contains("action=switch actor=ops "), "{events}");
    assert!(events.contains("action=release actor=ops"), "{events}");
    assert!(!events.contains(OPERATE_SECRET) && !events.contains(READ_SECRET));
}

/// The group as `ctl --json status` shows it to a token holder.
async fn group_as(f: &Failoverd, name: &str, token: &str) -> Value {
    ctl(f, &["--token", token, "--json", "status", name])
        .await
        .ok()
        .json()
}

/// Writes ca.pem, cert.pem and key.pem (a leaf for 127.0.0.1 signed by a new CA) to `dir`.
fn make_pki(dir: &Path) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "failoverd ctl test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &*ca)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_admin_with_ca_file_or_insecure() {
    let pki = tempfile::tempdir().unwrap();
    make_pki(pki.path());
    let tls = format!(
        "listen = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"",
        pki.path().join("cert.pem").display(),
        pki.path().join("key.pem").display()
    );
    let (a, b) = same_port_pair("127.0.0.2", "127.0.0.3");
    let port = a.local_addr().unwrap().port();
    let _main = HttpStack::start("main", a);
    let _backup = HttpStack::start("backup", b);
    let cfg = two_stack_config(port, "127.0.0.2", "127.0.0.3", "", CHECK).replace(
        "listen = \"127.0.0.1:0\"\n\n[state]",
        &format!("{tls}\n\n[state]"),
    );
    assert!(cfg.contains("tls_cert"), "the admin section was rewritten");
    let f = Failoverd::start(&cfg).await;
    let admin = format!("https://{}", f.admin);
    let ca = pki.path().join("ca.pem");

    let g = ctl_with(
        &[
            "--admin",
            &admin,
            "--ca-file",
            ca.to_str().unwrap(),
            "--json",
            "status",
            "app",
        ],
        &[],
    )
    .await
    .ok()
    .json();
    assert_eq!(g["name"], "app");
    let out = ctl_with(&["--admin", &admin, "status"], &[])
        .await
        .failed(1);
    let want =
        format!("failoverd ctl: cannot reach {admin}/v1/groups: TLS: invalid peer certificate");
    assert!(out.stderr.starts_with(&want), "{out:#?}");
    let out = ctl_with(
        &["--admin", &admin, "--insecure", "switch", "app", "backup"],
        &[],
    )
    .await
    .ok();
    assert!(out.stdout.contains("active: backup"), "{out:#?}");
    let out = ctl_with(
        &[
            "--admin",
            &admin,
            "--ca-file",
            "/nonexistent/ca.pem",
            "status",
        ],
        &[],
    )
    .await
    .failed(64);
    assert!(
        out.stderr
            .starts_with("failoverd ctl: --ca-file /nonexistent/ca.pem: "),
        "{out:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_admin_and_usage_errors() {
    // A port that was free a moment ago: connections are refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let admin = format!("http://{closed}");
    let started = Instant::now();
    let out = ctl_with(&["--admin", &admin, "--timeout", "2s", "status"], &[])
        .await
        .failed(1);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        out.stderr
            .starts_with(&format!("failoverd ctl: cannot reach {admin}/v1/groups: ")),
        "{out:#?}"
    );

    // Accepts (the kernel completes the handshake) but never answers: the timeout ends it.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = format!("http://{}", silent.local_addr().unwrap());
    let started = Instant::now();
    let out = ctl_with(&["--admin", &admin, "--timeout", "500ms", "reload"], &[])
        .await
        .failed(1);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(
        out.stderr,
        format!("failoverd ctl: cannot reach {admin}/v1/reload: no answer within 500ms\n")
    );
    drop(silent);

    let env = [("FAILOVERD_ADMIN", "ftp://127.0.0.1:1")];
    let out = ctl_with(&["status"], &env).await.failed(64);
    assert!(out.stderr.starts_with("failoverd ctl: FAILOVERD_ADMIN \"ftp://127.0.0.1:1\": the scheme must be http or https"), "{out:#?}");
    let out = ctl_with(&["--token-file", "/nonexistent/token", "status"], &[])
        .await
        .failed(64);
    assert!(
        out.stderr
            .starts_with("failoverd ctl: --token-file /nonexistent/token: "),
        "{out:#?}"
    );
    // Parse errors are clap's: exit 2.
    ctl_with(&["frobnicate"], &[]).await.failed(2);
    ctl_with(&["--timeout", "5", "status"], &[]).await.failed(2);
    ctl_with(&["--token", "a", "--token-file", "b", "status"], &[])
        .await
        .failed(2);
}
