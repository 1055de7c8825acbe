//! MQTT over WebSockets (`--websocket`): the client side of RFC 6455 over a plain or TLS
//! [`Stream`], as MQTT.js or a browser speaks it to a `protocol websockets` listener.
//!
//! [`WsStream`] reads and writes like the stream it wraps, so the worker does not know it
//! is there:
//!
//! - **Opening handshake** (4.1). The upgrade request (`GET --ws-path`, a random 16-byte
//!   `Sec-WebSocket-Key`, `Sec-WebSocket-Protocol: mqtt`) is the first thing written. The
//!   answer must be `101` with `Upgrade: websocket`, `Connection: Upgrade`, the
//!   `Sec-WebSocket-Accept` computed from the key (4.2.2) and the `mqtt` subprotocol
//!   [MQTT-6.0.0-4]; anything else fails the connection, and the first refusal of a run is
//!   printed. "The client MUST wait for a response from the server before sending any
//!   further data" (4.1), so MQTT bytes written meanwhile (the CONNECT) are held and sent
//!   as one frame once the 101 has arrived; frames that came right behind it are decoded.
//! - **Writing**: each `write` takes the worker's whole batch as one binary frame, masked
//!   with a fresh key ([`crate::ws_frame::put_frame`]: a copy and an XOR pass), and writes
//!   it; what the socket did not take is sent before anything else, by the next `write` or
//!   by `flush` on the writable edge, as the TLS stream does with its records. Control
//!   frames (Pong, Close) are queued behind whole frames, so never inside one.
//! - **Reading**: the server's frames are decoded in the caller's buffer
//!   ([`crate::ws_frame::Decoder`]); a Ping is answered with a Pong, a Close is echoed and
//!   reads as the end of the stream, a frame a server must not send is an `InvalidData`
//!   error.
//!
//! The masking keys need not be secret here (masking protects proxies from hostile
//! scripts; a load generator on loopback has neither): each stream draws one seed from
//! the system's random source, with its `Sec-WebSocket-Key`, and a xorshift generator
//! makes a fresh key per frame from it. The handshake uses `ring`'s SHA-1 and `base64`,
//! which the broker already links.

use crate::stream::Stream;
use crate::ws_frame::{self, opcode, Control, Decoder};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Appended to the key before hashing (RFC 6455 1.3, 4.2.2).
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The longest handshake answer accepted (Sol's is under 200 bytes).
const MAX_RESPONSE: usize = 8192;

/// The most MQTT bytes one frame carries (the worker's batches are 64 KiB).
const MAX_FRAME_PAYLOAD: usize = 1 << 20;

/// Set once a refused upgrade has been printed: one line per run, not one per connection.
static REFUSAL_PRINTED: AtomicBool = AtomicBool::new(false);

/// What every WebSocket connection of a run asks for: the request's target and `Host`.
#[derive(Clone, Debug)]
pub struct Upgrade {
    /// The request target (`--ws-path`), e.g. `/mqtt`.
    path: String,
    /// The `Host` header: the broker's address and port.
    host: String,
}

impl Upgrade {
    /// Upgrades to `path` on `host` (`address:port`); the path must be an absolute path
    /// without spaces or control characters (an HTTP request target, RFC 7230 5.3.1).
    pub fn new(path: &str, host: &str) -> Result<Upgrade, String> {
        if !path.starts_with('/') || path.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "--ws-path {path:?}: an absolute path such as /mqtt, without spaces"
            ));
        }
        Ok(Upgrade {
            path: path.to_string(),
            host: host.to_string(),
        })
    }

    /// The path asked for.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The upgrade request with `key` (base64 of 16 bytes) (RFC 6455 4.1).
    fn request(&self, key: &str) -> String {
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: mqtt\r\n\r\n",
            self.path, self.host
        )
    }
}

/// The `Sec-WebSocket-Accept` a server must answer to `key`: base64(SHA-1(key + GUID))
/// (RFC 6455 4.2.2).
fn accept_for(key: &str) -> String {
    let mut sha1 = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    sha1.update(key.as_bytes());
    sha1.update(GUID);
    BASE64.encode(sha1.finish())
}

/// The length of the response head at the start of `buf`, through its blank line, once
/// it has arrived.
fn response_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// Checks the server's answer `head` (through its blank line) against what RFC 6455 4.1
/// asks of it; `Err` says what was wrong.
fn check_response(head: &[u8], accept: &str) -> Result<(), String> {
    let text = std::str::from_utf8(head).map_err(|_| "the answer is not text".to_string())?;
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let mut parts = status.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or_default(), parts.next());
    if !version.starts_with("HTTP/1.") || code != Some("101") {
        return Err(format!("answered {status:?}, not 101 Switching Protocols"));
    }
    let (mut upgrade, mut connection, mut accepted, mut protocol) = (false, false, None, None);
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("malformed header line {line:?}"));
        };
        let value = value.trim();
        let has_token = |token: &str| {
            value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        match name.to_ascii_lowercase().as_str() {
            "upgrade" => upgrade |= has_token("websocket"),
            "connection" => connection |= has_token("upgrade"),
            "sec-websocket-accept" => accepted = Some(value),
            "sec-websocket-protocol" => protocol = Some(value),
            _ => {}
        }
    }
    if !upgrade || !connection {
        return Err("no Upgrade: websocket and Connection: Upgrade in the 101".into());
    }
    if accepted != Some(accept) {
        return Err(format!(
            "Sec-WebSocket-Accept {accepted:?}, expected {accept:?}"
        ));
    }
    if protocol != Some("mqtt") {
        return Err(format!(
            "subprotocol {protocol:?}: the mqtt subprotocol was asked for [MQTT-6.0.0-4]"
        ));
    }
    Ok(())
}

/// A connection's opening handshake while the 101 has not arrived.
#[derive(Debug)]
struct Handshake {
    /// The `Sec-WebSocket-Accept` the server must answer.
    accept: String,
    /// The answer so far.
    response: Vec<u8>,
    /// MQTT bytes written before the 101: one frame once it arrives.
    held: Vec<u8>,
}

/// A plain or TLS stream carrying MQTT in WebSocket frames.
#[derive(Debug)]
pub struct WsStream {
    /// The stream under the WebSocket (plain or TLS).
    inner: Stream,
    /// The opening handshake; `None` once the 101 has been accepted.
    handshake: Option<Handshake>,
    /// The server's frames.
    decoder: Decoder,
    /// Whole frames (and first the upgrade request) not yet taken by the socket, from
    /// `out_pos` on.
    out: Vec<u8>,
    /// How much of `out` was written.
    out_pos: usize,
    /// The masking keys' xorshift state (never 0).
    rng: u64,
}

impl WsStream {
    /// Wraps `inner` (connecting) with its upgrade request queued: it is written when the
    /// worker first writes or flushes.
    pub fn new(inner: Stream, upgrade: &Upgrade) -> io::Result<WsStream> {
        let mut random = [0u8; 24];
        SystemRandom::new()
            .fill(&mut random)
            .map_err(|_| io::Error::other("no random source for the WebSocket key"))?;
        let key = BASE64.encode(&random[..16]);
        let seed = u64::from_le_bytes(random[16..].try_into().expect("8 bytes"));
        Ok(WsStream {
            inner,
            handshake: Some(Handshake {
                accept: accept_for(&key),
                response: Vec::new(),
                held: Vec::new(),
            }),
            decoder: Decoder::default(),
            out: upgrade.request(&key).into_bytes(),
            out_pos: 0,
            rng: seed | 1,
        })
    }

    /// The stream under the WebSocket.
    pub fn inner(&self) -> &Stream {
        &self.inner
    }

    /// The stream under the WebSocket, for registration and socket options.
    pub fn inner_mut(&mut self) -> &mut Stream {
        &mut self.inner
    }

    /// Appends a frame of type `op` carrying `payload`, masked with a fresh key.
    fn queue(&mut self, op: u8, payload: &[u8]) {
        // xorshift64 (Marsaglia): a different key per frame, cheaply.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let mask = (self.rng as u32).to_le_bytes();
        ws_frame::put_frame(op, payload, mask, &mut self.out);
    }

    /// Writes the queued bytes, then what the stream under holds (TLS records): `Ok` when
    /// all are out, `WouldBlock` when the socket is full.
    fn send_pending(&mut self) -> io::Result<()> {
        while self.out_pos < self.out.len() {
            match self.inner.write(&self.out[self.out_pos..])? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => self.out_pos += n,
            }
        }
        self.out.clear();
        self.out_pos = 0;
        self.inner.flush()
    }

    /// [`WsStream::send_pending`], where a full socket is no error: the rest goes on the
    /// writable edge.
    fn send_some(&mut self) -> io::Result<()> {
        match self.send_pending() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }

    /// Reads the handshake's answer from `buf[..n]`; once it is whole and accepted, the `m`
    /// bytes that followed it are moved to the front of `buf` and `Some(m)` is returned.
    fn handshake(&mut self, buf: &mut [u8], n: usize) -> io::Result<Option<usize>> {
        let Some(h) = self.handshake.as_mut() else {
            return Ok(Some(n));
        };
        let before = h.response.len();
        h.response.extend_from_slice(&buf[..n]);
        let Some(end) = response_end(&h.response) else {
            if h.response.len() > MAX_RESPONSE {
                return Err(refused("no end to the handshake's answer".into()));
            }
            return Ok(None);
        };
        check_response(&h.response[..end], &h.accept).map_err(refused)?;
        let held = std::mem::take(&mut h.held);
        self.handshake = None;
        if !held.is_empty() {
            self.queue(opcode::BINARY, &held);
        }
        self.send_some()?;
        let rest = n - (end - before);
        buf.copy_within(n - rest..n, 0);
        Ok(Some(rest))
    }
}

/// The error failing a connection whose upgrade was refused; the first is printed.
fn refused(why: String) -> io::Error {
    if !REFUSAL_PRINTED.swap(true, Ordering::Relaxed) {
        eprintln!("sol-load: WebSocket upgrade refused: {why}");
    }
    io::Error::new(io::ErrorKind::InvalidData, why)
}

impl Read for WsStream {
    /// MQTT bytes into `buf`: `Ok(0)` at the end of the stream (a Close included),
    /// `WouldBlock` when the socket had nothing more.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.decoder.closed() {
                return Ok(0);
            }
            let mut n = self.inner.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            if self.handshake.is_some() {
                match self.handshake(buf, n)? {
                    None | Some(0) => continue,
                    Some(rest) => n = rest,
                }
            }
            let mut answers: Vec<(u8, Vec<u8>)> = Vec::new();
            let mqtt = self
                .decoder
                .decode(&mut buf[..n], |control| match control {
                    Control::Ping(payload) => answers.push((opcode::PONG, payload.to_vec())),
                    Control::Pong => {}
                    // Echo the status (RFC 6455 5.5.1); the stream ends here.
                    Control::Close(status) => answers.push((
                        opcode::CLOSE,
                        status.map_or_else(Vec::new, |s| s.to_be_bytes().to_vec()),
                    )),
                })
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            if !answers.is_empty() {
                for (op, payload) in answers {
                    self.queue(op, &payload);
                }
                self.send_some()?;
            }
            if mqtt > 0 {
                return Ok(mqtt);
            }
        }
    }
}

impl Write for WsStream {
    /// Takes the whole of `buf` (up to 1 MiB) as one frame once what was queued before is
    /// out (`WouldBlock` otherwise); before the 101, holds it.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(h) = self.handshake.as_mut() {
            h.held.extend_from_slice(buf);
            self.send_some()?;
            return Ok(buf.len());
        }
        self.send_pending()?;
        let n = buf.len().min(MAX_FRAME_PAYLOAD);
        self.queue(opcode::BINARY, &buf[..n]);
        self.send_some()?;
        Ok(n)
    }

    /// Sends what is queued (`WouldBlock` if the socket blocks again).
    fn flush(&mut self) -> io::Result<()> {
        self.send_pending()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_value_is_the_rfc_example() {
        // RFC 6455 1.3.
        assert_eq!(
            accept_for("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn the_request_asks_for_mqtt_on_the_path() {
        let u = Upgrade::new("/mqtt", "127.0.0.1:1883").expect("a valid path");
        let request = u.request("dGhlIHNhbXBsZSBub25jZQ==");
        assert!(request.starts_with("GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1:1883\r\n"));
        assert!(request.contains("\r\nSec-WebSocket-Protocol: mqtt\r\n"));
        assert!(request.ends_with("Sec-WebSocket-Protocol: mqtt\r\n\r\n"));
        // Sol's own parser takes it, and answers what the client expects.
        let parsed = sol::ws::parse_request(request.as_bytes(), 4096)
            .expect("valid")
            .expect("whole");
        assert_eq!(parsed.len, request.len());
        assert_eq!(parsed.accept(), accept_for("dGhlIHNhbXBsZSBub25jZQ=="));
        let answer = parsed.response();
        let head = answer.as_bytes();
        assert_eq!(response_end(head), Some(head.len()));
        assert_eq!(check_response(head, parsed.accept()), Ok(()));
        assert!(Upgrade::new("mqtt", "h").is_err());
        assert!(Upgrade::new("/a b", "h").is_err());
    }

    /// Reads from the server's side of `peer` until `decoder` (Sol's own, server side) has
    /// produced `want` MQTT bytes and `controls` control frames; returns both.
    fn server_reads(
        peer: &mut std::net::TcpStream,
        decoder: &mut sol::ws::Decoder,
        want: usize,
        controls: usize,
    ) -> (Vec<u8>, Vec<String>) {
        let (mut mqtt, mut seen) = (Vec::new(), Vec::new());
        while mqtt.len() < want || seen.len() < controls {
            let mut buf = [0u8; 512];
            let n = peer.read(&mut buf).expect("the client's frames");
            assert!(n > 0, "the client closed");
            let got = decoder.decode(&mut buf[..n], |c| seen.push(format!("{c:?}")));
            assert_eq!(got.error, None, "the client's frames are valid");
            mqtt.extend_from_slice(&buf[..got.mqtt]);
        }
        (mqtt, seen)
    }

    #[test]
    fn bytes_written_before_the_101_follow_it_and_frames_behind_it_are_read() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let client =
            std::net::TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
        let (mut peer, _) = listener.accept().expect("accept");
        peer.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        // A blocking socket under the stream: each read waits for the peer's bytes.
        let tcp = Stream::Plain(mio::net::TcpStream::from_std(client));
        let upgrade = Upgrade::new("/mqtt", "127.0.0.1:1883").expect("a valid path");
        let mut ws = WsStream::new(tcp, &upgrade).expect("random source");
        // The CONNECT is held; the request goes out.
        assert_eq!(ws.write(b"\x10\x02ab").expect("held"), 4);
        let mut request = Vec::new();
        while response_end(&request).is_none() {
            let mut buf = [0u8; 512];
            let n = peer.read(&mut buf).expect("the request");
            assert!(n > 0, "the client closed");
            request.extend_from_slice(&buf[..n]);
        }
        let accepted = sol::ws::parse_request(&request, 4096)
            .expect("Sol accepts the request")
            .expect("whole");
        assert_eq!(accepted.len, request.len(), "nothing sent before the 101");
        // The 101, a Ping and two MQTT bytes in one write.
        let mut answer = accepted.response().as_bytes().to_vec();
        answer.extend_from_slice(&[0x89, 1, b'p', 0x82, 2, 0xe0, 0]);
        peer.write_all(&answer).expect("answer");
        let mut buf = [0u8; 64];
        assert_eq!(ws.read(&mut buf).expect("MQTT bytes"), 2);
        assert_eq!(buf[..2], [0xe0, 0]);
        // The held CONNECT, then the Pong, both masked (Sol's decoder refuses anything else).
        let mut decoder = sol::ws::Decoder::new();
        let (mqtt, controls) = server_reads(&mut peer, &mut decoder, 4, 1);
        assert_eq!(mqtt, b"\x10\x02ab");
        assert_eq!(controls, ["Pong"]);
        // A batch after the handshake is one frame; a Close is echoed and ends the stream.
        assert_eq!(ws.write(&[7; 300]).expect("a frame"), 300);
        let (mqtt, _) = server_reads(&mut peer, &mut decoder, 300, 0);
        assert_eq!(mqtt, [7; 300]);
        peer.write_all(&[0x88, 2, 0x03, 0xe8]).expect("close");
        assert_eq!(ws.read(&mut buf).expect("end of stream"), 0);
        let (_, controls) = server_reads(&mut peer, &mut decoder, 0, 1);
        assert_eq!(controls, ["Close(Some(1000))"]);
    }

    #[test]
    fn a_wrong_answer_is_refused_with_the_reason() {
        let accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        let good = format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nConnection: upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
        );
        assert_eq!(check_response(good.as_bytes(), accept), Ok(()));
        let cases = [
            ("HTTP/1.1 404 Not Found\r\n\r\n".to_string(), "404"),
            (good.replace(accept, "AAAA"), "Accept"),
            (
                good.replace("Sec-WebSocket-Protocol: mqtt\r\n", ""),
                "subprotocol",
            ),
            (good.replace("mqtt", "mqttv3.1"), "subprotocol"),
            (good.replace("upgrade: WebSocket\r\n", ""), "Upgrade"),
        ];
        for (answer, why) in cases {
            let err = check_response(answer.as_bytes(), accept).expect_err(why);
            assert!(err.contains(why), "{err}");
        }
    }
}
