//! Frames the server sends (RFC 6455 5.2): the header in front of MQTT bytes, Pong and
//! Close. Server frames are never masked ("A server MUST NOT mask any frames that it
//! sends to the client", 5.1), always final (Sol does not fragment: a frame carries any
//! number of whole or partial MQTT packets), and use no extension (no RSV bit).
//!
//! Everything is written into a caller's fixed buffer; nothing is allocated, and the MQTT
//! bytes themselves are never copied here: the writer puts [`binary_header`]'s bytes in
//! front of them with `writev`.

/// The largest header of a server data frame: 2 bytes and a 64-bit length, no mask.
pub const MAX_DATA_HEADER: usize = 10;

/// The largest control frame: 2 header bytes and 125 bytes of payload (RFC 6455 5.5).
pub const MAX_CONTROL_FRAME: usize = 2 + MAX_CONTROL_PAYLOAD;

/// The largest payload of a control frame: "All control frames MUST have a payload length
/// of 125 bytes or less" (RFC 6455 5.5).
pub(super) const MAX_CONTROL_PAYLOAD: usize = 125;

/// The MASK bit of the second header byte: a client's frame (RFC 6455 5.2).
pub(super) const MASK: u8 = 0x80;

/// FIN set (first bit of the first byte): the frame ends its message.
pub(super) const FIN: u8 = 0x80;

/// Frame opcodes (RFC 6455 5.2, 11.8).
pub mod opcode {
    /// Continuation of a fragmented message.
    pub const CONTINUATION: u8 = 0x0;
    /// First frame of a text message.
    pub const TEXT: u8 = 0x1;
    /// First frame of a binary message (MQTT's).
    pub const BINARY: u8 = 0x2;
    /// Close.
    pub const CLOSE: u8 = 0x8;
    /// Ping.
    pub const PING: u8 = 0x9;
    /// Pong.
    pub const PONG: u8 = 0xA;
}

/// Writes into `out` the header of a final binary frame carrying `len` bytes, with the
/// payload length in its shortest form ("the minimal number of bytes MUST be used to
/// encode the length", RFC 6455 5.2), and returns how many bytes it wrote (2, 4 or 10).
pub fn binary_header(len: usize, out: &mut [u8; MAX_DATA_HEADER]) -> usize {
    frame_header(opcode::BINARY, len, false, out)
}

/// Writes into `out` the header of a final frame of type `op` carrying `len` bytes, the
/// length in its shortest form (RFC 6455 5.2), with the MASK bit set if `masked` (a
/// client's frame: the caller appends the 4-byte key and masks the payload, 5.3; the
/// load generator's side); returns how many bytes it wrote (2, 4 or 10).
pub fn frame_header(op: u8, len: usize, masked: bool, out: &mut [u8; MAX_DATA_HEADER]) -> usize {
    let mask = if masked { MASK } else { 0 };
    out[0] = FIN | op;
    if len <= 125 {
        out[1] = mask | len as u8;
        2
    } else if let Ok(short) = u16::try_from(len) {
        out[1] = mask | 126;
        out[2..4].copy_from_slice(&short.to_be_bytes());
        4
    } else {
        out[1] = mask | 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    }
}

/// Writes into `out` the Pong answering a Ping whose payload was `payload` ("A Pong frame
/// sent in response to a Ping frame must have identical Application data", RFC 6455
/// 5.5.3) and returns the frame's length. A Ping's payload is at most 125 bytes; anything
/// beyond that is not written.
pub fn pong(payload: &[u8], out: &mut [u8; MAX_CONTROL_FRAME]) -> usize {
    control(opcode::PONG, &[], payload, out)
}

/// Writes into `out` a Close frame (RFC 6455 5.5.1) and returns its length: with
/// `status` (`None`: an empty body, as when answering a Close that carried no status)
/// and, after it, as much of `reason` as fits in 123 bytes, cut at a character boundary.
/// To answer a peer's Close, echo its status: "the endpoint typically echos the status
/// code it received" (5.5.1).
pub fn close(status: Option<u16>, reason: &str, out: &mut [u8; MAX_CONTROL_FRAME]) -> usize {
    let Some(status) = status else {
        return control(opcode::CLOSE, &[], &[], out);
    };
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    control(
        opcode::CLOSE,
        &status.to_be_bytes(),
        &reason.as_bytes()[..end],
        out,
    )
}

/// Writes a final, unmasked control frame of type `op` whose payload is `first` then
/// `rest`, cut to 125 bytes; returns its length.
fn control(op: u8, first: &[u8], rest: &[u8], out: &mut [u8; MAX_CONTROL_FRAME]) -> usize {
    let rest = &rest[..rest.len().min(MAX_CONTROL_PAYLOAD - first.len())];
    let len = first.len() + rest.len();
    out[0] = FIN | op;
    out[1] = len as u8;
    out[2..2 + first.len()].copy_from_slice(first);
    out[2 + first.len()..2 + len].copy_from_slice(rest);
    2 + len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: usize) -> Vec<u8> {
        let mut out = [0; MAX_DATA_HEADER];
        let n = binary_header(len, &mut out);
        out[..n].to_vec()
    }

    #[test]
    fn binary_header_uses_the_shortest_length_form() {
        assert_eq!(header(0), [0x82, 0]);
        assert_eq!(header(5), [0x82, 5]);
        assert_eq!(header(125), [0x82, 125]);
        assert_eq!(header(126), [0x82, 126, 0, 126]);
        // RFC 6455 5.7: "256 bytes binary message in a single unmasked frame".
        assert_eq!(header(256), [0x82, 0x7E, 0x01, 0x00]);
        assert_eq!(header(65535), [0x82, 126, 0xff, 0xff]);
        // RFC 6455 5.7: "64KiB binary message in a single unmasked frame".
        assert_eq!(header(65536), [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(
            header(10 * 1024 * 1024),
            [0x82, 127, 0, 0, 0, 0, 0, 0xa0, 0, 0]
        );
    }

    #[test]
    fn pong_echoes_the_ping_payload_unmasked() {
        let mut out = [0; MAX_CONTROL_FRAME];
        // RFC 6455 5.7: "Unmasked Pong response" to a "Hello" Ping.
        let n = pong(b"Hello", &mut out);
        assert_eq!(&out[..n], [0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        let n = pong(b"", &mut out);
        assert_eq!(&out[..n], [0x8a, 0]);
        let n = pong(&[7; 125], &mut out);
        assert_eq!(n, MAX_CONTROL_FRAME);
        assert_eq!(out[1], 125);
    }

    #[test]
    fn close_carries_status_then_reason() {
        let mut out = [0; MAX_CONTROL_FRAME];
        let n = close(Some(1002), "bad frame", &mut out);
        assert_eq!(&out[..4], [0x88, 11, 0x03, 0xea]);
        assert_eq!(&out[4..n], b"bad frame");
        let n = close(Some(1000), "", &mut out);
        assert_eq!(&out[..n], [0x88, 2, 0x03, 0xe8]);
    }

    #[test]
    fn close_without_status_has_an_empty_body() {
        let mut out = [0; MAX_CONTROL_FRAME];
        let n = close(None, "ignored", &mut out);
        assert_eq!(&out[..n], [0x88, 0]);
    }

    #[test]
    fn close_reason_is_cut_to_fit_at_a_character_boundary() {
        let mut out = [0; MAX_CONTROL_FRAME];
        // 61 two-byte characters: 122 bytes fit, the 62nd would make 124 > 123.
        let reason = "é".repeat(70);
        let n = close(Some(1000), &reason, &mut out);
        assert_eq!(n, 2 + 2 + 122);
        assert_eq!(usize::from(out[1]), 2 + 122);
        assert!(std::str::from_utf8(&out[4..n]).is_ok());
    }
}
