//! TLS for the `tls` and `https` health checks: the rustls client config (built once per
//! group when its `Prober` is made) and the per-probe handshake.
//!
//! `Prober::probe` (in `probe.rs`) calls [`TlsProbe::connect`] on a fresh TCP stream; the
//! `tls` kind stops after the handshake, `https` then speaks HTTP over the stream.
//! Verdicts (rise/fall) are computed elsewhere: this file only reports how a handshake went.
//! Webhook hooks (`hooks/webhook.rs`) reuse [`server_name`] and [`native_roots`].

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::probe::{ProbeError, ProbeSetupError};
use crate::config::TlsCheck;

/// The TLS half of a group's probe: a connector sharing one `ClientConfig`, and the server
/// name when the config fixes it (`sni`, else the HTTP `host`).
#[derive(Clone)]
pub(super) struct TlsProbe {
    connector: TlsConnector,
    fixed_name: Option<ServerName<'static>>,
}

impl TlsProbe {
    /// `http_host` is the https check's configured Host header, if any; `alpn_http` offers
    /// http/1.1 so servers that insist on ALPN (or would pick h2) speak HTTP/1.1 to us.
    pub(super) fn new(
        check: &TlsCheck,
        http_host: Option<&str>,
        alpn_http: bool,
    ) -> Result<TlsProbe, ProbeSetupError> {
        let fixed_name = match (&check.sni, http_host) {
            (Some(sni), _) => {
                Some(server_name(sni).ok_or_else(|| ProbeSetupError::ServerName {
                    field: "sni",
                    value: sni.clone(),
                })?)
            }
            (None, Some(host)) => {
                Some(
                    server_name(host).ok_or_else(|| ProbeSetupError::ServerName {
                        field: "host",
                        value: host.to_owned(),
                    })?,
                )
            }
            (None, None) => None,
        };
        let config = client_config(check, alpn_http)?;
        Ok(TlsProbe {
            connector: TlsConnector::from(config),
            fixed_name,
        })
    }

    /// Handshakes over `tcp`. `host` (the target's address text) names the server unless
    /// the config fixed a name.
    pub(super) async fn connect(
        &self,
        tcp: TcpStream,
        host: &str,
    ) -> Result<TlsStream<TcpStream>, ProbeError> {
        let name = match &self.fixed_name {
            Some(name) => name.clone(),
            None => server_name(host).ok_or_else(|| ProbeError::ServerName(host.to_owned()))?,
        };
        // The io::Error carries the rustls::Error (e.g. "invalid peer certificate:
        // UnknownIssuer"), which is what an operator needs to see.
        self.connector
            .connect(name, tcp)
            .await
            .map_err(ProbeError::Tls)
    }
}

/// A TLS server name from a host text: an IP (bare or `[v6]`) becomes an IP name (rustls
/// then checks IP SANs and sends no SNI), anything else must be a DNS name. A `:port`
/// suffix, as an HTTP Host value may carry, is dropped.
pub(crate) fn server_name(text: &str) -> Option<ServerName<'static>> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ServerName::IpAddress(ip.into()));
    }
    let host = match text.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map(|(h, _)| h)?,
        None => text.split_once(':').map_or(text, |(h, _)| h),
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host).ok().map(|n| n.to_owned())
}

fn client_config(check: &TlsCheck, alpn_http: bool) -> Result<Arc<ClientConfig>, ProbeSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ProbeSetupError::Tls)?;
    let mut config = if check.skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(algorithms)))
            .with_no_client_auth()
    } else {
        let roots = match &check.ca_file {
            Some(path) => roots_from_file(path)?,
            None => native_roots()?,
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    if alpn_http {
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
    }
    // Every probe does a full handshake: a resumed session skips the certificate, so an
    // expired or replaced certificate would go unnoticed until the ticket ran out.
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

/// All certificates in the operator's PEM file. Any unusable one is an error: the file was
/// written for this check, so a bad entry is a mistake worth reporting at startup.
fn roots_from_file(path: &Path) -> Result<RootCertStore, ProbeSetupError> {
    let fail = |reason: String| ProbeSetupError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| fail(e.to_string()))?;
    for cert in certs {
        let cert = cert.map_err(|e| fail(e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| fail(format!("unusable certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(fail("no certificate found".into()));
    }
    Ok(roots)
}

/// The system trust store. Distribution bundles often hold a few certificates webpki
/// rejects; skipping them is normal, only an empty result is an error.
pub(crate) fn native_roots() -> Result<RootCertStore, ProbeSetupError> {
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(loaded.certs);
    if roots.is_empty() {
        let reason = match loaded.errors.first() {
            Some(e) => e.to_string(),
            None => "the system trust store is empty".into(),
        };
        return Err(ProbeSetupError::NoSystemRoots(reason));
    }
    Ok(roots)
}

/// `skip_verify`: any certificate chain and name is accepted, but the handshake signatures
/// are still checked, so the server must hold the key for the certificate it sent (the
/// check then proves a working TLS stack, not an identity).
#[derive(Debug)]
struct AcceptAnyCert(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rcgen::KeyPair;
    use rustls_pki_types::ServerName;

    use super::server_name;
    use crate::config::{CheckKind, TlsCheck};
    use crate::health::probe::{ProbeSetupError, Prober};
    use crate::health::test_support::{health, pem_file, pki, serve, tls_check, OK};

    fn tls_only(tls: TlsCheck) -> Prober {
        Prober::new(&health(CheckKind::Tls(tls), Duration::from_secs(5))).unwrap()
    }

    #[tokio::test]
    async fn tls_kind_trust_cases() {
        let (ca_pem, acceptor) = pki();
        let ca = pem_file(&ca_pem);
        let mut server = serve(OK, Some(acceptor)).await;
        // By IP: rustls checks the IP SAN and sends no SNI; no ALPN offered for plain tls.
        tls_only(tls_check(Some(&ca), None, false))
            .probe(server.addr, "127.0.0.1")
            .await
            .unwrap();
        let seen = server.seen.recv().await.unwrap();
        assert_eq!((seen.sni, seen.alpn), (None, None));
        // sni overrides the target's address.
        tls_only(tls_check(Some(&ca), Some("localhost"), false))
            .probe(server.addr, "127.0.0.1")
            .await
            .unwrap();
        assert_eq!(
            server.seen.recv().await.unwrap().sni.as_deref(),
            Some("localhost")
        );

        let err = tls_only(tls_check(Some(&ca), Some("other.example"), false))
            .probe(server.addr, "127.0.0.1")
            .await
            .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "tls: invalid peer certificate: certificate not valid for name \"other.example\""
            ),
            "{err}"
        );
        let err = tls_only(tls_check(None, None, false))
            .probe(server.addr, "localhost")
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "tls: invalid peer certificate: UnknownIssuer"
        );
        tls_only(tls_check(None, None, true))
            .probe(server.addr, "localhost")
            .await
            .unwrap();
    }

    #[test]
    fn ca_file_without_certificate_is_a_setup_error() {
        let key_only = pem_file(&KeyPair::generate().unwrap().serialize_pem());
        let empty = pem_file("no PEM here\n");
        for file in [&key_only, &empty] {
            let kind = CheckKind::Tls(tls_check(Some(file), None, false));
            let err = Prober::new(&health(kind, Duration::from_secs(1))).unwrap_err();
            assert!(matches!(err, ProbeSetupError::CaFile { .. }), "{err:?}");
            let want = format!(
                "health.ca_file {}: no certificate found",
                file.path().display()
            );
            assert_eq!(err.to_string(), want);
        }
    }

    #[test]
    fn invalid_sni_is_a_setup_error() {
        let kind = CheckKind::Tls(tls_check(None, Some("not a name"), true));
        let err = Prober::new(&health(kind, Duration::from_secs(1))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "health.sni \"not a name\" is not a valid TLS server name"
        );
    }

    #[test]
    fn server_names_from_host_texts() {
        let dns = |s: &str| Some(ServerName::try_from(s.to_owned()).unwrap());
        let ip = |s: &str| {
            Some(ServerName::IpAddress(
                s.parse::<std::net::IpAddr>().unwrap().into(),
            ))
        };
        assert_eq!(server_name("example.com"), dns("example.com"));
        assert_eq!(server_name("example.com:8443"), dns("example.com"));
        assert_eq!(server_name("192.0.2.1"), ip("192.0.2.1"));
        assert_eq!(server_name("192.0.2.1:8443"), ip("192.0.2.1"));
        assert_eq!(server_name("2001:db8::1"), ip("2001:db8::1"));
        assert_eq!(server_name("[2001:db8::1]:443"), ip("2001:db8::1"));
        assert_eq!(server_name("bad name"), None);
    }
}
