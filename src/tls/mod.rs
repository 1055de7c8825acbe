//! TLS listeners and bridges: the settings of a listener's TLS keys ([`TlsSettings`], in
//! Mosquitto's spelling) and the `rustls` configuration built from them ([`ListenerTls`]);
//! the same for a bridge's TLS to its upstream ([`UpstreamTlsSettings`], [`UpstreamTls`]).
//!
//! The settings types exist in every build, so that `config` describes a listener the
//! same way with or without TLS; the `rustls` part (`server` and `client`, feature `tls`)
//! reads the PEM files and builds the server and client configurations. A build without
//! the feature never makes a [`ListenerTls`] or an [`UpstreamTls`]: `config` refuses the
//! TLS keys.
//!
//! The PEM files are read once per configuration: `config` builds a [`ListenerTls`] while
//! parsing (so a bad file is an error of the file, at its line), and the reactor wraps
//! accepted sockets with the configuration built then; SIGHUP parses, and so builds, anew.
//!
//! This module sits below `config` and `net`: it must not import them, nor touch sockets.

pub mod ciphers;
#[cfg(feature = "tls")]
mod client;
#[cfg(feature = "tls")]
mod server;

#[cfg(feature = "tls")]
pub use client::client_config;
#[cfg(feature = "tls")]
pub use server::{effective_now, server_config, BUILD_TIME};

use std::fmt;
use std::path::PathBuf;
#[cfg(feature = "tls")]
use std::sync::Arc;

/// A TLS listener's files and options, in Mosquitto's spelling (`certfile`, `keyfile`,
/// `cafile`, `capath`, `crlfile`, `require_certificate`, `disable_client_cert_date_checks`,
/// `use_identity_as_username`, `tls_version`, `ciphers`, `ciphers_tls1.3`), as `config`
/// checked them.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TlsSettings {
    /// The server certificate chain (PEM), leaf first.
    pub certfile: PathBuf,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub keyfile: PathBuf,
    /// CA certificates (PEM) that client certificates must chain to.
    pub cafile: Option<PathBuf>,
    /// A directory of CA certificates (every `*.pem` and `*.crt` file in it).
    pub capath: Option<PathBuf>,
    /// A certificate revocation list (PEM) checked against client certificates.
    pub crlfile: Option<PathBuf>,
    /// Clients must present a certificate signed by `cafile`/`capath`.
    pub require_certificate: bool,
    /// Client certificates are accepted outside their validity dates
    /// (`disable_client_cert_date_checks`); the chain and the CRL are still checked.
    pub disable_client_cert_date_checks: bool,
    /// The common name of the client's certificate is its user name
    /// (`use_identity_as_username`; only with `require_certificate`, which `config`
    /// checks). The broker core applies it through `ListenerPolicy`.
    pub use_identity_as_username: bool,
    /// The lowest TLS version accepted (`tls_version`; default TLS 1.2).
    pub min_version: TlsVersion,
    /// The TLS 1.2 cipher suites allowed, as IANA numbers in preference order
    /// (`ciphers`, see [`ciphers::tls12`]); `None`: all of Sol's.
    pub ciphers: Option<Vec<u16>>,
    /// The TLS 1.3 cipher suites allowed (`ciphers_tls1.3`, see [`ciphers::tls13`]);
    /// `None`: all of Sol's.
    pub ciphers_tls13: Option<Vec<u16>>,
}

/// A minimum TLS version (`tls_version tlsv1.2|tlsv1.3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// Why a listener's TLS configuration could not be built: the file and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// What a build without the `tls` feature answers when asked for TLS.
pub const NO_TLS: &str = "this build of Sol has no TLS (built without the 'tls' feature)";

/// A TLS listener: its settings and (feature `tls`) the `rustls` server configuration
/// built from them, with every file it names read once, when the configuration was parsed.
#[derive(Clone, Debug)]
pub struct ListenerTls {
    /// The settings the configuration was built from.
    pub settings: TlsSettings,
    /// The server configuration every connection accepted on the listener uses.
    #[cfg(feature = "tls")]
    pub server: Arc<rustls::ServerConfig>,
}

impl PartialEq for ListenerTls {
    /// The same settings and the same built configuration: the files are not read again
    /// to compare, so two builds from the same settings differ.
    fn eq(&self, other: &Self) -> bool {
        #[cfg(feature = "tls")]
        if !Arc::ptr_eq(&self.server, &other.server) {
            return false;
        }
        self.settings == other.settings
    }
}

impl Eq for ListenerTls {}

impl ListenerTls {
    /// Reads the files `settings` names and builds the listener's server configuration.
    #[cfg(feature = "tls")]
    pub fn load(settings: TlsSettings) -> Result<ListenerTls, TlsError> {
        let server = server_config(&settings)?;
        Ok(ListenerTls { settings, server })
    }

    /// Always an error: this build has no TLS (`config` refuses the TLS keys before).
    #[cfg(not(feature = "tls"))]
    pub fn load(_settings: TlsSettings) -> Result<ListenerTls, TlsError> {
        Err(TlsError(NO_TLS.into()))
    }

    /// A listener with `settings` whose configuration has no certificate (every handshake
    /// fails), for tests of what the settings decide without certificate files.
    #[cfg(test)]
    pub(crate) fn without_files(settings: TlsSettings) -> ListenerTls {
        #[cfg(feature = "tls")]
        let server = Arc::new(
            rustls::ServerConfig::builder_with_provider(server::provider())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default versions")
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(rustls::server::ResolvesServerCertUsingSni::new())),
        );
        ListenerTls {
            settings,
            #[cfg(feature = "tls")]
            server,
        }
    }
}

/// TLS to an upstream broker (a bridge's `bridge_cafile`, `bridge_capath`,
/// `bridge_certfile`, `bridge_keyfile`, `bridge_insecure`, `bridge_alpn`,
/// `bridge_tls_version`), as `config` checked them.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UpstreamTlsSettings {
    /// CA certificates (PEM) the upstream's certificate must chain to.
    pub cafile: Option<PathBuf>,
    /// A directory of CA certificates (every `*.pem` and `*.crt` file in it).
    pub capath: Option<PathBuf>,
    /// The bridge's client certificate chain (PEM), when the upstream asks for one.
    pub certfile: Option<PathBuf>,
    /// The client certificate's private key.
    pub keyfile: Option<PathBuf>,
    /// `bridge_insecure`: the upstream's certificate need not name the host connected to
    /// (its chain is still checked).
    pub insecure: bool,
    /// `bridge_alpn`: the ALPN protocol offered.
    pub alpn: Option<String>,
    /// `bridge_tls_version`: the lowest TLS version used.
    pub min_version: TlsVersion,
}

/// A bridge's TLS: its settings and (feature `tls`) the `rustls` client configuration
/// built from them when the configuration was parsed.
#[derive(Clone, Debug)]
pub struct UpstreamTls {
    /// The settings the configuration was built from.
    pub settings: UpstreamTlsSettings,
    /// The client configuration every connection of the bridge uses.
    #[cfg(feature = "tls")]
    pub client: Arc<rustls::ClientConfig>,
}

impl PartialEq for UpstreamTls {
    /// The same settings and the same built configuration, as [`ListenerTls`].
    fn eq(&self, other: &Self) -> bool {
        #[cfg(feature = "tls")]
        if !Arc::ptr_eq(&self.client, &other.client) {
            return false;
        }
        self.settings == other.settings
    }
}

impl Eq for UpstreamTls {}

impl UpstreamTls {
    /// Reads the files `settings` names and builds the bridge's client configuration.
    #[cfg(feature = "tls")]
    pub fn load(settings: UpstreamTlsSettings) -> Result<UpstreamTls, TlsError> {
        let client = client_config(&settings)?;
        Ok(UpstreamTls { settings, client })
    }

    /// Always an error: this build has no TLS (`config` refuses the TLS keys before).
    #[cfg(not(feature = "tls"))]
    pub fn load(_settings: UpstreamTlsSettings) -> Result<UpstreamTls, TlsError> {
        Err(TlsError(NO_TLS.into()))
    }
}

/// Throw-away certificates for tests, made by `tests/tls/make-certs.sh` (openssl CLI) in
/// a fresh directory: `ca`, `server` (for 127.0.0.1 and localhost), `client` (signed by
/// `ca`), `other-ca`, and more (the script lists them).
#[cfg(all(test, feature = "tls"))]
pub(crate) fn test_certs(tag: &str) -> PathBuf {
    let name = format!("sol-certs-{tag}-{}", std::process::id());
    let dir = std::env::temp_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let script = include_str!("../../tests/tls/make-certs.sh");
    let status = std::process::Command::new("sh")
        .args(["-c", script, "make-certs.sh"])
        .arg(&dir)
        .status()
        .expect("run make-certs.sh (needs the openssl CLI)");
    assert!(status.success(), "make-certs.sh failed");
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_are_equal_only_with_the_same_built_configuration() {
        let settings = TlsSettings {
            require_certificate: true,
            ..TlsSettings::default()
        };
        let a = ListenerTls::without_files(settings.clone());
        assert_eq!(a, a.clone());
        let b = ListenerTls::without_files(settings);
        assert_eq!(a == b, cfg!(not(feature = "tls")));
    }
}
