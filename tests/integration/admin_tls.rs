//! The admin API over TLS (tokio-rustls), with a certificate from a test CA made by rcgen.

use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::*;

/// Writes ca.pem, cert.pem and key.pem (a leaf for 127.0.0.1 signed by a new CA) to `dir`.
fn make_pki(dir: &std::path::Path) -> CertificateDer<'static> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "failoverd admin test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &*ca)
        .unwrap();
    std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    ca.der().clone()
}

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
        format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").as_bytes(),
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
    let tls = format!(
        "listen = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"",
        pki.path().join("cert.pem").display(),
        pki.path().join("key.pem").display()
    );
    let (a, b) = same_port_pair("127.0.0.2", "127.0.0.3");
    let port = a.local_addr().unwrap().port();
    let _main = HttpStack::start("main", a);
    let _backup = HttpStack::start("backup", b);
    let cfg = two_stack_config(port, "127.0.0.2", "127.0.0.3", "", "kind = \"tcp\"").replace(
        "listen = \"127.0.0.1:0\"\n\n[state]",
        &format!("{tls}\n\n[state]"),
    );
    assert!(cfg.contains("tls_cert"), "the admin section was rewritten");
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
