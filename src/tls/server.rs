//! A TLS listener's `rustls` [`ServerConfig`] built from its [`TlsSettings`] with the
//! `ring` provider, and the clock client certificates are checked against (feature `tls`).
//!
//! This module reads the PEM files (certificate chain, key, CAs, CRL) and says precisely
//! what is wrong with them. It runs once per configuration parse (start-up, `sol check`,
//! SIGHUP): the reactor wraps accepted sockets with the configuration built then. It must
//! not touch sockets.
//!
//! # The clock of a gateway at 1970
//!
//! A gateway often boots with its clock at the epoch until NTP has synchronised, and a
//! client certificate's validity dates would then lock every client out. When the system
//! clock reads earlier than the time this binary was built, Sol checks client certificate
//! dates against the build time instead (a lower bound of the real time), and logs that
//! once. See [`effective_now`].
//!
//! `disable_client_cert_date_checks true` on a listener goes further: client certificates
//! are accepted outside their validity dates (expired, or not valid yet), as Mosquitto's
//! option of that name does; signatures, the CA and the CRL are still checked. See
//! [`IgnoreDates`] for the one chain it still refuses.

use super::{TlsError, TlsSettings, TlsVersion};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::time_provider::TimeProvider;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, RootCertStore, ServerConfig,
    SignatureScheme,
};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Seconds since the epoch when this binary was built (`build.rs`; `SOURCE_DATE_EPOCH`
/// when set). Client certificate dates are never checked against an earlier time.
pub const BUILD_TIME: u64 = match u64::from_str_radix(env!("SOL_BUILD_TIME"), 10) {
    Ok(t) => t,
    Err(_) => 0,
};

/// The `ring` provider, chosen explicitly (no process-wide default is installed), with all
/// of its cipher suites.
pub(super) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The `ring` provider with only the cipher suites `settings` allows (`ciphers`,
/// `ciphers_tls1.3`), in their order; a version without a list keeps all of its suites.
fn provider_for(settings: &TlsSettings) -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    let all = std::mem::take(&mut provider.cipher_suites);
    let is_tls13 = |s: &rustls::SupportedCipherSuite| s.tls13().is_some();
    for (list, tls13) in [(&settings.ciphers_tls13, true), (&settings.ciphers, false)] {
        match list {
            None => provider
                .cipher_suites
                .extend(all.iter().filter(|s| is_tls13(s) == tls13)),
            Some(ids) => provider.cipher_suites.extend(ids.iter().filter_map(|id| {
                all.iter()
                    .find(|s| is_tls13(s) == tls13 && u16::from(s.suite()) == *id)
            })),
        }
    }
    Arc::new(provider)
}

/// Builds the server configuration of one TLS listener, reading every file it names.
pub fn server_config(settings: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider_for(settings);
    let certs = read_certs("certfile", &settings.certfile)?;
    let key = read_key("keyfile", &settings.keyfile)?;
    let builder = ServerConfig::builder_with_details(provider.clone(), Arc::new(BuildTimeFloor))
        .with_protocol_versions(versions(settings.min_version))
        .map_err(|e| TlsError(format!("tls_version: {e}")))?;
    let builder = if settings.require_certificate {
        let roots = roots("", settings.cafile.as_deref(), settings.capath.as_deref())?;
        if roots.is_empty() {
            return Err(TlsError(
                "require_certificate: cafile/capath hold no CA certificate".into(),
            ));
        }
        let mut crls = Vec::new();
        if let Some(crlfile) = &settings.crlfile {
            for crl in CertificateRevocationListDer::pem_file_iter(crlfile).map_err(|e| {
                TlsError(format!("crlfile: {}: {}", crlfile.display(), pem_error(&e)))
            })? {
                crls.push(crl.map_err(|e| {
                    TlsError(format!("crlfile: {}: {}", crlfile.display(), pem_error(&e)))
                })?);
            }
            if crls.is_empty() {
                return Err(TlsError(format!(
                    "crlfile: {}: no X509 CRL in the file",
                    crlfile.display()
                )));
            }
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .with_crls(crls)
            // As Mosquitto (OpenSSL's X509_V_FLAG_CRL_CHECK): the client's own certificate.
            .only_check_end_entity_revocation()
            .build()
            .map_err(|e| TlsError(format!("cafile/crlfile: {e}")))?;
        if settings.disable_client_cert_date_checks {
            builder.with_client_cert_verifier(Arc::new(IgnoreDates(verifier)))
        } else {
            builder.with_client_cert_verifier(verifier)
        }
    } else {
        builder.with_no_client_auth()
    };
    let config = builder.with_single_cert(certs, key).map_err(|e| {
        TlsError(format!(
            "certfile/keyfile: {} and {}: {e}",
            settings.certfile.display(),
            settings.keyfile.display()
        ))
    })?;
    Ok(Arc::new(config))
}

/// The TLS versions from `min` up, newest first.
pub(super) fn versions(min: TlsVersion) -> &'static [&'static rustls::SupportedProtocolVersion] {
    const FROM_1_2: &[&rustls::SupportedProtocolVersion] =
        &[&rustls::version::TLS13, &rustls::version::TLS12];
    match min {
        TlsVersion::Tls12 => FROM_1_2,
        TlsVersion::Tls13 => &FROM_1_2[..1],
    }
}

/// The CA certificates of `cafile` and of the `*.pem` and `*.crt` files in `capath`
/// (possibly none); errors name the key as `{prefix}cafile` or `{prefix}capath`.
pub(super) fn roots(
    prefix: &str,
    cafile: Option<&Path>,
    capath: Option<&Path>,
) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    if let Some(cafile) = cafile {
        add_roots(&mut roots, &format!("{prefix}cafile"), cafile)?;
    }
    if let Some(capath) = capath {
        let key = format!("{prefix}capath");
        let dir = std::fs::read_dir(capath)
            .map_err(|e| TlsError(format!("{key}: {}: {e}", capath.display())))?;
        for entry in dir.flatten() {
            let path = entry.path();
            let ext = path.extension().and_then(|e| e.to_str());
            if matches!(ext, Some("pem" | "crt")) {
                add_roots(&mut roots, &key, &path)?;
            }
        }
    }
    Ok(roots)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1), named `key` in errors.
pub(super) fn read_key(key: &str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        TlsError(format!(
            "{key}: {}: no usable private key ({})",
            path.display(),
            pem_error(&e)
        ))
    })
}

/// Every certificate in a PEM file; an error if there is none.
pub(super) fn read_certs(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let fail = |e: rustls::pki_types::pem::Error| {
        TlsError(format!("{key}: {}: {}", path.display(), pem_error(&e)))
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(fail)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail)?;
    if certs.is_empty() {
        return Err(TlsError(format!(
            "{key}: {}: no PEM certificate in the file",
            path.display()
        )));
    }
    Ok(certs)
}

/// Adds the certificates of a PEM file to `roots`.
fn add_roots(roots: &mut RootCertStore, key: &str, path: &Path) -> Result<(), TlsError> {
    for cert in read_certs(key, path)? {
        roots
            .add(cert)
            .map_err(|e| TlsError(format!("{key}: {}: {e}", path.display())))?;
    }
    Ok(())
}

/// A PEM error in words (the I/O error for a missing or unreadable file).
fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM item of the expected kind".into(),
        other => other.to_string(),
    }
}

/// The time client certificate dates are checked against: the system clock, or
/// `floor` (seconds since the epoch) when the clock reads earlier. The flag says the
/// floor was used.
pub fn effective_now(system: SystemTime, floor: u64) -> (UnixTime, bool) {
    let floor = Duration::from_secs(floor);
    let now = system
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    if now < floor {
        (UnixTime::since_unix_epoch(floor), true)
    } else {
        (UnixTime::since_unix_epoch(now), false)
    }
}

/// How many times [`IgnoreDates`] moves the verification time before it gives up: one
/// move per certificate of a chain whose dates all overlap is enough in practice.
const DATE_MOVES: usize = 4;

/// A client certificate verifier that accepts certificates outside their validity dates
/// (`disable_client_cert_date_checks`).
///
/// webpki checks a chain at one time and has no switch to skip dates, so when the inner
/// verifier reports a certificate expired (not valid yet), the chain is verified again at
/// that certificate's `notAfter` (`notBefore`), at most [`DATE_MOVES`] times. Everything
/// else (signatures, the CA, the CRL, key usage) is checked as usual. The one chain still
/// refused is one with no single moment at which the client certificate and its
/// intermediate CAs were all valid (a client certificate that expired before the
/// intermediate that signed it was issued); OpenSSL, which skips the dates altogether,
/// would accept it. The root's own dates are never checked: webpki keeps only its name
/// and key.
#[derive(Debug)]
struct IgnoreDates(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for IgnoreDates {
    fn offer_client_auth(&self) -> bool {
        self.0.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.0.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        mut now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        for _ in 0..DATE_MOVES {
            match self.0.verify_client_cert(end_entity, intermediates, now) {
                Err(Error::InvalidCertificate(CertificateError::ExpiredContext {
                    not_after,
                    ..
                })) => now = not_after,
                Err(Error::InvalidCertificate(CertificateError::NotValidYetContext {
                    not_before,
                    ..
                })) => now = not_before,
                verdict => return verdict,
            }
        }
        self.0.verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Logged once: the clock is behind the build time.
static CLOCK_WARNED: AtomicBool = AtomicBool::new(false);

/// rustls' clock for certificate checks (client certificates on a listener, the
/// upstream's certificate on a bridge): the system clock, never earlier than
/// [`BUILD_TIME`] (a gateway before NTP; see the module documentation).
#[derive(Debug)]
pub(super) struct BuildTimeFloor;

impl TimeProvider for BuildTimeFloor {
    fn current_time(&self) -> Option<UnixTime> {
        let (now, floored) = effective_now(SystemTime::now(), BUILD_TIME);
        if floored && !CLOCK_WARNED.swap(true, Ordering::Relaxed) {
            log::warn!(
                "the system clock is earlier than this build ({BUILD_TIME} s after the \
                 epoch; no NTP yet?): certificate dates are checked against the build \
                 time"
            );
        }
        Some(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_before_the_build_uses_the_build_time() {
        let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(5);
        let (now, floored) = effective_now(epoch, 1_700_000_000);
        assert!(floored);
        assert_eq!(now.as_secs(), 1_700_000_000);
        let later = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let (now, floored) = effective_now(later, 1_700_000_000);
        assert!(!floored);
        assert_eq!(now.as_secs(), 1_800_000_000);
    }

    #[test]
    fn build_time_is_set() {
        const { assert!(BUILD_TIME > 1_600_000_000, "build.rs sets SOL_BUILD_TIME") };
    }

    #[test]
    fn missing_files_are_named() {
        let settings = TlsSettings {
            certfile: "/nonexistent/server.crt".into(),
            keyfile: "/nonexistent/server.key".into(),
            ..TlsSettings::default()
        };
        let e = server_config(&settings)
            .expect_err("no such file")
            .to_string();
        assert!(e.starts_with("certfile: /nonexistent/server.crt: "), "{e}");
    }
}
