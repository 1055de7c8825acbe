//! The client side of RFC 6455's framing, with no I/O: masked frames out, the server's
//! unmasked frames in.
//!
//! - **Out** ([`put_frame`]): one final frame per call, its payload copied behind the header
//!   and masked in place with the caller's key ("a client MUST mask all frames that it
//!   sends to the server", 5.1), a word at a time: the generator writes a 64 KiB batch as
//!   one frame, so masking costs one copy and one XOR pass of the batch.
//! - **In** ([`Decoder`]): fed each read as it comes, split anywhere, it drops the frame
//!   headers and moves the payload of binary and continuation frames to the front of the
//!   caller's buffer (a `memmove`, skipped while nothing needs moving), so the worker frames
//!   MQTT packets from it as from a TCP stream. Control frames are collected (at most 125
//!   bytes, even when split across reads) and reported whole. It keeps no data payload.
//!
//! The broker's own `sol::ws` is the server side (it refuses unmasked frames and never
//! masks), so the generator has this small mirror of it. Frames the server must not send
//! fail the connection with a [`FrameError`] naming the rule broken: the generator is also
//! a check of the broker's framing.

use std::fmt;

/// FIN set (first bit of the first byte): the frame ends its message.
const FIN: u8 = 0x80;
/// The RSV1-3 bits of the first header byte.
const RSV: u8 = 0x70;
/// The MASK bit of the second header byte.
const MASK: u8 = 0x80;
/// The largest payload of a control frame (RFC 6455 5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;
/// The largest server frame header: 2 bytes and a 64-bit length, no mask.
const MAX_HEADER: usize = 10;

/// Frame opcodes (RFC 6455 5.2, 11.8): the broker's own.
pub use sol::ws::opcode;

/// Appends to `out` a final frame of type `op` carrying `payload` masked with `mask`: the
/// header with the length in its shortest form ("the minimal number of bytes MUST be used",
/// 5.2) and the mask, then the masked payload (5.3).
pub fn put_frame(op: u8, payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    let len = payload.len();
    out.reserve(14 + len);
    let mut header = [0u8; sol::ws::MAX_DATA_HEADER];
    let n = sol::ws::frame_header(op, len, true, &mut header);
    out.extend_from_slice(&header[..n]);
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask);
}

/// XORs `data` with `mask`, `data[0]` being the first byte of a payload: byte i with
/// `mask[i % 4]` (RFC 6455 5.3). Eight bytes at a time, which the compiler vectorises.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let [a, b, c, d] = mask;
    let word = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut words = data.chunks_exact_mut(8);
    for chunk in &mut words {
        let bytes: [u8; 8] = (*chunk).try_into().expect("chunks of 8 bytes");
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    // The rest starts at a multiple of 8, so at mask[0].
    for (byte, key) in words.into_remainder().iter_mut().zip(mask.iter().cycle()) {
        *byte ^= key;
    }
}

/// A control frame from the server, reported once its payload is whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control<'a> {
    /// A Ping: answer with a Pong carrying the same payload (5.5.2, 5.5.3).
    Ping(&'a [u8]),
    /// A Pong: nothing to do.
    Pong,
    /// A Close with this status (`None`: no body): echo it and end the stream (5.5.1).
    Close(Option<u16>),
}

/// A frame the server must not send, one variant per rule (RFC 6455 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A masked frame: "A server MUST NOT mask any frames that it sends to the client"
    /// (5.1).
    Masked,
    /// An RSV bit set with no extension negotiated (5.2).
    ReservedBits,
    /// An opcode RFC 6455 reserves (5.2).
    UnknownOpcode(u8),
    /// A text frame: MQTT travels in binary frames only [MQTT-6.0.0-1].
    TextFrame,
    /// A control frame without FIN, or longer than 125 bytes (5.5).
    BadControl,
    /// A continuation frame with no message open, or a new message while one is (5.4).
    BadFragment,
    /// A payload length not in its shortest form, or with the top bit set (5.2).
    BadLength,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Masked => f.write_str("masked server frame"),
            FrameError::ReservedBits => f.write_str("RSV bits set without an extension"),
            FrameError::UnknownOpcode(op) => write!(f, "unknown opcode {op:#x}"),
            FrameError::TextFrame => f.write_str("text frame (MQTT needs binary frames)"),
            FrameError::BadControl => f.write_str("fragmented or over-long control frame"),
            FrameError::BadFragment => f.write_str("continuation out of place"),
            FrameError::BadLength => f.write_str("payload length not in its shortest form"),
        }
    }
}

/// The read state of one connection's incoming frames.
#[derive(Debug, Default)]
pub struct Decoder {
    /// The current frame's header: what arrived of it, then all of it while its payload
    /// is read.
    header: [u8; MAX_HEADER],
    /// How many bytes of `header` are valid.
    header_len: u8,
    /// The header is whole: the bytes that follow are payload.
    in_payload: bool,
    /// Payload bytes of the current frame still to come.
    remaining: u64,
    /// A fragmented binary message is open: its next data frame must be a continuation.
    in_message: bool,
    /// The payload of the control frame being read (empty, holding nothing, otherwise).
    control: Vec<u8>,
    /// A Close arrived: what follows it is ignored.
    closed: bool,
}

impl Decoder {
    /// Whether a Close was received (the stream has ended).
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Decodes `buf`, the next bytes read: afterwards its first `Ok(n)` bytes are the MQTT
    /// bytes they carried. Control frames completed by these bytes go to `on_control`, in
    /// order; after a Close the rest is ignored.
    pub fn decode(
        &mut self,
        buf: &mut [u8],
        mut on_control: impl FnMut(Control<'_>),
    ) -> Result<usize, FrameError> {
        let (mut read, mut written) = (0, 0);
        while read < buf.len() && !self.closed {
            if !self.in_payload {
                self.header(buf, &mut read)?;
                if self.in_payload && self.remaining == 0 {
                    self.end_frame(&mut on_control);
                }
                continue;
            }
            let n = (buf.len() - read).min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
            if self.is_control() {
                self.control.extend_from_slice(&buf[read..read + n]);
            } else {
                if read != written {
                    buf.copy_within(read..read + n, written);
                }
                written += n;
            }
            read += n;
            self.remaining -= n as u64;
            if self.remaining == 0 {
                self.end_frame(&mut on_control);
            }
        }
        Ok(written)
    }

    /// Takes header bytes from `buf[*read..]`; checks the first two as soon as they are
    /// there and the length once the header is whole, which starts the payload.
    fn header(&mut self, buf: &[u8], read: &mut usize) -> Result<(), FrameError> {
        let have = usize::from(self.header_len);
        let need = self.header_size();
        let take = (need - have).min(buf.len() - *read);
        self.header[have..have + take].copy_from_slice(&buf[*read..*read + take]);
        *read += take;
        self.header_len += take as u8;
        if usize::from(self.header_len) < need {
            return Ok(());
        }
        if need == 2 {
            self.check_start()?;
            if self.header_size() > 2 {
                return Ok(()); // an extended length follows
            }
        }
        self.remaining = self.payload_len()?;
        self.in_payload = true;
        Ok(())
    }

    /// Checks the first two header bytes: flags, opcode, mask bit, a control frame's
    /// length; notes where the frame leaves the message (5.2, 5.4, 5.5).
    fn check_start(&mut self) -> Result<(), FrameError> {
        let [first, second, ..] = self.header;
        if first & RSV != 0 {
            return Err(FrameError::ReservedBits);
        }
        if second & MASK != 0 {
            return Err(FrameError::Masked);
        }
        let fin = first & FIN != 0;
        match first & 0x0f {
            opcode::TEXT => return Err(FrameError::TextFrame),
            opcode::CONTINUATION if !self.in_message => return Err(FrameError::BadFragment),
            opcode::BINARY if self.in_message => return Err(FrameError::BadFragment),
            opcode::CONTINUATION | opcode::BINARY => self.in_message = !fin,
            opcode::CLOSE | opcode::PING | opcode::PONG => {
                if !fin || usize::from(second) > MAX_CONTROL_PAYLOAD {
                    return Err(FrameError::BadControl);
                }
            }
            op => return Err(FrameError::UnknownOpcode(op)),
        }
        Ok(())
    }

    /// How long the current header is: 2 bytes until those are read, then 2 and the
    /// extended length (0, 2 or 8 bytes).
    fn header_size(&self) -> usize {
        if self.header_len < 2 {
            return 2;
        }
        match self.header[1] {
            126 => 4,
            127 => 10,
            _ => 2,
        }
    }

    /// The payload length of the whole header, checked to be in its shortest form.
    fn payload_len(&self) -> Result<u64, FrameError> {
        let h = &self.header;
        let (len, shortest) = match h[1] {
            126 => (u64::from(u16::from_be_bytes([h[2], h[3]])), 126),
            127 => {
                let len = u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]);
                (len, if len >> 63 == 0 { 0x1_0000 } else { u64::MAX })
            }
            short => return Ok(u64::from(short)),
        };
        if len < shortest {
            return Err(FrameError::BadLength);
        }
        Ok(len)
    }

    /// Whether the current frame is a control frame (opcode 0x8 and above).
    fn is_control(&self) -> bool {
        self.header[0] & 0x08 != 0
    }

    /// The current frame is whole: a control frame is reported; the next byte starts a
    /// header.
    fn end_frame(&mut self, on_control: &mut impl FnMut(Control<'_>)) {
        self.in_payload = false;
        self.header_len = 0;
        if !self.is_control() {
            return;
        }
        let payload = std::mem::take(&mut self.control);
        match self.header[0] & 0x0f {
            opcode::PING => on_control(Control::Ping(&payload)),
            opcode::PONG => on_control(Control::Pong),
            _ => {
                self.closed = true;
                let status = match payload[..] {
                    [high, low, ..] => Some(u16::from_be_bytes([high, low])),
                    _ => None,
                };
                on_control(Control::Close(status));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server frame: unmasked, final unless `fin` is false.
    fn server_frame(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![u8::from(fin) << 7 | op];
        match payload.len() {
            n if n < 126 => f.push(n as u8),
            n if n < 65536 => {
                f.push(126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(payload);
        f
    }

    /// Decodes `stream` cut into reads of `step` bytes; the MQTT bytes and the controls.
    fn decode_in_steps(stream: &[u8], step: usize) -> (Vec<u8>, Vec<String>) {
        let mut d = Decoder::default();
        let (mut mqtt, mut controls) = (Vec::new(), Vec::new());
        for chunk in stream.chunks(step) {
            let mut buf = chunk.to_vec();
            let n = d
                .decode(&mut buf, |c| controls.push(format!("{c:?}")))
                .expect("a valid stream");
            mqtt.extend_from_slice(&buf[..n]);
        }
        (mqtt, controls)
    }

    #[test]
    fn client_frames_follow_the_rfc_examples() {
        // RFC 6455 5.7: "A single-frame masked text message" ("Hello", mask 37 fa 21 3d).
        let mut out = Vec::new();
        put_frame(opcode::TEXT, b"Hello", [0x37, 0xfa, 0x21, 0x3d], &mut out);
        assert_eq!(
            out,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        // The length in its shortest form, the mask after it.
        for (len, head) in [
            (125, vec![0x82, 0x80 | 125]),
            (126, vec![0x82, 0x80 | 126, 0, 126]),
            (65535, vec![0x82, 0x80 | 126, 0xff, 0xff]),
            (65536, vec![0x82, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ] {
            let mut out = Vec::new();
            put_frame(opcode::BINARY, &vec![0; len], [1, 2, 3, 4], &mut out);
            assert_eq!(out[..head.len()], head[..], "{len}");
            assert_eq!(out[head.len()..head.len() + 4], [1, 2, 3, 4]);
            assert_eq!(out.len(), head.len() + 4 + len);
        }
    }

    #[test]
    fn masking_matches_the_byte_by_byte_rule_at_every_length() {
        let mask = [0xde, 0xad, 0xbe, 0xef];
        for len in 0..40 {
            let data: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37)).collect();
            let mut masked = data.clone();
            apply_mask(&mut masked, mask);
            let expected: Vec<u8> = data
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            assert_eq!(masked, expected, "{len}");
            apply_mask(&mut masked, mask);
            assert_eq!(masked, data, "masking twice gives the payload back");
        }
    }

    #[test]
    fn frames_split_anywhere_give_the_same_bytes_and_controls() {
        let big: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        let mut stream = server_frame(true, opcode::BINARY, b"\x30\x05ab");
        stream.extend(server_frame(false, opcode::BINARY, b"cde"));
        stream.extend(server_frame(true, opcode::PING, b"hi"));
        stream.extend(server_frame(true, opcode::CONTINUATION, &big[..300]));
        stream.extend(server_frame(true, opcode::BINARY, &big));
        stream.extend(server_frame(true, opcode::PONG, b""));
        stream.extend(server_frame(true, opcode::BINARY, b""));
        stream.extend(server_frame(true, opcode::CLOSE, &[0x03, 0xe8]));
        stream.extend(server_frame(
            true,
            opcode::BINARY,
            b"ignored after the Close",
        ));
        let mut expected = b"\x30\x05abcde".to_vec();
        expected.extend_from_slice(&big[..300]);
        expected.extend_from_slice(&big);
        for step in [1, 2, 3, 7, 125, 4096, stream.len()] {
            let (mqtt, controls) = decode_in_steps(&stream, step);
            assert!(mqtt == expected, "step {step}");
            assert_eq!(
                controls,
                ["Ping([104, 105])", "Pong", "Close(Some(1000))"],
                "step {step}"
            );
        }
    }

    #[test]
    fn a_close_ends_the_stream() {
        let mut d = Decoder::default();
        let mut buf = server_frame(true, opcode::CLOSE, b"");
        buf.extend(server_frame(true, opcode::BINARY, b"x"));
        let mut seen = None;
        assert_eq!(d.decode(&mut buf, |c| seen = Some(format!("{c:?}"))), Ok(0));
        assert_eq!(seen.as_deref(), Some("Close(None)"));
        assert!(d.closed());
    }

    #[test]
    fn frames_a_server_must_not_send_fail_the_stream() {
        let masked = vec![0x82, 0x81, 1, 2, 3, 4, 5];
        let cases: [(Vec<u8>, FrameError); 8] = [
            (masked, FrameError::Masked),
            (vec![0xc2, 0], FrameError::ReservedBits),
            (vec![0x83, 0], FrameError::UnknownOpcode(3)),
            (
                server_frame(true, opcode::TEXT, b"x"),
                FrameError::TextFrame,
            ),
            (
                server_frame(false, opcode::PING, b""),
                FrameError::BadControl,
            ),
            (vec![0x89, 126, 0, 126], FrameError::BadControl),
            (
                server_frame(true, opcode::CONTINUATION, b"x"),
                FrameError::BadFragment,
            ),
            (vec![0x82, 126, 0, 125], FrameError::BadLength),
        ];
        for (mut bytes, error) in cases {
            let got = Decoder::default().decode(&mut bytes, |_| {});
            assert_eq!(got, Err(error), "{bytes:?}");
        }
        let mut open = server_frame(false, opcode::BINARY, b"a");
        open.extend(server_frame(true, opcode::BINARY, b"b"));
        let got = Decoder::default().decode(&mut open, |_| {});
        assert_eq!(got, Err(FrameError::BadFragment));
        let mut huge = vec![0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
        let got = Decoder::default().decode(&mut huge, |_| {});
        assert_eq!(got, Err(FrameError::BadLength));
    }
}
