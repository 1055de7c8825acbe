//! The opening handshake (RFC 6455 4.2): the client's HTTP/1.1 upgrade request, and the
//! answers to it.
//!
//! [`parse_request`] is called with everything the connection has sent so far. Until the
//! blank line ending the request's headers has arrived it answers `Ok(None)` (a short
//! read is not an error), unless `limit` bytes came without it (Mosquitto's
//! `websockets_headers_size`). A complete request is checked as RFC 6455 4.2.1 asks and
//! either accepted ([`Request`]: how many bytes it used, since MQTT bytes may follow in
//! the same read, and the [`Response`] to send) or refused with a [`HandshakeError`] that
//! names what was wrong and carries its short HTTP answer, always with `Connection:
//! close`.
//!
//! What Sol accepts, compared with Mosquitto 2.0.11 (libwebsockets 4.1.6, checked on
//! Debian with raw requests):
//!
//! - **Subprotocol.** `Sec-WebSocket-Protocol` must offer `mqtt` (MQTT 3.1.1 and 5.0
//!   section 6, [MQTT-6.0.0-3]) or `mqttv3.1` (older MQTT 3.1 clients; Mosquitto
//!   registers both names); the first of the client's tokens that is one of them is
//!   chosen and answered ([MQTT-6.0.0-4]). Names compare case-sensitively, as in
//!   Mosquitto (`MQTT` is refused there too). A request offering only other
//!   subprotocols is refused (Mosquitto closes it). A request offering **none** is
//!   accepted and answered without the header (RFC 6455 4.2.2: the server must not name
//!   a subprotocol the client did not offer). Mosquitto upgrades such a request too but
//!   then binds it to its HTTP handler and never answers its CONNECT (the client hangs);
//!   Sol serves MQTT on it, which is what a client connecting to an MQTT port means.
//! - **Path and Origin.** Any request target is accepted (MQTT.js uses `/mqtt`, others
//!   `/` or `/ws`), and `Origin` is not checked: Mosquitto 2.0 checks neither. A browser
//!   page from any site can therefore connect; MQTT's own authentication decides.
//! - **Stricter than libwebsockets**, as RFC 6455 4.2.1 asks: Mosquitto also upgrades a
//!   `POST`, an `HTTP/1.0` request, a `Sec-WebSocket-Version` other than 13, and a key
//!   that is not 16 bytes of base64. Sol refuses them (the version with 426 and
//!   `Sec-WebSocket-Version: 13`, RFC 6455 4.4); no real client sends them.
//! - **Size.** `mosquitto.conf(5)` gives `websockets_headers_size` a default of 1024, but
//!   libwebsockets 4 sizes its header buffer at 4096 unless told otherwise, and
//!   Mosquitto 2.0.11 accepts a 3,900-byte `Cookie` and refuses a 4,200-byte one. So
//!   [`DEFAULT_HEADERS_SIZE`] is 4096. Sol counts every byte of the request (request line
//!   and header names too), libwebsockets mostly the values.
//! - A request without an `Upgrade` header (a browser opening the port as a web page) is
//!   answered 404: Sol serves no files (Mosquitto's `http_dir`).
//!
//! Lines may end in CRLF or a bare LF (RFC 7230 3.5). Header names compare
//! case-insensitively, values are trimmed of spaces and tabs, and a header sent twice
//! counts as one with the values joined by commas (RFC 7230 3.2.2): for the list-valued
//! headers (`Connection`, `Upgrade`, `Sec-WebSocket-Protocol`) each occurrence adds its
//! tokens, and a repeated `Host`, `Sec-WebSocket-Key` or `Sec-WebSocket-Version` is
//! refused (joined, it is no longer one valid value).
//!
//! It reads a request and writes answers; it must not do I/O, keep state between calls,
//! or allocate.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ring::digest;

/// The default of `websockets_headers_size`: the most bytes an upgrade request may have,
/// through the blank line ending its headers (see the module comment for why 4096).
pub const DEFAULT_HEADERS_SIZE: usize = 4096;

/// Appended to the client's key before hashing (RFC 6455 1.3, 4.2.2).
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Length of the `Sec-WebSocket-Accept` value: base64 of a 20-byte SHA-1 digest.
const ACCEPT_LEN: usize = 28;

/// The longest 101 response: status line, three headers and the longest subprotocol.
const RESPONSE_MAX: usize = 34 + 20 + 21 + 22 + ACCEPT_LEN + 2 + 34 + 2;

/// The MQTT subprotocol a client offered and the server chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subprotocol {
    /// `mqtt`, the name MQTT 3.1.1 and 5.0 register [MQTT-6.0.0-4].
    Mqtt,
    /// `mqttv3.1`, offered by older MQTT 3.1 clients (and accepted by Mosquitto).
    MqttV31,
}

impl Subprotocol {
    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Subprotocol::Mqtt => "mqtt",
            Subprotocol::MqttV31 => "mqttv3.1",
        }
    }

    /// The subprotocol named by the token `name`, if it is one Sol speaks.
    fn from_token(name: &[u8]) -> Option<Self> {
        match name {
            b"mqtt" => Some(Subprotocol::Mqtt),
            b"mqttv3.1" => Some(Subprotocol::MqttV31),
            _ => None,
        }
    }
}

/// An accepted upgrade request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// How many bytes of the buffer the request used, through the blank line ending its
    /// headers; the bytes after it are the first WebSocket frames.
    pub len: usize,
    /// The subprotocol chosen; `None` when the client offered none.
    pub subprotocol: Option<Subprotocol>,
    /// The `Sec-WebSocket-Accept` value, base64 (ASCII).
    accept: [u8; ACCEPT_LEN],
}

impl Request {
    /// The `Sec-WebSocket-Accept` value: base64(SHA-1(key + GUID)) (RFC 6455 4.2.2).
    pub fn accept(&self) -> &str {
        std::str::from_utf8(&self.accept).expect("base64 is ASCII")
    }

    /// The 101 Switching Protocols response that completes the handshake.
    pub fn response(&self) -> Response {
        let mut response = Response {
            bytes: [0; RESPONSE_MAX],
            len: 0,
        };
        response.push(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n");
        response.push(b"Connection: Upgrade\r\nSec-WebSocket-Accept: ");
        response.push(&self.accept);
        if let Some(protocol) = self.subprotocol {
            response.push(b"\r\nSec-WebSocket-Protocol: ");
            response.push(protocol.name().as_bytes());
        }
        response.push(b"\r\n\r\n");
        response
    }
}

/// The bytes of a 101 response, in a fixed buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    /// The response, in `bytes[..len]`.
    bytes: [u8; RESPONSE_MAX],
    /// How many bytes of `bytes` are written.
    len: usize,
}

impl Response {
    /// The response's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Appends `part`, which fits: `RESPONSE_MAX` is the longest response.
    fn push(&mut self, part: &[u8]) {
        self.bytes[self.len..self.len + part.len()].copy_from_slice(part);
        self.len += part.len();
    }
}

/// Why an upgrade request was refused, one variant per fault. Every refusal is answered
/// with [`HandshakeError::response`] and the connection is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// `limit` bytes arrived without the end of the request's headers.
    TooLarge {
        /// The limit (`websockets_headers_size`).
        limit: usize,
    },
    /// The request line is not `METHOD SP target SP HTTP/x.y` (RFC 7230 3.1.1).
    BadRequestLine,
    /// A header line has no colon, a name with white space, or is folded (RFC 7230 3.2).
    BadHeaderLine,
    /// The method is not `GET` (RFC 6455 4.2.1 item 1).
    NotGet,
    /// The HTTP version is older than 1.1 (RFC 6455 4.2.1 item 1).
    OldHttp,
    /// `Host` is missing or repeated (RFC 6455 4.2.1 item 2, RFC 7230 5.4).
    BadHost,
    /// No `Upgrade` header: a plain HTTP request, for which Sol has nothing (404).
    NotUpgrade,
    /// `Upgrade` does not name `websocket` (RFC 6455 4.2.1 item 3).
    UpgradeNotWebSocket,
    /// `Connection` lacks the `Upgrade` token (RFC 6455 4.2.1 item 4).
    ConnectionNotUpgrade,
    /// `Sec-WebSocket-Version` is missing or not 13 (RFC 6455 4.2.1 item 6): answered
    /// 426 with `Sec-WebSocket-Version: 13` (4.4).
    Version,
    /// `Sec-WebSocket-Key` is missing, repeated, or not base64 of 16 bytes (RFC 6455
    /// 4.2.1 item 5).
    BadKey,
    /// `Sec-WebSocket-Protocol` offers neither `mqtt` nor `mqttv3.1` [MQTT-6.0.0-3].
    NoMqttSubprotocol,
}

impl HandshakeError {
    /// The HTTP status of the answer: 404 for a plain HTTP request, 426 for a WebSocket
    /// version Sol does not speak, 400 for every other fault.
    pub fn status(self) -> u16 {
        match self {
            HandshakeError::NotUpgrade => 404,
            HandshakeError::Version => 426,
            _ => 400,
        }
    }

    /// The whole HTTP answer, ending with the connection (`Connection: close`).
    pub fn response(self) -> &'static [u8] {
        match self.status() {
            404 => b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            426 => {
                b"HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\n\
                Connection: Upgrade, close\r\nSec-WebSocket-Version: 13\r\n\
                Content-Length: 0\r\n\r\n"
            }
            _ => b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::TooLarge { limit } => {
                write!(
                    f,
                    "request headers over {limit} bytes (websockets_headers_size)"
                )
            }
            HandshakeError::BadRequestLine => f.write_str("malformed request line"),
            HandshakeError::BadHeaderLine => f.write_str("malformed header line"),
            HandshakeError::NotGet => f.write_str("method is not GET"),
            HandshakeError::OldHttp => f.write_str("HTTP version before 1.1"),
            HandshakeError::BadHost => f.write_str("Host missing or repeated"),
            HandshakeError::NotUpgrade => f.write_str("plain HTTP request, not an upgrade"),
            HandshakeError::UpgradeNotWebSocket => f.write_str("Upgrade is not websocket"),
            HandshakeError::ConnectionNotUpgrade => {
                f.write_str("Connection does not contain Upgrade")
            }
            HandshakeError::Version => f.write_str("Sec-WebSocket-Version is not 13"),
            HandshakeError::BadKey => f.write_str("Sec-WebSocket-Key is not base64 of 16 bytes"),
            HandshakeError::NoMqttSubprotocol => {
                f.write_str("Sec-WebSocket-Protocol offers neither mqtt nor mqttv3.1")
            }
        }
    }
}

impl std::error::Error for HandshakeError {}

/// Reads the upgrade request at the start of `buf`, everything the connection sent so
/// far: `Ok(None)` while its headers have not ended and fewer than `limit` bytes came.
pub fn parse_request(buf: &[u8], limit: usize) -> Result<Option<Request>, HandshakeError> {
    let Some(len) = request_end(&buf[..buf.len().min(limit)]) else {
        return if buf.len() >= limit {
            Err(HandshakeError::TooLarge { limit })
        } else {
            Ok(None)
        };
    };
    let mut lines = buf[..len].split(|&b| b == b'\n').map(|line| match line {
        [line @ .., b'\r'] => line,
        line => line,
    });
    check_request_line(lines.next().unwrap_or_default())?;
    let mut headers = Headers::default();
    for line in lines.take_while(|line| !line.is_empty()) {
        headers.add(line)?;
    }
    headers.check(len)
}

/// The length of the request at the start of `buf` through the empty line ending its
/// headers (CRLF CRLF, or bare LFs), if that has arrived.
fn request_end(buf: &[u8]) -> Option<usize> {
    (0..buf.len()).find_map(|i| match &buf[i..] {
        [b'\n', b'\n', ..] => Some(i + 2),
        [b'\n', b'\r', b'\n', ..] => Some(i + 3),
        _ => None,
    })
}

/// Checks `GET target HTTP/1.1` (or a later HTTP version) (RFC 6455 4.2.1 item 1).
fn check_request_line(line: &[u8]) -> Result<(), HandshakeError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HandshakeError::BadRequestLine);
    };
    let numbers = version
        .strip_prefix(b"HTTP/")
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.split_once('.'))
        .and_then(|(major, minor)| Some((major.parse::<u8>().ok()?, minor.parse::<u8>().ok()?)));
    let (Some(http), false, false) = (numbers, method.is_empty(), target.is_empty()) else {
        return Err(HandshakeError::BadRequestLine);
    };
    if method != b"GET" {
        return Err(HandshakeError::NotGet);
    }
    if http < (1, 1) {
        return Err(HandshakeError::OldHttp);
    }
    Ok(())
}

/// A header that must appear once.
#[derive(Clone, Copy, Debug, Default)]
enum Single<'a> {
    /// Not sent.
    #[default]
    Absent,
    /// Sent once, with this (trimmed) value.
    Once(&'a [u8]),
    /// Sent more than once: joined, no longer a valid value.
    Repeated,
}

impl<'a> Single<'a> {
    /// Notes one more occurrence with `value`.
    fn add(&mut self, value: &'a [u8]) {
        *self = match self {
            Single::Absent => Single::Once(value),
            _ => Single::Repeated,
        };
    }
}

/// What the checks need of the request's headers.
#[derive(Debug, Default)]
struct Headers<'a> {
    /// `Host`.
    host: Single<'a>,
    /// `Sec-WebSocket-Key`.
    key: Single<'a>,
    /// `Sec-WebSocket-Version`.
    version: Single<'a>,
    /// An `Upgrade` header was sent.
    upgrade: bool,
    /// One of its tokens is `websocket` (case-insensitive).
    upgrade_websocket: bool,
    /// A `Connection` token is `Upgrade` (case-insensitive).
    connection_upgrade: bool,
    /// `Sec-WebSocket-Protocol` offered at least one subprotocol.
    protocol_offered: bool,
    /// The first offered subprotocol Sol speaks.
    protocol: Option<Subprotocol>,
}

impl<'a> Headers<'a> {
    /// Reads one header line (RFC 7230 3.2): `name: value`, no white space before the
    /// colon, no folding.
    fn add(&mut self, line: &'a [u8]) -> Result<(), HandshakeError> {
        let colon = line.iter().position(|&b| b == b':');
        let Some((name, value)) = colon.map(|at| (&line[..at], trim(&line[at + 1..]))) else {
            return Err(HandshakeError::BadHeaderLine);
        };
        if name.is_empty() || name.iter().any(|&b| b == b' ' || b == b'\t') {
            return Err(HandshakeError::BadHeaderLine);
        }
        let is = |known: &str| name.eq_ignore_ascii_case(known.as_bytes());
        if is("host") {
            self.host.add(value);
        } else if is("sec-websocket-key") {
            self.key.add(value);
        } else if is("sec-websocket-version") {
            self.version.add(value);
        } else if is("upgrade") {
            self.upgrade = true;
            self.upgrade_websocket |= tokens(value).any(|t| t.eq_ignore_ascii_case(b"websocket"));
        } else if is("connection") {
            self.connection_upgrade |= tokens(value).any(|t| t.eq_ignore_ascii_case(b"upgrade"));
        } else if is("sec-websocket-protocol") {
            for token in tokens(value) {
                self.protocol_offered = true;
                self.protocol = self.protocol.or(Subprotocol::from_token(token));
            }
        }
        Ok(())
    }

    /// The RFC 6455 4.2.1 checks on a whole request of `len` bytes.
    fn check(self, len: usize) -> Result<Option<Request>, HandshakeError> {
        if !self.upgrade {
            return Err(HandshakeError::NotUpgrade);
        }
        if !self.upgrade_websocket {
            return Err(HandshakeError::UpgradeNotWebSocket);
        }
        if !self.connection_upgrade {
            return Err(HandshakeError::ConnectionNotUpgrade);
        }
        if !matches!(self.host, Single::Once(_)) {
            return Err(HandshakeError::BadHost);
        }
        if !matches!(self.version, Single::Once(b"13")) {
            return Err(HandshakeError::Version);
        }
        let Single::Once(key) = self.key else {
            return Err(HandshakeError::BadKey);
        };
        // Room for base64's estimate of 24 characters (18 bytes); 16 must come out.
        let mut nonce = [0; 18];
        if BASE64.decode_slice(key, &mut nonce) != Ok(16) {
            return Err(HandshakeError::BadKey);
        }
        if self.protocol_offered && self.protocol.is_none() {
            return Err(HandshakeError::NoMqttSubprotocol);
        }
        Ok(Some(Request {
            len,
            subprotocol: self.protocol,
            accept: accept(key),
        }))
    }
}

/// base64(SHA-1(`key` + GUID)), the `Sec-WebSocket-Accept` value for `key`.
fn accept(key: &[u8]) -> [u8; ACCEPT_LEN] {
    let mut sha1 = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    sha1.update(key);
    sha1.update(GUID);
    let mut out = [0; ACCEPT_LEN];
    BASE64
        .encode_slice(sha1.finish(), &mut out)
        .expect("28 bytes hold the base64 of a 20-byte digest");
    out
}

/// The non-empty elements of a comma-separated list, trimmed (RFC 7230 7).
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|t| !t.is_empty())
}

/// `value` without leading and trailing spaces and tabs.
fn trim(value: &[u8]) -> &[u8] {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !blank(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    &value[start..end]
}
