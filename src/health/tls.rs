//! TLS for the `tls` and `https` health checks: the rustls client config (built once per
//! group when its `Prober` is made) and the per-probe handshake.
//!
//! `Prober::probe` (in `probe.rs`) calls [`TlsProbe::connect`] on a fresh TCP stream; the
//! `tls` kind stops after the handshake, `https` then speaks HTTP over the stream.
//! Verdicts (rise/fall) are computed elsewhere: this file only reports how a handshake went.
//! Webhook hooks (`hooks/webhook.rs`) reuse [`server_name`]; trust stores and the
//! skip-verify verifier live in `tls_client.rs`, shared with webhooks and `failoverd ctl`.

use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::tls_client::{self, Trust, TrustError};
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
    let trust = match (&check.ca_file, check.skip_verify) {
        (_, true) => Trust::AnyCertificate,
        (Some(path), false) => Trust::File(path),
        (None, false) => Trust::System,
    };
    let mut config = tls_client::client_config(trust, alpn_http).map_err(|e| match e {
        TrustError::CaFile(reason) => ProbeSetupError::CaFile {
            path: check.ca_file.clone().unwrap_or_default(),
            reason,
        },
        TrustError::NoSystemRoots(reason) => ProbeSetupError::NoSystemRoots(reason),
        TrustError::Tls(e) => ProbeSetupError::Tls(e),
    })?;
    // Every probe does a full handshake: a resumed session skips the certificate, so an
    // expired or replaced certificate would go unnoticed until the ticket ran out.
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
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
