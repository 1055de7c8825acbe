//! The MQTT wire format, for MQTT 3.1, 3.1.1 and 5.0: framing, decoding and encoding of
//! every packet, properties and reason codes. The only place that knows packet bytes.
//!
//! This module owns the bytes on the wire and nothing else: it does no I/O and keeps no
//! state between packets. Two steps, as in smoltcp's `wire`:
//!
//! 1. **Framing** ([`FixedHeader::parse`]): look at the first bytes of a buffer and learn
//!    whether a whole packet is there. "Not enough bytes yet" is `Ok(None)`, not an error:
//!    TCP splits and merges packets arbitrarily. The header also tells the packet's total
//!    length before its body is buffered, so the caller can enforce `max_packet_size`.
//! 2. **Decoding** ([`decode_packet`], given the header framing already parsed, or
//!    [`decode`] for a whole frame): turn exactly one packet into a [`Packet`] that borrows
//!    topic, payload, strings and properties from the caller's buffer (no allocation).
//!
//! Both directions take the connection's [`ProtocolVersion`], learnt from its CONNECT.
//! Encoding is the reverse of decoding: every packet knows its [`Packet::encoded_len`] and
//! writes itself into a caller's buffer with [`Packet::encode`]. A PUBLISH delivered to
//! many subscribers is not encoded whole for each: [`PublishHeader`] writes only its
//! per-subscriber bytes, and topic, properties and payload are shared (see
//! `broker::Message`).
//!
//! Every malformation has its own [`DecodeError`] variant; the spec statement it enforces
//! is cited where the check is made.
//!
//! Files: `packet.rs` (the packet types), `header.rs` (fixed header, dispatch), one file
//! per packet family (`connect.rs`, `publish.rs`, `subscribe.rs`, `ack.rs`), `wire.rs`
//! (primitive fields), `version.rs`, `reason.rs`, `properties.rs`, `error.rs`.

mod ack;
mod connect;
mod error;
mod header;
mod packet;
mod properties;
mod publish;
mod reason;
mod subscribe;
pub mod swar;
mod version;
mod wire;

pub use ack::short_ack;
pub use error::{DecodeError, EncodeError};
pub use header::{encode_remaining_length, remaining_length_len, FixedHeader};
pub use packet::{
    Ack, Auth, Connack, Connect, Disconnect, Packet, PacketType, Publish, QoS, RetainHandling,
    Suback, Subscribe, SubscriptionOptions, Unsuback, Unsubscribe, Will,
};
pub use properties::{id as property, varint_len, Properties, Property, MAX_VARINT};
pub use publish::{
    publish_head_len, publish_header_max, PerSubscriber, PublishHeader, SharedParts,
};
pub use reason::ReasonCode;
pub use subscribe::{encode_subscribe, encode_unsubscribe};
pub use version::ProtocolVersion;

/// Largest value the 4-byte remaining-length field can carry (268,435,455) [MQTT-2.2.3].
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// Decodes exactly one whole packet of a connection speaking `version`. `frame` must be
/// the bytes from the first byte of the fixed header to the end of the packet, as
/// delimited by [`FixedHeader::parse`]. A caller that framed the packet already passes
/// the header it parsed to [`decode_packet`] instead.
///
/// A CONNECT is decoded whatever `version` says: it names its own version.
pub fn decode(frame: &[u8], version: ProtocolVersion) -> Result<Packet<'_>, DecodeError> {
    let header = FixedHeader::parse(frame)?.ok_or(DecodeError::Truncated)?;
    if frame.len() != header.packet_len() {
        return Err(if frame.len() < header.packet_len() {
            DecodeError::Truncated
        } else {
            DecodeError::TrailingBytes
        });
    }
    decode_packet(&header, &frame[header.header_len..], version)
}

/// Decodes a PUBLISH whose body was read in two parts: `head`, its variable header
/// ([`publish_head_len`] bytes), and `payload`, the rest (a large message's payload,
/// read straight into its shared body). Checked as [`decode_packet`] checks a whole one.
pub fn decode_publish_split<'a>(
    header: &FixedHeader,
    head: &'a [u8],
    payload: &'a [u8],
    version: ProtocolVersion,
) -> Result<Publish<'a>, DecodeError> {
    if header.packet_type() != Some(PacketType::Publish) {
        return Err(DecodeError::ReservedPacketType(header.first_byte >> 4));
    }
    if head.len() + payload.len() != header.remaining_len {
        return Err(DecodeError::Truncated);
    }
    header::check_minimal_length(header, version)?;
    publish::decode_publish_split(header.flags(), head, payload, version)
}

/// Decodes the variable header `head` ([`publish_head_len`] bytes) of the large PUBLISH
/// `header` frames, before its payload has arrived: the payload of the result is empty.
pub fn decode_publish_head<'a>(
    header: &FixedHeader,
    head: &'a [u8],
    version: ProtocolVersion,
) -> Result<Publish<'a>, DecodeError> {
    if header.packet_type() != Some(PacketType::Publish) {
        return Err(DecodeError::ReservedPacketType(header.first_byte >> 4));
    }
    if head.len() > header.remaining_len {
        return Err(DecodeError::TrailingBytes);
    }
    header::check_minimal_length(header, version)?;
    publish::decode_publish_split(header.flags(), head, &[], version)
}

/// Decodes the packet `header` (parsed once, by framing) describes from its `body`, the
/// `header.remaining_len` bytes after the fixed header, for a connection speaking
/// `version`.
pub fn decode_packet<'a>(
    header: &FixedHeader,
    body: &'a [u8],
    version: ProtocolVersion,
) -> Result<Packet<'a>, DecodeError> {
    if body.len() != header.remaining_len {
        return Err(if body.len() < header.remaining_len {
            DecodeError::Truncated
        } else {
            DecodeError::TrailingBytes
        });
    }
    header::decode_body(header, body, version)
}
