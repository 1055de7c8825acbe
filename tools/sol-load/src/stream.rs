//! A generator connection's byte stream: plain TCP, TLS (`--tls-ca`, see [`crate::tls`]),
//! or MQTT over WebSockets on either (`--websocket`, see [`crate::ws`]).
//!
//! [`Stream`] reads and writes like the `mio` socket it holds, so the worker's batching and
//! edge-triggered reading stay as they are whatever the connection carries. The plain
//! variant forwards each call to the socket (one enum check). Every variant keeps the same
//! contract: `write` may take a whole batch and hold what the socket did not accept (TLS
//! records, the rest of a WebSocket frame), which [`Write::flush`] sends on the writable
//! edge; `read` returns MQTT bytes, `Ok(0)` at the end of the stream, `WouldBlock` only when
//! the socket had nothing more.

use crate::tls::{Connector, TlsStream};
use crate::ws::{Upgrade, WsStream};
use mio::net::TcpStream;
use std::io::{self, Read, Write};

/// A connection's stream: plain, TLS, or a WebSocket over one of those (boxed: the rustls
/// and WebSocket states are large and most runs hold many plain connections).
#[derive(Debug)]
pub enum Stream {
    /// MQTT straight over TCP.
    Plain(TcpStream),
    /// MQTT over TLS.
    Tls(Box<TlsStream>),
    /// MQTT in WebSocket frames, over a plain or TLS stream.
    Ws(Box<WsStream>),
}

impl Stream {
    /// `tcp` as it is, wrapped in a TLS client session when `tls` is given, and carrying a
    /// WebSocket (its upgrade request queued) when `ws` is given.
    pub fn new(
        tcp: TcpStream,
        tls: Option<&Connector>,
        ws: Option<&Upgrade>,
    ) -> io::Result<Stream> {
        let stream = match tls {
            None => Stream::Plain(tcp),
            Some(c) => Stream::Tls(Box::new(c.wrap(tcp)?)),
        };
        Ok(match ws {
            None => stream,
            Some(upgrade) => Stream::Ws(Box::new(WsStream::new(stream, upgrade)?)),
        })
    }

    /// The socket, for registration, socket options and connect errors.
    pub fn tcp(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => t.tcp(),
            Stream::Ws(w) => w.inner_mut().tcp(),
        }
    }

    /// The negotiated TLS version and cipher suite (e.g. `TLSv1_3 TLS13_AES_256_GCM_SHA384`),
    /// once the handshake has completed; `None` without TLS.
    pub fn describe(&self) -> Option<String> {
        match self {
            Stream::Plain(_) => None,
            Stream::Tls(t) => t.describe(),
            Stream::Ws(w) => w.inner().describe(),
        }
    }
}

impl Stream {
    /// Whether the socket's non-blocking connect has completed, on a writable event:
    /// `Ok(false)` while it is still in progress (a spurious wake-up), the error if it failed.
    pub fn connected(&mut self) -> io::Result<bool> {
        let tcp = self.tcp();
        match tcp.take_error()? {
            Some(e) => Err(e),
            None => Ok(tcp.peer_addr().is_ok()),
        }
    }

    /// Writes as much of `buf` as the socket takes, then what the stream holds: the bytes
    /// of `buf` taken, and `Ok` once all of it is out, `WouldBlock` when the socket blocked
    /// first (wait for the writable edge), another error if the connection failed (a write
    /// of 0 bytes is `WriteZero`).
    pub fn send(&mut self, buf: &[u8]) -> (usize, io::Result<()>) {
        let mut at = 0;
        while at < buf.len() {
            match self.write(&buf[at..]) {
                Ok(0) => return (at, Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => at += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (at, Err(e)),
            }
        }
        (at, self.flush())
    }
}

impl Read for Stream {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
            Stream::Ws(w) => w.read(buf),
        }
    }
}

impl Write for Stream {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
            Stream::Ws(w) => w.write(buf),
        }
    }

    /// Writes what the stream still holds (TLS records, the rest of a WebSocket frame;
    /// `WouldBlock` if the socket blocks again); nothing to do for a plain socket.
    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) => Ok(()),
            Stream::Tls(t) => t.send_pending(),
            Stream::Ws(w) => w.flush(),
        }
    }
}
