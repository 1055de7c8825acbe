//! Primitive fields of the MQTT wire format [MQTT-1.5]: bytes, two-byte integers,
//! length-prefixed UTF-8 strings and length-prefixed binary data.
//!
//! [`Reader`] is a cursor over one packet's body: every read either returns a field that
//! lies wholly inside the body or fails with [`DecodeError::Truncated`], so the packet
//! decoders never index a slice themselves. [`Writer`] is its mirror over a caller's output
//! buffer and fails with [`EncodeError::BufferTooSmall`] instead of panicking.
//!
//! This file knows nothing about packets: which fields a packet has, and what their values
//! may be, is decided in the per-packet files.

use super::{DecodeError, EncodeError};

/// Largest string or binary field: its length prefix is a `u16` [MQTT-1.5.3].
pub(super) const MAX_FIELD_LEN: usize = u16::MAX as usize;

/// A cursor over the body of one packet.
#[derive(Clone, Debug)]
pub(super) struct Reader<'a> {
    /// Bytes not read yet.
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub(super) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { rest: buf }
    }

    /// Whether every byte has been read.
    pub(super) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Takes the next `n` bytes.
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::Truncated);
        }
        let (field, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(field)
    }

    /// Takes every byte that is left (possibly none).
    pub(super) fn take_rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }

    /// Reads one byte.
    pub(super) fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self.rest.split_first().ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(b)
    }

    /// Reads a big-endian two-byte integer [MQTT-1.5.2].
    pub(super) fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Reads length-prefixed binary data [MQTT-1.5.3].
    pub(super) fn binary(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// Reads a length-prefixed UTF-8 string and applies the string rules of [`utf8`].
    pub(super) fn str(&mut self) -> Result<&'a str, DecodeError> {
        utf8(self.binary()?)
    }

    /// Fails with [`DecodeError::TrailingBytes`] unless every byte has been read.
    pub(super) fn finish(&self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}

/// Checks the MQTT rules for a UTF-8 string field.
///
/// - ill-formed UTF-8, including encoded surrogates U+D800..U+DFFF, is malformed
///   [MQTT-1.5.3-1] (`str::from_utf8` already rejects both);
/// - U+0000 is malformed [MQTT-1.5.3-2];
/// - control characters and non-characters are allowed: the spec says they SHOULD NOT
///   be sent, not that a receiver must reject them;
/// - U+FEFF is kept as it is, never stripped [MQTT-1.5.3-3].
///
/// A string of ASCII bytes without U+0000 (nearly every client id, username and
/// filter) passes in one byte loop; any other goes through `str::from_utf8` and a search
/// for the byte 0 ([`checked_utf8`]), which cost a CONNECT about 200 instructions more
/// (callgrind, `benches/instructions.py --workloads connect`). A word-at-a-time scan
/// (as PUBLISH topics have, `publish::topic_name`) saved a little more and cost 400
/// bytes on mipsel.
pub(super) fn utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    if bytes.iter().all(|&b| b.wrapping_sub(1) < 0x7F) {
        // SAFETY: every byte is in 1..=0x7F, and a sequence of ASCII bytes is
        // well-formed UTF-8 (tested against `checked_utf8` by
        // `strings_are_checked_as_from_utf8_checks_them`).
        return Ok(unsafe { core::str::from_utf8_unchecked(bytes) });
    }
    checked_utf8(bytes)
}

/// [`utf8`] the long way: for strings with a byte that is not ASCII, or U+0000.
pub(super) fn checked_utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    let s = core::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)?;
    // The UTF-8 encoding of U+0000 is the byte 0 and no other code point contains it.
    if bytes.contains(&0) {
        return Err(DecodeError::NullCharacter);
    }
    Ok(s)
}

/// Bytes a length-prefixed field of `len` bytes takes, or [`EncodeError::TooLarge`] if
/// its length does not fit the `u16` prefix.
pub(super) fn field_len(len: usize) -> Result<usize, EncodeError> {
    if len > MAX_FIELD_LEN {
        return Err(EncodeError::TooLarge);
    }
    Ok(2 + len)
}

/// A cursor over a caller's output buffer.
#[derive(Debug)]
pub(super) struct Writer<'a> {
    /// The whole output buffer.
    buf: &'a mut [u8],
    /// Bytes written so far.
    pos: usize,
}

impl<'a> Writer<'a> {
    /// A writer at the start of `buf`.
    pub(super) fn new(buf: &'a mut [u8]) -> Writer<'a> {
        Writer { buf, pos: 0 }
    }

    /// Bytes written so far.
    pub(super) fn position(&self) -> usize {
        self.pos
    }

    /// Appends raw bytes.
    pub(super) fn bytes(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self.pos + bytes.len();
        let dst = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(EncodeError::BufferTooSmall)?;
        dst.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    /// Appends one byte.
    pub(super) fn u8(&mut self, b: u8) -> Result<(), EncodeError> {
        self.bytes(&[b])
    }

    /// Appends a big-endian two-byte integer.
    pub(super) fn u16(&mut self, v: u16) -> Result<(), EncodeError> {
        self.bytes(&v.to_be_bytes())
    }

    /// Appends length-prefixed binary data.
    pub(super) fn binary(&mut self, data: &[u8]) -> Result<(), EncodeError> {
        let len = u16::try_from(data.len()).map_err(|_| EncodeError::TooLarge)?;
        self.u16(len)?;
        self.bytes(data)
    }

    /// Appends a length-prefixed UTF-8 string. A `&str` is well-formed UTF-8 by
    /// construction; U+0000 is not checked here (encoding trusts the caller).
    pub(super) fn str(&mut self, s: &str) -> Result<(), EncodeError> {
        self.binary(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_in_order() {
        let buf = [7, 0x12, 0x34, 0, 2, b'h', b'i', 0, 1, 0xff, 9];
        let mut r = Reader::new(&buf);
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.u16(), Ok(0x1234));
        assert_eq!(r.str(), Ok("hi"));
        assert_eq!(r.binary(), Ok(&[0xff][..]));
        assert!(!r.is_empty());
        assert_eq!(r.finish(), Err(DecodeError::TrailingBytes));
        assert_eq!(r.take_rest(), &[9]);
        assert!(r.is_empty());
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn every_read_past_the_end_is_truncated() {
        assert_eq!(Reader::new(&[]).u8(), Err(DecodeError::Truncated));
        assert_eq!(Reader::new(&[1]).u16(), Err(DecodeError::Truncated));
        assert_eq!(Reader::new(&[0]).str(), Err(DecodeError::Truncated));
        // Length prefix says 3, only 2 bytes follow.
        assert_eq!(
            Reader::new(&[0, 3, b'a', b'b']).str(),
            Err(DecodeError::Truncated)
        );
        assert_eq!(Reader::new(&[0, 1]).binary(), Err(DecodeError::Truncated));
        assert_eq!(Reader::new(&[1, 2]).take(3), Err(DecodeError::Truncated));
    }

    #[test]
    fn empty_string_is_well_formed() {
        assert_eq!(Reader::new(&[0, 0]).str(), Ok(""));
    }

    #[test]
    fn ill_formed_utf8_is_malformed_mqtt_1_5_3_1() {
        // A lone continuation byte, an overlong '/', and a truncated 3-byte sequence.
        assert_eq!(utf8(&[0x80]), Err(DecodeError::InvalidUtf8));
        assert_eq!(utf8(&[0xc0, 0xaf]), Err(DecodeError::InvalidUtf8));
        assert_eq!(utf8(&[b'a', 0xe2, 0x82]), Err(DecodeError::InvalidUtf8));
        assert_eq!(
            Reader::new(&[0, 2, 0xff, 0xfe]).str(),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn surrogate_code_point_is_malformed_mqtt_1_5_3_1() {
        // U+D800 encoded as if it were a scalar value.
        assert_eq!(utf8(&[0xed, 0xa0, 0x80]), Err(DecodeError::InvalidUtf8));
    }

    #[test]
    fn null_character_is_malformed_mqtt_1_5_3_2() {
        assert_eq!(utf8(&[b'a', 0, b'b']), Err(DecodeError::NullCharacter));
        assert_eq!(
            Reader::new(&[0, 1, 0]).str(),
            Err(DecodeError::NullCharacter)
        );
    }

    /// The ASCII path of `utf8` against the long way, for every byte value at every
    /// position of strings of 1 to 24 bytes, and some multi-byte ones.
    #[test]
    fn strings_are_checked_as_from_utf8_checks_them() {
        for len in 1..=24 {
            for at in 0..len {
                for value in 0..=255u8 {
                    let mut bytes = vec![b'c'; len];
                    bytes[at] = value;
                    assert_eq!(utf8(&bytes), checked_utf8(&bytes), "{bytes:?}");
                }
            }
        }
        for s in [
            "",
            "caf\u{e9}",
            "\u{1F600}abcdefgh",
            "abcdefgh\u{e9}",
            "\u{e9}\0",
        ] {
            assert_eq!(utf8(s.as_bytes()), checked_utf8(s.as_bytes()), "{s:?}");
        }
        assert_eq!(utf8(b"abcdefghijk"), Ok("abcdefghijk"));
    }

    #[test]
    fn bom_is_kept_mqtt_1_5_3_3() {
        assert_eq!(utf8(&[0xef, 0xbb, 0xbf, b'a']), Ok("\u{feff}a"));
    }

    #[test]
    fn control_characters_are_accepted() {
        // [MQTT-1.5.3] says SHOULD NOT send U+0001..U+001F; a receiver may accept them.
        assert_eq!(utf8(&[0x01, 0x1f]), Ok("\u{1}\u{1f}"));
    }

    #[test]
    fn field_len_limits_to_u16() {
        assert_eq!(field_len(0), Ok(2));
        assert_eq!(field_len(MAX_FIELD_LEN), Ok(MAX_FIELD_LEN + 2));
        assert_eq!(field_len(MAX_FIELD_LEN + 1), Err(EncodeError::TooLarge));
    }

    #[test]
    fn writer_writes_and_refuses_overflow() {
        let mut buf = [0u8; 8];
        let mut w = Writer::new(&mut buf);
        w.u8(1).unwrap();
        w.u16(0x0203).unwrap();
        w.str("ab").unwrap();
        assert_eq!(w.position(), 7);
        assert_eq!(w.binary(&[9]), Err(EncodeError::BufferTooSmall));
        assert_eq!(w.u8(4), Ok(()));
        assert_eq!(w.u8(5), Err(EncodeError::BufferTooSmall));
        assert_eq!(buf, [1, 2, 3, 0, 2, b'a', b'b', 4]);
    }

    #[test]
    fn writer_refuses_oversized_field() {
        let big = vec![0u8; MAX_FIELD_LEN + 1];
        let mut buf = vec![0u8; MAX_FIELD_LEN + 3];
        assert_eq!(
            Writer::new(&mut buf).binary(&big),
            Err(EncodeError::TooLarge)
        );
    }
}
