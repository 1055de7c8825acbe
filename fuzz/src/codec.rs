//! Codec driver: frames a byte stream the way the reactor does and decodes every frame.
//!
//! Invariants: nothing panics; `FixedHeader::parse` either frames or reports an error,
//! and a frame it delimits is at least its header; a packet that decodes re-encodes with
//! `Packet::encode` to bytes that decode to the same packet, and to exactly the received
//! bytes when the remaining length was minimally encoded. The decoder keeps everything
//! else, except the CONNECT reserved flag that MQTT 3.1 tolerates (and the encoder does
//! not write).

use sol::codec::{decode, remaining_length_len, FixedHeader, Packet, ProtocolVersion};

/// The version frames after a CONNECT are decoded in (3.1 and 3.1.1 share them).
const V311: ProtocolVersion = ProtocolVersion::V311;

/// Offset of the connect-flags byte in an MQTT 3.1 CONNECT body: the protocol name
/// (`MQIsdp`, length-prefixed) and the level byte come first.
const CONNECT_31_FLAGS: usize = 2 + 6 + 1;

/// Runs the codec checks over `data`.
pub fn run(data: &[u8]) {
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
            assert!(decode(rest, V311).is_err(), "a truncated frame decoded");
            return;
        }
        let (frame, tail) = rest.split_at(header.packet_len());
        rest = tail;
        let Ok(packet) = decode(frame, V311) else {
            continue;
        };
        let encoded = packet
            .to_vec(V311)
            .expect("a decoded packet fits the limits it was decoded within");
        assert_eq!(encoded.len(), packet.encoded_len(V311).expect("encodes"));
        let again = decode(&encoded, V311).expect("a re-encoded packet decodes");
        assert_eq!(again, packet, "the round trip changed the packet");
        if header.header_len == 1 + remaining_length_len(header.remaining_len) {
            let mut expected = frame.to_vec();
            if matches!(packet, Packet::Connect(c) if c.version == ProtocolVersion::V31) {
                expected[header.header_len + CONNECT_31_FLAGS] &= !1;
            }
            assert_eq!(encoded, expected, "re-encoding changed the bytes");
        }
    }
}
