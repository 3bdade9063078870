//! TLS for the admin listener: a test CA made by rcgen with a leaf for 127.0.0.1, and a
//! `two_stack_config` whose admin listener serves with it.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls_pki_types::CertificateDer;

/// Writes ca.pem, cert.pem and key.pem (a leaf for 127.0.0.1 signed by a new CA) to `dir`;
/// returns the CA certificate.
pub fn make_pki(dir: &Path) -> CertificateDer<'static> {
    make_pki_for(dir, &["127.0.0.1"])
}

/// Like `make_pki`, with a leaf for `names` (IP addresses or DNS names).
pub fn make_pki_for(dir: &Path, names: &[&str]) -> CertificateDer<'static> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "failoverd test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let leaf = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &*ca)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    ca.der().clone()
}

/// `config` (a `two_stack_config` text) with its admin listener serving TLS with the
/// cert.pem and key.pem that `make_pki` wrote to `pki`.
pub fn with_admin_tls(config: &str, pki: &Path) -> String {
    let tls = format!(
        "listen = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"",
        pki.join("cert.pem").display(),
        pki.join("key.pem").display()
    );
    let cfg = config.replace(
        "listen = \"127.0.0.1:0\"\n\n[state]",
        &format!("{tls}\n\n[state]"),
    );
    assert!(cfg.contains("tls_cert"), "the admin section was rewritten");
    cfg
}
