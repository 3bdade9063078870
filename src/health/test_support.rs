//! Test helpers shared by the health probe tests: a tiny HTTP(S) server on 127.0.0.1 that
//! records what it was sent, a throwaway CA made with rcgen, and config builders.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::ServerConfig;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use crate::config::{CheckKind, HealthConfig, HttpCheck, TlsCheck};

pub(super) const OK: &str =
    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nstatus: ok";

/// What the test server saw on one connection.
#[derive(Debug)]
pub(super) struct Seen {
    /// The request head, lowercased (hyper may write header names in either case).
    pub head: String,
    pub sni: Option<String>,
    pub alpn: Option<Vec<u8>>,
}

pub(super) struct TestServer {
    pub addr: SocketAddr,
    pub seen: mpsc::UnboundedReceiver<Seen>,
}

/// A tiny HTTP/1.1 server: per connection (TLS first if an acceptor is given), reads
/// the request head, reports it, writes `response` verbatim and closes.
pub(super) async fn serve(response: &'static str, tls: Option<TlsAcceptor>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, seen) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let tx = tx.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => answer(tcp, response, tx, None, None).await,
                    Some(acceptor) => {
                        // Rejected handshakes (untrusted client side) just end here.
                        let Ok(stream) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let conn = stream.get_ref().1;
                        let sni = conn.server_name().map(str::to_owned);
                        let alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
                        answer(stream, response, tx, sni, alpn).await
                    }
                }
            });
        }
    });
    TestServer { addr, seen }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    response: &str,
    tx: mpsc::UnboundedSender<Seen>,
    sni: Option<String>,
    alpn: Option<Vec<u8>>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    let _ = tx.send(Seen { head, sni, alpn });
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

pub(super) fn http_check(status: (u16, u16), body: Option<&str>, host: Option<&str>) -> HttpCheck {
    HttpCheck {
        path: "/healthz?full=1".into(),
        host: host.map(str::to_owned),
        status_min: status.0,
        status_max: status.1,
        body: body.map(str::to_owned),
    }
}

pub(super) fn health(kind: CheckKind, timeout: Duration) -> HealthConfig {
    HealthConfig {
        kind,
        port: 0,
        interval: Duration::from_secs(5),
        timeout,
        rise: 2,
        fall: 2,
        passive_fall: 3,
        passive_window: Duration::from_secs(2),
        flap_limit: 3,
        flap_window: Duration::from_secs(60),
        require_primary: false,
    }
}

/// A test CA (PEM) and an acceptor serving a leaf for "localhost" and 127.0.0.1 it signed.
pub(crate) fn pki() -> (String, TlsAcceptor) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "failoverd test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &*ca).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], key)
            .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    (ca.pem(), TlsAcceptor::from(Arc::new(config)))
}

pub(super) fn pem_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

pub(super) fn tls_check(
    ca_file: Option<&tempfile::NamedTempFile>,
    sni: Option<&str>,
    skip_verify: bool,
) -> TlsCheck {
    TlsCheck {
        ca_file: ca_file.map(|f| f.path().to_owned()),
        sni: sni.map(str::to_owned),
        skip_verify,
    }
}
