//! The acknowledgments PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK, PINGREQ and
//! PINGRESP, DISCONNECT and AUTH.
//!
//! In MQTT 3.1/3.1.1 the acknowledgments are a packet id only and the others empty, and
//! their bodies must be exactly that size: a shorter one is [`DecodeError::Truncated`], a
//! longer one [`DecodeError::TrailingBytes`]. MQTT 5.0 adds a reason code and properties,
//! both optional at the end of the packet: an acknowledgment of 2 bytes is a success
//! without properties [MQTT-3.4.2.1], a DISCONNECT or AUTH of 0 bytes a normal one
//! [MQTT-3.14.2.1], [MQTT-3.15.2.1]. The reason code must be one the packet may carry.
//!
//! Header flags (0b0010 for PUBREL, 0 for the others) are checked by the dispatcher in
//! `header.rs`.

use super::packet::allowed;
use super::properties::{read_properties, Context};
use super::wire::{Reader, Writer};
use super::PacketType;
use super::{
    Ack, Auth, DecodeError, Disconnect, EncodeError, Properties, ProtocolVersion, ReasonCode,
    Unsuback,
};

/// The whole of a PUBACK, PUBREC, PUBREL or PUBCOMP (`kind`) that is a packet id and
/// nothing else: every one in MQTT 3.1/3.1.1, and a success without properties in 5.0
/// [MQTT-3.4.2.1]. The broker sends one per QoS 1/2 message, built here without
/// [`super::Packet::encode`], which writes the same bytes through this function.
#[inline]
pub fn short_ack(kind: PacketType, packet_id: u16) -> [u8; 4] {
    debug_assert!(matches!(
        kind,
        PacketType::Puback | PacketType::Pubrec | PacketType::Pubrel | PacketType::Pubcomp
    ));
    // PUBREL alone carries the header flags 0b0010 [MQTT-3.6.1-1].
    let flags = if kind == PacketType::Pubrel {
        0b0010
    } else {
        0
    };
    let [hi, lo] = packet_id.to_be_bytes();
    [(kind as u8) << 4 | flags, 2, hi, lo]
}

/// Decodes a body that is exactly one non-zero packet id.
///
/// A zero id is refused although only the packets that allocate ids are required to use
/// non-zero ones [MQTT-2.3.1-1]: an acknowledgment carries the id of such a packet, so a
/// zero id cannot acknowledge anything.
fn decode_packet_id(r: &mut Reader<'_>) -> Result<u16, DecodeError> {
    let id = r.u16()?;
    r.finish()?;
    if id == 0 {
        return Err(DecodeError::ZeroPacketId);
    }
    Ok(id)
}

/// Reads a non-zero packet id, leaving the rest of the body.
fn nonzero_id(r: &mut Reader<'_>) -> Result<u16, DecodeError> {
    match r.u16()? {
        0 => Err(DecodeError::ZeroPacketId),
        id => Ok(id),
    }
}

/// Reads the optional tail of an MQTT 5.0 packet: a reason code from `codes` (success if
/// absent) and properties for `context` (none if absent).
fn reason_and_properties<'a>(
    r: &mut Reader<'a>,
    codes: &[u8],
    context: Context,
) -> Result<(ReasonCode, Properties<'a>), DecodeError> {
    if r.is_empty() {
        return Ok((ReasonCode::SUCCESS, Properties::NONE));
    }
    let code = r.u8()?;
    if !codes.contains(&code) {
        return Err(DecodeError::InvalidReasonCode(code));
    }
    let properties = if r.is_empty() {
        Properties::NONE
    } else {
        read_properties(r, context)?
    };
    r.finish()?;
    Ok((ReasonCode(code), properties))
}

/// Decodes a PUBACK, PUBREC, PUBREL or PUBCOMP body: a packet id, and in MQTT 5.0 an
/// optional reason code from `codes` and properties.
#[inline]
pub(super) fn decode_ack<'a>(
    r: &mut Reader<'a>,
    version: ProtocolVersion,
    codes: &[u8],
) -> Result<Ack<'a>, DecodeError> {
    if !version.has_properties() {
        return decode_packet_id(r).map(Ack::new);
    }
    let packet_id = nonzero_id(r)?;
    let (reason, properties) = reason_and_properties(r, codes, Context::Ack)?;
    Ok(Ack {
        packet_id,
        reason,
        properties,
    })
}

/// Decodes an UNSUBACK body: a packet id, and in MQTT 5.0 properties and one reason code
/// per filter.
pub(super) fn decode_unsuback<'a>(
    r: &mut Reader<'a>,
    version: ProtocolVersion,
) -> Result<Unsuback<'a>, DecodeError> {
    if !version.has_properties() {
        return decode_packet_id(r).map(Unsuback::new);
    }
    let packet_id = nonzero_id(r)?;
    let properties = read_properties(r, Context::Unsuback)?;
    let reason_codes = r.take_rest();
    if reason_codes.is_empty() {
        return Err(DecodeError::NoTopicFilters);
    }
    if let Some(&bad) = reason_codes.iter().find(|c| !allowed::UNSUBACK.contains(c)) {
        return Err(DecodeError::InvalidReasonCode(bad));
    }
    Ok(Unsuback {
        packet_id,
        properties,
        reason_codes,
    })
}

/// Decodes a DISCONNECT body: empty in MQTT 3.1/3.1.1; in 5.0 an optional reason code and
/// properties.
pub(super) fn decode_disconnect<'a>(
    r: &mut Reader<'a>,
    version: ProtocolVersion,
) -> Result<Disconnect<'a>, DecodeError> {
    if !version.has_properties() {
        return decode_empty(r).map(|()| Disconnect::default());
    }
    let (reason, properties) = reason_and_properties(r, allowed::DISCONNECT, Context::Disconnect)?;
    Ok(Disconnect { reason, properties })
}

/// Decodes an AUTH body (MQTT 5.0 only): an optional reason code and properties.
pub(super) fn decode_auth<'a>(r: &mut Reader<'a>) -> Result<Auth<'a>, DecodeError> {
    let (reason, properties) = reason_and_properties(r, allowed::AUTH, Context::Auth)?;
    Ok(Auth { reason, properties })
}

/// Length of the optional reason-and-properties tail of an MQTT 5.0 acknowledgment,
/// DISCONNECT or AUTH: nothing for a success without properties, the code alone without
/// properties.
pub(super) fn tail_len(reason: ReasonCode, properties: &Properties<'_>) -> usize {
    match (reason == ReasonCode::SUCCESS, properties.is_empty()) {
        (true, true) => 0,
        (_, true) => 1,
        (_, false) => 1 + properties.encoded_len(),
    }
}

/// Writes the tail [`tail_len`] measures.
pub(super) fn write_tail(
    reason: ReasonCode,
    properties: &Properties<'_>,
    w: &mut Writer<'_>,
) -> Result<(), EncodeError> {
    if tail_len(reason, properties) > 0 {
        w.u8(reason.0)?;
        if !properties.is_empty() {
            properties.write_to(w)?;
        }
    }
    Ok(())
}

/// Checks that a body is empty [MQTT-3.12.1], [MQTT-3.13.1], [MQTT-3.14.1].
pub(super) fn decode_empty(r: &Reader<'_>) -> Result<(), DecodeError> {
    r.finish()
}

#[cfg(test)]
mod tests {
    use super::super::{decode, Packet, ProtocolVersion::V311, ProtocolVersion::V5};
    use super::*;

    /// Builds an id-only packet from its id.
    type MakeAck = fn(u16) -> Packet<'static>;

    #[test]
    fn id_only_packets_round_trip() {
        let cases: [(MakeAck, u8); 5] = [
            (Packet::puback, 0x40),
            (Packet::pubrec, 0x50),
            (Packet::pubrel, 0x62), // [MQTT-3.6.1-1]
            (Packet::pubcomp, 0x70),
            (Packet::unsuback, 0xb0),
        ];
        for (make, first_byte) in cases {
            for id in [1, 0x1234, u16::MAX] {
                let packet = make(id);
                let bytes = packet.to_vec(V311).unwrap();
                let [hi, lo] = id.to_be_bytes();
                assert_eq!(bytes, [first_byte, 2, hi, lo]);
                assert_eq!(decode(&bytes, V311), Ok(packet));
            }
        }
    }

    #[test]
    fn empty_packets_round_trip() {
        for (packet, first_byte) in [
            (Packet::Pingreq, 0xc0),
            (Packet::Pingresp, 0xd0),
            (Packet::disconnect(), 0xe0),
        ] {
            let bytes = packet.to_vec(V311).unwrap();
            assert_eq!(bytes, [first_byte, 0]);
            assert_eq!(decode(&bytes, V311), Ok(packet));
        }
    }

    #[test]
    fn body_on_an_empty_packet_is_malformed_mqtt_3_12_1() {
        for first_byte in [0xc0, 0xd0, 0xe0] {
            assert_eq!(
                decode(&[first_byte, 1, 0], V311),
                Err(DecodeError::TrailingBytes)
            );
        }
    }

    #[test]
    fn short_or_long_ack_is_malformed() {
        for first_byte in [0x40, 0x50, 0x62, 0x70, 0xb0] {
            assert_eq!(decode(&[first_byte, 0], V311), Err(DecodeError::Truncated));
            assert_eq!(
                decode(&[first_byte, 1, 1], V311),
                Err(DecodeError::Truncated)
            );
            assert_eq!(
                decode(&[first_byte, 3, 0, 1, 0], V311),
                Err(DecodeError::TrailingBytes)
            );
        }
    }

    #[test]
    fn zero_packet_id_in_ack_is_malformed_mqtt_2_3_1_1() {
        assert_eq!(
            decode(&[0x40, 2, 0, 0], V311),
            Err(DecodeError::ZeroPacketId)
        );
        assert_eq!(
            decode(&[0x62, 2, 0, 0], V311),
            Err(DecodeError::ZeroPacketId)
        );
    }

    #[test]
    fn pubrel_with_zero_flags_is_malformed_mqtt_3_6_1_1() {
        assert_eq!(
            decode(&[0x60, 2, 0, 1], V311),
            Err(DecodeError::InvalidHeaderFlags {
                packet_type: 6,
                flags: 0
            })
        );
    }

    #[test]
    fn reason_codes_and_properties_are_not_written_for_mqtt_3_1_1() {
        let ack = Packet::Puback(Ack {
            packet_id: 7,
            reason: super::super::ReasonCode::QUOTA_EXCEEDED,
            properties: Properties::from_bytes(&[0x1f, 0, 1, b'x']),
        });
        assert_eq!(ack.to_vec(V311).unwrap(), [0x40, 2, 0, 7]);
    }

    #[test]
    fn v5_acks_carry_an_optional_reason_and_properties_mqtt_3_4_2_1() {
        // Two bytes: success, no properties.
        assert_eq!(decode(&[0x40, 2, 0, 7], V5), Ok(Packet::puback(7)));
        // Reason only.
        let Ok(Packet::Puback(a)) = decode(&[0x40, 3, 0, 7, 0x10], V5) else {
            panic!("decodes");
        };
        assert_eq!(
            (a.reason, a.properties),
            (ReasonCode::NO_MATCHING_SUBSCRIBERS, Properties::NONE)
        );
        // Reason and properties.
        let props = [0x1f, 0, 2, b'n', b'o'];
        let ack = Packet::Pubrec(Ack {
            packet_id: 9,
            reason: ReasonCode::NOT_AUTHORIZED,
            properties: Properties::from_bytes(&props),
        });
        let bytes = ack.to_vec(V5).unwrap();
        assert_eq!(bytes, [0x50, 9, 0, 9, 0x87, 5, 0x1f, 0, 2, b'n', b'o']);
        assert_eq!(decode(&bytes, V5), Ok(ack));
        // A success is written in two bytes; a failure without properties in three.
        assert_eq!(Packet::puback(7).to_vec(V5).unwrap(), [0x40, 2, 0, 7]);
        let quota = Packet::Puback(Ack {
            packet_id: 7,
            reason: ReasonCode::QUOTA_EXCEEDED,
            properties: Properties::NONE,
        });
        assert_eq!(quota.to_vec(V5).unwrap(), [0x40, 3, 0, 7, 0x97]);
    }

    #[test]
    fn v5_ack_reason_codes_are_checked_mqtt_3_4_2_1() {
        // 0x92 is a PUBREL code, not a PUBACK one.
        assert_eq!(
            decode(&[0x40, 3, 0, 7, 0x92], V5),
            Err(DecodeError::InvalidReasonCode(0x92))
        );
        assert!(decode(&[0x62, 3, 0, 7, 0x92], V5).is_ok());
        assert_eq!(
            decode(&[0x62, 3, 0, 7, 0x10], V5),
            Err(DecodeError::InvalidReasonCode(0x10))
        );
        // A property PUBACK may not carry.
        assert_eq!(
            decode(&[0x40, 7, 0, 7, 0, 3, 0x23, 0, 1], V5),
            Err(DecodeError::PropertyNotAllowed(0x23))
        );
    }

    #[test]
    fn v5_disconnect_and_auth_round_trip_mqtt_3_14_2_1() {
        assert_eq!(decode(&[0xe0, 0], V5), Ok(Packet::disconnect()));
        let with_will = Packet::Disconnect(Disconnect {
            reason: ReasonCode::DISCONNECT_WITH_WILL,
            properties: Properties::NONE,
        });
        assert_eq!(with_will.to_vec(V5).unwrap(), [0xe0, 1, 4]);
        assert_eq!(decode(&[0xe0, 1, 4], V5), Ok(with_will));
        let expiry = [0x11, 0, 0, 0, 9];
        let d = Packet::Disconnect(Disconnect {
            reason: ReasonCode::NORMAL_DISCONNECTION,
            properties: Properties::from_bytes(&expiry),
        });
        let bytes = d.to_vec(V5).unwrap();
        assert_eq!(bytes, [0xe0, 7, 0, 5, 0x11, 0, 0, 0, 9]);
        assert_eq!(decode(&bytes, V5), Ok(d));
        // 3.1.1 writes it empty.
        assert_eq!(d.to_vec(V311).unwrap(), [0xe0, 0]);
        // Reason 0x10 is not a DISCONNECT code.
        assert_eq!(
            decode(&[0xe0, 1, 0x10], V5),
            Err(DecodeError::InvalidReasonCode(0x10))
        );
        // AUTH: MQTT 5.0 only.
        let auth = Packet::Auth(Auth {
            reason: ReasonCode::CONTINUE_AUTHENTICATION,
            properties: Properties::from_bytes(&[0x15, 0, 1, b'm']),
        });
        let bytes = auth.to_vec(V5).unwrap();
        assert_eq!(bytes, [0xf0, 6, 0x18, 4, 0x15, 0, 1, b'm']);
        assert_eq!(decode(&bytes, V5), Ok(auth));
        assert_eq!(
            decode(&bytes, V311),
            Err(DecodeError::ReservedPacketType(15))
        );
        assert_eq!(
            decode(&[0xf0, 1, 0x87], V5),
            Err(DecodeError::InvalidReasonCode(0x87))
        );
    }

    #[test]
    fn v5_unsuback_carries_a_reason_per_filter_mqtt_3_11_3() {
        let u = Packet::Unsuback(Unsuback {
            packet_id: 3,
            properties: Properties::NONE,
            reason_codes: &[0x00, 0x11],
        });
        let bytes = u.to_vec(V5).unwrap();
        assert_eq!(bytes, [0xb0, 5, 0, 3, 0, 0x00, 0x11]);
        assert_eq!(decode(&bytes, V5), Ok(u));
        assert_eq!(u.to_vec(V311).unwrap(), [0xb0, 2, 0, 3]);
        assert_eq!(
            decode(&[0xb0, 4, 0, 3, 0, 0x10], V5),
            Err(DecodeError::InvalidReasonCode(0x10))
        );
    }

    #[test]
    fn decode_packet_id_reads_exactly_two_bytes() {
        assert_eq!(decode_packet_id(&mut Reader::new(&[1, 2])), Ok(0x0102));
        assert_eq!(decode_empty(&Reader::new(&[])), Ok(()));
    }
}
