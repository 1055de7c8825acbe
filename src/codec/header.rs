//! Fixed header and remaining length [MQTT-2.2]. (stub: to be implemented)

use super::{DecodeError, Packet};

/// A parsed fixed header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedHeader {
    /// First byte: packet type (high nibble) and flags (low nibble).
    pub first_byte: u8,
    /// Value of the remaining-length field.
    pub remaining_len: usize,
    /// Bytes taken by the first byte plus the remaining-length field (2..=5).
    pub header_len: usize,
}

impl FixedHeader {
    /// Parses the fixed header at the start of `buf`; `Ok(None)` if more bytes are needed.
    pub fn parse(buf: &[u8]) -> Result<Option<FixedHeader>, DecodeError> {
        let _ = buf;
        todo!()
    }

    /// Length of the whole packet: header plus remaining length.
    pub fn packet_len(&self) -> usize {
        self.header_len + self.remaining_len
    }
}

/// Writes `first_byte` and the remaining length into `out` (at least 5 bytes); returns bytes used.
pub fn encode_fixed_header(first_byte: u8, remaining_len: usize, out: &mut [u8]) -> usize {
    out[0] = first_byte;
    1 + encode_remaining_length(remaining_len, &mut out[1..])
}

/// Writes a remaining-length field into `out` (at least 4 bytes); returns bytes used.
pub fn encode_remaining_length(mut len: usize, out: &mut [u8]) -> usize {
    let mut i = 0;
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        out[i] = b;
        i += 1;
        if len == 0 {
            return i;
        }
    }
}

/// Bytes the remaining-length field takes for `len`.
pub fn remaining_length_len(len: usize) -> usize {
    let _ = len;
    todo!()
}

pub(super) fn decode_body<'a>(
    header: &FixedHeader,
    body: &'a [u8],
) -> Result<Packet<'a>, DecodeError> {
    let _ = (header, body);
    todo!()
}
