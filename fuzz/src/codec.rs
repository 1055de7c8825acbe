//! Codec driver: frames a byte stream the way the reactor does and decodes every frame,
//! once as a connection speaking MQTT 3.1.1 (3.1 shares its packets after CONNECT) and
//! once as one speaking MQTT 5.0, so every input exercises both decoders.
//!
//! Invariants: nothing panics; `FixedHeader::parse` either frames or reports an error,
//! and a frame it delimits is at least its header; a packet that decodes re-encodes with
//! `Packet::encode` (in the version it was decoded in) to bytes that decode to the same
//! packet, and to exactly the received bytes when the remaining length was minimally
//! encoded. The decoder keeps everything else, except:
//!
//! - the CONNECT reserved flag that MQTT 3.1 tolerates (and the encoder does not write);
//! - the optional tail of an MQTT 5.0 PUBACK, PUBREC, PUBREL, PUBCOMP, DISCONNECT or AUTH:
//!   a reason code 0x00 and an empty property section may be sent explicitly (`00`,
//!   `00 00`, or `RC 00`), and the encoder writes the shortest form [MQTT-3.4.2.1 of 5.0].
//!
//! A decoded PUBLISH also goes through the broker's fan-out encoder (`PublishHeader`, the
//! per-subscriber bytes around a shared topic, properties and payload): without
//! per-subscriber properties it writes the same bytes as `Packet::encode`; for MQTT 5.0
//! with a remaining Message Expiry Interval and a Subscription Identifier it writes a
//! packet that decodes to the same PUBLISH with those two properties first. Every decoded
//! packet also encodes for the other version without panicking (the broker writes a v5
//! client's message to v3.1.1 subscribers and the other way round).

use sol::codec::{
    decode, property, remaining_length_len, FixedHeader, Packet, PerSubscriber, Property,
    ProtocolVersion, Publish, PublishHeader, SharedParts,
};

/// Offset of the connect-flags byte in an MQTT 3.1 CONNECT body: the protocol name
/// (`MQIsdp`, length-prefixed) and the level byte come first.
const CONNECT_31_FLAGS: usize = 2 + 6 + 1;

/// Runs the codec checks over `data`, as an MQTT 3.1.1 and as an MQTT 5.0 stream.
pub fn run(data: &[u8]) {
    check(data, ProtocolVersion::V311);
    check(data, ProtocolVersion::V5);
}

/// Frames `data` and checks every frame as a connection speaking `version` decodes it.
fn check(data: &[u8], version: ProtocolVersion) {
    let mut rest = data;
    while !rest.is_empty() {
        let header = match FixedHeader::parse(rest) {
            Ok(Some(header)) => header,
            // Incomplete, or malformed: the reactor stops reading either way.
            Ok(None) | Err(_) => return,
        };
        assert!(header.header_len >= 2 && header.header_len <= 5);
        assert!(header.packet_len() >= header.header_len);
        if rest.len() < header.packet_len() {
            // The body has not arrived; decoding the prefix must fail cleanly.
            assert!(decode(rest, version).is_err(), "a truncated frame decoded");
            return;
        }
        let (frame, tail) = rest.split_at(header.packet_len());
        rest = tail;
        let Ok(packet) = decode(frame, version) else {
            continue;
        };
        let encoded = packet
            .to_vec(version)
            .expect("a decoded packet fits the limits it was decoded within");
        assert_eq!(encoded.len(), packet.encoded_len(version).expect("encodes"));
        let again = decode(&encoded, version).expect("a re-encoded packet decodes");
        assert_eq!(again, packet, "the round trip changed the packet");
        if header.header_len == 1 + remaining_length_len(header.remaining_len) {
            let mut expected = frame.to_vec();
            if matches!(packet, Packet::Connect(c) if c.version == ProtocolVersion::V31) {
                expected[header.header_len + CONNECT_31_FLAGS] &= !1;
            }
            if encoded != expected {
                assert!(
                    shortened_tail(&packet, version, frame, header.header_len, &encoded),
                    "re-encoding changed the bytes: {packet:?}\n{frame:02x?}\n{encoded:02x?}"
                );
            }
        }
        if let Packet::Publish(p) = &packet {
            fan_out(p, version, &encoded);
        }
        // Written for the other version: mapped or left out, never a panic.
        let other = match version {
            ProtocolVersion::V5 => ProtocolVersion::V311,
            _ => ProtocolVersion::V5,
        };
        if let Ok(bytes) = packet.to_vec(other) {
            assert_eq!(Ok(bytes.len()), packet.encoded_len(other));
        }
    }
}

/// Whether `encoded` differs from the received `frame` (whose fixed header is
/// `header_len` bytes) only by writing the optional MQTT 5.0 tail (reason code and
/// properties) of an acknowledgment, DISCONNECT or AUTH in its shortest form: a received
/// `00` or `00 00` for success without properties, or `RC 00` for a reason without
/// properties.
fn shortened_tail(
    packet: &Packet<'_>,
    version: ProtocolVersion,
    frame: &[u8],
    header_len: usize,
    encoded: &[u8],
) -> bool {
    if version != ProtocolVersion::V5 {
        return false;
    }
    let (skip, reason, properties) = match packet {
        Packet::Puback(a) | Packet::Pubrec(a) | Packet::Pubrel(a) | Packet::Pubcomp(a) => {
            (2, a.reason, a.properties)
        }
        Packet::Disconnect(d) => (0, d.reason, d.properties),
        Packet::Auth(a) => (0, a.reason, a.properties),
        _ => return false,
    };
    let Ok(Some(out)) = FixedHeader::parse(encoded) else {
        return false;
    };
    let (body, encoded_body) = (&frame[header_len..], &encoded[out.header_len..]);
    if !properties.is_empty() || body.len() < skip || encoded_body.len() < skip {
        return false;
    }
    // The short form the encoder writes: nothing for success, else the reason code alone.
    let short: &[u8] = if reason.0 == 0 { &[] } else { &[reason.0] };
    let long_forms: [&[u8]; 2] = [&[reason.0], &[reason.0, 0]];
    encoded[0] == frame[0]
        && encoded_body[..skip] == body[..skip]
        && &encoded_body[skip..] == short
        && long_forms.contains(&&body[skip..])
}

/// The broker's fan-out encoding of `p` (decoded on a `version` connection, encoded as
/// `encoded`): the same bytes without per-subscriber properties; with them (MQTT 5.0), a
/// PUBLISH that decodes to `p` with those properties in front.
fn fan_out(p: &Publish<'_>, version: ProtocolVersion, encoded: &[u8]) {
    let v5 = version == ProtocolVersion::V5;
    let shared = SharedParts {
        topic_field: 2 + p.topic.len(),
        properties: if v5 { p.properties.as_bytes().len() } else { 0 },
        payload: p.payload.len(),
    };
    let assemble = |header: &[u8], fixed_len: usize| {
        let mut out = header[..fixed_len].to_vec();
        out.extend_from_slice(&(p.topic.len() as u16).to_be_bytes());
        out.extend_from_slice(p.topic.as_bytes());
        out.extend_from_slice(&header[fixed_len..]);
        if v5 {
            out.extend_from_slice(p.properties.as_bytes());
        }
        out.extend_from_slice(p.payload);
        out
    };
    let none = PerSubscriber::default();
    let header = PublishHeader::new(version, p.dup, p.qos, p.retain, p.packet_id, shared, &none)
        .expect("a decoded PUBLISH's header fits");
    assert!(!header.is_empty());
    assert_eq!(header.carries_properties(), v5);
    let mut bytes = header.fixed_header().to_vec();
    bytes.extend_from_slice(header.after_topic());
    assert_eq!(bytes.len(), header.len());
    let fixed_len = header.fixed_header().len();
    assert_eq!(
        assemble(&bytes, fixed_len),
        encoded,
        "PublishHeader and Packet::encode disagree"
    );
    if !v5
        || p.properties
            .get(property::MESSAGE_EXPIRY_INTERVAL)
            .is_some()
    {
        return;
    }
    // A delivery with what is left of its expiry and the subscription's identifier, as
    // the broker writes them (it keeps no expiry in the shared properties).
    let expiry = p.payload.len() as u32;
    let ids = [1 + u32::from(p.packet_id.unwrap_or(0)) % sol::codec::MAX_VARINT];
    let extra = PerSubscriber {
        expiry: Some(expiry),
        subscription_ids: &ids,
    };
    let (header, fixed_len) =
        PublishHeader::to_vec(version, p.dup, p.qos, p.retain, p.packet_id, shared, &extra)
            .expect("a fuzzer-sized PUBLISH has room for per-subscriber properties");
    let frame = assemble(&header, fixed_len);
    let delivered = decode(&frame, version).expect("a delivery with its own properties decodes");
    let Packet::Publish(d) = delivered else {
        panic!("a delivery decodes as {delivered:?}");
    };
    assert_eq!(
        (d.dup, d.qos, d.retain, d.topic, d.packet_id, d.payload),
        (p.dup, p.qos, p.retain, p.topic, p.packet_id, p.payload)
    );
    let mut expected = vec![
        Property::U32(property::MESSAGE_EXPIRY_INTERVAL, expiry),
        Property::VarInt(property::SUBSCRIPTION_IDENTIFIER, ids[0]),
    ];
    expected.extend(p.properties.iter());
    assert_eq!(d.properties.iter().collect::<Vec<_>>(), expected);
}
