//! TLS for the admin listener (tokio-rustls, ring provider): the server config from the
//! operator's PEM files.

use std::sync::Arc;

use anyhow::Context;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::AdminTls;

/// Builds the server config from the PEM files.
pub fn server_config(files: &AdminTls) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .with_context(|| format!("admin.tls_cert {}", files.cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("admin.tls_cert {}", files.cert.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "admin.tls_cert {}: no certificate found",
        files.cert.display()
    );
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("admin.tls_key {}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("admin TLS certificate and key")?;
    Ok(Arc::new(config))
}

/// The acceptor for the admin listener; handshakes run in each connection's task, under
/// the header timeout and inside the connection cap (see `serve.rs`).
pub fn acceptor(files: &AdminTls) -> anyhow::Result<TlsAcceptor> {
    Ok(TlsAcceptor::from(server_config(files)?))
}
