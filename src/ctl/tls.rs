//! TLS for `failoverd ctl` against an https admin URL: rustls with the ring provider,
//! trusting the system roots, or only the operator's `--ca-file`, or (with `--insecure`, an
//! explicit opt-out) any certificate.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::TlsConnector;

use super::client::CtlError;

pub fn connector(ca_file: Option<&Path>, insecure: bool) -> Result<TlsConnector, CtlError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CtlError::Usage(format!("TLS setup: {e}")))?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(algorithms)))
            .with_no_client_auth()
    } else {
        let roots = match ca_file {
            Some(path) => roots_from_file(path)?,
            None => native_roots()?,
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The name the certificate must carry: the URL's host (an IP literal checks IP SANs).
pub fn server_name(host: &str) -> Result<ServerName<'static>, CtlError> {
    ServerName::try_from(host.to_string())
        .map_err(|_| CtlError::Usage(format!("{host:?} is not a valid TLS server name")))
}

fn roots_from_file(path: &Path) -> Result<RootCertStore, CtlError> {
    let fail = |reason: String| CtlError::Usage(format!("--ca-file {}: {reason}", path.display()));
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

/// The system trust store; bundles often hold a few certificates webpki rejects, which are
/// skipped. Only an empty result is an error.
fn native_roots() -> Result<RootCertStore, CtlError> {
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(loaded.certs);
    if roots.is_empty() {
        let reason = match loaded.errors.first() {
            Some(e) => e.to_string(),
            None => "the system trust store is empty".into(),
        };
        return Err(CtlError::Failed(format!(
            "no system root certificates ({reason}); give the admin CA with --ca-file"
        )));
    }
    Ok(roots)
}

/// `--insecure`: any certificate chain and name is accepted, but the handshake signatures are
/// still checked (the server must hold the key of the certificate it sent).
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
