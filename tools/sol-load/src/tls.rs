//! TLS under a generator connection (`--tls-ca`): a TCP socket wrapped in a `rustls` client.
//!
//! [`TlsStream`] reads and writes like the `mio` socket it holds (it is one variant of
//! [`crate::stream::Stream`]), so the worker's batching and edge-triggered reading stay as
//! they are; this module alone knows about TLS:
//!
//! - `write` writes the records rustls still holds first (a blocked socket blocks the
//!   caller, as for a plain socket), then encrypts the caller's whole batch (up to rustls'
//!   64 KiB buffer limit) and writes the records with one vectored write; records the socket
//!   did not take wait for [`Write::flush`], which the worker calls on the writable edge.
//! - `read` fills the caller's buffer with plaintext, reading records from the socket until
//!   the buffer is full or the socket would block, so a reader that reads until `WouldBlock`
//!   misses nothing. Handshake messages are answered as they arrive.
//!
//! Plaintext written before the handshake completes (CONNECT) is buffered by rustls and sent
//! once it has. The ring provider is chosen explicitly; aws-lc-rs is never built. Records
//! move between rustls and the socket with the broker's own helpers (`sol::net`).

use mio::net::TcpStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use sol::net::{receive_tls_records, send_tls_records};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

/// What every TLS connection of a run is made from: the client configuration (trusting one
/// CA) and the name the server's certificate must carry.
#[derive(Clone, Debug)]
pub struct Connector {
    /// Ring provider, TLS 1.3 and 1.2, the CA of `--tls-ca` as the only root.
    config: Arc<ClientConfig>,
    /// The broker's DNS name or IP address, checked against the certificate.
    name: ServerName<'static>,
}

impl Connector {
    /// A connector trusting the PEM certificates in `ca` and expecting `server_name`.
    pub fn new(ca: &Path, server_name: &str) -> Result<Connector, String> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca)
            .map_err(|e| format!("--tls-ca {}: {e}", ca.display()))?
        {
            let cert = cert.map_err(|e| format!("--tls-ca {}: {e}", ca.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("--tls-ca {}: {e}", ca.display()))?;
        }
        if roots.is_empty() {
            return Err(format!("--tls-ca {}: no certificate", ca.display()));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS versions: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(server_name.to_string())
            .map_err(|e| format!("--tls-server-name {server_name:?}: {e}"))?;
        Ok(Connector {
            config: Arc::new(config),
            name,
        })
    }

    /// Starts a client session on a socket that is connecting.
    pub fn wrap(&self, tcp: TcpStream) -> io::Result<TlsStream> {
        let conn = ClientConnection::new(Arc::clone(&self.config), self.name.clone())
            .map_err(io::Error::other)?;
        Ok(TlsStream { tcp, conn })
    }
}

/// A TCP socket and its rustls client session.
#[derive(Debug)]
pub struct TlsStream {
    /// The socket.
    tcp: TcpStream,
    /// Handshake, record layer, buffered plaintext and records.
    conn: ClientConnection,
}

impl TlsStream {
    /// Writes the records rustls holds until none are left (`Ok`) or the socket blocks
    /// (`WouldBlock`).
    pub fn send_pending(&mut self) -> io::Result<()> {
        send_tls_records(&mut self.conn, &mut self.tcp)
    }

    /// The socket, for registration, socket options and connect errors.
    pub fn tcp(&mut self) -> &mut TcpStream {
        &mut self.tcp
    }

    /// The negotiated TLS version and cipher suite (e.g. `TLSv1_3 TLS13_AES_256_GCM_SHA384`),
    /// once the handshake has completed.
    pub fn describe(&self) -> Option<String> {
        let version = self.conn.protocol_version()?;
        let suite = self.conn.negotiated_cipher_suite()?;
        Some(format!("{version:?} {:?}", suite.suite()))
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        loop {
            // Plaintext rustls already holds first.
            while filled < buf.len() {
                match self.conn.reader().read(&mut buf[filled..]) {
                    // The peer's close_notify: what was read, then 0.
                    Ok(0) => return Ok(filled),
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) if filled > 0 => return Ok(filled),
                    Err(e) => return Err(e),
                }
            }
            if filled == buf.len() {
                return Ok(filled);
            }
            // Records in, and handshake messages (and the plaintext buffered meanwhile) out.
            match receive_tls_records(&mut self.conn, &mut self.tcp) {
                // End of stream: rustls says how (close_notify or not) on the next read.
                Ok(0) => return Ok(filled),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && filled > 0 => return Ok(filled),
                Err(e) => return Err(e),
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send_pending()?;
        let n = self.conn.writer().write(buf)?;
        if n == 0 && !buf.is_empty() {
            // rustls' buffer is full of plaintext waiting for the handshake.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match self.send_pending() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_pending()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let path = std::env::temp_dir().join(format!("sol-load-empty-ca-{}", std::process::id()));
        std::fs::write(&path, "not a certificate\n").expect("write a temporary file");
        let err = Connector::new(&path, "localhost").expect_err("no root to trust");
        std::fs::remove_file(&path).expect("remove the temporary file");
        assert!(err.contains("no certificate"), "{err}");
        let missing = Connector::new(Path::new("/nonexistent/ca.crt"), "localhost");
        assert!(missing
            .expect_err("no file")
            .contains("/nonexistent/ca.crt"));
    }
}
