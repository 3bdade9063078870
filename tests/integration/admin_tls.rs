//! The admin API over TLS (tokio-rustls), with a certificate from a test CA made by rcgen.

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::*;

async fn tls_get(
    addr: std::net::SocketAddr,
    ca: &CertificateDer<'static>,
    path: &str,
) -> std::io::Result<String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::IpAddress(addr.ip().into());
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut out = Vec::new();
    tls.read_to_end(&mut out).await?;
    Ok(String::from_utf8_lossy(&out).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_serves_over_tls() {
    let pki = tempfile::tempdir().unwrap();
    let ca = make_pki(pki.path());
    let (port, _main, _backup) = http_stacks("127.0.0.2", "127.0.0.3");
    let cfg = with_admin_tls(
        &two_stack_config(port, "127.0.0.2", "127.0.0.3", "", "kind = \"tcp\""),
        pki.path(),
    );
    let f = Failoverd::start(&cfg).await;

    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        tls_get(f.admin, &ca, "/v1/groups/app"),
    )
    .await
    .expect("TLS request timed out")
    .expect("TLS request");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"name\":\"app\""), "{reply}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = http_get(f.admin, "/live").await;
    assert!(
        !matches!(plain, Ok((200, _))),
        "plain HTTP must not be served: {plain:?}"
    );
}
