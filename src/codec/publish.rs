//! PUBLISH [MQTT-3.3].
//!
//! The decoder borrows topic, properties and payload from the frame. The broker's fan-out
//! does not encode whole packets ([`write_publish`], for clients, tests and the load
//! generator): a [`PublishHeader`] holds the few bytes that differ per subscriber, and
//! the topic, properties and payload are written from one shared copy.

use super::header::{encode_fixed_header, remaining_length_len};
use super::properties::{id, read_properties, varint_len, write_varint, Context, MAX_VARINT};
use super::swar;
use super::wire::{field_len, utf8, Reader, Writer};
use super::{
    DecodeError, EncodeError, Properties, ProtocolVersion, Publish, QoS, MAX_REMAINING_LENGTH,
};

/// PUBLISH fixed-header flags [MQTT-3.3.1].
const DUP: u8 = 0x08;
const QOS_SHIFT: u8 = 1;
const QOS_MASK: u8 = 0x06;
const RETAIN: u8 = 0x01;

/// A PUBLISH's topic name: a UTF-8 string [MQTT-1.5.3] without wildcards
/// [MQTT-3.3.2-2]. (Whether it may be empty depends on the version.)
///
/// One word-at-a-time pass ([`swar`]) finds whether any byte is not ASCII, U+0000 or a
/// wildcard. A topic with none of them (nearly every topic) is valid UTF-8 as it is; one
/// with any goes through the string rules of [`utf8`] and the wildcard check, so the
/// error is the same as theirs.
#[inline]
fn topic_name(bytes: &[u8]) -> Result<&str, DecodeError> {
    let (plus, hash) = (swar::splat(b'+'), swar::splat(b'#'));
    // The pad (`a`) is none of the bytes looked for.
    let special = swar::words(bytes, b'a').fold(0, |found, w| {
        found
            | swar::high_bytes(w)
            | swar::zero_bytes(w)
            | swar::equal_bytes(w, plus)
            | swar::equal_bytes(w, hash)
    });
    if special == 0 {
        // SAFETY: every byte is below 0x80 (`high_bytes` found none at or above it), and
        // a sequence of ASCII bytes is well-formed UTF-8. Checking again with
        // `str::from_utf8` would cost as much as the whole scan. Tested against `utf8`
        // by `topic_names_are_checked_as_strings_are`.
        return Ok(unsafe { core::str::from_utf8_unchecked(bytes) });
    }
    let topic = utf8(bytes)?;
    if topic.contains(['+', '#']) {
        return Err(DecodeError::WildcardInTopicName);
    }
    Ok(topic)
}

/// Decodes a PUBLISH body of a connection speaking `version`; `flags` is the low nibble
/// of the fixed header.
///
/// DUP with QoS 0 is accepted although [MQTT-3.3.1-2] says a sender must not set it:
/// it changes nothing for a QoS 0 message, and Mosquitto accepts it from 3.1.1 clients,
/// so rejecting it would only disconnect clients that work elsewhere. The broker never
/// forwards the incoming DUP flag anyway [MQTT-3.3.1-3].
///
/// In MQTT 5.0 the topic name may be empty when a Topic Alias stands for it
/// [MQTT-3.3.2-x]; the broker resolves the alias. An empty topic without one is a
/// Protocol Error.
#[inline]
pub(super) fn decode_publish<'a>(
    flags: u8,
    r: &mut Reader<'a>,
    version: ProtocolVersion,
) -> Result<Publish<'a>, DecodeError> {
    let qos = QoS::from_bits((flags & QOS_MASK) >> QOS_SHIFT).ok_or(DecodeError::InvalidQoS)?; // [MQTT-3.3.1-4]
    let topic = topic_name(r.binary()?)?;
    let packet_id = if qos == QoS::AtMostOnce {
        None
    } else {
        match r.u16()? {
            0 => return Err(DecodeError::ZeroPacketId), // [MQTT-2.3.1-1]
            id => Some(id),
        }
    };
    let properties = if version.has_properties() {
        read_properties(r, Context::Publish)?
    } else {
        Properties::NONE
    };
    if topic.is_empty() && properties.u16(id::TOPIC_ALIAS).is_none() {
        return Err(DecodeError::EmptyTopic); // [MQTT-4.7.3-1]
    }
    Ok(Publish {
        dup: flags & DUP != 0,
        qos,
        retain: flags & RETAIN != 0,
        topic,
        packet_id,
        properties,
        payload: r.take_rest(),
    })
}

/// Bytes of a PUBLISH's variable header (topic, packet id, properties) at the start of
/// `body`, once enough of it has arrived to tell; `Ok(None)` while it has not. For a large
/// PUBLISH read in two parts: the variable header, then the payload straight into its
/// shared body. `flags` is the low nibble of the fixed header.
pub fn publish_head_len(
    flags: u8,
    body: &[u8],
    version: ProtocolVersion,
) -> Result<Option<usize>, DecodeError> {
    let qos = QoS::from_bits((flags & QOS_MASK) >> QOS_SHIFT).ok_or(DecodeError::InvalidQoS)?; // [MQTT-3.3.1-4]
    let Some(topic_len) = body.get(..2) else {
        return Ok(None);
    };
    let mut at = 2 + usize::from(u16::from_be_bytes([topic_len[0], topic_len[1]]));
    if qos != QoS::AtMostOnce {
        at += 2;
    }
    if !version.has_properties() {
        return Ok(Some(at));
    }
    // The properties' length: a variable byte integer of 1 to 4 bytes [MQTT-1.5.5].
    let mut len = 0usize;
    for i in 0..4 {
        let Some(&byte) = body.get(at + i) else {
            return Ok(None);
        };
        len |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some(at + i + 1 + len));
        }
    }
    Err(DecodeError::MalformedVarInt)
}

/// Decodes a PUBLISH from its variable header `head` ([`publish_head_len`] bytes) and its
/// `payload`, read apart; the same checks as a whole packet's, and `head` must hold
/// nothing after the properties.
pub(super) fn decode_publish_split<'a>(
    flags: u8,
    head: &'a [u8],
    payload: &'a [u8],
    version: ProtocolVersion,
) -> Result<Publish<'a>, DecodeError> {
    let mut r = Reader::new(head);
    let publish = decode_publish(flags, &mut r, version)?;
    if !publish.payload.is_empty() {
        return Err(DecodeError::TrailingBytes);
    }
    Ok(Publish { payload, ..publish })
}

/// The low nibble of a PUBLISH fixed header [MQTT-3.3.1].
pub(super) fn header_flags(dup: bool, qos: QoS, retain: bool) -> u8 {
    u8::from(dup) << 3 | (qos as u8) << QOS_SHIFT | u8::from(retain)
}

/// Sizes of the parts of a PUBLISH that every subscriber shares, for [`PublishHeader`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedParts {
    /// The length-prefixed topic name: 2 + its bytes.
    pub topic_field: usize,
    /// The encoded properties, without their length (0 for MQTT 3.1/3.1.1 messages).
    pub properties: usize,
    /// The payload.
    pub payload: usize,
}

/// Bytes a [`PublishHeader`] holds inline: a fixed header (at most 5), a packet id (2),
/// and room for what MQTT 5.0 puts between the packet id and the shared properties (the
/// property length and per-subscriber properties such as a subscription identifier).
/// A header that needs more is written with [`PublishHeader::to_vec`].
const PUBLISH_HEADER_CAPACITY: usize = 13;

/// The properties of an MQTT 5.0 delivery that differ per subscriber, written in its
/// header before the shared ones [MQTT-3.3.2.3].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerSubscriber<'a> {
    /// What is left of the message's expiry interval, in seconds [MQTT-3.3.2-6].
    pub expiry: Option<u32>,
    /// The identifiers of the subscriptions the message matched [MQTT-3.3.4-3].
    pub subscription_ids: &'a [u32],
}

impl PerSubscriber<'_> {
    /// Bytes these properties take.
    fn len(&self) -> usize {
        let expiry = if self.expiry.is_some() { 5 } else { 0 };
        expiry
            + self
                .subscription_ids
                .iter()
                .map(|&id| 1 + varint_len(id))
                .sum::<usize>()
    }
}

/// Most bytes a PUBLISH header can take with `n` subscription identifiers: fixed header
/// 5, packet id 2, property length 4, expiry 5, 5 per identifier.
pub fn publish_header_max(subscription_ids: usize) -> usize {
    16 + 5 * subscription_ids
}

/// [`write_header`] for MQTT 3.1/3.1.1: a fixed header and the packet id. Once per
/// subscriber per message, so without the general path's cursor, and inlined.
#[inline(always)]
fn write_v311_header(
    dup: bool,
    qos: QoS,
    retain: bool,
    packet_id: Option<u16>,
    shared: SharedParts,
    out: &mut [u8],
) -> Result<(usize, usize), EncodeError> {
    let id_len = if packet_id.is_some() { 2 } else { 0 };
    let remaining = shared.topic_field + id_len + shared.payload;
    if remaining > MAX_REMAINING_LENGTH {
        return Err(EncodeError::TooLarge);
    }
    if out.len() < 5 + id_len {
        return Err(EncodeError::BufferTooSmall);
    }
    let first = (super::PacketType::Publish as u8) << 4 | header_flags(dup, qos, retain);
    let fixed_len = encode_fixed_header(first, remaining, out);
    if let Some(id) = packet_id {
        out[fixed_len..fixed_len + 2].copy_from_slice(&id.to_be_bytes());
    }
    Ok((fixed_len, fixed_len + id_len))
}

/// Writes the per-subscriber bytes of a PUBLISH into `out`; returns the fixed header's
/// length and the total.
#[allow(clippy::too_many_arguments)]
fn write_header(
    version: ProtocolVersion,
    dup: bool,
    qos: QoS,
    retain: bool,
    packet_id: Option<u16>,
    shared: SharedParts,
    extra: &PerSubscriber<'_>,
    out: &mut [u8],
) -> Result<(usize, usize), EncodeError> {
    debug_assert_eq!(packet_id.is_some(), qos != QoS::AtMostOnce);
    let id_len = if packet_id.is_some() { 2 } else { 0 };
    let v5 = version.has_properties();
    if !v5 {
        return write_v311_header(dup, qos, retain, packet_id, shared, out);
    }
    let props_len = if v5 {
        extra.len() + shared.properties
    } else {
        0
    };
    if props_len > MAX_VARINT as usize || extra.subscription_ids.iter().any(|&id| id > MAX_VARINT) {
        return Err(EncodeError::TooLarge);
    }
    let props_field = if v5 {
        varint_len(props_len as u32) + props_len
    } else {
        0
    };
    let remaining = shared.topic_field + id_len + props_field + shared.payload;
    if remaining > MAX_REMAINING_LENGTH {
        return Err(EncodeError::TooLarge);
    }
    let own = if v5 {
        props_field - shared.properties
    } else {
        0
    };
    let needed = 1 + remaining_length_len(remaining) + id_len + own;
    if out.len() < needed {
        return Err(EncodeError::BufferTooSmall);
    }
    let first = (super::PacketType::Publish as u8) << 4 | header_flags(dup, qos, retain);
    let fixed_len = encode_fixed_header(first, remaining, out);
    let mut w = Writer::new(&mut out[fixed_len..needed]);
    if let Some(id) = packet_id {
        w.u16(id)?;
    }
    if v5 {
        let mut len = [0u8; 4];
        let n = write_varint(props_len as u32, &mut len);
        w.bytes(&len[..n])?;
        if let Some(expiry) = extra.expiry {
            w.u8(id::MESSAGE_EXPIRY_INTERVAL)?;
            w.bytes(&expiry.to_be_bytes())?;
        }
        for &sid in extra.subscription_ids {
            w.u8(id::SUBSCRIPTION_IDENTIFIER)?;
            let n = write_varint(sid, &mut len);
            w.bytes(&len[..n])?;
        }
    }
    debug_assert_eq!(fixed_len + w.position(), needed);
    Ok((fixed_len, needed))
}

/// The per-subscriber bytes of an outgoing PUBLISH whose topic, properties and payload
/// are stored once and shared: what the broker writes for each delivery. On the wire:
///
/// ```text
/// fixed_header() | topic field (shared) | after_topic() | properties (shared, if
/// carries_properties()) | payload (shared)
/// ```
///
/// 15 bytes, so a frame made of it and a shared body stays at 32 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishHeader {
    /// The fixed header, then the packet id (and, for MQTT 5.0, the property length).
    bytes: [u8; PUBLISH_HEADER_CAPACITY],
    /// Bytes of the fixed header in `bytes` (bits 0-6), and [`V5_FLAG`] for a header
    /// written for an MQTT 5.0 connection, which the shared properties follow (kept in
    /// this byte so a frame stays at 32 bytes).
    fixed_len: u8,
    /// Bytes used in `bytes`.
    len: u8,
}

/// Bit of [`PublishHeader`]'s `fixed_len` set for MQTT 5.0 headers.
const V5_FLAG: u8 = 0x80;

impl PublishHeader {
    /// The header of one delivery, for a connection speaking `version`: flags, the packet
    /// id (`Some` if and only if `qos` > 0 [MQTT-2.3.1-5]) and the remaining length of
    /// the `shared` parts it precedes. MQTT 3.1/3.1.1 deliveries leave the properties out;
    /// MQTT 5.0 ones write the property length and the `extra` per-subscriber properties
    /// before the shared ones.
    ///
    /// Fails with [`EncodeError::TooLarge`] if the packet would exceed
    /// [`MAX_REMAINING_LENGTH`], and with [`EncodeError::BufferTooSmall`] if the header
    /// does not fit inline (many subscription identifiers): [`PublishHeader::to_vec`]
    /// writes it then.
    #[inline(always)]
    pub fn new(
        version: ProtocolVersion,
        dup: bool,
        qos: QoS,
        retain: bool,
        packet_id: Option<u16>,
        shared: SharedParts,
        extra: &PerSubscriber<'_>,
    ) -> Result<PublishHeader, EncodeError> {
        let mut bytes = [0u8; PUBLISH_HEADER_CAPACITY];
        let (fixed_len, len) = if version.has_properties() {
            write_header(
                version, dup, qos, retain, packet_id, shared, extra, &mut bytes,
            )?
        } else {
            write_v311_header(dup, qos, retain, packet_id, shared, &mut bytes)?
        };
        let v5 = if version.has_properties() { V5_FLAG } else { 0 };
        Ok(PublishHeader {
            bytes,
            fixed_len: fixed_len as u8 | v5,
            len: len as u8,
        })
    }

    /// The same header as [`PublishHeader::new`] written into a vector of its exact size,
    /// for a header too long to keep inline; returns the bytes and the fixed header's
    /// length (the rest is what follows the shared topic field).
    #[allow(clippy::too_many_arguments)]
    pub fn to_vec(
        version: ProtocolVersion,
        dup: bool,
        qos: QoS,
        retain: bool,
        packet_id: Option<u16>,
        shared: SharedParts,
        extra: &PerSubscriber<'_>,
    ) -> Result<(Vec<u8>, usize), EncodeError> {
        let mut bytes = vec![0u8; publish_header_max(extra.subscription_ids.len())];
        let (fixed_len, len) = write_header(
            version, dup, qos, retain, packet_id, shared, extra, &mut bytes,
        )?;
        bytes.truncate(len);
        Ok((bytes, fixed_len))
    }

    /// The fixed header: type, DUP/QoS/RETAIN flags, remaining length.
    #[inline]
    pub fn fixed_header(&self) -> &[u8] {
        &self.bytes[..usize::from(self.fixed_len & !V5_FLAG)]
    }

    /// What follows the shared topic field: the packet id, if any (and, for MQTT 5.0, the
    /// property length and per-subscriber properties).
    #[inline]
    pub fn after_topic(&self) -> &[u8] {
        &self.bytes[usize::from(self.fixed_len & !V5_FLAG)..usize::from(self.len)]
    }

    /// Whether the shared properties are written after [`PublishHeader::after_topic`]
    /// (MQTT 5.0 deliveries only).
    #[inline]
    pub fn carries_properties(&self) -> bool {
        self.fixed_len & V5_FLAG != 0
    }

    /// Bytes of [`PublishHeader::fixed_header`] and [`PublishHeader::after_topic`].
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Always false: there is at least a fixed header.
    #[inline]
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Length of a PUBLISH body: topic, packet id if QoS > 0, properties (MQTT 5.0),
/// payload.
pub(super) fn publish_body_len(
    p: &Publish<'_>,
    version: ProtocolVersion,
) -> Result<usize, EncodeError> {
    let id_len = if p.qos == QoS::AtMostOnce { 0 } else { 2 };
    let props = if version.has_properties() {
        p.properties.encoded_len()
    } else {
        0
    };
    Ok(field_len(p.topic.len())? + id_len + props + p.payload.len())
}

/// Writes a PUBLISH body. The QoS decides whether a packet id is written [MQTT-2.3.1-5];
/// `packet_id` must then be `Some` (a missing one is written as 0, which a receiver
/// rejects, and trips a debug assertion).
pub(super) fn write_publish(
    p: &Publish<'_>,
    version: ProtocolVersion,
    w: &mut Writer<'_>,
) -> Result<(), EncodeError> {
    w.str(p.topic)?;
    if p.qos != QoS::AtMostOnce {
        debug_assert!(
            p.packet_id.is_some(),
            "PUBLISH with QoS > 0 needs a packet id"
        );
        w.u16(p.packet_id.unwrap_or(0))?;
    }
    if version.has_properties() {
        p.properties.write_to(w)?;
    }
    w.bytes(p.payload)
}

#[cfg(test)]
mod tests {
    use super::super::{decode, Packet, ProtocolVersion::V311, ProtocolVersion::V5};
    use super::*;

    /// The one-pass check gives what the string rules and the wildcard check give, for
    /// every byte value at every position of topics of every length up to three words.
    #[test]
    fn topic_names_are_checked_as_strings_are() {
        fn reference(bytes: &[u8]) -> Result<&str, DecodeError> {
            let topic = utf8(bytes)?;
            if topic.contains(['+', '#']) {
                return Err(DecodeError::WildcardInTopicName);
            }
            Ok(topic)
        }
        for len in 1..=24 {
            for at in 0..len {
                for value in 0..=255u8 {
                    let mut bytes = vec![b's'; len];
                    bytes[at] = value;
                    assert_eq!(topic_name(&bytes), reference(&bytes), "{bytes:?}");
                }
            }
        }
        for topic in [
            "",
            "a/b",
            "caf\u{e9}/t",
            "\u{1F600}+",
            "a#\u{e9}",
            "\u{e9}\0",
        ] {
            assert_eq!(
                topic_name(topic.as_bytes()),
                reference(topic.as_bytes()),
                "{topic:?}"
            );
        }
        // A NUL with a wildcard is a NUL, as the string rules come first.
        assert_eq!(topic_name(b"a+\0"), Err(DecodeError::NullCharacter));
        assert_eq!(topic_name(b"\xC3(/#"), Err(DecodeError::InvalidUtf8));
    }

    #[test]
    fn a_publish_header_and_the_shared_parts_make_the_whole_packet() {
        let topic_field = [0, 3, b'a', b'/', b'b'];
        for (qos, id) in [(QoS::AtMostOnce, None), (QoS::ExactlyOnce, Some(0x1234))] {
            let shared = SharedParts {
                topic_field: 5,
                properties: 0,
                payload: 5,
            };
            let h =
                PublishHeader::new(V311, true, qos, true, id, shared, &PerSubscriber::default())
                    .unwrap();
            let mut wire = h.fixed_header().to_vec();
            wire.extend_from_slice(&topic_field);
            wire.extend_from_slice(h.after_topic());
            wire.extend_from_slice(b"hello");
            assert_eq!(h.len(), h.fixed_header().len() + h.after_topic().len());
            let p = Publish {
                dup: true,
                retain: true,
                ..publish(qos, id)
            };
            assert_eq!(Packet::Publish(p).to_vec(V311).unwrap(), wire);
        }
        let huge = SharedParts {
            topic_field: 3,
            properties: 0,
            payload: MAX_REMAINING_LENGTH,
        };
        let none = PerSubscriber::default();
        let too_large = PublishHeader::new(V311, false, QoS::AtMostOnce, false, None, huge, &none);
        assert_eq!(too_large, Err(EncodeError::TooLarge));
        assert_eq!(std::mem::size_of::<PublishHeader>(), 15);
    }

    fn publish(qos: QoS, packet_id: Option<u16>) -> Publish<'static> {
        Publish {
            dup: false,
            qos,
            retain: false,
            topic: "a/b",
            packet_id,
            properties: Properties::NONE,
            payload: b"hello",
        }
    }

    #[test]
    fn qos0_publish_has_no_packet_id_mqtt_2_3_1_5() {
        let frame = [
            0x30, 10, 0, 3, b'a', b'/', b'b', b'h', b'e', b'l', b'l', b'o',
        ];
        let packet = Packet::Publish(publish(QoS::AtMostOnce, None));
        assert_eq!(decode(&frame, V311), Ok(packet));
        assert_eq!(packet.to_vec(V311).unwrap(), frame);
    }

    #[test]
    fn every_flag_combination_round_trips() {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            for dup in [false, true] {
                for retain in [false, true] {
                    let p = Publish {
                        dup,
                        retain,
                        ..publish(qos, (qos != QoS::AtMostOnce).then_some(0x1234))
                    };
                    let bytes = Packet::Publish(p).to_vec(V311).unwrap();
                    assert_eq!(bytes[0] & 0x0f, header_flags(p.dup, p.qos, p.retain));
                    assert_eq!(decode(&bytes, V311), Ok(Packet::Publish(p)));
                }
            }
        }
    }

    #[test]
    fn empty_payload_is_allowed_mqtt_3_3_3() {
        let p = Publish {
            payload: b"",
            ..publish(QoS::AtLeastOnce, Some(1))
        };
        let bytes = Packet::Publish(p).to_vec(V311).unwrap();
        assert_eq!(bytes, [0x32, 7, 0, 3, b'a', b'/', b'b', 0, 1]);
        assert_eq!(decode(&bytes, V311), Ok(Packet::Publish(p)));
    }

    #[test]
    fn large_payload_round_trips() {
        let payload = vec![0x5a; 20_000];
        let p = Publish {
            payload: &payload,
            ..publish(QoS::ExactlyOnce, Some(9))
        };
        let bytes = Packet::Publish(p).to_vec(V311).unwrap();
        assert_eq!(bytes.len(), 1 + 3 + 5 + 2 + 20_000);
        assert_eq!(decode(&bytes, V311), Ok(Packet::Publish(p)));
    }

    #[test]
    fn dup_with_qos0_is_accepted() {
        // Lenient on [MQTT-3.3.1-2], as Mosquitto is for 3.1.1 (see decode_publish).
        let frame = [0x38, 4, 0, 1, b't', b'x'];
        let Ok(Packet::Publish(p)) = decode(&frame, V311) else {
            panic!("decodes");
        };
        assert!(p.dup);
        assert_eq!(p.packet_id, None);
        assert_eq!(p.payload, b"x");
    }

    #[test]
    fn publish_qos_3_is_malformed_mqtt_3_3_1_4() {
        // Framing works; decode names the malformation.
        let frame = [0x36, 5, 0, 1, b't', 0, 1];
        assert!(super::super::FixedHeader::parse(&frame).unwrap().is_some());
        assert_eq!(decode(&frame, V311), Err(DecodeError::InvalidQoS));
    }

    #[test]
    fn empty_topic_name_is_malformed_mqtt_4_7_3_1() {
        assert_eq!(decode(&[0x30, 2, 0, 0], V311), Err(DecodeError::EmptyTopic));
        // MQTT 5.0: empty only with a topic alias.
        assert_eq!(
            decode(&[0x30, 3, 0, 0, 0], V5),
            Err(DecodeError::EmptyTopic)
        );
        let Ok(Packet::Publish(p)) = decode(&[0x30, 6, 0, 0, 3, 0x23, 0, 1], V5) else {
            panic!("an alias stands for the topic");
        };
        assert_eq!((p.topic, p.properties.u16(id::TOPIC_ALIAS)), ("", Some(1)));
    }

    fn v5_publish(properties: &[u8]) -> Publish<'_> {
        Publish {
            properties: Properties::from_bytes(properties),
            ..publish(QoS::AtLeastOnce, Some(7))
        }
    }

    #[test]
    fn v5_publish_round_trips_with_properties() {
        let props = [0x01, 1, 0x26, 0, 1, b'k', 0, 1, b'v'];
        let p = Packet::Publish(v5_publish(&props));
        let bytes = p.to_vec(V5).unwrap();
        assert_eq!(&bytes[..10], &[0x32, 22, 0, 3, b'a', b'/', b'b', 0, 7, 9]);
        assert_eq!(decode(&bytes, V5), Ok(p));
        // The same packet for 3.1.1 leaves them out.
        assert_eq!(
            decode(&p.to_vec(V311).unwrap(), V311),
            Ok(Packet::Publish(publish(QoS::AtLeastOnce, Some(7))))
        );
    }

    #[test]
    fn v5_publish_properties_are_checked() {
        // Session Expiry Interval is not a PUBLISH property [MQTT-2.2.2.2].
        let bad = [0x32, 12, 0, 1, b't', 0, 1, 5, 0x11, 0, 0, 0, 1, b'x'];
        assert_eq!(decode(&bad, V5), Err(DecodeError::PropertyNotAllowed(0x11)));
        // Missing property length.
        assert_eq!(
            decode(&[0x32, 5, 0, 1, b't', 0, 1], V5),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn v5_header_writes_per_subscriber_properties_before_the_shared_ones() {
        let shared_props = [0x03, 0, 1, b'j'];
        let message = [0, 1, b't'];
        let shared = SharedParts {
            topic_field: 3,
            properties: shared_props.len(),
            payload: 2,
        };
        for ids in [&[][..], &[5], &[1, 300, MAX_VARINT]] {
            for expiry in [None, Some(9)] {
                let extra = PerSubscriber {
                    expiry,
                    subscription_ids: ids,
                };
                let (head, fixed) = PublishHeader::to_vec(
                    V5,
                    false,
                    QoS::AtLeastOnce,
                    false,
                    Some(3),
                    shared,
                    &extra,
                )
                .unwrap();
                let mut wire = head[..fixed].to_vec();
                wire.extend_from_slice(&message);
                wire.extend_from_slice(&head[fixed..]);
                wire.extend_from_slice(&shared_props);
                wire.extend_from_slice(b"hi");
                let Ok(Packet::Publish(p)) = decode(&wire, V5) else {
                    panic!("decodes: {wire:?}");
                };
                assert_eq!(
                    (p.topic, p.payload, p.packet_id),
                    ("t", &b"hi"[..], Some(3))
                );
                assert_eq!(p.properties.u32(id::MESSAGE_EXPIRY_INTERVAL), expiry);
                assert_eq!(p.properties.str(id::CONTENT_TYPE), Some("j"));
                let got: Vec<u32> = p
                    .properties
                    .iter()
                    .filter_map(|q| match q {
                        super::super::Property::VarInt(_, v) => Some(v),
                        _ => None,
                    })
                    .collect();
                assert_eq!(got, ids);
                match PublishHeader::new(
                    V5,
                    false,
                    QoS::AtLeastOnce,
                    false,
                    Some(3),
                    shared,
                    &extra,
                ) {
                    Ok(h) => {
                        assert!(h.carries_properties());
                        assert_eq!([h.fixed_header(), h.after_topic()].concat(), head);
                    }
                    Err(e) => {
                        assert_eq!(e, EncodeError::BufferTooSmall);
                        assert!(head.len() > PUBLISH_HEADER_CAPACITY);
                    }
                }
            }
        }
    }

    #[test]
    fn wildcard_in_topic_name_is_malformed_mqtt_3_3_2_2() {
        for topic in [&b"a/+"[..], b"#", b"a/#", b"+", b"a+b"] {
            let mut frame = vec![0x30, 2 + topic.len() as u8, 0, topic.len() as u8];
            frame.extend_from_slice(topic);
            assert_eq!(decode(&frame, V311), Err(DecodeError::WildcardInTopicName));
        }
    }

    #[test]
    fn topic_with_null_character_is_malformed_mqtt_1_5_3_2() {
        assert_eq!(
            decode(&[0x30, 4, 0, 2, b'a', 0], V311),
            Err(DecodeError::NullCharacter)
        );
    }

    #[test]
    fn topic_with_ill_formed_utf8_is_malformed_mqtt_1_5_3_1() {
        assert_eq!(
            decode(&[0x30, 4, 0, 2, b'a', 0xff], V311),
            Err(DecodeError::InvalidUtf8)
        );
        // An encoded surrogate (U+D800).
        assert_eq!(
            decode(&[0x30, 5, 0, 3, 0xed, 0xa0, 0x80], V311),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn zero_packet_id_is_malformed_mqtt_2_3_1_1() {
        assert_eq!(
            decode(&[0x32, 5, 0, 1, b't', 0, 0], V311),
            Err(DecodeError::ZeroPacketId)
        );
        assert_eq!(
            decode(&[0x34, 5, 0, 1, b't', 0, 0], V311),
            Err(DecodeError::ZeroPacketId)
        );
    }

    #[test]
    fn truncated_publish_is_malformed() {
        // Topic length runs past the body.
        assert_eq!(
            decode(&[0x30, 3, 0, 5, b't'], V311),
            Err(DecodeError::Truncated)
        );
        // QoS 1 without room for the packet id.
        assert_eq!(
            decode(&[0x32, 4, 0, 1, b't', 0], V311),
            Err(DecodeError::Truncated)
        );
        // Not even a topic length.
        assert_eq!(decode(&[0x30, 1, 0], V311), Err(DecodeError::Truncated));
        assert_eq!(decode(&[0x30, 0], V311), Err(DecodeError::Truncated));
    }
}
