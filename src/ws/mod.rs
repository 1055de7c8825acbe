//! MQTT over WebSockets (RFC 6455, MQTT 3.1.1 and 5.0 section 6): the protocol core a
//! WebSocket stream calls, with no I/O at all.
//!
//! A WebSocket connection is a TCP (or TLS) connection that starts with an HTTP/1.1
//! upgrade request and then carries the MQTT byte stream inside WebSocket frames. This
//! module turns bytes into bytes and says what to answer; the reactor (`net`) owns the
//! socket, the buffers, the handshake deadline and the writes:
//!
//! 1. **Handshake** ([`parse_request`]): the client's upgrade request, checked as RFC 6455
//!    4.2.1 says. "Not all of it yet" is `Ok(None)`; a request that is complete tells how
//!    many bytes it used, so MQTT bytes sent right behind it are not lost. The answer is
//!    [`Request::response`] (101 Switching Protocols) or the rejection's
//!    [`HandshakeError::response`] (400, 404 or 426, each with `Connection: close`).
//! 2. **Frames in** ([`Decoder`]): fed the bytes as they are read, split anywhere, it
//!    unmasks the payload of binary frames *in the caller's buffer* and moves it to the
//!    front: the MQTT bytes are then framed by `net::read` as on a TCP connection. No
//!    payload is buffered: the decoder keeps only a partial frame header, where it is in
//!    the frame and, while one arrives split across reads, one control frame (Ping,
//!    Close), so it costs [`Decoder`]'s 40 bytes per connection (a test checks), plus
//!    125 bytes only while a split control frame arrives. Control frames come out as
//!    [`Control`] events beside the data; a malformed stream is a [`FrameError`] naming
//!    the malformation and the close status to send.
//! 3. **Frames out** ([`binary_header`], [`pong`], [`close`]): the server never masks
//!    (RFC 6455 5.1), so an MQTT packet leaves as a header of at most 10 bytes written in
//!    front of the packet's bytes with `writev`, never a copy of them.
//!
//! **Why no crate.** `tungstenite` (and `websocket`, `ws`) own the socket or a
//! `Read + Write` stream and buffer whole messages themselves; under Sol's reactor that is
//! a second copy of every payload into memory per connection that the pooled buffers do
//! not count, plus the HTTP parser (`httparse`), `sha1`, `rand` and `url` on a router's
//! flash. What MQTT needs of RFC 6455 is a small subset (binary messages only, no
//! extensions, server side only), and this module is that subset, written against the
//! reactor's buffers; it uses `ring`'s SHA-1 and `base64`, which Sol already links.
//!
//! This module knows WebSocket bytes and nothing else: it must not do I/O, know about
//! MQTT packets (the MQTT byte stream is opaque here), or keep a payload.
//!
//! Files: `handshake.rs` (the upgrade request and the answers to it), `decoder.rs`
//! (frames in), `encoder.rs` (frames out), `close.rs` (close status codes).

mod close;
mod decoder;
mod encoder;
mod handshake;

#[cfg(test)]
mod decoder_tests;
#[cfg(test)]
mod handshake_tests;

pub use close::{status, valid_close_status};
pub use decoder::{Control, Decoded, Decoder, FrameError};
pub use encoder::{
    binary_header, close, frame_header, opcode, pong, MAX_CONTROL_FRAME, MAX_DATA_HEADER,
};
pub use handshake::{
    parse_request, HandshakeError, Request, Response, Subprotocol, DEFAULT_HEADERS_SIZE,
};
