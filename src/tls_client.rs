//! rustls client configs, shared by health checks, webhooks and `failoverd ctl`: one crypto
//! provider (ring), trust from the operator's PEM file or the system store, or the explicit
//! "accept any certificate" opt-out that still checks handshake signatures.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// Whom a client trusts.
#[derive(Debug, Clone, Copy)]
pub enum Trust<'a> {
    /// The system trust store.
    System,
    /// Only the CAs of this PEM file.
    File(&'a Path),
    /// Any certificate (an explicit opt-out of verification).
    AnyCertificate,
}

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The PEM file: why it cannot be used.
    #[error("{0}")]
    CaFile(String),
    #[error("no system CA certificates could be loaded ({0})")]
    NoSystemRoots(String),
    #[error("TLS setup: {0}")]
    Tls(#[from] rustls::Error),
}

/// A client config; `http` offers HTTP/1.1 by ALPN.
pub fn client_config(trust: Trust<'_>, http: bool) -> Result<ClientConfig, TrustError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let builder =
        ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?;
    let mut config = match trust {
        Trust::AnyCertificate => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(algorithms)))
            .with_no_client_auth(),
        Trust::File(path) => builder
            .with_root_certificates(roots_from_file(path)?)
            .with_no_client_auth(),
        Trust::System => builder
            .with_root_certificates(native_roots()?)
            .with_no_client_auth(),
    };
    if http {
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
    }
    Ok(config)
}

/// All certificates in the operator's PEM file. Any unusable one is an error: the file was
/// written for this purpose, so a bad entry is a mistake worth reporting at once.
pub fn roots_from_file(path: &Path) -> Result<RootCertStore, TrustError> {
    let fail = |reason: String| TrustError::CaFile(reason);
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

/// The system trust store, read once per process (the first client that trusts it) and
/// shared: reading it means hundreds of files, which health-check reloads and webhooks did
/// again and again. Certificates installed later need a restart, as with most daemons.
pub fn native_roots() -> Result<Arc<RootCertStore>, TrustError> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    ROOTS
        .get_or_init(load_native_roots)
        .clone()
        .map_err(TrustError::NoSystemRoots)
}

/// Distribution bundles often hold a few certificates webpki rejects; skipping them is
/// normal, only an empty result is an error.
fn load_native_roots() -> Result<Arc<RootCertStore>, String> {
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(loaded.certs);
    if roots.is_empty() {
        return Err(match loaded.errors.first() {
            Some(e) => e.to_string(),
            None => "the system trust store is empty".into(),
        });
    }
    Ok(Arc::new(roots))
}

/// Any certificate chain and name is accepted, but the handshake signatures are still
/// checked, so the server must hold the key for the certificate it sent.
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

/// The rustls error in `e`, also inside io::Errors (which wrap it, possibly twice, and
/// whose `source()` skips what they wrap): an HTTP client's TLS failure in rustls' words.
pub fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let inner = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    rustls_error(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The system roots are read once: every later client shares the same store.
    #[test]
    fn system_roots_are_loaded_once() {
        match (native_roots(), native_roots()) {
            (Ok(a), Ok(b)) => assert!(Arc::ptr_eq(&a, &b)),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("the second load differs from the first"),
        }
    }
}
