//! CONNECT [MQTT-3.1] and CONNACK [MQTT-3.2].
//!
//! CONNECT is decoded for MQTT 5.0 (`MQTT`, level 5), MQTT 3.1.1 (`MQTT`, level 4) and
//! MQTT 3.1 (`MQIsdp`, level 3), and names the [`ProtocolVersion`] the connection speaks
//! from then on. A known protocol name with another level is
//! [`DecodeError::UnsupportedProtocolLevel`] rather than a plain malformation, because
//! the broker must first answer it with CONNACK 0x01 (3.1.1) or 0x84 (5.0)
//! [MQTT-3.1.2-2].
//!
//! Mosquitto's bridges mark their CONNECT by setting the level's high bit (`try_private`,
//! on by default): 0x83 for 3.1, 0x84 for 3.1.1, decoded into [`Connect::bridge`] and
//! written back from it. Mosquitto knows no such marker for 5.0 (a 5.0 bridge asks for
//! No Local and Retain As Published in each subscription instead), and takes 0x85 as
//! 5.0 without the CONNECT properties field, which no well-formed 5.0 CONNECT decodes
//! as; Sol refuses 0x85 as an unsupported level.
//!
//! MQTT 5.0 adds CONNECT properties after the keep-alive and will properties before the
//! will topic. CONNACK is written by version: MQTT 3.1 has no session-present flag (the
//! byte is reserved and 0), 3.1/3.1.1 carry the outcome as a return code
//! ([`ReasonCode::to_v311_connack`]), 5.0 as a reason code followed by properties.
//!
//! The decoder checks the wire rules only. Whether a client id is acceptable (empty, too
//! long, clean session 0 with an empty id [MQTT-3.1.3-7]) and whether credentials are
//! right is the broker's decision, answered with a CONNACK return code.

use super::packet::allowed;
use super::properties::{read_properties, Context};
use super::wire::{field_len, Reader, Writer};
use super::{
    Connack, Connect, DecodeError, EncodeError, Properties, ProtocolVersion, QoS, ReasonCode, Will,
};

/// Connect flags [MQTT-3.1.2.3], bit by bit.
const RESERVED: u8 = 0x01;
const CLEAN_SESSION: u8 = 0x02;
const WILL: u8 = 0x04;
const WILL_QOS_SHIFT: u8 = 3;
const WILL_QOS_MASK: u8 = 0x18;
const WILL_RETAIN: u8 = 0x20;
const PASSWORD: u8 = 0x40;
const USERNAME: u8 = 0x80;

/// The high bit of the protocol level a Mosquitto bridge sets (`try_private`).
const BRIDGE_LEVEL: u8 = 0x80;

/// Reads the protocol name [MQTT-3.1.2-1] and level; fails unless Sol speaks them.
/// Returns the version and whether the level carried the bridge bit (3.1 and 3.1.1
/// only, as Mosquitto's `handle__connect` accepts it).
fn decode_protocol(r: &mut Reader<'_>) -> Result<(ProtocolVersion, bool), DecodeError> {
    use ProtocolVersion::{V31, V311, V5};
    // Compared as bytes: a name that is not even UTF-8 is just an unknown name.
    let name = r.binary()?;
    let level = r.u8()?;
    let bridge = level & BRIDGE_LEVEL != 0;
    match (name, level & !BRIDGE_LEVEL, bridge) {
        (b"MQTT", 4, _) => Ok((V311, bridge)),
        (b"MQTT", 5, false) => Ok((V5, false)),
        (b"MQIsdp", 3, _) => Ok((V31, bridge)),
        (b"MQTT" | b"MQIsdp", ..) => Err(DecodeError::UnsupportedProtocolLevel(level)),
        _ => Err(DecodeError::InvalidProtocolName),
    }
}

/// Decodes a will topic: a topic name, so not empty and without wildcards.
fn decode_will_topic<'a>(r: &mut Reader<'a>) -> Result<&'a str, DecodeError> {
    let topic = r.str()?;
    if topic.is_empty() {
        // [MQTT-4.7.3-1]
        return Err(DecodeError::EmptyTopic);
    }
    if topic.contains(['+', '#']) {
        // A will is published like a PUBLISH, whose topic name has no wildcards
        // [MQTT-3.3.2-2].
        return Err(DecodeError::WildcardInTopicName);
    }
    Ok(topic)
}

/// Decodes the body of a CONNECT.
pub(super) fn decode_connect<'a>(r: &mut Reader<'a>) -> Result<Connect<'a>, DecodeError> {
    let (version, bridge) = decode_protocol(r)?;
    let flags = r.u8()?;
    // MQTT 3.1 left bit 0 undefined, and Mosquitto accepts it set there; 3.1.1 and 5.0
    // require 0.
    if flags & RESERVED != 0 && version != ProtocolVersion::V31 {
        return Err(DecodeError::ConnectReservedFlag); // [MQTT-3.1.2-3]
    }
    let will_flag = flags & WILL != 0;
    let will_qos_bits = (flags & WILL_QOS_MASK) >> WILL_QOS_SHIFT;
    let will_retain = flags & WILL_RETAIN != 0;
    let will_qos = if will_flag {
        QoS::from_bits(will_qos_bits).ok_or(DecodeError::InvalidWillFlags)? // [MQTT-3.1.2-14]
    } else if will_qos_bits != 0 || will_retain {
        return Err(DecodeError::InvalidWillFlags); // [MQTT-3.1.2-11], -13, -15
    } else {
        QoS::AtMostOnce
    };
    let has_username = flags & USERNAME != 0;
    let has_password = flags & PASSWORD != 0;
    // MQTT 5.0 allows a password without a user name [MQTT-3.1.2.9 of 5.0].
    if has_password && !has_username && version != ProtocolVersion::V5 {
        return Err(DecodeError::PasswordWithoutUsername); // [MQTT-3.1.2-22]
    }
    let keep_alive = r.u16()?;
    let v5 = version.has_properties();
    let properties = if v5 {
        read_properties(r, Context::Connect)?
    } else {
        Properties::NONE
    };

    // Payload, in this order [MQTT-3.1.3-1].
    let client_id = r.str()?;
    let will = if will_flag {
        let will_properties = if v5 {
            read_properties(r, Context::Will)?
        } else {
            Properties::NONE
        };
        let topic = decode_will_topic(r)?;
        let payload = r.binary()?;
        Some(Will {
            topic,
            properties: will_properties,
            payload,
            qos: will_qos,
            retain: will_retain,
        })
    } else {
        None
    };
    let username = if has_username { Some(r.str()?) } else { None };
    let password = if has_password {
        Some(r.binary()?)
    } else {
        None
    };
    r.finish()?;
    Ok(Connect {
        version,
        bridge,
        clean_session: flags & CLEAN_SESSION != 0,
        keep_alive,
        properties,
        client_id,
        will,
        username,
        password,
    })
}

/// Length of a CONNECT body.
pub(super) fn connect_body_len(c: &Connect<'_>) -> Result<usize, EncodeError> {
    // Name, level, flags, keep-alive.
    let mut len = 2 + c.version.protocol_name().len() + 1 + 1 + 2;
    let v5 = c.version.has_properties();
    if v5 {
        len += c.properties.encoded_len();
    }
    len += field_len(c.client_id.len())?;
    if let Some(will) = &c.will {
        len += field_len(will.topic.len())? + field_len(will.payload.len())?;
        if v5 {
            len += will.properties.encoded_len();
        }
    }
    if let Some(username) = c.username {
        len += field_len(username.len())?;
    }
    if let Some(password) = c.password {
        len += field_len(password.len())?;
    }
    Ok(len)
}

/// Writes a CONNECT body. The flags follow from the fields; the encoder does not refuse a
/// password without a user name (it writes what it is given). [`Connect::bridge`] sets
/// the level's high bit for 3.1 and 3.1.1 and is not written for 5.0, which has no such
/// marker.
pub(super) fn write_connect(c: &Connect<'_>, w: &mut Writer<'_>) -> Result<(), EncodeError> {
    let mut flags = 0;
    if c.clean_session {
        flags |= CLEAN_SESSION;
    }
    if let Some(will) = &c.will {
        flags |= WILL | (will.qos as u8) << WILL_QOS_SHIFT;
        if will.retain {
            flags |= WILL_RETAIN;
        }
    }
    if c.username.is_some() {
        flags |= USERNAME;
    }
    if c.password.is_some() {
        flags |= PASSWORD;
    }
    w.binary(c.version.protocol_name())?;
    let bridge = c.bridge && !c.version.has_properties();
    w.u8(c.version.level() | if bridge { BRIDGE_LEVEL } else { 0 })?;
    w.u8(flags)?;
    w.u16(c.keep_alive)?;
    let v5 = c.version.has_properties();
    if v5 {
        c.properties.write_to(w)?;
    }
    w.str(c.client_id)?;
    if let Some(will) = &c.will {
        if v5 {
            will.properties.write_to(w)?;
        }
        w.str(will.topic)?;
        w.binary(will.payload)?;
    }
    if let Some(username) = c.username {
        w.str(username)?;
    }
    if let Some(password) = c.password {
        w.binary(password)?;
    }
    Ok(())
}

/// Decodes the body of a CONNACK for a connection speaking `version`.
pub(super) fn decode_connack<'a>(
    r: &mut Reader<'a>,
    version: ProtocolVersion,
) -> Result<Connack<'a>, DecodeError> {
    let ack_flags = r.u8()?;
    let code = r.u8()?;
    // Bits 7-1 of the acknowledge flags are reserved and 0 [MQTT-3.2.2.1].
    if ack_flags & !1 != 0 {
        return Err(DecodeError::InvalidConnackFlags);
    }
    let (reason, properties) = if version.has_properties() {
        if !allowed::CONNACK.contains(&code) {
            return Err(DecodeError::InvalidReasonCode(code));
        }
        (ReasonCode(code), read_properties(r, Context::Connack)?)
    } else {
        let reason =
            ReasonCode::from_v311_connack(code).ok_or(DecodeError::InvalidReturnCode(code))?;
        (reason, Properties::NONE)
    };
    r.finish()?;
    Ok(Connack {
        session_present: ack_flags == 1,
        reason,
        properties,
    })
}

/// Length of a CONNACK body for `version`.
pub(super) fn connack_body_len(c: &Connack<'_>, version: ProtocolVersion) -> usize {
    if version.has_properties() {
        2 + c.properties.encoded_len()
    } else {
        2
    }
}

/// Writes a CONNACK body for a connection speaking `version`.
pub(super) fn write_connack(
    c: &Connack<'_>,
    version: ProtocolVersion,
    w: &mut Writer<'_>,
) -> Result<(), EncodeError> {
    // MQTT 3.1 has no session-present flag: the whole first byte is reserved.
    let session_present = c.session_present && version != ProtocolVersion::V31;
    w.u8(u8::from(session_present))?;
    if version.has_properties() {
        w.u8(c.reason.0)?;
        c.properties.write_to(w)
    } else {
        w.u8(c.reason.to_v311_connack())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        decode, Packet,
        ProtocolVersion::{V311, V5},
    };
    use super::*;

    /// A CONNECT frame from a protocol name, level, flags and payload bytes (keep-alive 60).
    fn connect_frame(name: &[u8], level: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(name.len() as u16).to_be_bytes());
        body.extend_from_slice(name);
        body.extend_from_slice(&[level, flags, 0, 60]);
        body.extend_from_slice(payload);
        assert!(body.len() < 128);
        let mut frame = vec![0x10, body.len() as u8];
        frame.extend_from_slice(&body);
        frame
    }

    fn minimal() -> Connect<'static> {
        Connect {
            version: ProtocolVersion::V311,
            bridge: false,
            clean_session: true,
            keep_alive: 60,
            properties: Properties::NONE,
            client_id: "c",
            will: None,
            username: None,
            password: None,
        }
    }

    #[test]
    fn minimal_connect_decodes() {
        let frame = connect_frame(b"MQTT", 4, CLEAN_SESSION, &[0, 1, b'c']);
        assert_eq!(decode(&frame, V311), Ok(Packet::Connect(minimal())));
        assert_eq!(Packet::Connect(minimal()).to_vec(V311), Ok(frame));
    }

    #[test]
    fn full_connect_round_trips() {
        let connect = Connect {
            version: ProtocolVersion::V311,
            bridge: false,
            clean_session: false,
            keep_alive: 0xbeef,
            properties: Properties::NONE,
            client_id: "client-ü",
            will: Some(Will {
                topic: "last/will",
                properties: Properties::NONE,
                payload: &[0, 1, 2],
                qos: QoS::ExactlyOnce,
                retain: true,
            }),
            username: Some("user"),
            password: Some(&[0xff, 0x00]),
        };
        let bytes = Packet::Connect(connect).to_vec(V311).unwrap();
        assert_eq!(bytes[9], USERNAME | PASSWORD | WILL_RETAIN | 2 << 3 | WILL);
        assert_eq!(decode(&bytes, V311), Ok(Packet::Connect(connect)));
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
            let c = Connect {
                will: Some(Will {
                    qos,
                    retain: false,
                    ..connect.will.unwrap()
                }),
                password: None,
                ..connect
            };
            let bytes = Packet::Connect(c).to_vec(V311).unwrap();
            assert_eq!(decode(&bytes, V311), Ok(Packet::Connect(c)));
        }
    }

    #[test]
    fn empty_client_id_is_left_to_the_broker_mqtt_3_1_3_6() {
        let frame = connect_frame(b"MQTT", 4, 0, &[0, 0]);
        let Ok(Packet::Connect(c)) = decode(&frame, V311) else {
            panic!("decodes");
        };
        assert_eq!(c.client_id, "");
        assert!(!c.clean_session);
    }

    #[test]
    fn mqtt_3_1_mqisdp_level_3_is_accepted() {
        let frame = connect_frame(b"MQIsdp", 3, CLEAN_SESSION, &[0, 1, b'c']);
        let expected = Connect {
            version: ProtocolVersion::V31,
            ..minimal()
        };
        assert_eq!(decode(&frame, V311), Ok(Packet::Connect(expected)));
        assert_eq!(Packet::Connect(expected).to_vec(V311), Ok(frame));
    }

    #[test]
    fn mqtt_3_1_tolerates_the_reserved_flag() {
        let frame = connect_frame(b"MQIsdp", 3, RESERVED, &[0, 1, b'c']);
        assert!(decode(&frame, V311).is_ok());
    }

    #[test]
    fn unknown_protocol_name_is_malformed_mqtt_3_1_2_1() {
        for name in [&b"MQTX"[..], b"mqtt", b"", b"MQIsdpX", &[0xff, 0xfe]] {
            let frame = connect_frame(name, 4, 0, &[0, 1, b'c']);
            assert_eq!(decode(&frame, V311), Err(DecodeError::InvalidProtocolName));
        }
    }

    #[test]
    fn unsupported_level_is_reported_for_connack_0x01_mqtt_3_1_2_2() {
        for (name, level) in [
            (&b"MQTT"[..], 3),
            (b"MQTT", 6),
            (b"MQTT", 0),
            (b"MQIsdp", 4),
            // The bridge bit on a level Sol does not speak either.
            (b"MQTT", 0x83),
            (b"MQTT", 0x86),
            (b"MQTT", 0x80),
            (b"MQIsdp", 0x84),
        ] {
            let frame = connect_frame(name, level, 0, &[0, 1, b'c']);
            assert_eq!(
                decode(&frame, V311),
                Err(DecodeError::UnsupportedProtocolLevel(level))
            );
        }
    }

    #[test]
    fn bridge_bit_on_3_1_1_and_3_1_decodes_and_is_written_back() {
        for (name, level, version) in [
            (&b"MQTT"[..], 0x84, ProtocolVersion::V311),
            (b"MQIsdp", 0x83, ProtocolVersion::V31),
        ] {
            let frame = connect_frame(name, level, CLEAN_SESSION, &[0, 1, b'c']);
            let expected = Connect {
                version,
                bridge: true,
                ..minimal()
            };
            assert_eq!(decode(&frame, V311), Ok(Packet::Connect(expected)));
            assert_eq!(Packet::Connect(expected).to_vec(V311), Ok(frame));
        }
    }

    #[test]
    fn bridge_bit_on_5_0_is_an_unsupported_level() {
        // Mosquitto 2.0 takes 0x85 as 5.0 but without its properties field, so a
        // well-formed 5.0 CONNECT (properties length 0 here) is malformed to it.
        let frame = connect_frame(b"MQTT", 0x85, CLEAN_SESSION, &[0, 0, 1, b'c']);
        assert_eq!(
            decode(&frame, V311),
            Err(DecodeError::UnsupportedProtocolLevel(0x85))
        );
    }

    #[test]
    fn bridge_is_not_written_for_5_0() {
        let c = Connect {
            version: V5,
            bridge: true,
            ..minimal()
        };
        let bytes = Packet::Connect(c).to_vec(V5).unwrap();
        assert_eq!(bytes[8], 5);
        let plain = Connect { bridge: false, ..c };
        assert_eq!(decode(&bytes, V5), Ok(Packet::Connect(plain)));
    }

    #[test]
    fn connect_reserved_flag_is_malformed_mqtt_3_1_2_3() {
        let frame = connect_frame(b"MQTT", 4, RESERVED | CLEAN_SESSION, &[0, 1, b'c']);
        assert_eq!(decode(&frame, V311), Err(DecodeError::ConnectReservedFlag));
    }

    #[test]
    fn will_qos_without_will_flag_is_malformed_mqtt_3_1_2_13() {
        for qos in 1..=3 {
            let frame = connect_frame(b"MQTT", 4, qos << WILL_QOS_SHIFT, &[0, 1, b'c']);
            assert_eq!(decode(&frame, V311), Err(DecodeError::InvalidWillFlags));
        }
    }

    #[test]
    fn will_retain_without_will_flag_is_malformed_mqtt_3_1_2_15() {
        let frame = connect_frame(b"MQTT", 4, WILL_RETAIN, &[0, 1, b'c']);
        assert_eq!(decode(&frame, V311), Err(DecodeError::InvalidWillFlags));
    }

    #[test]
    fn will_qos_3_is_malformed_mqtt_3_1_2_14() {
        let payload = [0, 1, b'c', 0, 1, b't', 0, 0];
        let frame = connect_frame(b"MQTT", 4, WILL | WILL_QOS_MASK, &payload);
        assert_eq!(decode(&frame, V311), Err(DecodeError::InvalidWillFlags));
    }

    #[test]
    fn password_without_username_is_malformed_mqtt_3_1_2_22() {
        let frame = connect_frame(b"MQTT", 4, PASSWORD, &[0, 1, b'c', 0, 1, b'p']);
        assert_eq!(
            decode(&frame, V311),
            Err(DecodeError::PasswordWithoutUsername)
        );
    }

    #[test]
    fn empty_will_topic_is_malformed_mqtt_4_7_3_1() {
        let frame = connect_frame(b"MQTT", 4, WILL, &[0, 1, b'c', 0, 0, 0, 0]);
        assert_eq!(decode(&frame, V311), Err(DecodeError::EmptyTopic));
    }

    #[test]
    fn wildcard_will_topic_is_malformed_mqtt_3_3_2_2() {
        for topic in [b"a/+", b"#/b"] {
            let mut payload = vec![0, 1, b'c', 0, 3];
            payload.extend_from_slice(topic);
            payload.extend_from_slice(&[0, 0]);
            let frame = connect_frame(b"MQTT", 4, WILL, &payload);
            assert_eq!(decode(&frame, V311), Err(DecodeError::WildcardInTopicName));
        }
    }

    #[test]
    fn client_id_utf8_rules_apply_mqtt_1_5_3_1_and_2() {
        let frame = connect_frame(b"MQTT", 4, 0, &[0, 2, b'c', 0]);
        assert_eq!(decode(&frame, V311), Err(DecodeError::NullCharacter));
        let frame = connect_frame(b"MQTT", 4, 0, &[0, 2, b'c', 0xc3]);
        assert_eq!(decode(&frame, V311), Err(DecodeError::InvalidUtf8));
    }

    #[test]
    fn username_utf8_rules_apply_mqtt_3_1_3_11() {
        let frame = connect_frame(b"MQTT", 4, USERNAME, &[0, 1, b'c', 0, 1, 0]);
        assert_eq!(decode(&frame, V311), Err(DecodeError::NullCharacter));
    }

    #[test]
    fn missing_payload_fields_are_truncated() {
        // User-name flag set, no user name.
        let frame = connect_frame(b"MQTT", 4, USERNAME, &[0, 1, b'c']);
        assert_eq!(decode(&frame, V311), Err(DecodeError::Truncated));
        // Will flag set, will message missing.
        let frame = connect_frame(b"MQTT", 4, WILL, &[0, 1, b'c', 0, 1, b't']);
        assert_eq!(decode(&frame, V311), Err(DecodeError::Truncated));
        // No client id at all.
        let frame = connect_frame(b"MQTT", 4, 0, &[]);
        assert_eq!(decode(&frame, V311), Err(DecodeError::Truncated));
    }

    #[test]
    fn every_truncated_connect_body_is_truncated() {
        let full = Packet::Connect(Connect {
            will: Some(Will {
                topic: "w",
                properties: Properties::NONE,
                payload: b"bye",
                qos: QoS::AtLeastOnce,
                retain: false,
            }),
            username: Some("u"),
            password: Some(b"p"),
            ..minimal()
        })
        .to_vec(V311)
        .unwrap();
        // Shorten the body and fix the remaining length, so only the fields run short.
        for body_len in 0..full.len() - 2 {
            let mut frame = vec![0x10, body_len as u8];
            frame.extend_from_slice(&full[2..2 + body_len]);
            assert_eq!(
                decode(&frame, V311),
                Err(DecodeError::Truncated),
                "body {body_len}"
            );
        }
    }

    #[test]
    fn extra_bytes_after_connect_payload_are_malformed() {
        let frame = connect_frame(b"MQTT", 4, 0, &[0, 1, b'c', 0xff]);
        assert_eq!(decode(&frame, V311), Err(DecodeError::TrailingBytes));
    }

    #[test]
    fn connack_round_trips() {
        for code in 0..=5 {
            let reason = ReasonCode::from_v311_connack(code).unwrap();
            for session_present in [false, true] {
                let packet = Packet::Connack(Connack::new(session_present, reason));
                let bytes = packet.to_vec(V311).unwrap();
                assert_eq!(bytes, [0x20, 2, u8::from(session_present), code]);
                assert_eq!(decode(&bytes, V311), Ok(packet));
            }
        }
    }

    #[test]
    fn mqtt_3_1_connack_never_sets_the_reserved_session_present_bit() {
        let packet = Packet::Connack(Connack::new(true, ReasonCode::SUCCESS));
        assert_eq!(
            packet.to_vec(ProtocolVersion::V31).unwrap(),
            [0x20, 2, 0, 0]
        );
        assert_eq!(packet.to_vec(V311).unwrap(), [0x20, 2, 1, 0]);
    }

    #[test]
    fn connack_refusals_map_to_mqtt_3_1_1_return_codes() {
        let packet = Packet::Connack(Connack::new(false, ReasonCode::NOT_AUTHORIZED));
        assert_eq!(packet.to_vec(V311).unwrap(), [0x20, 2, 0, 5]);
    }

    #[test]
    fn connack_reserved_flags_are_malformed_mqtt_3_2_2_1() {
        assert_eq!(
            decode(&[0x20, 2, 0x02, 0], V311),
            Err(DecodeError::InvalidConnackFlags)
        );
        assert_eq!(
            decode(&[0x20, 2, 0x81, 0], V311),
            Err(DecodeError::InvalidConnackFlags)
        );
    }

    #[test]
    fn connack_reserved_return_code_is_malformed_mqtt_3_2_2_3() {
        assert_eq!(
            decode(&[0x20, 2, 0, 6], V311),
            Err(DecodeError::InvalidReturnCode(6))
        );
        assert_eq!(
            decode(&[0x20, 2, 0, 0xff], V311),
            Err(DecodeError::InvalidReturnCode(0xff))
        );
    }

    #[test]
    fn connack_of_wrong_length_is_malformed() {
        assert_eq!(decode(&[0x20, 1, 0], V311), Err(DecodeError::Truncated));
        assert_eq!(
            decode(&[0x20, 3, 0, 0, 0], V311),
            Err(DecodeError::TrailingBytes)
        );
    }

    #[test]
    fn v5_connect_round_trips_with_properties_and_will_properties() {
        use super::super::property;
        let props = [
            property::SESSION_EXPIRY_INTERVAL,
            0,
            0,
            0,
            60,
            property::RECEIVE_MAXIMUM,
            0,
            5,
        ];
        let will_props = [
            property::WILL_DELAY_INTERVAL,
            0,
            0,
            0,
            2,
            property::CONTENT_TYPE,
            0,
            1,
            b'j',
        ];
        let connect = Connect {
            version: V5,
            bridge: false,
            clean_session: false,
            keep_alive: 30,
            properties: Properties::from_bytes(&props),
            client_id: "c5",
            will: Some(Will {
                topic: "w",
                properties: Properties::from_bytes(&will_props),
                payload: b"gone",
                qos: QoS::AtLeastOnce,
                retain: false,
            }),
            username: Some("u"),
            password: Some(b"p"),
        };
        let bytes = Packet::Connect(connect).to_vec(V311).unwrap();
        // Name, level 5, flags, keep-alive, then the property length.
        assert_eq!(
            &bytes[2..13],
            &[0, 4, b'M', b'Q', b'T', b'T', 5, 0xcc, 0, 30, 8]
        );
        assert_eq!(decode(&bytes, V311), Ok(Packet::Connect(connect)));
        let p = connect.properties;
        assert_eq!(p.u32(property::SESSION_EXPIRY_INTERVAL), Some(60));
        assert_eq!(p.u16(property::RECEIVE_MAXIMUM), Some(5));
    }

    #[test]
    fn v5_connect_properties_are_checked() {
        // Topic Alias is not a CONNECT property; a will property list may not hold a
        // Session Expiry Interval.
        let bad = connect_frame(b"MQTT", 5, CLEAN_SESSION, &[3, 0x23, 0, 1, 0, 1, b'c']);
        assert_eq!(
            decode(&bad, V311),
            Err(DecodeError::PropertyNotAllowed(0x23))
        );
        let will = connect_frame(
            b"MQTT",
            5,
            CLEAN_SESSION | WILL,
            &[0, 0, 1, b'c', 5, 0x11, 0, 0, 0, 1, 0, 1, b'w', 0, 0],
        );
        assert_eq!(
            decode(&will, V311),
            Err(DecodeError::PropertyNotAllowed(0x11))
        );
        // The reserved flag is checked for 5.0 too [MQTT-3.1.2-3].
        let reserved = connect_frame(b"MQTT", 5, 1, &[0, 0, 1, b'c']);
        assert_eq!(
            decode(&reserved, V311),
            Err(DecodeError::ConnectReservedFlag)
        );
    }

    #[test]
    fn v5_connack_carries_a_reason_code_and_properties_mqtt_3_2_2_2() {
        let connack = Connack {
            session_present: true,
            reason: ReasonCode::SUCCESS,
            properties: Properties::from_bytes(&[0x21, 0, 10, 0x25, 0]),
        };
        let bytes = Packet::Connack(connack).to_vec(V5).unwrap();
        assert_eq!(bytes, [0x20, 8, 1, 0, 5, 0x21, 0, 10, 0x25, 0]);
        assert_eq!(decode(&bytes, V5), Ok(Packet::Connack(connack)));
        // 5.0 codes are written as they are, not mapped to 3.1.1 return codes.
        let refused = Packet::Connack(Connack::new(false, ReasonCode::BAD_AUTHENTICATION_METHOD));
        assert_eq!(refused.to_vec(V5).unwrap(), [0x20, 3, 0, 0x8c, 0]);
        assert_eq!(refused.to_vec(V311).unwrap(), [0x20, 2, 0, 4]);
        assert_eq!(
            decode(&[0x20, 3, 0, 0x10, 0], V5),
            Err(DecodeError::InvalidReasonCode(0x10))
        );
    }
}
