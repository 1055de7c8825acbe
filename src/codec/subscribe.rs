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
use super::packet::allowed;
use super::properties::{read_properties, Context};
use super::wire::{field_len, Reader, Writer};
use super::{
    DecodeError, EncodeError, PacketType, Properties, ProtocolVersion, QoS, RetainHandling, Suback,
    Subscribe, SubscriptionOptions, Unsubscribe, MAX_REMAINING_LENGTH,
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

/// Reads an MQTT 5.0 subscription options byte [MQTT-3.8.3.1]: QoS (bits 0-1, not 3),
/// No Local (2), Retain As Published (3), Retain Handling (4-5, not 3), bits 6-7
/// reserved and 0 [MQTT-3.8.3-5]. Every valid 3.1.1 requested-QoS byte reads the same.
fn read_options(r: &mut Reader<'_>) -> Result<SubscriptionOptions, DecodeError> {
    let options = r.u8()?;
    if options & 0xc0 != 0 {
        return Err(DecodeError::InvalidSubscribeOptions);
    }
    let qos = QoS::from_bits(options & 0x03).ok_or(DecodeError::InvalidQoS)?;
    let retain_handling = match (options >> 4) & 0x03 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendIfNew,
        2 => RetainHandling::DoNotSend,
        _ => return Err(DecodeError::InvalidRetainHandling),
    };
    Ok(SubscriptionOptions {
        qos,
        no_local: options & 0x04 != 0,
        retain_as_published: options & 0x08 != 0,
        retain_handling,
    })
}

impl SubscriptionOptions {
    /// The options byte of an MQTT 5.0 SUBSCRIBE [MQTT-3.8.3.1]; 3.1.1 writes the QoS
    /// alone.
    pub fn to_byte(self, version: ProtocolVersion) -> u8 {
        if !version.has_properties() {
            return self.qos as u8;
        }
        self.qos as u8
            | u8::from(self.no_local) << 2
            | u8::from(self.retain_as_published) << 3
            | (self.retain_handling as u8) << 4
    }
}

/// Decodes a SUBSCRIBE body of a connection speaking `version` and checks every (filter,
/// options) pair in it.
pub(super) fn decode_subscribe<'a>(
    r: &mut Reader<'a>,
    version: ProtocolVersion,
) -> Result<Subscribe<'a>, DecodeError> {
    let packet_id = nonzero_packet_id(r)?;
    let v5 = version.has_properties();
    let properties = if v5 {
        read_properties(r, Context::Subscribe)?
    } else {
        Properties::NONE
    };
    let payload = r.take_rest();
    if payload.is_empty() {
        return Err(DecodeError::NoTopicFilters); // [MQTT-3.8.3-3]
    }
    let mut filters = Reader::new(payload);
    while !filters.is_empty() {
        read_filter(&mut filters)?;
        if v5 {
            read_options(&mut filters)?;
        } else {
            read_requested_qos(&mut filters)?;
        }
    }
    Ok(Subscribe {
        packet_id,
        properties,
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
            // A checked 3.1.1 payload reads the same with the 5.0 rules.
            let options = read_options(&mut r).ok()?;
            Some((filter, options))
        })
    }
}

/// Decodes an UNSUBSCRIBE body of a connection speaking `version` and checks every filter
/// in it.
pub(super) fn decode_unsubscribe<'a>(
    r: &mut Reader<'a>,
    version: ProtocolVersion,
) -> Result<Unsubscribe<'a>, DecodeError> {
    let packet_id = nonzero_packet_id(r)?;
    let properties = if version.has_properties() {
        read_properties(r, Context::Unsubscribe)?
    } else {
        Properties::NONE
    };
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
        properties,
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

/// Decodes a SUBACK body: a packet id, properties (MQTT 5.0) and one valid code per
/// filter. Each MQTT 3.1.1 return code is also the MQTT 5.0 reason code of the same
/// meaning.
pub(super) fn decode_suback<'a>(
    r: &mut Reader<'a>,
    version: ProtocolVersion,
) -> Result<Suback<'a>, DecodeError> {
    let packet_id = nonzero_packet_id(r)?;
    let v5 = version.has_properties();
    let properties = if v5 {
        read_properties(r, Context::Suback)?
    } else {
        Properties::NONE
    };
    let return_codes = r.take_rest();
    if return_codes.is_empty() {
        // The SUBSCRIBE it answers had at least one filter [MQTT-3.9.3-1].
        return Err(DecodeError::NoTopicFilters);
    }
    let valid = |c: &u8| {
        if v5 {
            allowed::SUBACK.contains(c)
        } else {
            matches!(*c, 0..=2 | SUBACK_FAILURE)
        }
    };
    if let Some(&bad) = return_codes.iter().find(|c| !valid(c)) {
        return Err(if v5 {
            DecodeError::InvalidReasonCode(bad)
        } else {
            DecodeError::InvalidReturnCode(bad) // [MQTT-3.9.3-2]
        });
    }
    Ok(Suback {
        packet_id,
        properties,
        reason_codes: return_codes,
    })
}

/// Appends a whole packet with `first_byte`, a packet id, `properties` (MQTT 5.0) and a
/// body of `body_len` bytes written by `body`, to `out`.
fn append_packet(
    first_byte: u8,
    packet_id: u16,
    properties: Option<&Properties<'_>>,
    body_len: usize,
    out: &mut Vec<u8>,
    body: impl FnOnce(&mut Writer<'_>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let remaining = 2 + properties.map_or(0, Properties::encoded_len) + body_len;
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
        .and_then(|()| properties.map_or(Ok(()), |p| p.write_to(&mut w)))
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
/// exceeds [`MAX_REMAINING_LENGTH`]; `out` is then unchanged. The caller passes a
/// non-zero `packet_id` [MQTT-2.3.1-1] and at least one filter [MQTT-3.8.3-3]; they are
/// written as given. `properties` (a subscription identifier, user properties) and the
/// options beyond the QoS are written for MQTT 5.0 only.
pub fn encode_subscribe<O: Copy + Into<SubscriptionOptions>>(
    version: ProtocolVersion,
    packet_id: u16,
    properties: Properties<'_>,
    filters: &[(&str, O)],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let mut body_len = 0usize;
    for (filter, _) in filters {
        body_len = body_len.saturating_add(field_len(filter.len())? + 1);
    }
    let first_byte = (PacketType::Subscribe as u8) << 4 | 0b0010; // [MQTT-3.8.1-1]
    let properties = version.has_properties().then_some(&properties);
    append_packet(first_byte, packet_id, properties, body_len, out, |w| {
        for &(filter, options) in filters {
            w.str(filter)?;
            w.u8(options.into().to_byte(version))?;
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
    let mut body_len = 0usize;
    for filter in filters {
        body_len = body_len.saturating_add(field_len(filter.len())?);
    }
    let first_byte = (PacketType::Unsubscribe as u8) << 4 | 0b0010; // [MQTT-3.10.1-1]
    let properties = version.has_properties().then_some(&Properties::NONE);
    append_packet(first_byte, packet_id, properties, body_len, out, |w| {
        filters.iter().try_for_each(|filter| w.str(filter))
    })
}

#[cfg(test)]
mod tests {
    use super::super::{decode, Packet, ProtocolVersion::V311};
    use super::*;

    fn subscribe_bytes(packet_id: u16, filters: &[(&str, QoS)]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_subscribe(V311, packet_id, Properties::NONE, filters, &mut out).unwrap();
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
        encode_subscribe(
            V311,
            1,
            Properties::NONE,
            &[("t", QoS::AtMostOnce)],
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [0xee, 0x82, 6, 0, 1, 0, 1, b't', 0]);
    }

    #[test]
    fn encode_subscribe_refuses_oversized_filter() {
        let long = "x".repeat(65_536);
        let mut out = vec![1];
        assert_eq!(
            encode_subscribe(
                V311,
                1,
                Properties::NONE,
                &[(&long, QoS::AtMostOnce)],
                &mut out
            ),
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

    #[test]
    fn v5_subscribe_carries_options_and_properties_mqtt_3_8_3_1() {
        use super::super::{property, Property, ProtocolVersion::V5};
        let mut props = Vec::new();
        Property::VarInt(property::SUBSCRIPTION_IDENTIFIER, 300)
            .write(&mut props)
            .unwrap();
        let options = SubscriptionOptions {
            qos: QoS::AtLeastOnce,
            no_local: true,
            retain_as_published: true,
            retain_handling: RetainHandling::DoNotSend,
        };
        let filters = [
            ("a/#", options),
            ("b", SubscriptionOptions::from(QoS::ExactlyOnce)),
        ];
        let mut bytes = Vec::new();
        encode_subscribe(V5, 4, Properties::from_bytes(&props), &filters, &mut bytes).unwrap();
        // id, property length 3, subscription identifier 300, "a/#" with 0b10_1101.
        assert_eq!(
            &bytes[2..12],
            &[0, 4, 3, 0x0b, 0xac, 0x02, 0, 3, b'a', b'/']
        );
        assert_eq!(bytes[13], 0b10_1101);
        let Ok(Packet::Subscribe(s)) = decode(&bytes, V5) else {
            panic!("decodes");
        };
        assert_eq!(
            s.properties.u32(property::SUBSCRIPTION_IDENTIFIER),
            Some(300)
        );
        assert!(s.filters().eq(filters.iter().copied()));
        assert_eq!(Packet::Subscribe(s).to_vec(V5), Ok(bytes.clone()));
        // The same options are refused by a 3.1.1 decoder.
        let mut v311 = Vec::new();
        encode_subscribe(V311, 4, Properties::NONE, &filters, &mut v311).unwrap();
        assert_eq!(v311[9], 1, "3.1.1 writes the QoS alone");
    }

    #[test]
    fn v5_subscribe_option_rules_mqtt_3_8_3_5() {
        use super::super::ProtocolVersion::V5;
        let frame = |options: u8| vec![0x82, 6, 0, 1, 0, 0, 1, b't', options];
        let mut ok = frame(0b0010_1110);
        ok[1] = 7;
        assert!(decode(&ok, V5).is_ok());
        // Reserved bits 6-7.
        let mut bad = frame(0x40);
        bad[1] = 7;
        assert_eq!(decode(&bad, V5), Err(DecodeError::InvalidSubscribeOptions));
        // Retain handling 3.
        let mut rh3 = frame(0x30);
        rh3[1] = 7;
        assert_eq!(decode(&rh3, V5), Err(DecodeError::InvalidRetainHandling));
        assert!(!DecodeError::InvalidRetainHandling.is_malformed());
    }

    #[test]
    fn v5_suback_and_unsubscribe_round_trip() {
        use super::super::ProtocolVersion::V5;
        let suback = Packet::Suback(Suback {
            packet_id: 2,
            properties: Properties::from_bytes(&[0x1f, 0, 1, b'x']),
            reason_codes: &[0x01, 0x87, 0x9e],
        });
        let bytes = suback.to_vec(V5).unwrap();
        assert_eq!(
            bytes,
            [0x90, 10, 0, 2, 4, 0x1f, 0, 1, b'x', 0x01, 0x87, 0x9e]
        );
        assert_eq!(decode(&bytes, V5), Ok(suback));
        // A 3.1.1 client sees one failure code and no properties.
        assert_eq!(
            suback.to_vec(V311).unwrap(),
            [0x90, 5, 0, 2, 0x01, 0x80, 0x80]
        );
        assert_eq!(
            decode(&[0x90, 4, 0, 2, 0, 0x10], V5),
            Err(DecodeError::InvalidReasonCode(0x10))
        );
        let mut unsub = Vec::new();
        encode_unsubscribe(V5, 5, &["a", "b/#"], &mut unsub).unwrap();
        assert_eq!(&unsub[..6], &[0xa2, 11, 0, 5, 0, 0]);
        let Ok(Packet::Unsubscribe(u)) = decode(&unsub, V5) else {
            panic!("decodes");
        };
        assert!(u.filters().eq(["a", "b/#"]));
    }
}
