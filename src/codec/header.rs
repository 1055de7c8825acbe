//! Fixed header and remaining length [MQTT-2.2], and the per-type dispatch of decoding and
//! encoding.
//!
//! # Framing versus decoding
//!
//! [`FixedHeader::parse`] only frames: it reads the packet type and the remaining length,
//! rejects what makes framing itself impossible (a reserved packet type, a remaining
//! length longer than 4 bytes) and says how long the packet is. It never needs the body.
//!
//! The reserved flag bits of the first byte [MQTT-2.2.2-1], [MQTT-2.2.2-2] and the PUBLISH
//! QoS 3 [MQTT-3.3.1-4] are checked by [`decode_body`], not by `parse`: the reactor can then
//! always delimit a packet (and account for its length) before the decoder names what is
//! wrong with it, and a single place reports every malformation of a packet's content.

use super::packet::allowed;
use super::wire::{Reader, Writer};
use super::{
    ack, connect, publish, subscribe, DecodeError, EncodeError, Packet, PacketType, Properties,
    ProtocolVersion, MAX_REMAINING_LENGTH,
};

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
    ///
    /// Only the header is read: `buf` may end anywhere after it, or hold further packets.
    /// The reserved packet type 0 is reported as soon as the first byte is there (15,
    /// AUTH, frames for every version; decoding refuses it before MQTT 5.0).
    /// A remaining length is accepted in a non-minimal encoding (e.g. `0x80 0x00` for 0),
    /// which MQTT 3.1.1 does not forbid.
    pub fn parse(buf: &[u8]) -> Result<Option<FixedHeader>, DecodeError> {
        let Some((&first_byte, rest)) = buf.split_first() else {
            return Ok(None);
        };
        let packet_type = first_byte >> 4;
        if PacketType::from_bits(packet_type).is_none() {
            return Err(DecodeError::ReservedPacketType(packet_type));
        }
        let mut remaining_len = 0usize;
        // At most 4 length bytes [MQTT-2.2.3]; a continuation bit on the 4th is malformed.
        for (i, &byte) in rest.iter().take(4).enumerate() {
            remaining_len |= usize::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(Some(FixedHeader {
                    first_byte,
                    remaining_len,
                    header_len: 2 + i,
                }));
            }
        }
        if rest.len() >= 4 {
            Err(DecodeError::MalformedRemainingLength)
        } else {
            Ok(None)
        }
    }

    /// Length of the whole packet: header plus remaining length.
    pub fn packet_len(&self) -> usize {
        self.header_len + self.remaining_len
    }

    /// The packet type; `None` only for a header not made by [`FixedHeader::parse`].
    pub fn packet_type(&self) -> Option<PacketType> {
        PacketType::from_bits(self.first_byte >> 4)
    }

    /// The low nibble of the first byte (DUP/QoS/RETAIN for PUBLISH, reserved otherwise).
    pub fn flags(&self) -> u8 {
        self.first_byte & 0x0f
    }
}

/// Writes `first_byte` and the remaining length into `out`; returns bytes used (2..=5).
///
/// `out` needs `1 + remaining_length_len(remaining_len)` bytes; 5 always suffice. This is
/// on the broker's fan-out path (once per subscriber per message, through
/// [`super::PublishHeader`]), so it does no checks beyond the two below and never
/// allocates.
///
/// # Panics
///
/// If `remaining_len > MAX_REMAINING_LENGTH` or `out` is too short: callers size both
/// (the broker refuses larger packets on input, and uses a 5-byte header buffer).
pub(super) fn encode_fixed_header(first_byte: u8, remaining_len: usize, out: &mut [u8]) -> usize {
    out[0] = first_byte;
    1 + encode_remaining_length(remaining_len, &mut out[1..])
}

/// Writes a remaining-length field into `out`; returns bytes used (1..=4).
///
/// `out` needs `remaining_length_len(len)` bytes; 4 always suffice.
///
/// # Panics
///
/// If `len > MAX_REMAINING_LENGTH` or `out` is too short, as for the fixed header encoder.
pub fn encode_remaining_length(len: usize, out: &mut [u8]) -> usize {
    assert!(
        len <= MAX_REMAINING_LENGTH,
        "remaining length {len} exceeds MAX_REMAINING_LENGTH: the caller must refuse such packets"
    );
    // Seven bits per byte, least significant first, continuation bit on all but the last
    // [MQTT-2.2.3].
    let mut value = len;
    let mut used = 0;
    loop {
        let digit = (value & 0x7f) as u8;
        value >>= 7;
        let more = value != 0;
        out[used] = digit | (u8::from(more) << 7);
        used += 1;
        if !more {
            return used;
        }
    }
}

/// Bytes the remaining-length field takes for `len` (1..=4).
///
/// Values above [`MAX_REMAINING_LENGTH`] cannot be encoded; for them this returns 4, and
/// [`encode_remaining_length`] panics.
pub fn remaining_length_len(len: usize) -> usize {
    1 + usize::from(len >= 128) + usize::from(len >= 16_384) + usize::from(len >= 2_097_152)
}

/// Fails with [`DecodeError::InvalidHeaderFlags`] unless the flags nibble is `expected`
/// [MQTT-2.2.2-1], [MQTT-2.2.2-2].
fn expect_flags(header: &FixedHeader, expected: u8) -> Result<(), DecodeError> {
    if header.flags() == expected {
        Ok(())
    } else {
        Err(DecodeError::InvalidHeaderFlags {
            packet_type: header.first_byte >> 4,
            flags: header.flags(),
        })
    }
}

/// Decodes the body (everything after the fixed header) of the packet `header` describes,
/// for a connection speaking `version`. `body` must be exactly `header.remaining_len`
/// bytes; [`super::decode_packet`] guarantees it.
pub(super) fn decode_body<'a>(
    header: &FixedHeader,
    body: &'a [u8],
    version: ProtocolVersion,
) -> Result<Packet<'a>, DecodeError> {
    let packet_type = header
        .packet_type()
        .ok_or(DecodeError::ReservedPacketType(header.first_byte >> 4))?;
    // PUBREL, SUBSCRIBE and UNSUBSCRIBE carry 0b0010, PUBLISH its own flags, the others 0
    // [MQTT-2.2.2-1] (table 2.2), [MQTT-3.6.1-1], [MQTT-3.8.1-1], [MQTT-3.10.1-1].
    match packet_type {
        PacketType::Publish => {}
        PacketType::Pubrel | PacketType::Subscribe | PacketType::Unsubscribe => {
            expect_flags(header, 0b0010)?
        }
        _ => expect_flags(header, 0)?,
    }
    let mut r = Reader::new(body);
    if packet_type == PacketType::Connect {
        // A CONNECT names its own version.
        let connect = connect::decode_connect(&mut r)?;
        check_minimal_length(header, connect.version)?;
        return Ok(Packet::Connect(connect));
    }
    check_minimal_length(header, version)?;
    let v = version;
    match packet_type {
        PacketType::Connect => unreachable!("decoded above"),
        PacketType::Connack => connect::decode_connack(&mut r, v).map(Packet::Connack),
        PacketType::Publish => {
            publish::decode_publish(header.flags(), &mut r, v).map(Packet::Publish)
        }
        PacketType::Puback => ack::decode_ack(&mut r, v, allowed::PUBACK).map(Packet::Puback),
        PacketType::Pubrec => ack::decode_ack(&mut r, v, allowed::PUBACK).map(Packet::Pubrec),
        PacketType::Pubrel => ack::decode_ack(&mut r, v, allowed::PUBREL).map(Packet::Pubrel),
        PacketType::Pubcomp => ack::decode_ack(&mut r, v, allowed::PUBREL).map(Packet::Pubcomp),
        PacketType::Subscribe => subscribe::decode_subscribe(&mut r, v).map(Packet::Subscribe),
        PacketType::Suback => subscribe::decode_suback(&mut r, v).map(Packet::Suback),
        PacketType::Unsubscribe => {
            subscribe::decode_unsubscribe(&mut r, v).map(Packet::Unsubscribe)
        }
        PacketType::Unsuback => ack::decode_unsuback(&mut r, v).map(Packet::Unsuback),
        PacketType::Pingreq => ack::decode_empty(&r).map(|()| Packet::Pingreq),
        PacketType::Pingresp => ack::decode_empty(&r).map(|()| Packet::Pingresp),
        PacketType::Disconnect => ack::decode_disconnect(&mut r, v).map(Packet::Disconnect),
        PacketType::Auth if v.has_properties() => ack::decode_auth(&mut r).map(Packet::Auth),
        // Reserved before MQTT 5.0 [MQTT-2.2.1].
        PacketType::Auth => Err(DecodeError::ReservedPacketType(PacketType::Auth as u8)),
    }
}

/// MQTT 5.0 requires every variable byte integer, the remaining length included, in its
/// shortest form [MQTT-1.5.5-1]; MQTT 3.1.1 does not forbid a longer one.
pub(super) fn check_minimal_length(
    header: &FixedHeader,
    version: ProtocolVersion,
) -> Result<(), DecodeError> {
    if version.has_properties()
        && header.header_len != 1 + remaining_length_len(header.remaining_len)
    {
        return Err(DecodeError::MalformedRemainingLength);
    }
    Ok(())
}

impl Packet<'_> {
    /// First byte of the fixed header: type and flags.
    fn first_byte(&self) -> u8 {
        let flags = match self {
            Packet::Publish(p) => publish::header_flags(p.dup, p.qos, p.retain),
            Packet::Pubrel(_) | Packet::Subscribe(_) | Packet::Unsubscribe(_) => 0b0010,
            _ => 0,
        };
        (self.packet_type() as u8) << 4 | flags
    }

    /// The version the packet is written in: a CONNECT's own, else the connection's.
    fn version_for(&self, version: ProtocolVersion) -> ProtocolVersion {
        match self {
            Packet::Connect(c) => c.version,
            _ => version,
        }
    }

    /// Length of the body after the fixed header, or [`EncodeError::TooLarge`].
    fn remaining_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        let version = self.version_for(version);
        let v5 = version.has_properties();
        let props = |p: &Properties<'_>| if v5 { p.encoded_len() } else { 0 };
        let tail = |reason, p: &Properties<'_>| if v5 { ack::tail_len(reason, p) } else { 0 };
        let len = match self {
            Packet::Connect(c) => connect::connect_body_len(c)?,
            Packet::Connack(c) => connect::connack_body_len(c, version),
            Packet::Publish(p) => publish::publish_body_len(p, version)?,
            Packet::Puback(a) | Packet::Pubrec(a) | Packet::Pubrel(a) | Packet::Pubcomp(a) => {
                2 + tail(a.reason, &a.properties)
            }
            Packet::Unsuback(u) if v5 => 2 + props(&u.properties) + u.reason_codes.len(),
            Packet::Unsuback(_) => 2,
            Packet::Subscribe(s) => 2 + props(&s.properties) + s.payload.len(),
            Packet::Suback(s) => 2 + props(&s.properties) + s.reason_codes.len(),
            Packet::Unsubscribe(u) => 2 + props(&u.properties) + u.payload.len(),
            Packet::Pingreq | Packet::Pingresp => 0,
            Packet::Disconnect(d) => tail(d.reason, &d.properties),
            Packet::Auth(a) => ack::tail_len(a.reason, &a.properties),
        };
        if len > MAX_REMAINING_LENGTH {
            return Err(EncodeError::TooLarge);
        }
        Ok(len)
    }

    /// Bytes [`Packet::encode`] writes for a connection speaking `version`: fixed header
    /// plus body.
    ///
    /// Fails with [`EncodeError::TooLarge`] if a string or binary field exceeds 65,535
    /// bytes or the body exceeds [`MAX_REMAINING_LENGTH`].
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        let remaining = self.remaining_len(version)?;
        Ok(1 + remaining_length_len(remaining) + remaining)
    }

    /// Writes the packet as a connection speaking `version` receives it into `out`;
    /// returns the bytes written ([`Packet::encoded_len`]). What the version cannot carry
    /// is mapped or left out (see [`super::ReasonCode`]); a CONNECT is written in the
    /// version it names. (AUTH exists only in MQTT 5.0: it is written as MQTT 5.0 would
    /// write it whatever `version` says, and only a 5.0 connection should be sent one.)
    ///
    /// Nothing is written if `out` is too small ([`EncodeError::BufferTooSmall`]). The
    /// encoder checks sizes, not protocol rules: it writes the fields it is given (for
    /// example, an empty PUBLISH topic), so a packet built by hand should follow the rules
    /// documented on its fields. A decoded packet always re-encodes to a valid one.
    pub fn encode(&self, version: ProtocolVersion, out: &mut [u8]) -> Result<usize, EncodeError> {
        let version = self.version_for(version);
        let v5 = version.has_properties();
        if let Packet::Puback(a) | Packet::Pubrec(a) | Packet::Pubrel(a) | Packet::Pubcomp(a) = self
        {
            if !v5 || ack::tail_len(a.reason, &a.properties) == 0 {
                // The broker sends one of these per QoS 1/2 message: a short path. In MQTT
                // 3.1/3.1.1, and for a 5.0 success without properties, they are a packet
                // id and nothing else [MQTT-3.4.2.1].
                let bytes = ack::short_ack(self.packet_type(), a.packet_id);
                let dst = out.get_mut(..4).ok_or(EncodeError::BufferTooSmall)?;
                dst.copy_from_slice(&bytes);
                return Ok(4);
            }
        }
        let remaining = self.remaining_len(version)?;
        let total = 1 + remaining_length_len(remaining) + remaining;
        if out.len() < total {
            return Err(EncodeError::BufferTooSmall);
        }
        let mut head = [0u8; 5];
        let head_len = encode_fixed_header(self.first_byte(), remaining, &mut head);
        let mut w = Writer::new(out);
        w.bytes(&head[..head_len])?;
        let props = |p: &Properties<'_>, w: &mut Writer<'_>| {
            if v5 {
                p.write_to(w)
            } else {
                Ok(())
            }
        };
        match self {
            Packet::Connect(c) => connect::write_connect(c, &mut w)?,
            Packet::Connack(c) => connect::write_connack(c, version, &mut w)?,
            Packet::Publish(p) => publish::write_publish(p, version, &mut w)?,
            Packet::Puback(a) | Packet::Pubrec(a) | Packet::Pubrel(a) | Packet::Pubcomp(a) => {
                w.u16(a.packet_id)?;
                ack::write_tail(a.reason, &a.properties, &mut w)?;
            }
            Packet::Unsuback(u) => {
                w.u16(u.packet_id)?;
                if v5 {
                    props(&u.properties, &mut w)?;
                    w.bytes(u.reason_codes)?;
                }
            }
            Packet::Subscribe(s) => {
                w.u16(s.packet_id)?;
                props(&s.properties, &mut w)?;
                w.bytes(s.payload)?;
            }
            Packet::Suback(s) => {
                w.u16(s.packet_id)?;
                props(&s.properties, &mut w)?;
                for &code in s.reason_codes {
                    let code = super::ReasonCode(code);
                    w.u8(if v5 { code.0 } else { code.to_v311_suback() })?;
                }
            }
            Packet::Unsubscribe(u) => {
                w.u16(u.packet_id)?;
                props(&u.properties, &mut w)?;
                w.bytes(u.payload)?;
            }
            Packet::Pingreq | Packet::Pingresp => {}
            Packet::Disconnect(d) if v5 => ack::write_tail(d.reason, &d.properties, &mut w)?,
            Packet::Disconnect(_) => {}
            Packet::Auth(a) => ack::write_tail(a.reason, &a.properties, &mut w)?,
        }
        debug_assert_eq!(w.position(), total, "encoded_len and encode disagree");
        Ok(w.position())
    }

    /// Encodes the packet for a connection speaking `version` into a new vector of exactly
    /// [`Packet::encoded_len`] bytes.
    pub fn to_vec(&self, version: ProtocolVersion) -> Result<Vec<u8>, EncodeError> {
        let mut out = vec![0u8; self.encoded_len(version)?];
        let n = self.encode(version, &mut out)?;
        out.truncate(n);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode, Packet, ProtocolVersion::V311, QoS};
    use super::*;

    /// Every remaining-length boundary of [MQTT-2.2.3] with its expected encoding.
    const BOUNDARIES: &[(usize, &[u8])] = &[
        (0, &[0x00]),
        (127, &[0x7f]),
        (128, &[0x80, 0x01]),
        (16_383, &[0xff, 0x7f]),
        (16_384, &[0x80, 0x80, 0x01]),
        (2_097_151, &[0xff, 0xff, 0x7f]),
        (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
        (268_435_455, &[0xff, 0xff, 0xff, 0x7f]),
    ];

    #[test]
    fn remaining_length_boundaries_round_trip_mqtt_2_2_3() {
        for &(len, bytes) in BOUNDARIES {
            assert_eq!(remaining_length_len(len), bytes.len(), "len {len}");
            let mut out = [0u8; 4];
            assert_eq!(encode_remaining_length(len, &mut out), bytes.len());
            assert_eq!(&out[..bytes.len()], bytes, "len {len}");

            let mut frame = vec![0x30];
            frame.extend_from_slice(bytes);
            let header = FixedHeader::parse(&frame).unwrap().unwrap();
            assert_eq!(header.remaining_len, len);
            assert_eq!(header.header_len, 1 + bytes.len());
            assert_eq!(header.packet_len(), 1 + bytes.len() + len);

            let mut head = [0u8; 5];
            assert_eq!(encode_fixed_header(0x30, len, &mut head), frame.len());
            assert_eq!(&head[..frame.len()], &frame[..]);
        }
    }

    #[test]
    fn fifth_remaining_length_byte_is_malformed_mqtt_2_2_3() {
        assert_eq!(
            FixedHeader::parse(&[0x30, 0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::MalformedRemainingLength)
        );
        // Known malformed as soon as the 4th length byte arrives, without a 5th byte.
        assert_eq!(
            FixedHeader::parse(&[0x30, 0x80, 0x80, 0x80, 0x80]),
            Err(DecodeError::MalformedRemainingLength)
        );
        assert_eq!(
            decode(&[0x30, 0x80, 0x80, 0x80, 0x80, 0x01], V311),
            Err(DecodeError::MalformedRemainingLength)
        );
    }

    #[test]
    fn non_minimal_remaining_length_is_accepted() {
        assert_eq!(
            FixedHeader::parse(&[0xc0, 0x80, 0x00]),
            Ok(Some(FixedHeader {
                first_byte: 0xc0,
                remaining_len: 0,
                header_len: 3
            }))
        );
        assert_eq!(decode(&[0xc0, 0x80, 0x00], V311), Ok(Packet::Pingreq));
    }

    #[test]
    #[should_panic(expected = "exceeds MAX_REMAINING_LENGTH")]
    fn encoding_a_too_long_remaining_length_panics() {
        let mut out = [0u8; 5];
        encode_fixed_header(0x30, MAX_REMAINING_LENGTH + 1, &mut out);
    }

    #[test]
    fn every_strict_prefix_of_a_header_is_incomplete() {
        for &(len, bytes) in BOUNDARIES {
            let mut frame = vec![0x30];
            frame.extend_from_slice(bytes);
            for end in 0..frame.len() {
                assert_eq!(FixedHeader::parse(&frame[..end]), Ok(None), "len {len}");
            }
            assert!(FixedHeader::parse(&frame).unwrap().is_some());
        }
    }

    #[test]
    fn parse_does_not_need_the_body() {
        // PUBLISH announcing 200 bytes, none of them present: the caller can check
        // packet_len() against max_packet_size before buffering the body.
        let header = FixedHeader::parse(&[0x30, 0xc8, 0x01]).unwrap().unwrap();
        assert_eq!(header.packet_len(), 203);
        assert_eq!(header.packet_type(), Some(PacketType::Publish));
    }

    #[test]
    fn parse_ignores_following_packets() {
        let two = [0xc0, 0x00, 0xd0, 0x00];
        let header = FixedHeader::parse(&two).unwrap().unwrap();
        assert_eq!(header.packet_len(), 2);
        assert_eq!(decode(&two[..2], V311), Ok(Packet::Pingreq));
    }

    #[test]
    fn reserved_packet_types_are_malformed_mqtt_2_2_1() {
        // Rejected from the first byte alone.
        assert_eq!(
            FixedHeader::parse(&[0x00]),
            Err(DecodeError::ReservedPacketType(0))
        );
        // 15 is AUTH in MQTT 5.0: it frames, and is refused by decoding before 5.0.
        assert!(FixedHeader::parse(&[0xf0, 0]).unwrap().is_some());
        assert_eq!(
            decode(&[0x00, 0x00], V311),
            Err(DecodeError::ReservedPacketType(0))
        );
        assert_eq!(
            decode(&[0xf0, 0x00], V311),
            Err(DecodeError::ReservedPacketType(15))
        );
    }

    #[test]
    fn reserved_header_flags_are_malformed_mqtt_2_2_2_2() {
        // Framing still works: the header parses, decode names the malformation.
        assert!(FixedHeader::parse(&[0xc1, 0x00]).unwrap().is_some());
        assert_eq!(
            decode(&[0xc1, 0x00], V311),
            Err(DecodeError::InvalidHeaderFlags {
                packet_type: 12,
                flags: 1
            })
        );
        // Every type with fixed flags, with each wrong nibble.
        for packet_type in [1u8, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14] {
            let expected = if matches!(packet_type, 6 | 8 | 10) {
                2
            } else {
                0
            };
            for flags in (0u8..16).filter(|&f| f != expected) {
                let frame = [packet_type << 4 | flags, 0];
                assert_eq!(
                    decode(&frame, V311),
                    Err(DecodeError::InvalidHeaderFlags { packet_type, flags }),
                    "type {packet_type} flags {flags}"
                );
            }
        }
    }

    #[test]
    fn decode_rejects_a_frame_of_the_wrong_length() {
        assert_eq!(decode(&[], V311), Err(DecodeError::Truncated));
        assert_eq!(
            decode(&[0x40, 0x02, 0x00], V311),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            decode(&[0xc0, 0x00, 0x00], V311),
            Err(DecodeError::TrailingBytes)
        );
    }

    #[test]
    fn encode_into_a_short_buffer_writes_nothing() {
        let packet = Packet::puback(7);
        assert_eq!(packet.encoded_len(V311), Ok(4));
        let mut out = [0xaau8; 3];
        assert_eq!(
            packet.encode(V311, &mut out),
            Err(EncodeError::BufferTooSmall)
        );
        assert_eq!(out, [0xaa; 3]);
        let mut out = [0u8; 6];
        assert_eq!(packet.encode(V311, &mut out), Ok(4));
        assert_eq!(&out[..4], &[0x40, 0x02, 0x00, 0x07]);
    }

    #[test]
    fn too_large_publish_is_refused() {
        let payload = vec![0u8; MAX_REMAINING_LENGTH];
        let packet = Packet::Publish(super::super::Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: "t",
            packet_id: None,
            properties: super::super::Properties::NONE,
            payload: &payload,
        });
        assert_eq!(packet.encoded_len(V311), Err(EncodeError::TooLarge));
        assert_eq!(packet.to_vec(V311), Err(EncodeError::TooLarge));
    }

    /// A xorshift64 generator: enough randomness for a no-panic property, no extra crate.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
    }

    /// Decoding arbitrary bytes returns `Ok` or `Err`, never panics, and whatever decodes
    /// re-encodes to a packet that decodes to the same value.
    #[test]
    fn decode_never_panics_on_random_bytes() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut buf = [0u8; 64];
        let mut decoded = 0usize;
        for _ in 0..100_000 {
            let len = (rng.next() % 64) as usize;
            for b in buf.iter_mut().take(len) {
                // Small numbers and topic characters often, so that length prefixes fit
                // and strings are valid now and then; any byte otherwise.
                let r = rng.next();
                *b = match r % 4 {
                    0 => (r >> 8) as u8 % 4,
                    1 => b"MQTQIsdp/a+#"[(r >> 8) as usize % 12],
                    _ => (r >> 8) as u8,
                };
            }
            if len >= 2 {
                // Mostly a valid type and a plausible remaining length, so that the body
                // decoders are reached and not only the header checks.
                let packet_type = (rng.next() % 14 + 1) as u8;
                let flags = match packet_type {
                    3 => (rng.next() % 8) as u8,
                    6 | 8 | 10 => 2,
                    _ => 0,
                };
                buf[0] = packet_type << 4 | flags;
                buf[1] = (len - 2) as u8;
            }
            for end in 0..=len {
                // The prefix as it is (a frame cut short), then with its remaining length
                // fixed to fit (a body whose fields run short inside the decoders).
                let mut fitted = buf;
                if end >= 2 {
                    fitted[1] = (end - 2) as u8;
                }
                for frame in [&buf[..end], &fitted[..end]] {
                    let _ = FixedHeader::parse(frame);
                    if let Ok(packet) = decode(frame, V311) {
                        decoded += 1;
                        let bytes = packet.to_vec(V311).expect("a decoded packet re-encodes");
                        assert_eq!(decode(&bytes, V311), Ok(packet), "frame {frame:02x?}");
                    }
                }
            }
        }
        assert!(
            decoded > 10_000,
            "the generator reaches the decoders ({decoded})"
        );
    }
}
