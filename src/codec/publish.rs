//! PUBLISH [MQTT-3.3].
//!
//! The decoder borrows topic and payload from the frame. The broker's fan-out does not use
//! [`write_publish`]: it writes a per-subscriber fixed header with
//! [`super::encode_fixed_header`] in front of the shared topic and payload. This encoder
//! serves the bridge, tests and any caller that wants a whole packet in one buffer.

use super::wire::{field_len, Reader, Writer};
use super::{DecodeError, EncodeError, Publish, QoS};

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
        payload: r.take_rest(),
    })
}

/// The low nibble of a PUBLISH fixed header.
pub(super) fn header_flags(p: &Publish<'_>) -> u8 {
    u8::from(p.dup) << 3 | (p.qos as u8) << QOS_SHIFT | u8::from(p.retain)
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
    use super::super::{decode, Packet};
    use super::*;

    fn publish(qos: QoS, packet_id: Option<u16>) -> Publish<'static> {
        Publish {
            dup: false,
            qos,
            retain: false,
            topic: "a/b",
            packet_id,
            payload: b"hello",
        }
    }

    #[test]
    fn qos0_publish_has_no_packet_id_mqtt_2_3_1_5() {
        let frame = [
            0x30, 10, 0, 3, b'a', b'/', b'b', b'h', b'e', b'l', b'l', b'o',
        ];
        let packet = Packet::Publish(publish(QoS::AtMostOnce, None));
        assert_eq!(decode(&frame), Ok(packet));
        assert_eq!(packet.to_vec().unwrap(), frame);
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
                    let bytes = Packet::Publish(p).to_vec().unwrap();
                    assert_eq!(bytes[0] & 0x0f, header_flags(&p));
                    assert_eq!(decode(&bytes), Ok(Packet::Publish(p)));
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
        let bytes = Packet::Publish(p).to_vec().unwrap();
        assert_eq!(bytes, [0x32, 7, 0, 3, b'a', b'/', b'b', 0, 1]);
        assert_eq!(decode(&bytes), Ok(Packet::Publish(p)));
    }

    #[test]
    fn large_payload_round_trips() {
        let payload = vec![0x5a; 20_000];
        let p = Publish {
            payload: &payload,
            ..publish(QoS::ExactlyOnce, Some(9))
        };
        let bytes = Packet::Publish(p).to_vec().unwrap();
        assert_eq!(bytes.len(), 1 + 3 + 5 + 2 + 20_000);
        assert_eq!(decode(&bytes), Ok(Packet::Publish(p)));
    }

    #[test]
    fn dup_with_qos0_is_accepted() {
        // Lenient on [MQTT-3.3.1-2], as Mosquitto is for 3.1.1 (see decode_publish).
        let frame = [0x38, 4, 0, 1, b't', b'x'];
        let Ok(Packet::Publish(p)) = decode(&frame) else {
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
        assert_eq!(decode(&frame), Err(DecodeError::InvalidQoS));
    }

    #[test]
    fn empty_topic_name_is_malformed_mqtt_4_7_3_1() {
        assert_eq!(decode(&[0x30, 2, 0, 0]), Err(DecodeError::EmptyTopic));
    }

    #[test]
    fn wildcard_in_topic_name_is_malformed_mqtt_3_3_2_2() {
        for topic in [&b"a/+"[..], b"#", b"a/#", b"+", b"a+b"] {
            let mut frame = vec![0x30, 2 + topic.len() as u8, 0, topic.len() as u8];
            frame.extend_from_slice(topic);
            assert_eq!(decode(&frame), Err(DecodeError::WildcardInTopicName));
        }
    }

    #[test]
    fn topic_with_null_character_is_malformed_mqtt_1_5_3_2() {
        assert_eq!(
            decode(&[0x30, 4, 0, 2, b'a', 0]),
            Err(DecodeError::NullCharacter)
        );
    }

    #[test]
    fn topic_with_ill_formed_utf8_is_malformed_mqtt_1_5_3_1() {
        assert_eq!(
            decode(&[0x30, 4, 0, 2, b'a', 0xff]),
            Err(DecodeError::InvalidUtf8)
        );
        // An encoded surrogate (U+D800).
        assert_eq!(
            decode(&[0x30, 5, 0, 3, 0xed, 0xa0, 0x80]),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn zero_packet_id_is_malformed_mqtt_2_3_1_1() {
        assert_eq!(
            decode(&[0x32, 5, 0, 1, b't', 0, 0]),
            Err(DecodeError::ZeroPacketId)
        );
        assert_eq!(
            decode(&[0x34, 5, 0, 1, b't', 0, 0]),
            Err(DecodeError::ZeroPacketId)
        );
    }

    #[test]
    fn truncated_publish_is_malformed() {
        // Topic length runs past the body.
        assert_eq!(decode(&[0x30, 3, 0, 5, b't']), Err(DecodeError::Truncated));
        // QoS 1 without room for the packet id.
        assert_eq!(
            decode(&[0x32, 4, 0, 1, b't', 0]),
            Err(DecodeError::Truncated)
        );
        // Not even a topic length.
        assert_eq!(decode(&[0x30, 1, 0]), Err(DecodeError::Truncated));
        assert_eq!(decode(&[0x30, 0]), Err(DecodeError::Truncated));
    }
}
