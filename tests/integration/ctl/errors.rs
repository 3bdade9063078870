//! ctl's own errors: an admin URL that refuses or never answers (bounded by `--timeout`),
//! a bad scheme or token file (exit 64), and parse errors (clap's exit 2).

use std::time::Duration;

use tokio::time::Instant;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_admin_and_usage_errors() {
    // A port held bound but never listening: connections are refused, and ctl says so
    // at once rather than waiting out its timeout (which would say "no answer within").
    let closed = refusing_port("127.0.0.1");
    let admin = format!("http://{}", closed.addr);
    let out = ctl_with(&["--admin", &admin, "--timeout", "20s", "status"], &[])
        .await
        .failed(1);
    assert!(
        out.stderr
            .starts_with(&format!("failoverd ctl: cannot reach {admin}/v1/groups: ")),
        "{out:#?}"
    );
    assert!(out.stderr.contains("refused"), "{out:#?}");
    drop(closed);

    // Accepts (the kernel completes the handshake) but never answers: the timeout ends it.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = format!("http://{}", silent.local_addr().unwrap());
    let started = Instant::now();
    let out = ctl_with(&["--admin", &admin, "--timeout", "500ms", "reload"], &[])
        .await
        .failed(1);
    // The timeout is a lower bound; the upper one is ctl_with's deadline.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(500), "{took:?}");
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
