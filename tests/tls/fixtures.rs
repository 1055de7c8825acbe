//! TLS test fixtures shared by `tests/tls.rs`, `tests/rumqttc/tls.rs` and
//! `tools/sol-load/tests` (each includes this file as `mod tls_fixtures`, after
//! `mod common`): throw-away certificates, a TLS
//! listener's config lines, and the rustls client configuration every Rust client uses
//! (ring provider, explicit roots, optional client certificate). Not in `tests/common/`:
//! that module is also built by crates without the `tls` feature (`tools/sol-load`).

use crate::common::{start_with, Running};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use sol::config::Config;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// `tests/tls/make-certs.sh`, embedded: the crates including this file have different
/// manifest directories, and `include_str!` finds the script next to this file in each.
const MAKE_CERTS: &str = include_str!("make-certs.sh");

/// A fresh directory of test certificates made by `tests/tls/make-certs.sh` (openssl
/// CLI): `ca`, `server` (127.0.0.1/localhost), `client` (alice), `revoked` (mallory,
/// listed in `ca.crl`), and the unrelated `other-ca` with its `other-client` (eve).
pub fn certs(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sol-tls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // `sh -c SCRIPT NAME DIR`: the script sees DIR as $1, as when run from its file.
    let status = Command::new("sh")
        .args(["-c", MAKE_CERTS, "make-certs.sh"])
        .arg(&dir)
        .status()
        .expect("run tests/tls/make-certs.sh (needs the openssl CLI)");
    assert!(status.success(), "make-certs.sh failed");
    dir
}

/// Starts a server from a config file written into `dir` (so SIGHUP can re-read it).
pub fn start_file(dir: &Path, body: &str) -> Running {
    let path = dir.join("sol.conf");
    std::fs::write(&path, body).expect("write config");
    start_with(Config::load(&path).expect("valid config"))
}

/// A TLS listener's config lines for `dir`'s server certificate, then `extra`.
pub fn tls_listener(dir: &Path, extra: &str) -> String {
    format!(
        "listener 0 127.0.0.1\nallow_anonymous true\ncertfile {d}/server.crt\n\
         keyfile {d}/server.key\n{extra}",
        d = dir.display()
    )
}

/// The `extra` lines of a listener that requires a client certificate from `ca` and
/// checks it against the CA's CRL (which revokes `revoked`).
pub fn client_cert_required(dir: &Path) -> String {
    format!(
        "cafile {d}/ca.crt\nrequire_certificate true\ncrlfile {d}/ca.crl\n",
        d = dir.display()
    )
}

/// A rustls client configuration with the ring provider (the only one built: no
/// aws-lc-rs, see Cargo.toml) that trusts the CA `dir/CA.crt` only and presents the
/// client certificate `dir/NAME.crt` (key `dir/NAME.key`) when `cert` is `Some(NAME)`.
pub fn client_config(dir: &Path, ca: &str, cert: Option<&str>) -> ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(dir.join(format!("{ca}.crt"))).expect("ca") {
        roots.add(c.expect("ca pem")).expect("ca cert");
    }
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    match cert {
        None => builder.with_no_client_auth(),
        Some(name) => {
            let chain = CertificateDer::pem_file_iter(dir.join(format!("{name}.crt")))
                .expect("cert")
                .collect::<Result<Vec<_>, _>>()
                .expect("cert pem");
            let key = PrivateKeyDer::from_pem_file(dir.join(format!("{name}.key"))).expect("key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client auth")
        }
    }
}
