//! A bridge's `rustls` [`ClientConfig`] built from its [`UpstreamTlsSettings`] (feature
//! `tls`): the CAs the upstream's certificate must chain to, the bridge's own certificate
//! when the upstream asks for one, `bridge_insecure`, ALPN and the lowest TLS version.
//!
//! The PEM files are read with the listener's helpers (`server`), with the same `ring`
//! provider and the same clock (never earlier than the build time, for a gateway that
//! boots at 1970), so errors read alike: `bridge_cafile: PATH: what is wrong`. It runs once
//! per configuration parse; the bridge opens every connection with the configuration
//! built then. It must not touch sockets.

use super::server::{provider, read_certs, read_key, roots, versions, BuildTimeFloor};
use super::{TlsError, UpstreamTlsSettings};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, Error, SignatureScheme};
use std::sync::Arc;

/// Builds a bridge's client configuration, reading every file `settings` names.
pub fn client_config(settings: &UpstreamTlsSettings) -> Result<Arc<ClientConfig>, TlsError> {
    let s = settings;
    let roots = roots("bridge_", s.cafile.as_deref(), s.capath.as_deref())?;
    if roots.is_empty() {
        let dir = s.capath.as_deref().unwrap_or(std::path::Path::new(""));
        return Err(TlsError(format!(
            "bridge_capath: {}: no CA certificate (*.pem or *.crt file) in the directory",
            dir.display()
        )));
    }
    let provider = provider();
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError(format!("bridge_cafile/bridge_capath: {e}")))?;
    let builder = ClientConfig::builder_with_details(provider, Arc::new(BuildTimeFloor))
        .with_protocol_versions(versions(s.min_version))
        .map_err(|e| TlsError(format!("bridge_tls_version: {e}")))?;
    let builder = if s.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyName(verifier)))
    } else {
        builder.with_webpki_verifier(verifier)
    };
    let mut config = match (&s.certfile, &s.keyfile) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(
                read_certs("bridge_certfile", cert)?,
                read_key("bridge_keyfile", key)?,
            )
            .map_err(|e| {
                TlsError(format!(
                    "bridge_certfile/bridge_keyfile: {} and {}: {e}",
                    cert.display(),
                    key.display()
                ))
            })?,
        _ => builder.with_no_client_auth(),
    };
    if let Some(alpn) = &s.alpn {
        config.alpn_protocols = vec![alpn.as_bytes().to_vec()];
    }
    Ok(Arc::new(config))
}

/// `bridge_insecure true`: the upstream's certificate must chain to the CAs, but need not
/// name the host connected to. webpki checks the name after the chain, signatures and
/// dates, so a name mismatch is the last verdict, and the only one turned into a pass.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let verdict =
            self.0
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        match verdict {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            verdict => verdict,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::{server_config, test_certs as certs, TlsSettings};
    use rustls::{ClientConnection, ServerConfig, ServerConnection};
    use std::path::Path;

    /// The upstream: a server with `dir`'s server certificate, asking for a client
    /// certificate signed by `ca` when `client_ca`.
    fn upstream(dir: &Path, client_ca: bool) -> Arc<ServerConfig> {
        let settings = TlsSettings {
            certfile: dir.join("server.crt"),
            keyfile: dir.join("server.key"),
            cafile: client_ca.then(|| dir.join("ca.crt")),
            require_certificate: client_ca,
            ..TlsSettings::default()
        };
        let mut config = Arc::unwrap_or_clone(server_config(&settings).expect("server"));
        config.alpn_protocols = vec![b"mqtt".to_vec(), b"x-other".to_vec()];
        Arc::new(config)
    }

    /// A whole handshake in memory between a bridge with `client` reaching the upstream
    /// as `host` and the upstream `server`; the ALPN protocol agreed on.
    fn handshake(
        client: Arc<ClientConfig>,
        server: Arc<ServerConfig>,
        host: &str,
    ) -> Result<Option<Vec<u8>>, Error> {
        let name = ServerName::try_from(host.to_string()).expect("a server name");
        let mut c = ClientConnection::new(client, name)?;
        let mut s = ServerConnection::new(server)?;
        while c.is_handshaking() || s.is_handshaking() {
            let mut bytes = Vec::new();
            c.write_tls(&mut bytes).expect("to memory");
            let mut rd = &bytes[..];
            while !rd.is_empty() {
                s.read_tls(&mut rd).expect("from memory");
                s.process_new_packets()?;
            }
            let mut bytes = Vec::new();
            s.write_tls(&mut bytes).expect("to memory");
            let mut rd = &bytes[..];
            while !rd.is_empty() {
                c.read_tls(&mut rd).expect("from memory");
                c.process_new_packets()?;
            }
        }
        Ok(c.alpn_protocol().map(<[u8]>::to_vec))
    }

    #[test]
    fn the_upstream_certificate_must_chain_to_the_ca_and_name_the_host() {
        let dir = certs("verify");
        let server = upstream(&dir, false);
        let mut settings = UpstreamTlsSettings {
            cafile: Some(dir.join("ca.crt")),
            alpn: Some("mqtt".into()),
            ..UpstreamTlsSettings::default()
        };
        let secure = client_config(&settings).expect("client");
        let alpn = handshake(secure.clone(), server.clone(), "localhost").expect("valid");
        assert_eq!(alpn.as_deref(), Some(&b"mqtt"[..]));
        let e = handshake(secure, server.clone(), "broker.example.com").expect_err("name");
        assert!(
            matches!(
                e,
                Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })
            ),
            "{e:?}"
        );

        // bridge_insecure: any name, but still only the configured CA.
        settings.insecure = true;
        let insecure = client_config(&settings).expect("client");
        handshake(insecure, server.clone(), "broker.example.com").expect("name not checked");
        settings.cafile = Some(dir.join("other-ca.crt"));
        let stranger = client_config(&settings).expect("client");
        assert_eq!(
            handshake(stranger, server, "localhost"),
            Err(Error::InvalidCertificate(CertificateError::UnknownIssuer))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_bridge_presents_its_certificate_when_given() {
        let dir = certs("client-auth");
        let server = upstream(&dir, true);
        let mut settings = UpstreamTlsSettings {
            capath: Some(dir.clone()),
            ..UpstreamTlsSettings::default()
        };
        let anonymous = client_config(&settings).expect("client");
        assert!(handshake(anonymous, server.clone(), "127.0.0.1").is_err());
        settings.certfile = Some(dir.join("client.crt"));
        settings.keyfile = Some(dir.join("client.key"));
        let client = client_config(&settings).expect("client");
        handshake(client, server, "127.0.0.1").expect("client certificate accepted");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn file_problems_name_the_key_and_the_file() {
        let dir = certs("files");
        let error = |s: UpstreamTlsSettings| client_config(&s).expect_err("bad").to_string();
        let e = error(UpstreamTlsSettings {
            cafile: Some("/nonexistent/ca.crt".into()),
            ..UpstreamTlsSettings::default()
        });
        assert!(e.starts_with("bridge_cafile: /nonexistent/ca.crt: "), "{e}");
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).expect("dir");
        assert_eq!(
            error(UpstreamTlsSettings {
                capath: Some(empty.clone()),
                ..UpstreamTlsSettings::default()
            }),
            format!(
                "bridge_capath: {}: no CA certificate (*.pem or *.crt file) in the directory",
                empty.display()
            )
        );
        let e = error(UpstreamTlsSettings {
            cafile: Some(dir.join("ca.crt")),
            certfile: Some(dir.join("client.crt")),
            keyfile: Some(dir.join("ca.crt")),
            ..UpstreamTlsSettings::default()
        });
        let key = dir.join("ca.crt");
        assert!(
            e.starts_with(&format!(
                "bridge_keyfile: {}: no usable private key",
                key.display()
            )),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
