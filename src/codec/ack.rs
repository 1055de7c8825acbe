//! The acknowledgments PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK, and the packets
//! without a body: PINGREQ, PINGRESP and DISCONNECT.
//!
//! In MQTT 3.1/3.1.1 the acknowledgments are a packet id only and the others empty; MQTT
//! 5.0 adds reason codes and properties (the [`Ack`], [`Unsuback`] and
//! [`super::Disconnect`] types have room for them).
//!
//! Their bodies must be exactly that size: a shorter one is [`DecodeError::Truncated`], a
//! longer one [`DecodeError::TrailingBytes`]. Their header flags (0b0010 for PUBREL, 0 for
//! the others) are checked by the dispatcher in `header.rs`.

use super::wire::Reader;
use super::{Ack, DecodeError, Properties, Unsuback};

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

/// Decodes a PUBACK, PUBREC, PUBREL or PUBCOMP body of MQTT 3.1/3.1.1: one packet id.
pub(super) fn decode_ack<'a>(r: &mut Reader<'a>) -> Result<Ack<'a>, DecodeError> {
    decode_packet_id(r).map(Ack::new)
}

/// Decodes an UNSUBACK body of MQTT 3.1/3.1.1: one packet id.
pub(super) fn decode_unsuback<'a>(r: &mut Reader<'a>) -> Result<Unsuback<'a>, DecodeError> {
    let packet_id = decode_packet_id(r)?;
    Ok(Unsuback {
        packet_id,
        properties: Properties::NONE,
        reason_codes: &[],
    })
}

/// Checks that a body is empty [MQTT-3.12.1], [MQTT-3.13.1], [MQTT-3.14.1].
pub(super) fn decode_empty(r: &Reader<'_>) -> Result<(), DecodeError> {
    r.finish()
}

#[cfg(test)]
mod tests {
    use super::super::{decode, Packet, ProtocolVersion::V311};
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
    fn decode_packet_id_reads_exactly_two_bytes() {
        assert_eq!(decode_packet_id(&mut Reader::new(&[1, 2])), Ok(0x0102));
        assert_eq!(decode_empty(&Reader::new(&[])), Ok(()));
    }
}
