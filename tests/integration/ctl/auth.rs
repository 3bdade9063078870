//! Who may use ctl, and over what: tokens of the read and operate roles (flag, file,
//! environment, and which wins), and an https admin URL checked with `--ca-file` or
//! accepted with `--insecure`.

use std::path::Path;

use super::*;
use crate::harness::*;

const READ_SECRET: &str = "read-secret-0123456789abcdef";
const OPERATE_SECRET: &str = "operate-secret-0123456789abcdef";

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
    assert!(
        target_line(&table, "main").ends_with("active  0 sessions"),
        "{table}"
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_admin_with_ca_file_or_insecure() {
    let pki = tempfile::tempdir().unwrap();
    make_pki(pki.path());
    let (port, _main, _backup) = http_stacks("127.0.0.2", "127.0.0.3");
    let cfg = with_admin_tls(
        &two_stack_config(port, "127.0.0.2", "127.0.0.3", "", CHECK),
        pki.path(),
    );
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
