//! TLS for `failoverd ctl` against an https admin URL: rustls with the ring provider,
//! trusting the system roots, or only the operator's `--ca-file`, or (with `--insecure`, an
//! explicit opt-out) any certificate.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::ServerName;
use tokio_rustls::TlsConnector;

use failoverd::tls_client::{self, Trust, TrustError};

use super::client::CtlError;

pub fn connector(ca_file: Option<&Path>, insecure: bool) -> Result<TlsConnector, CtlError> {
    let trust = match (ca_file, insecure) {
        (_, true) => Trust::AnyCertificate,
        (Some(path), false) => Trust::File(path),
        (None, false) => Trust::System,
    };
    let config = tls_client::client_config(trust, true).map_err(|e| match (e, ca_file) {
        (TrustError::CaFile(reason), Some(path)) => {
            CtlError::Usage(format!("--ca-file {}: {reason}", path.display()))
        }
        (TrustError::NoSystemRoots(reason), _) => CtlError::Failed(format!(
            "no system root certificates ({reason}); give the admin CA with --ca-file"
        )),
        (other, _) => CtlError::Usage(other.to_string()),
    })?;
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The name the certificate must carry: the URL's host (an IP literal checks IP SANs).
pub fn server_name(host: &str) -> Result<ServerName<'static>, CtlError> {
    ServerName::try_from(host.to_string())
        .map_err(|_| CtlError::Usage(format!("{host:?} is not a valid TLS server name")))
}
