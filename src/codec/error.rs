//! What can go wrong on the wire: one [`DecodeError`] variant per malformation, each
//! citing the statement it enforces, and the ways encoding can fail.

#[cfg(doc)]
use super::MAX_REMAINING_LENGTH;
#[cfg(doc)]
use super::{FixedHeader, Packet};

/// Why a packet could not be decoded. Each variant names one malformation; the receiver
/// of any of them closes the connection [MQTT-4.8.0-1], except that
/// [`DecodeError::UnsupportedProtocolLevel`] is first answered with CONNACK 0x01.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The remaining length used more than 4 bytes [MQTT-2.2.3].
    MalformedRemainingLength,
    /// Packet type 0 or 15 (reserved).
    ReservedPacketType(u8),
    /// Fixed-header flags that are reserved for this packet type are wrong [MQTT-2.2.2-2].
    /// Reported by [`super::decode`], not by [`FixedHeader::parse`], so such a packet still frames.
    InvalidHeaderFlags {
        /// The packet type byte's high nibble.
        packet_type: u8,
        /// The low nibble that was received.
        flags: u8,
    },
    /// A field runs past the end of the packet.
    Truncated,
    /// Bytes are left over after the last field of a fixed-size packet.
    TrailingBytes,
    /// A string is not well-formed UTF-8 [MQTT-1.5.3-1].
    InvalidUtf8,
    /// A string contains U+0000 [MQTT-1.5.3-2].
    NullCharacter,
    /// The CONNECT protocol name is neither `MQTT` nor `MQIsdp` [MQTT-3.1.2-1].
    InvalidProtocolName,
    /// The protocol name is fine but the level is not one Sol speaks [MQTT-3.1.2-2].
    UnsupportedProtocolLevel(u8),
    /// The CONNECT reserved flag is set [MQTT-3.1.2-3].
    ConnectReservedFlag,
    /// Will QoS/retain set without the will flag, or will QoS 3 [MQTT-3.1.2-11], [MQTT-3.1.2-13]-[MQTT-3.1.2-15].
    InvalidWillFlags,
    /// Password flag set without the user-name flag [MQTT-3.1.2-22].
    PasswordWithoutUsername,
    /// A QoS field holds 3 [MQTT-3.3.1-4].
    InvalidQoS,
    /// A topic name or filter is empty [MQTT-4.7.3-1].
    EmptyTopic,
    /// A PUBLISH topic name contains `+` or `#` [MQTT-3.3.2-2].
    WildcardInTopicName,
    /// A packet identifier is zero [MQTT-2.3.1-1].
    ZeroPacketId,
    /// SUBSCRIBE or UNSUBSCRIBE without any topic filter [MQTT-3.8.3-3], [MQTT-3.10.3-2],
    /// or SUBACK without any return code.
    NoTopicFilters,
    /// SUBSCRIBE requested-QoS byte has reserved bits set [MQTT-3.8.3-4].
    InvalidSubscribeOptions,
    /// CONNACK acknowledge flags other than the session-present bit are set [MQTT-3.2.2.1].
    InvalidConnackFlags,
    /// A CONNACK return code above 5 or a SUBACK return code other than 0, 1, 2 or 0x80
    /// [MQTT-3.2.2.3], [MQTT-3.9.3-2].
    InvalidReturnCode(u8),
    /// A variable byte integer longer than 4 bytes or not in its shortest form
    /// [MQTT-1.5.5-1] (MQTT 5.0 properties and their length).
    MalformedVarInt,
    /// A property identifier MQTT 5.0 does not define [MQTT-2.2.2.2].
    UnknownProperty(u8),
    /// A property this packet may not carry [MQTT-2.2.2.2] (table 2-4).
    PropertyNotAllowed(u8),
    /// A property that may appear once appears again (a Protocol Error).
    DuplicateProperty(u8),
    /// A property value out of its range: a byte flag other than 0 or 1, a Receive
    /// Maximum, Maximum Packet Size, Topic Alias or Subscription Identifier of 0 (a
    /// Protocol Error).
    InvalidPropertyValue(u8),
    /// A reason code the packet may not carry [MQTT-2.4] (MQTT 5.0).
    InvalidReasonCode(u8),
    /// SUBSCRIBE options with Retain Handling 3 [MQTT-3.8.3-5] (a Protocol Error).
    InvalidRetainHandling,
}

impl DecodeError {
    /// Whether MQTT 5.0 calls this a Malformed Packet (reason code 0x81) rather than a
    /// Protocol Error (0x82) [MQTT-4.13]: the bytes cannot be parsed as the
    /// specification defines them, as opposed to parsing into something forbidden.
    pub fn is_malformed(&self) -> bool {
        !matches!(
            self,
            DecodeError::DuplicateProperty(_)
                | DecodeError::InvalidPropertyValue(_)
                | DecodeError::InvalidRetainHandling
                | DecodeError::ZeroPacketId
        )
    }

    /// The MQTT 5.0 reason code a DISCONNECT (or, before CONNACK, a CONNACK) names this
    /// error with: Malformed Packet or Protocol Error [MQTT-4.13.1-1].
    pub fn reason_code(&self) -> super::ReasonCode {
        if self.is_malformed() {
            super::ReasonCode::MALFORMED_PACKET
        } else {
            super::ReasonCode::PROTOCOL_ERROR
        }
    }
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::MalformedRemainingLength => {
                f.write_str("remaining length longer than 4 bytes")
            }
            DecodeError::ReservedPacketType(t) => write!(f, "reserved packet type {t}"),
            DecodeError::InvalidHeaderFlags { packet_type, flags } => {
                write!(f, "invalid flags {flags:#x} for packet type {packet_type}")
            }
            DecodeError::Truncated => f.write_str("field runs past the end of the packet"),
            DecodeError::TrailingBytes => f.write_str("unexpected bytes after the last field"),
            DecodeError::InvalidUtf8 => f.write_str("string is not well-formed UTF-8"),
            DecodeError::NullCharacter => f.write_str("string contains U+0000"),
            DecodeError::InvalidProtocolName => f.write_str("unknown protocol name"),
            DecodeError::UnsupportedProtocolLevel(l) => write!(f, "unsupported protocol level {l}"),
            DecodeError::ConnectReservedFlag => f.write_str("CONNECT reserved flag is set"),
            DecodeError::InvalidWillFlags => f.write_str("inconsistent will flags"),
            DecodeError::PasswordWithoutUsername => {
                f.write_str("password flag without user name flag")
            }
            DecodeError::InvalidQoS => f.write_str("QoS 3 is reserved"),
            DecodeError::EmptyTopic => f.write_str("empty topic"),
            DecodeError::WildcardInTopicName => f.write_str("wildcard in a PUBLISH topic name"),
            DecodeError::ZeroPacketId => f.write_str("packet identifier 0"),
            DecodeError::NoTopicFilters => f.write_str("no topic filters"),
            DecodeError::InvalidSubscribeOptions => {
                f.write_str("reserved bits set in requested QoS")
            }
            DecodeError::InvalidConnackFlags => f.write_str("reserved CONNACK flags are set"),
            DecodeError::InvalidReturnCode(c) => write!(f, "reserved return code {c:#x}"),
            DecodeError::MalformedVarInt => f.write_str("malformed variable byte integer"),
            DecodeError::UnknownProperty(id) => write!(f, "unknown property {id:#04x}"),
            DecodeError::PropertyNotAllowed(id) => {
                write!(f, "property {id:#04x} not allowed on this packet")
            }
            DecodeError::DuplicateProperty(id) => write!(f, "property {id:#04x} repeated"),
            DecodeError::InvalidPropertyValue(id) => {
                write!(f, "property {id:#04x} has a value out of range")
            }
            DecodeError::InvalidReasonCode(c) => {
                write!(f, "reason code {c:#04x} not allowed on this packet")
            }
            DecodeError::InvalidRetainHandling => f.write_str("retain handling 3 is reserved"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a packet could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer is shorter than [`Packet::encoded_len`].
    BufferTooSmall,
    /// The packet would exceed [`MAX_REMAINING_LENGTH`] or a string exceeds 65,535 bytes.
    TooLarge,
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EncodeError::BufferTooSmall => f.write_str("output buffer too small"),
            EncodeError::TooLarge => f.write_str("packet too large to encode"),
        }
    }
}

impl std::error::Error for EncodeError {}
