use std::time::Duration;

use tokio::net::TcpListener;
use tokio::time::Instant;

use super::*;
use crate::config::TlsCheck;
use crate::health::test_support::{health, http_check};

/// Every failure kind has its own counter in the book (a kind missing there would be
/// counted nowhere).
#[test]
fn every_failure_kind_is_counted() {
    use crate::metrics::book::CHECK_RESULTS;
    let io = || io::Error::other("x");
    let all = [
        ProbeError::Timeout(Duration::from_secs(1)),
        ProbeError::Connect(io()),
        ProbeError::Tls(io()),
        ProbeError::ServerName("x".into()),
        ProbeError::Status {
            got: 500,
            min: 200,
            max: 399,
        },
        ProbeError::Body {
            expected: "x".into(),
        },
        ProbeError::Http("x".into()),
        ProbeError::Auth("x".into()),
        ProbeError::Database("x".into()),
    ];
    for e in all {
        assert!(
            CHECK_RESULTS.contains(&e.kind()),
            "{} is not counted",
            e.kind()
        );
    }
}

fn tcp_prober() -> Prober {
    Prober::new(&health(CheckKind::Tcp, Duration::from_secs(2))).unwrap()
}

#[tokio::test]
async fn tcp_connect_passes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    assert_eq!(tcp_prober().probe(addr, "127.0.0.1").await.unwrap(), None);
    // The probe really connected (the kernel completed the handshake for the backlog).
    listener.accept().await.unwrap();
}

#[tokio::test]
async fn tcp_closed_port_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = tcp_prober().probe(addr, "127.0.0.1").await.unwrap_err();
    assert!(
        matches!(&err, ProbeError::Connect(e) if e.kind() == io::ErrorKind::ConnectionRefused),
        "{err:?}"
    );
    assert_eq!(err.kind(), "connect");
    assert!(
        err.to_string().starts_with("connect: Connection refused"),
        "{err}"
    );
}

/// Accepts connections and holds them open without ever writing.
async fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

async fn assert_times_out(kind: CheckKind) {
    let addr = silent_server().await;
    let timeout = Duration::from_millis(300);
    let prober = Prober::new(&health(kind, timeout)).unwrap();
    let start = Instant::now();
    let err = prober.probe(addr, "127.0.0.1").await.unwrap_err();
    let elapsed = start.elapsed();
    assert!(
        matches!(err, ProbeError::Timeout(d) if d == timeout),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "timeout after 300ms");
    assert_eq!(err.kind(), "timeout");
    assert!(
        elapsed >= timeout && elapsed < timeout + Duration::from_secs(1),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn http_silent_server_times_out() {
    assert_times_out(CheckKind::Http(http_check((200, 399), None, None))).await;
}

#[tokio::test]
async fn tls_silent_server_times_out() {
    assert_times_out(CheckKind::Tls(TlsCheck {
        ca_file: None,
        sni: None,
        skip_verify: true,
    }))
    .await;
}

/// Checkers spawn probes on the multi-threaded runtime and share one Prober per group.
#[test]
fn probe_future_is_send_and_prober_is_shareable() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: T) {}
    let prober = tcp_prober();
    send_sync(&prober);
    send(prober.probe(SocketAddr::from(([127, 0, 0, 1], 9)), "127.0.0.1"));
}

#[test]
fn default_host_header() {
    let v = |host: &str, port: u16, default: u16| host_value(&None, host, port, default).unwrap();
    assert_eq!(v("127.0.0.1", 8080, 80), "127.0.0.1:8080");
    assert_eq!(v("app.example", 80, 80), "app.example");
    assert_eq!(v("app.example", 443, 443), "app.example");
    assert_eq!(v("app.example", 80, 443), "app.example:80");
    assert_eq!(v("2001:db8::1", 8443, 443), "[2001:db8::1]:8443");
    let fixed = Some(HeaderValue::from_static("health.example"));
    assert_eq!(
        host_value(&fixed, "127.0.0.1", 8080, 80).unwrap(),
        "health.example"
    );
}
