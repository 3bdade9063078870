//! Tests of webhook hooks: a tiny HTTP(S) server on 127.0.0.1:0 records each POST.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::*;
use crate::config::{HookAction, HookConfig, HookTrigger};
use crate::health::test_support::pki;
use crate::hooks::test_support::event;
use crate::hooks::{run_hook, run_hooks};

/// One request as the test server saw it.
struct Seen {
    /// Lowercased request head.
    head: String,
    body: Vec<u8>,
}

/// A tiny HTTP/1.1 server on 127.0.0.1:0: per connection (TLS first if given), reads
/// one request with its Content-Length body, reports it and answers with `status`.
/// `status: None` reads the request and then never answers.
async fn server(
    status: Option<&'static str>,
    tls: Option<TlsAcceptor>,
) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (tx, tls) = (tx.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    None => answer(tcp, status, tx).await,
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            answer(stream, status, tx).await;
                        }
                    }
                }
            });
        }
    });
    (addr, rx)
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    status: Option<&str>,
    tx: mpsc::UnboundedSender<Seen>,
) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_lowercase();
    let length: usize = head
        .split("\r\ncontent-length: ")
        .nth(1)
        .and_then(|rest| rest.split("\r\n").next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
    let body = data[head_end..head_end + length].to_vec();
    let _ = tx.send(Seen { head, body });
    match status {
        Some(status) => {
            let response =
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
        // Hold the connection open, silent, until the client goes away.
        None => while let Ok(1..) = stream.read(&mut buf).await {},
    }
}

fn url(addr: SocketAddr, tls: bool, host: &str) -> WebhookUrl {
    WebhookUrl {
        tls,
        host: host.into(),
        port: addr.port(),
        path: "/hooks/failoverd?key=s3cret".into(),
    }
}

fn webhook(name: &str, url: WebhookUrl, ms: u64) -> HookConfig {
    HookConfig {
        name: name.into(),
        on: vec![HookTrigger::Failover],
        action: HookAction::Webhook(url),
        timeout: Duration::from_millis(ms),
        stage: crate::config::HookStage::After,
        retries: 0,
        await_role: None,
    }
}

#[tokio::test]
async fn posts_the_event_as_json() {
    let (addr, mut seen) = server(Some("204 No Content"), None).await;
    let hook = webhook("notify", url(addr, false, "127.0.0.1"), 5000);
    let result = run_hook(&hook, &event(HookTrigger::Failover)).await;
    assert!(result.ok, "{result:?}");
    assert_eq!(result.detail, "HTTP 204");
    let seen = seen.recv().await.unwrap();
    assert!(
        seen.head
            .starts_with("post /hooks/failoverd?key=s3cret http/1.1\r\n"),
        "{}",
        seen.head
    );
    for header in [
        format!("host: 127.0.0.1:{}", addr.port()),
        "content-type: application/json".to_string(),
        format!("user-agent: failoverd/{}", env!("CARGO_PKG_VERSION")),
        format!("content-length: {}", seen.body.len()),
    ] {
        assert!(
            seen.head.contains(&format!("\r\n{header}\r\n")),
            "{header}: {}",
            seen.head
        );
    }
    let json: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(json["group"], "web");
    assert_eq!(json["trigger"], "failover");
    assert_eq!(json["epoch"], 7);
    assert_eq!(json["to"], serde_json::json!(["backup", "dr"]));
}

#[tokio::test]
async fn error_status_is_a_failure() {
    let (addr, _seen) = server(Some("500 Internal Server Error"), None).await;
    let result = run_hook(
        &webhook("notify", url(addr, false, "127.0.0.1"), 5000),
        &event(HookTrigger::Failover),
    )
    .await;
    assert!(!result.ok);
    assert_eq!(result.detail, "HTTP 500");
    let (addr, _seen) = server(Some("302 Found"), None).await;
    let result = run_hook(
        &webhook("notify", url(addr, false, "127.0.0.1"), 5000),
        &event(HookTrigger::Failover),
    )
    .await;
    assert_eq!((result.ok, result.detail.as_str()), (false, "HTTP 302"));
}

#[tokio::test]
async fn refused_connection_is_a_failure_and_the_runbook_goes_on() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let (addr, mut seen) = server(Some("200 OK"), None).await;
    let hooks = [
        webhook("refused", url(closed, false, "127.0.0.1"), 5000),
        webhook("works", url(addr, false, "127.0.0.1"), 5000),
    ];
    let results = run_hooks(&hooks, &event(HookTrigger::Failover)).await;
    assert_eq!(results.len(), 2);
    assert!(!results[0].ok);
    assert!(
        results[0].detail.starts_with("connect: ") && results[0].detail.contains("refused"),
        "{:?}",
        results[0]
    );
    assert_eq!(
        (results[1].ok, results[1].detail.as_str()),
        (true, "HTTP 200")
    );
    seen.recv().await.unwrap();
}

#[tokio::test]
async fn silent_server_is_abandoned_at_the_timeout() {
    let (addr, mut seen) = server(None, None).await;
    let started = Instant::now();
    let result = run_hook(
        &webhook("notify", url(addr, false, "127.0.0.1"), 300),
        &event(HookTrigger::Failover),
    )
    .await;
    let took = started.elapsed();
    assert!(!result.ok);
    assert_eq!(result.detail, "no answer within timeout 300ms");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
    // The request did arrive: it was the answer that never came.
    seen.recv().await.unwrap();
}

fn test_ca_config() -> Result<ClientConfig, String> {
    TEST_CA_BUILDS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let (ca_pem, _) = CA.get_or_init(pki);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, ca_pem).unwrap();
    crate::tls_client::client_config(crate::tls_client::Trust::File(&path), true)
        .map_err(|e| e.to_string())
}

/// Trusting the test CA, built once like the system one.
static TEST_CA_TLS: ClientSource = ClientSource::new(test_ca_config);
static TEST_CA_BUILDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One test CA for the process: `ClientSource` takes a plain `fn`.
static CA: std::sync::OnceLock<(String, TlsAcceptor)> = std::sync::OnceLock::new();

/// POSTs share one client, built once: no files read per request.
#[tokio::test]
async fn the_client_is_built_once() {
    TEST_CA_TLS.get().await.unwrap();
    TEST_CA_TLS.get().await.unwrap();
    assert_eq!(TEST_CA_BUILDS.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn https_with_a_trusted_ca() {
    let acceptor = CA.get_or_init(pki).1.clone();
    let (addr, mut seen) = server(Some("200 OK"), Some(acceptor)).await;
    let ev = event(HookTrigger::Failover);
    let out = post_with(
        &url(addr, true, "localhost"),
        &ev,
        Duration::from_secs(5),
        &TEST_CA_TLS,
    )
    .await;
    assert_eq!((out.ok, out.detail.as_str()), (true, "HTTP 200"));
    let seen = seen.recv().await.unwrap();
    assert!(seen
        .head
        .contains(&format!("\r\nhost: localhost:{}\r\n", addr.port())));
}

#[tokio::test]
async fn https_with_an_untrusted_certificate_fails() {
    let acceptor = CA.get_or_init(pki).1.clone();
    let (addr, _seen) = server(Some("200 OK"), Some(acceptor)).await;
    // System roots do not know the test CA.
    let result = run_hook(
        &webhook("notify", url(addr, true, "localhost"), 5000),
        &event(HookTrigger::Failover),
    )
    .await;
    assert!(!result.ok);
    assert_eq!(
        result.detail,
        "tls: invalid peer certificate: UnknownIssuer"
    );
}
