//! TLS for `failoverd ctl` against an https admin URL: rustls with the ring provider,
//! trusting the system roots, or only the operator's `--ca-file`, or (with `--insecure`, an
//! explicit opt-out) any certificate.

use std::path::Path;

use failoverd::tls_client::{self, Trust, TrustError};

use super::client::CtlError;

/// The rustls client config ctl's HTTP client uses for an https admin URL.
pub fn config(ca_file: Option<&Path>, insecure: bool) -> Result<rustls::ClientConfig, CtlError> {
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
    Ok(config)
}
