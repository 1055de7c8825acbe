//! A TLS connection's socket: the `mio` TCP stream and its `rustls` server state.
//!
//! It looks like a plain stream to the reactor. [`TlsStream::read`] returns plaintext
//! that rustls already holds before reading more records from the socket, and reads the
//! socket until it would block, so an edge-triggered reader that reads until `WouldBlock`
//! misses nothing (a short read does not mean the socket is drained: the caller must
//! not take it as such). [`TlsStream::write_vectored`] hands plaintext (packed by
//! `gather`) to rustls and writes records until the socket blocks; records left over are
//! sent by [`TlsStream::send_pending`] when the socket turns writable. A short write
//! count means the socket blocked, as for a plain socket. Handshake records
//! are written as they are produced. A handshake that never completes is closed by the
//! broker's connect timeout: no CONNECT arrives.
//!
//! Once the handshake has completed, [`TlsStream::take_client_identity`] gives the client
//! certificate's subject common name once, for the broker (`use_identity_as_username`);
//! rustls yields no plaintext before that, so the reactor can ask after every read and
//! tell the broker before framing the first packet.
//!
//! [`send_tls_records`] and [`receive_tls_records`] move records between a rustls
//! connection, server or client, and a non-blocking socket; `tools/sol-load`'s TLS client
//! uses them too.
//!
//! Memory: rustls buffers at most [`TLS_BUFFER_LIMIT`] of outgoing records and one
//! incoming record (up to 16 KiB + overhead) per connection; the memory ceiling counts
//! [`TLS_CONNECTION_BYTES`] (passed to `config` in `net::SLOT_SIZES`) for every connection
//! slot when a listener has TLS.

use crate::x509::{self, CommonNameError};
use mio::net::TcpStream;
use rustls::{ConnectionCommon, ServerConnection};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::ops::DerefMut;

/// Outgoing records rustls may hold per connection (plus one record's overhead) before
/// it takes no more plaintext. Records are written as they are made, so this only bounds
/// what waits for a blocked socket; 16 KiB is one full record.
pub const TLS_BUFFER_LIMIT: usize = 16 * 1024;

/// Largest TLS record on the wire: 16 KiB of plaintext plus header, padding and tag
/// (RFC 8446 5.2 allows up to 2^14 + 256 for TLS 1.3 ciphertext; 2 KiB covers TLS 1.2).
const RECORD_MAX: usize = 16 * 1024 + 2048;

/// Estimated bytes of TLS state per connection at most, for `sol check`'s ceiling: the
/// boxed stream with rustls' connection state, one incoming record being reassembled
/// ([`RECORD_MAX`]), the outgoing records ([`TLS_BUFFER_LIMIT`] plus one record's
/// overhead), and 4 KiB for the handshake's transient state (transcript, key shares,
/// certificate chain of a client; freed once the handshake completes). Decrypted
/// plaintext is not held: the reactor reads it out into its scratch buffer at once.
pub const TLS_CONNECTION_BYTES: usize =
    std::mem::size_of::<TlsStream>() + RECORD_MAX + TLS_BUFFER_LIMIT + 2048 + 4096;

// The rustls state is boxed in `Stream::Tls`; checked when compiling: the estimate stays
// dominated by the buffers (a rustls upgrade that grew the state a lot would show here).
const _: () = assert!(TLS_CONNECTION_BYTES < 48 * 1024);

/// A TCP stream carrying TLS.
#[derive(Debug)]
pub struct TlsStream {
    /// The socket.
    tcp: TcpStream,
    /// The TLS state: handshake, record layer, buffered plaintext and records.
    conn: ServerConnection,
    /// The client certificate's identity was handed out (or there was none to hand).
    identity_taken: bool,
}

impl TlsStream {
    /// Wraps an accepted socket.
    pub fn new(tcp: TcpStream, mut conn: ServerConnection) -> TlsStream {
        conn.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        TlsStream {
            tcp,
            conn,
            identity_taken: false,
        }
    }

    /// The subject common name of the client's certificate (verified by rustls), or why
    /// it has none: once, after the handshake has completed. `None` before that, after
    /// the first call, and when the client presented no certificate (a listener without
    /// `require_certificate`).
    #[inline]
    pub fn take_client_identity(&mut self) -> Option<Result<&str, CommonNameError>> {
        if self.identity_taken || self.conn.is_handshaking() {
            return None;
        }
        self.identity_taken = true;
        // The end-entity certificate comes first [RFC 8446 4.4.2].
        let leaf = self.conn.peer_certificates()?.first()?;
        Some(x509::subject_common_name(leaf))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.tcp.peer_addr()
    }

    /// The socket, for registration with `mio`.
    pub fn tcp(&mut self) -> &mut TcpStream {
        &mut self.tcp
    }

    /// Writes the records rustls holds until none are left (`Ok`) or the socket blocks
    /// (`WouldBlock`).
    pub fn send_pending(&mut self) -> io::Result<()> {
        send_tls_records(&mut self.conn, &mut self.tcp)
    }

    /// Sends `close_notify` (best effort) and shuts the socket down.
    pub fn shutdown(&mut self) {
        self.conn.send_close_notify();
        let _ = self.send_pending();
        let _ = self.tcp.shutdown(Shutdown::Both);
    }
}

/// Writes the records `conn` holds to `sock` until none are left (`Ok`) or the socket
/// blocks (`WouldBlock`).
#[inline]
pub fn send_tls_records<C, D>(conn: &mut C, sock: &mut impl Write) -> io::Result<()>
where
    C: DerefMut<Target = ConnectionCommon<D>>,
{
    while conn.wants_write() {
        match conn.write_tls(sock) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads records from `sock` into `conn` (one read), decrypts them and sends what they
/// call for (handshake messages, alerts; a blocked socket leaves the rest to
/// [`send_tls_records`] on the writable edge). Returns the bytes read: 0 at the end of
/// the stream, `WouldBlock` when there was nothing to read, `InvalidData` when the peer
/// broke the protocol (after telling it why with an alert).
#[inline]
pub fn receive_tls_records<C, D>(conn: &mut C, sock: &mut (impl Read + Write)) -> io::Result<usize>
where
    C: DerefMut<Target = ConnectionCommon<D>>,
{
    let n = loop {
        match conn.read_tls(sock) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => break other?,
        }
    };
    if n == 0 {
        return Ok(0);
    }
    if let Err(e) = conn.process_new_packets() {
        let _ = send_tls_records(conn, sock);
        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
    }
    match send_tls_records(conn, sock) {
        Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
        _ => Ok(n),
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                // Plaintext, or 0 after the peer's close_notify.
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            // Nothing decrypted is waiting: read records (WouldBlock ends the read);
            // handshake answers (and key updates) leave now.
            if receive_tls_records(&mut self.conn, &mut self.tcp)? == 0 {
                return Ok(0);
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[io::IoSlice::new(buf)])
    }

    /// Takes plaintext until the socket blocks (or all is taken). rustls holds at most
    /// [`TLS_BUFFER_LIMIT`] of records, so records are written as they are made: a
    /// short count therefore means the socket blocked (a writable edge will follow), as
    /// for a plain socket, which is what the reactor relies on.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        // Older records first; a blocked socket blocks the caller too.
        self.send_pending()?;
        let mut taken = 0;
        for buf in bufs {
            let mut at = 0;
            while at < buf.len() {
                let n = self.conn.writer().write(&buf[at..])?;
                at += n;
                taken += n;
                match self.send_pending() {
                    // rustls takes nothing more (before the handshake completes).
                    Ok(()) if n == 0 => return blocked_unless(taken),
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return blocked_unless(taken)
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `Ok(taken)`, or `WouldBlock` when nothing was taken (`Ok(0)` would read as a closed
/// socket).
fn blocked_unless(taken: usize) -> io::Result<usize> {
    if taken == 0 {
        Err(io::ErrorKind::WouldBlock.into())
    } else {
        Ok(taken)
    }
}
