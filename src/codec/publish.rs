//! PUBLISH [MQTT-3.3].
//!
//! The decoder borrows topic, properties and payload from the frame. The broker's fan-out
//! does not encode whole packets ([`write_publish`], for clients, tests and the load
//! generator): a [`PublishHeader`] holds the few bytes that differ per subscriber, and
//! the topic, properties and payload are written from one shared copy.

use super::header::{encode_fixed_header, remaining_length_len};
use super::wire::{field_len, Reader, Writer};
use super::{
    DecodeError, EncodeError, Properties, ProtocolVersion, Publish, QoS, MAX_REMAINING_LENGTH,
};

/// PUBLISH fixed-header flags [MQTT-3.3.1].
const DUP: u8 = 0x08;
const QOS_SHIFT: u8 = 1;
const QOS_MASK: u8 = 0x06;
const RETAIN: u8 = 0x01;

/// Checks a topic name: not empty [MQTT-4.7.3-1], no wildcard [MQTT-3.3.2-2].
/// (UTF-8 rules were applied when the string was read.)
fn check_topic_name(topic: &str) -> Result<(), DecodeError> {
    if topic.is_empty() {
        return Err(DecodeError::EmptyTopic);
    }
    if topic.contains(['+', '#']) {
        return Err(DecodeError::WildcardInTopicName);
    }
    Ok(())
}

/// Decodes a PUBLISH body; `flags` is the low nibble of the fixed header.
///
/// DUP with QoS 0 is accepted although [MQTT-3.3.1-2] says a sender must not set it:
/// it changes nothing for a QoS 0 message, and Mosquitto accepts it from 3.1.1 clients,
/// so rejecting it would only disconnect clients that work elsewhere. The broker never
/// forwards the incoming DUP flag anyway [MQTT-3.3.1-3].
#[inline]
pub(super) fn decode_publish<'a>(
    flags: u8,
    r: &mut Reader<'a>,
) -> Result<Publish<'a>, DecodeError> {
    let qos = QoS::from_bits((flags & QOS_MASK) >> QOS_SHIFT).ok_or(DecodeError::InvalidQoS)?; // [MQTT-3.3.1-4]
    let topic = r.str()?;
    check_topic_name(topic)?;
    let packet_id = if qos == QoS::AtMostOnce {
        None
    } else {
        match r.u16()? {
            0 => return Err(DecodeError::ZeroPacketId), // [MQTT-2.3.1-1]
            id => Some(id),
        }
    };
    Ok(Publish {
        dup: flags & DUP != 0,
        qos,
        retain: flags & RETAIN != 0,
        topic,
        packet_id,
        properties: Properties::NONE,
        payload: r.take_rest(),
    })
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
const PUBLISH_HEADER_CAPACITY: usize = 13;

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
    /// Bytes of the fixed header in `bytes`.
    fixed_len: u8,
    /// Bytes used in `bytes`.
    len: u8,
}

impl PublishHeader {
    /// The header of one delivery, for a connection speaking `version`: flags, the packet
    /// id (`Some` if and only if `qos` > 0 [MQTT-2.3.1-5]) and the remaining length of
    /// the `shared` parts it precedes. MQTT 3.1/3.1.1 deliveries leave the properties out.
    ///
    /// Fails with [`EncodeError::TooLarge`] if the packet would exceed
    /// [`MAX_REMAINING_LENGTH`], and [`EncodeError::UnsupportedVersion`] for MQTT 5.0.
    pub fn new(
        version: ProtocolVersion,
        dup: bool,
        qos: QoS,
        retain: bool,
        packet_id: Option<u16>,
        shared: SharedParts,
    ) -> Result<PublishHeader, EncodeError> {
        if !version.is_supported() {
            return Err(EncodeError::UnsupportedVersion(version));
        }
        debug_assert_eq!(packet_id.is_some(), qos != QoS::AtMostOnce);
        let id_len = if packet_id.is_some() { 2 } else { 0 };
        let remaining = shared.topic_field + id_len + shared.payload;
        if remaining > MAX_REMAINING_LENGTH {
            return Err(EncodeError::TooLarge);
        }
        let mut bytes = [0u8; PUBLISH_HEADER_CAPACITY];
        let first = (super::PacketType::Publish as u8) << 4 | header_flags(dup, qos, retain);
        let fixed_len = encode_fixed_header(first, remaining, &mut bytes);
        debug_assert_eq!(fixed_len, 1 + remaining_length_len(remaining));
        let mut len = fixed_len;
        if let Some(id) = packet_id {
            bytes[len..len + 2].copy_from_slice(&id.to_be_bytes());
            len += 2;
        }
        Ok(PublishHeader {
            bytes,
            fixed_len: fixed_len as u8,
            len: len as u8,
        })
    }

    /// The fixed header: type, DUP/QoS/RETAIN flags, remaining length.
    #[inline]
    pub fn fixed_header(&self) -> &[u8] {
        &self.bytes[..usize::from(self.fixed_len)]
    }

    /// What follows the shared topic field: the packet id, if any (and, for MQTT 5.0, the
    /// property length and per-subscriber properties).
    #[inline]
    pub fn after_topic(&self) -> &[u8] {
        &self.bytes[usize::from(self.fixed_len)..usize::from(self.len)]
    }

    /// Whether the shared properties are written after [`PublishHeader::after_topic`]
    /// (MQTT 5.0 deliveries only).
    #[inline]
    pub fn carries_properties(&self) -> bool {
        false
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

/// Length of a PUBLISH body: topic, packet id if QoS > 0, payload.
pub(super) fn publish_body_len(p: &Publish<'_>) -> Result<usize, EncodeError> {
    let id_len = if p.qos == QoS::AtMostOnce { 0 } else { 2 };
    Ok(field_len(p.topic.len())? + id_len + p.payload.len())
}

/// Writes a PUBLISH body. The QoS decides whether a packet id is written [MQTT-2.3.1-5];
/// `packet_id` must then be `Some` (a missing one is written as 0, which a receiver
/// rejects, and trips a debug assertion).
pub(super) fn write_publish(p: &Publish<'_>, w: &mut Writer<'_>) -> Result<(), EncodeError> {
    w.str(p.topic)?;
    if p.qos != QoS::AtMostOnce {
        debug_assert!(
            p.packet_id.is_some(),
            "PUBLISH with QoS > 0 needs a packet id"
        );
        w.u16(p.packet_id.unwrap_or(0))?;
    }
    w.bytes(p.payload)
}

#[cfg(test)]
mod tests {
    use super::super::{decode, Packet, ProtocolVersion::V311};
    use super::*;

    #[test]
    fn a_publish_header_and_the_shared_parts_make_the_whole_packet() {
        let topic_field = [0, 3, b'a', b'/', b'b'];
        for (qos, id) in [(QoS::AtMostOnce, None), (QoS::ExactlyOnce, Some(0x1234))] {
            let shared = SharedParts {
                topic_field: 5,
                properties: 0,
                payload: 5,
            };
            let h = PublishHeader::new(V311, true, qos, true, id, shared).unwrap();
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
        let too_large = PublishHeader::new(V311, false, QoS::AtMostOnce, false, None, huge);
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
