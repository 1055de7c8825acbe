//! SUBSCRIBE [MQTT-3.8], SUBACK [MQTT-3.9], UNSUBSCRIBE [MQTT-3.10]; UNSUBACK, which is
//! only a packet id, lives in `ack.rs`.
//!
//! SUBSCRIBE and UNSUBSCRIBE carry a list of filters of unknown length. Decoding walks the
//! whole list once to check it, then keeps the raw payload; [`Subscribe::filters`] and
//! [`Unsubscribe::filters`] walk it again without allocating and without errors to report.
//!
//! What is checked here is the wire format only: each filter is a non-empty, well-formed
//! UTF-8 string. Wildcard placement (`a/#/b`, `a+`) is *not* checked: the broker refuses such
//! a filter alone with SUBACK 0x80 and keeps the others, rather than dropping the client.
//!
//! A client (the bridge, tests) builds these packets with [`encode_subscribe`] and
//! [`encode_unsubscribe`], since the packet structs only hold a raw payload.

use super::header::encode_fixed_header;
use super::wire::{field_len, Reader, Writer};
use super::{
    DecodeError, EncodeError, PacketType, Properties, ProtocolVersion, QoS, Suback, Subscribe,
    SubscriptionOptions, Unsubscribe, MAX_REMAINING_LENGTH,
};

/// The MQTT 3.1.1 SUBACK return code of a refused subscription [MQTT-3.9.3].
const SUBACK_FAILURE: u8 = 0x80;

/// Reads a packet id that must be non-zero [MQTT-2.3.1-1].
fn nonzero_packet_id(r: &mut Reader<'_>) -> Result<u16, DecodeError> {
    match r.u16()? {
        0 => Err(DecodeError::ZeroPacketId),
        id => Ok(id),
    }
}

/// Reads one topic filter: a non-empty UTF-8 string [MQTT-4.7.3-1].
fn read_filter<'a>(r: &mut Reader<'a>) -> Result<&'a str, DecodeError> {
    let filter = r.str()?;
    if filter.is_empty() {
        return Err(DecodeError::EmptyTopic);
    }
    Ok(filter)
}

/// Reads an MQTT 3.1.1 requested-QoS byte: upper 6 bits 0 [MQTT-3.8.3-4], QoS not 3.
fn read_requested_qos(r: &mut Reader<'_>) -> Result<SubscriptionOptions, DecodeError> {
    let options = r.u8()?;
    if options & !0x03 != 0 {
        return Err(DecodeError::InvalidSubscribeOptions);
    }
    let qos = QoS::from_bits(options).ok_or(DecodeError::InvalidQoS)?;
    Ok(SubscriptionOptions::from(qos))
}

/// Decodes a SUBSCRIBE body and checks every (filter, requested QoS) pair in it.
pub(super) fn decode_subscribe<'a>(r: &mut Reader<'a>) -> Result<Subscribe<'a>, DecodeError> {
    let packet_id = nonzero_packet_id(r)?;
    let payload = r.take_rest();
    if payload.is_empty() {
        return Err(DecodeError::NoTopicFilters); // [MQTT-3.8.3-3]
    }
    let mut filters = Reader::new(payload);
    while !filters.is_empty() {
        read_filter(&mut filters)?;
        read_requested_qos(&mut filters)?;
    }
    Ok(Subscribe {
        packet_id,
        properties: Properties::NONE,
        payload,
    })
}

impl<'a> Subscribe<'a> {
    /// The requested (filter, options) pairs, in packet order. At least one for a decoded
    /// packet.
    ///
    /// The payload was checked when the packet was decoded, so this cannot fail; on a
    /// payload that was not (impossible outside this crate) it stops at the first bad pair.
    pub fn filters(&self) -> impl Iterator<Item = (&'a str, SubscriptionOptions)> {
        let mut r = Reader::new(self.payload);
        core::iter::from_fn(move || {
            if r.is_empty() {
                return None;
            }
            let filter = read_filter(&mut r).ok()?;
            let options = read_requested_qos(&mut r).ok()?;
            Some((filter, options))
        })
    }
}

/// Decodes an UNSUBSCRIBE body and checks every filter in it.
pub(super) fn decode_unsubscribe<'a>(r: &mut Reader<'a>) -> Result<Unsubscribe<'a>, DecodeError> {
    let packet_id = nonzero_packet_id(r)?;
    let payload = r.take_rest();
    if payload.is_empty() {
        return Err(DecodeError::NoTopicFilters); // [MQTT-3.10.3-2]
    }
    let mut filters = Reader::new(payload);
    while !filters.is_empty() {
        read_filter(&mut filters)?;
    }
    Ok(Unsubscribe {
        packet_id,
        properties: Properties::NONE,
        payload,
    })
}

impl<'a> Unsubscribe<'a> {
    /// The filters to remove, in packet order. At least one for a decoded packet; cannot
    /// fail, as for [`Subscribe::filters`].
    pub fn filters(&self) -> impl Iterator<Item = &'a str> {
        let mut r = Reader::new(self.payload);
        core::iter::from_fn(move || {
            if r.is_empty() {
                return None;
            }
            read_filter(&mut r).ok()
        })
    }
}

/// Decodes an MQTT 3.1.1 SUBACK body: a packet id and one valid return code per filter,
/// each of which is also the MQTT 5.0 reason code of the same meaning.
pub(super) fn decode_suback<'a>(r: &mut Reader<'a>) -> Result<Suback<'a>, DecodeError> {
    let packet_id = nonzero_packet_id(r)?;
    let return_codes = r.take_rest();
    if return_codes.is_empty() {
        // The SUBSCRIBE it answers had at least one filter [MQTT-3.9.3-1].
        return Err(DecodeError::NoTopicFilters);
    }
    if let Some(&bad) = return_codes
        .iter()
        .find(|&&c| !matches!(c, 0..=2 | SUBACK_FAILURE))
    {
        return Err(DecodeError::InvalidReturnCode(bad)); // [MQTT-3.9.3-2]
    }
    Ok(Suback {
        packet_id,
        properties: Properties::NONE,
        reason_codes: return_codes,
    })
}

/// Appends a whole packet with `first_byte`, a packet id and a body of `body_len` bytes
/// written by `body`, to `out`.
fn append_packet(
    first_byte: u8,
    packet_id: u16,
    body_len: usize,
    out: &mut Vec<u8>,
    body: impl FnOnce(&mut Writer<'_>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let remaining = 2 + body_len;
    if remaining > MAX_REMAINING_LENGTH {
        return Err(EncodeError::TooLarge);
    }
    let mut head = [0u8; 5];
    let head_len = encode_fixed_header(first_byte, remaining, &mut head);
    let start = out.len();
    out.resize(start + head_len + remaining, 0);
    let mut w = Writer::new(&mut out[start..]);
    let written = w
        .bytes(&head[..head_len])
        .and_then(|()| w.u16(packet_id))
        .and_then(|()| body(&mut w));
    if written.is_err() {
        out.truncate(start);
    }
    written
}

/// Appends a SUBSCRIBE packet of a client speaking `version` to `out` (the broker only
/// decodes them; clients, tests and the load generator build them).
///
/// Fails with [`EncodeError::TooLarge`] if a filter exceeds 65,535 bytes or the packet
/// exceeds [`MAX_REMAINING_LENGTH`], and [`EncodeError::UnsupportedVersion`] for MQTT 5.0;
/// `out` is then unchanged. The caller passes a non-zero `packet_id` [MQTT-2.3.1-1] and
/// at least one filter [MQTT-3.8.3-3]; they are written as given.
pub fn encode_subscribe(
    version: ProtocolVersion,
    packet_id: u16,
    filters: &[(&str, QoS)],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if !version.is_supported() {
        return Err(EncodeError::UnsupportedVersion(version));
    }
    let mut body_len = 0usize;
    for (filter, _) in filters {
        body_len = body_len.saturating_add(field_len(filter.len())? + 1);
    }
    let first_byte = (PacketType::Subscribe as u8) << 4 | 0b0010; // [MQTT-3.8.1-1]
    append_packet(first_byte, packet_id, body_len, out, |w| {
        for &(filter, qos) in filters {
            w.str(filter)?;
            w.u8(qos as u8)?;
        }
        Ok(())
    })
}

/// Appends an UNSUBSCRIBE packet of a client speaking `version` to `out`; errors and
/// caller duties as for [`encode_subscribe`] ([MQTT-3.10.3-2]).
pub fn encode_unsubscribe(
    version: ProtocolVersion,
    packet_id: u16,
    filters: &[&str],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if !version.is_supported() {
        return Err(EncodeError::UnsupportedVersion(version));
    }
    let mut body_len = 0usize;
    for filter in filters {
        body_len = body_len.saturating_add(field_len(filter.len())?);
    }
    let first_byte = (PacketType::Unsubscribe as u8) << 4 | 0b0010; // [MQTT-3.10.1-1]
    append_packet(first_byte, packet_id, body_len, out, |w| {
        filters.iter().try_for_each(|filter| w.str(filter))
    })
}

#[cfg(test)]
mod tests {
    use super::super::{decode, Packet, ProtocolVersion::V311};
    use super::*;

    fn subscribe_bytes(packet_id: u16, filters: &[(&str, QoS)]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_subscribe(V311, packet_id, filters, &mut out).unwrap();
        out
    }

    #[test]
    fn subscribe_round_trips() {
        let filters = [
            ("a/b", QoS::AtMostOnce),
            ("c/+/d", QoS::AtLeastOnce),
            ("#", QoS::ExactlyOnce),
        ];
        let bytes = subscribe_bytes(10, &filters);
        assert_eq!(&bytes[..6], &[0x82, 20, 0, 10, 0, 3]);
        let Ok(Packet::Subscribe(s)) = decode(&bytes, V311) else {
            panic!("decodes");
        };
        assert_eq!(s.packet_id, 10);
        assert!(s.filters().eq(filters
            .iter()
            .map(|&(f, q)| (f, SubscriptionOptions::from(q)))));
        assert_eq!(Packet::Subscribe(s).to_vec(V311), Ok(bytes));
    }

    #[test]
    fn encode_subscribe_appends() {
        let mut out = vec![0xee];
        encode_subscribe(V311, 1, &[("t", QoS::AtMostOnce)], &mut out).unwrap();
        assert_eq!(out, [0xee, 0x82, 6, 0, 1, 0, 1, b't', 0]);
    }

    #[test]
    fn encode_subscribe_refuses_oversized_filter() {
        let long = "x".repeat(65_536);
        let mut out = vec![1];
        assert_eq!(
            encode_subscribe(V311, 1, &[(&long, QoS::AtMostOnce)], &mut out),
            Err(EncodeError::TooLarge)
        );
        assert_eq!(
            encode_unsubscribe(V311, 1, &[&long], &mut out),
            Err(EncodeError::TooLarge)
        );
        assert_eq!(out, [1]);
    }

    #[test]
    fn subscribe_wildcard_placement_is_left_to_the_broker() {
        let filters = [("a/#/b", QoS::AtMostOnce), ("a+", QoS::AtMostOnce)];
        let bytes = subscribe_bytes(1, &filters);
        let Ok(Packet::Subscribe(s)) = decode(&bytes, V311) else {
            panic!("decodes");
        };
        assert_eq!(s.filters().count(), 2);
    }

    #[test]
    fn subscribe_without_filters_is_malformed_mqtt_3_8_3_3() {
        assert_eq!(
            decode(&[0x82, 2, 0, 1], V311),
            Err(DecodeError::NoTopicFilters)
        );
    }

    #[test]
    fn subscribe_zero_packet_id_is_malformed_mqtt_2_3_1_1() {
        assert_eq!(
            decode(&[0x82, 6, 0, 0, 0, 1, b't', 0], V311),
            Err(DecodeError::ZeroPacketId)
        );
    }

    #[test]
    fn subscribe_empty_filter_is_malformed_mqtt_4_7_3_1() {
        assert_eq!(
            decode(&[0x82, 5, 0, 1, 0, 0, 0], V311),
            Err(DecodeError::EmptyTopic)
        );
    }

    #[test]
    fn subscribe_reserved_qos_bits_are_malformed_mqtt_3_8_3_4() {
        for options in [0x04, 0x80, 0xfc, 0x05] {
            let frame = [0x82, 6, 0, 1, 0, 1, b't', options];
            assert_eq!(
                decode(&frame, V311),
                Err(DecodeError::InvalidSubscribeOptions)
            );
        }
    }

    #[test]
    fn subscribe_qos_3_is_malformed_mqtt_3_8_3_4() {
        // The second filter is bad: the whole payload is checked at decode time.
        let frame = [0x82, 10, 0, 1, 0, 1, b'a', 1, 0, 1, b'b', 3];
        assert_eq!(decode(&frame, V311), Err(DecodeError::InvalidQoS));
    }

    #[test]
    fn subscribe_filter_utf8_rules_apply_mqtt_1_5_3_1_and_2() {
        assert_eq!(
            decode(&[0x82, 7, 0, 1, 0, 2, b'a', 0, 0], V311),
            Err(DecodeError::NullCharacter)
        );
        assert_eq!(
            decode(&[0x82, 7, 0, 1, 0, 2, b'a', 0x80, 0], V311),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn subscribe_missing_qos_byte_is_truncated() {
        assert_eq!(
            decode(&[0x82, 5, 0, 1, 0, 1, b't'], V311),
            Err(DecodeError::Truncated)
        );
        // Filter length runs past the end.
        assert_eq!(
            decode(&[0x82, 6, 0, 1, 0, 9, b't', 0], V311),
            Err(DecodeError::Truncated)
        );
        // Not even a packet id.
        assert_eq!(decode(&[0x82, 1, 0], V311), Err(DecodeError::Truncated));
    }

    #[test]
    fn subscribe_wrong_header_flags_are_malformed_mqtt_3_8_1_1() {
        let mut frame = subscribe_bytes(1, &[("t", QoS::AtMostOnce)]);
        frame[0] = 0x80;
        assert_eq!(
            decode(&frame, V311),
            Err(DecodeError::InvalidHeaderFlags {
                packet_type: 8,
                flags: 0
            })
        );
    }

    #[test]
    fn filters_of_an_unchecked_payload_stop_at_the_first_bad_pair() {
        let s = Subscribe {
            packet_id: 1,
            properties: Properties::NONE,
            payload: &[0, 1, b'a', 1, 0, 1, b'b', 3],
        };
        assert!(s.filters().eq([("a", QoS::AtLeastOnce.into())]));
        let u = Unsubscribe {
            packet_id: 1,
            properties: Properties::NONE,
            payload: &[0, 1, b'a', 0, 5],
        };
        assert!(u.filters().eq(["a"]));
    }

    #[test]
    fn unsubscribe_round_trips() {
        let mut bytes = Vec::new();
        encode_unsubscribe(V311, 0xffff, &["a/b", "c/#"], &mut bytes).unwrap();
        assert_eq!(&bytes[..4], &[0xa2, 12, 0xff, 0xff]);
        let Ok(Packet::Unsubscribe(u)) = decode(&bytes, V311) else {
            panic!("decodes");
        };
        assert_eq!(u.packet_id, 0xffff);
        assert!(u.filters().eq(["a/b", "c/#"]));
        assert_eq!(Packet::Unsubscribe(u).to_vec(V311), Ok(bytes));
    }

    #[test]
    fn unsubscribe_without_filters_is_malformed_mqtt_3_10_3_2() {
        assert_eq!(
            decode(&[0xa2, 2, 0, 1], V311),
            Err(DecodeError::NoTopicFilters)
        );
    }

    #[test]
    fn unsubscribe_empty_filter_is_malformed_mqtt_4_7_3_1() {
        assert_eq!(
            decode(&[0xa2, 4, 0, 1, 0, 0], V311),
            Err(DecodeError::EmptyTopic)
        );
    }

    #[test]
    fn unsubscribe_zero_packet_id_is_malformed_mqtt_2_3_1_1() {
        assert_eq!(
            decode(&[0xa2, 5, 0, 0, 0, 1, b't'], V311),
            Err(DecodeError::ZeroPacketId)
        );
    }

    #[test]
    fn unsubscribe_truncated_filter_is_malformed() {
        assert_eq!(
            decode(&[0xa2, 5, 0, 1, 0, 2, b't'], V311),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn unsubscribe_filter_utf8_rules_apply_mqtt_1_5_3_2() {
        assert_eq!(
            decode(&[0xa2, 5, 0, 1, 0, 1, 0], V311),
            Err(DecodeError::NullCharacter)
        );
    }

    #[test]
    fn suback_round_trips() {
        let packet = Packet::Suback(Suback {
            packet_id: 7,
            properties: Properties::NONE,
            reason_codes: &[0, 1, 2, SUBACK_FAILURE],
        });
        let bytes = packet.to_vec(V311).unwrap();
        assert_eq!(bytes, [0x90, 6, 0, 7, 0, 1, 2, 0x80]);
        assert_eq!(decode(&bytes, V311), Ok(packet));
        // Any MQTT 5.0 failure is 0x80 in MQTT 3.1.1 [MQTT-3.9.3].
        let not_authorized = Packet::Suback(Suback {
            reason_codes: &[0x87],
            ..Suback {
                packet_id: 7,
                properties: Properties::NONE,
                reason_codes: &[],
            }
        });
        assert_eq!(not_authorized.to_vec(V311).unwrap(), [0x90, 3, 0, 7, 0x80]);
    }

    #[test]
    fn suback_reserved_return_code_is_malformed_mqtt_3_9_3_2() {
        assert_eq!(
            decode(&[0x90, 4, 0, 1, 0, 3], V311),
            Err(DecodeError::InvalidReturnCode(3))
        );
        assert_eq!(
            decode(&[0x90, 3, 0, 1, 0x81], V311),
            Err(DecodeError::InvalidReturnCode(0x81))
        );
    }

    #[test]
    fn suback_without_return_codes_is_malformed_mqtt_3_9_3_1() {
        assert_eq!(
            decode(&[0x90, 2, 0, 1], V311),
            Err(DecodeError::NoTopicFilters)
        );
    }

    #[test]
    fn suback_zero_packet_id_is_malformed_mqtt_2_3_1_1() {
        assert_eq!(
            decode(&[0x90, 3, 0, 0, 0], V311),
            Err(DecodeError::ZeroPacketId)
        );
    }
}
