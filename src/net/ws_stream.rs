//! A WebSocket connection's socket: MQTT over WebSockets (`protocol websockets`), over TCP
//! or TLS, driven by the sans-I/O core in [`crate::ws`].
//!
//! It looks like a plain stream to the reactor, as [`super::tls_stream::TlsStream`] does:
//!
//! - **Reading** first completes the HTTP upgrade: the request is collected (at most
//!   `websockets_headers_size` bytes, in a vector freed once the handshake is done),
//!   answered with 101 or a short HTTP error, and the bytes behind it are decoded. Then
//!   every read is decoded in place by [`ws::Decoder`]: the caller's buffer (the scratch
//!   buffer, or a large message's body) gets the MQTT bytes, unmasked and moved to the
//!   front, so framing, the read state machine and the large-message path are the same
//!   as for TCP. Pings are answered, a Close is echoed and reads as the end of the
//!   stream, a malformed frame is answered with a Close carrying its status and reads as
//!   an `InvalidData` error. A read returns fewer MQTT bytes than it read from the
//!   socket, so whether the socket is drained is told apart
//!   ([`super::listener::Stream::drained_by`]: its own read of the socket was short).
//! - **Writing** puts a binary frame header (2-10 bytes) in front of whatever the
//!   reactor gathered and writes both with one `writev`: the packets' bytes are not
//!   copied. A frame the socket took only part of is finished before anything else (the
//!   header's own rest, then the payload still owed), and control frames (Pong, Close,
//!   the handshake's answer) wait for a frame boundary, so they never land inside a
//!   data frame. A short count still means the socket blocked.
//!
//! A handshake that never completes is closed by the broker's connect timeout, which
//! starts at accept: no CONNECT arrives. Memory: [`WS_CONNECTION_BYTES`] per connection
//! plus the request while the handshake lasts; the memory ceiling counts both.

use super::listener::Stream;
use crate::log::TARGET_WEBSOCKETS;
use crate::ws::{self, Control, Decoder};
use std::io::{self, IoSlice, Read, Write};

/// Bytes of one WebSocket connection's own state (the boxed stream: the decoder, the
/// frame being written, the control frames waiting), for the memory ceiling; the
/// request while the handshake lasts (`websockets_headers_size`) and a TLS connection's
/// state are counted apart. Control frames waiting are at most a Pong and a Close.
pub const WS_CONNECTION_BYTES: usize = std::mem::size_of::<WsStream>() + 2 * ws::MAX_CONTROL_FRAME;

/// The most bytes of Pongs that may wait for a blocked socket: one frame. A client that
/// pings without reading gets a Pong for the Pings that find room and no more (RFC 6455
/// 5.5.3 allows answering only some of them), so it cannot grow the connection's memory.
const PONG_ROOM: usize = ws::MAX_CONTROL_FRAME;

// At most a Pong and a Close wait for a blocked socket: what `WS_CONNECTION_BYTES` counts.
const _: () = assert!(PONG_ROOM + ws::MAX_CONTROL_FRAME <= 2 * ws::MAX_CONTROL_FRAME);

/// A TCP or TLS stream carrying MQTT over WebSockets.
#[derive(Debug)]
pub struct WsStream {
    /// The socket (TCP, or TLS over TCP) under the WebSocket.
    inner: Stream,
    /// The upgrade request so far; `None` once the handshake is done.
    request: Option<Vec<u8>>,
    /// The most bytes the upgrade request may have (`websockets_headers_size`).
    headers_limit: usize,
    /// The incoming frames' state.
    decoder: Decoder,
    /// Control frames (and the handshake's answer) waiting for a frame boundary.
    control: Vec<u8>,
    /// The current data frame's header bytes not written yet (`head_at..head_len`).
    head: [u8; ws::MAX_DATA_HEADER],
    /// Where the unwritten part of `head` starts.
    head_at: u8,
    /// Where `head` ends.
    head_len: u8,
    /// Payload bytes of the current data frame not written yet.
    frame_left: usize,
    /// A Close was sent (an echo, or for an error): nothing more is sent but its rest.
    closed: bool,
    /// The last read of the socket returned fewer bytes than asked for.
    raw_short: bool,
}

impl WsStream {
    /// Wraps an accepted stream whose first bytes will be the upgrade request.
    pub fn new(inner: Stream, headers_limit: usize) -> WsStream {
        WsStream {
            inner,
            request: Some(Vec::new()),
            headers_limit,
            decoder: Decoder::new(),
            control: Vec::new(),
            head: [0; ws::MAX_DATA_HEADER],
            head_at: 0,
            head_len: 0,
            frame_left: 0,
            closed: false,
            raw_short: false,
        }
    }

    /// Whether the last read left the socket empty: its own read of a plain socket was
    /// short (a TLS socket's never tells).
    pub fn last_read_drained(&self) -> bool {
        self.raw_short && matches!(self.inner, Stream::Tcp(_) | Stream::Unix(_))
    }

    /// The stream under the WebSocket.
    pub fn inner(&self) -> &Stream {
        &self.inner
    }

    /// The stream under the WebSocket, for registration and the TLS identity.
    pub fn inner_mut(&mut self) -> &mut Stream {
        &mut self.inner
    }

    /// Sends what is owed, in order: the lower stream's own (TLS records), the rest of
    /// the current frame's header, and at a frame boundary the control frames. `Ok` when
    /// nothing is left at a frame boundary, `WouldBlock` when the socket is full.
    pub fn send_pending(&mut self) -> io::Result<()> {
        self.inner.send_pending()?;
        if self.head_at == self.head_len && (self.control.is_empty() || self.frame_left > 0) {
            // Nothing owed (the common case on every write).
            return Ok(());
        }
        while self.head_at < self.head_len {
            let n = self
                .inner
                .write(&self.head[usize::from(self.head_at)..usize::from(self.head_len)])?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.head_at += n as u8;
        }
        if self.frame_left == 0 {
            while !self.control.is_empty() {
                let n = self.inner.write(&self.control)?;
                if n == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                self.control.drain(..n);
            }
            // The handshake's answer was the largest: give its room back.
            self.control = Vec::new();
            self.inner.send_pending()?;
        }
        Ok(())
    }

    /// Queues a control frame and sends what it can (a blocked socket sends the rest on
    /// its writable edge).
    fn queue_control(&mut self, frame: &[u8]) {
        if self.closed {
            return;
        }
        self.control.extend_from_slice(frame);
        let _ = self.send_pending();
    }

    /// Sends a Close with `status` (best effort) and sends nothing more after it.
    fn send_close(&mut self, status: u16) {
        let mut frame = [0u8; ws::MAX_CONTROL_FRAME];
        let n = ws::close(Some(status), "", &mut frame);
        self.queue_control(&frame[..n]);
        self.closed = true;
    }

    /// Closes the WebSocket (a Close with status 1000, if no data frame is half written)
    /// and shuts the stream down.
    pub fn shutdown(&mut self) {
        let _ = self.send_pending();
        if self.request.is_none() && !self.closed && self.frame_left == 0 {
            self.send_close(ws::status::NORMAL);
        }
        self.inner.shutdown();
    }

    /// Reads the upgrade request into `buf` and answers it; `Ok(Some(n))` once it is
    /// accepted, with the `n` bytes that followed it moved to the front of `buf`.
    fn handshake(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let n = self.inner.read(buf)?;
        self.raw_short = n < buf.len();
        if n == 0 {
            return Ok(Some(0));
        }
        let Some(request) = self.request.as_mut() else {
            return Ok(Some(n));
        };
        // At most one byte past the limit is kept: enough to tell it was passed.
        let room = (self.headers_limit + 1).saturating_sub(request.len());
        request.extend_from_slice(&buf[..n.min(room)]);
        match ws::parse_request(request, self.headers_limit) {
            Ok(None) if n > room => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "WebSocket upgrade request larger than websockets_headers_size",
            )),
            Ok(None) => Ok(None),
            Ok(Some(accepted)) => {
                // The request's end came in this read, so what follows it is in `buf`.
                let before = request.len() - n.min(room);
                let rest = (before + n).saturating_sub(accepted.len).min(n);
                buf.copy_within(n - rest..n, 0);
                log::info!(
                    target: TARGET_WEBSOCKETS,
                    "WebSocket upgrade from {}, subprotocol {}",
                    self.peer_ip_text(),
                    accepted.subprotocol.map_or("(none)", ws::Subprotocol::name)
                );
                self.request = None;
                let response = accepted.response();
                self.queue_control(response.as_bytes());
                Ok(Some(rest))
            }
            Err(error) => {
                log::info!(
                    target: TARGET_WEBSOCKETS,
                    "WebSocket upgrade from {} refused ({}): {error}",
                    self.peer_ip_text(),
                    error.status()
                );
                self.control.extend_from_slice(error.response());
                let _ = self.send_pending();
                self.closed = true;
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    error.to_string(),
                ))
            }
        }
    }

    /// The peer's address for the log.
    fn peer_ip_text(&self) -> String {
        self.inner
            .peer_ip()
            .map_or_else(|| "a local socket".to_string(), |ip| ip.to_string())
    }

    /// Decodes the first `n` bytes of `buf`, read from the socket, in place; the MQTT
    /// bytes they carried, at the front of `buf`.
    fn decode(&mut self, buf: &mut [u8], n: usize) -> io::Result<usize> {
        let mut pong = None;
        let mut close = None;
        let decoded = self.decoder.decode(&mut buf[..n], |control| match control {
            Control::Ping(payload) => {
                let mut frame = [0u8; ws::MAX_CONTROL_FRAME];
                let len = ws::pong(payload, &mut frame);
                pong = Some((frame, len));
            }
            Control::Pong => {}
            Control::Close(status) => close = Some(status),
        });
        if let Some((frame, len)) = pong {
            if self.control.len() + len <= PONG_ROOM {
                self.queue_control(&frame[..len]);
            } else {
                log::debug!(
                    target: TARGET_WEBSOCKETS,
                    "WebSocket connection from {}: Ping not answered, a Pong still waits",
                    self.peer_ip_text()
                );
            }
        }
        if let Some(error) = decoded.error {
            log::info!(
                target: TARGET_WEBSOCKETS,
                "WebSocket connection from {} failed: {error}",
                self.peer_ip_text()
            );
            self.send_close(error.close_status());
            return match decoded.mqtt {
                0 => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    error.to_string(),
                )),
                mqtt => Ok(mqtt),
            };
        }
        if let Some(status) = close {
            // Echo the status (RFC 6455 5.5.1); the stream ends after these bytes.
            let mut frame = [0u8; ws::MAX_CONTROL_FRAME];
            let len = ws::close(status, "", &mut frame);
            self.queue_control(&frame[..len]);
            self.closed = true;
        }
        Ok(decoded.mqtt)
    }
}

impl Read for WsStream {
    /// MQTT bytes into `buf`: 0 at the end of the stream (the peer's Close included),
    /// `WouldBlock` when the socket had none.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.closed && self.request.is_none() {
                return Ok(0);
            }
            let n = if self.request.is_some() {
                match self.handshake(buf)? {
                    None => continue,
                    Some(0) if self.request.is_some() => return Ok(0),
                    Some(n) => n,
                }
            } else {
                match self.inner.read(buf)? {
                    0 => return Ok(0),
                    n => {
                        self.raw_short = n < buf.len();
                        n
                    }
                }
            };
            if n == 0 {
                continue;
            }
            match self.decode(buf, n)? {
                // Only frame headers or control frames: read on.
                0 => continue,
                mqtt => return Ok(mqtt),
            }
        }
    }
}

impl Write for WsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    /// Takes MQTT bytes until the socket blocks (or all are taken), each batch as one
    /// binary frame whose header is written in front of it.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.request.is_some() || self.closed {
            // Nothing is sent before the upgrade is answered, or after a Close.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.send_pending()?;
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let mut taken = 0;
        while taken < total {
            if self.frame_left == 0 {
                // A frame boundary: control frames that waited go first.
                match self.send_pending() {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && taken > 0 => {
                        return Ok(taken)
                    }
                    Err(e) => return Err(e),
                }
                self.head_len = ws::binary_header(total - taken, &mut self.head) as u8;
                self.head_at = 0;
                self.frame_left = total - taken;
            }
            let head_bytes = self.head;
            let head = &head_bytes[usize::from(self.head_at)..usize::from(self.head_len)];
            let mut slices = Slices::new();
            if !head.is_empty() {
                slices.push(IoSlice::new(head));
            }
            take_range(bufs, taken, self.frame_left, &mut slices);
            let slices = slices.as_slice();
            let written = match self.inner.write_vectored(slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && taken > 0 => return Ok(taken),
                Err(e) => return Err(e),
            };
            let head_written = written.min(head.len());
            self.head_at += head_written as u8;
            let payload = written - head_written;
            self.frame_left -= payload;
            taken += payload;
            if written < head.len() + slices_len(&slices[usize::from(!head.is_empty())..]) {
                // The socket blocked.
                break;
            }
        }
        if taken == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Total bytes of `slices`.
fn slices_len(slices: &[IoSlice<'_>]) -> usize {
    slices.iter().map(|s| s.len()).sum()
}

/// The slices of one `writev`: a frame header and what the reactor gathered (at most
/// `gather::MAX_OUT`), on the stack; slices past the room are left for the next write.
struct Slices<'a> {
    /// The slices; the first `len` are set.
    items: [IoSlice<'a>; super::gather::MAX_OUT + 1],
    /// How many are set.
    len: usize,
}

impl<'a> Slices<'a> {
    /// None yet.
    fn new() -> Slices<'a> {
        Slices {
            items: [IoSlice::new(&[]); super::gather::MAX_OUT + 1],
            len: 0,
        }
    }

    /// Appends `slice`; false when there is no room.
    fn push(&mut self, slice: IoSlice<'a>) -> bool {
        let Some(item) = self.items.get_mut(self.len) else {
            return false;
        };
        *item = slice;
        self.len += 1;
        true
    }

    /// The slices set.
    fn as_slice(&self) -> &[IoSlice<'a>] {
        &self.items[..self.len]
    }
}

/// Appends to `out` the slices of `bufs` covering bytes `skip..skip + len` of their
/// concatenation (as many as fit).
fn take_range<'a>(bufs: &'a [IoSlice<'a>], mut skip: usize, mut len: usize, out: &mut Slices<'a>) {
    for buf in bufs {
        if len == 0 {
            return;
        }
        let bytes: &'a [u8] = buf;
        if skip >= bytes.len() {
            skip -= bytes.len();
            continue;
        }
        let part = &bytes[skip..bytes.len().min(skip + len)];
        skip = 0;
        len -= part.len();
        if !out.push(IoSlice::new(part)) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_websocket_connection_costs_little_beside_its_socket() {
        // The box an idle WebSocket connection holds beside a TCP one (the request and
        // the control frames are freed once sent): within the 200 bytes.
        let boxed = std::mem::size_of::<WsStream>();
        assert!(boxed <= 160, "WsStream is {boxed} bytes");
        assert_eq!(WS_CONNECTION_BYTES, boxed + 2 * ws::MAX_CONTROL_FRAME);
    }

    /// A WebSocket over one end of a Unix socket pair, upgraded; the other end.
    fn upgraded_pair() -> (WsStream, std::os::unix::net::UnixStream) {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("pair");
        ours.set_nonblocking(true).expect("non-blocking");
        let mut ws = WsStream::new(Stream::Unix(mio::net::UnixStream::from_std(ours)), 4096);
        let mut peer = theirs;
        peer.write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Protocol: mqtt\r\n\r\n",
        )
        .expect("request");
        let mut buf = [0u8; 4096];
        assert_eq!(
            ws.read(&mut buf).map_err(|e| e.kind()),
            Err(io::ErrorKind::WouldBlock)
        );
        assert!(ws.request.is_none(), "upgraded");
        (ws, peer)
    }

    #[test]
    fn pings_from_a_client_that_does_not_read_cannot_grow_memory() {
        let (mut ws, mut peer) = upgraded_pair();
        // The peer reads nothing: after the socket's buffer fills, every Pong waits.
        let ping = [0x89, 0x80 | 125, 1, 2, 3, 4]
            .into_iter()
            .chain(std::iter::repeat_n(0u8, 125))
            .collect::<Vec<u8>>();
        let mut buf = [0u8; 4096];
        for _ in 0..20_000 {
            peer.write_all(&ping).expect("ping");
            let _ = ws.read(&mut buf);
            assert!(
                ws.control.len() <= PONG_ROOM,
                "{} bytes of Pongs wait",
                ws.control.len()
            );
        }
        assert!(
            !ws.control.is_empty(),
            "the socket did fill up: the cap was reached"
        );
    }

    #[test]
    fn take_range_picks_bytes_across_slices() {
        let (a, b, c) = (b"abc".as_slice(), b"defg".as_slice(), b"hi".as_slice());
        let bufs = [IoSlice::new(a), IoSlice::new(b), IoSlice::new(c)];
        let mut out = Slices::new();
        take_range(&bufs, 2, 6, &mut out);
        let got: Vec<u8> = out
            .as_slice()
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect();
        assert_eq!(got, b"cdefgh");
        assert_eq!(slices_len(out.as_slice()), 6);
    }
}
