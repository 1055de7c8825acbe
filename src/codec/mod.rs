//! MQTT 3.1.1 (and 3.1) wire format: framing, decoding and encoding of every packet.
//!
//! This module owns the bytes on the wire and nothing else: it does no I/O and keeps no
//! state between packets. Two steps, as in smoltcp's `wire`:
//!
//! 1. **Framing** ([`FixedHeader::parse`]): look at the first bytes of a buffer and learn
//!    whether a whole packet is there. "Not enough bytes yet" is `Ok(None)`, not an error:
//!    TCP splits and merges packets arbitrarily. The header also tells the packet's total
//!    length before its body is buffered, so the caller can enforce `max_packet_size`.
//! 2. **Decoding** ([`decode`]): turn exactly one whole packet into a [`Packet`] that
//!    borrows topic, payload and strings from the caller's buffer (no allocation).
//!
//! Encoding is the reverse: every packet knows its [`Packet::encoded_len`] and writes itself
//! into a caller's buffer with [`Packet::encode`]. The broker's hot path does not encode
//! whole PUBLISH packets: it writes only the per-subscriber fixed header
//! ([`encode_fixed_header`]) and shares topic and payload between subscribers.
//!
//! Every malformation has its own [`DecodeError`] variant; the spec statement it enforces
//! is cited where the check is made.

mod ack;
mod connect;
mod header;
mod publish;
mod subscribe;
mod wire;

pub use header::{encode_fixed_header, encode_remaining_length, remaining_length_len, FixedHeader};
pub use subscribe::{encode_subscribe, encode_unsubscribe};

/// Largest value the 4-byte remaining-length field can carry (268,435,455) [MQTT-2.2.3].
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// Protocol level byte of MQTT 3.1 (`MQIsdp`).
pub const LEVEL_31: u8 = 3;
/// Protocol level byte of MQTT 3.1.1 (`MQTT`).
pub const LEVEL_311: u8 = 4;

/// The control packet type, the high nibble of the first byte [MQTT-2.2.1].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PacketType {
    /// Client request to connect.
    Connect = 1,
    /// Connect acknowledgment.
    Connack = 2,
    /// Publish message.
    Publish = 3,
    /// QoS 1 publish acknowledgment.
    Puback = 4,
    /// QoS 2 publish received (part 1).
    Pubrec = 5,
    /// QoS 2 publish release (part 2).
    Pubrel = 6,
    /// QoS 2 publish complete (part 3).
    Pubcomp = 7,
    /// Subscribe request.
    Subscribe = 8,
    /// Subscribe acknowledgment.
    Suback = 9,
    /// Unsubscribe request.
    Unsubscribe = 10,
    /// Unsubscribe acknowledgment.
    Unsuback = 11,
    /// Ping request.
    Pingreq = 12,
    /// Ping response.
    Pingresp = 13,
    /// Client is disconnecting.
    Disconnect = 14,
}

impl PacketType {
    /// The packet type for the high nibble of a first byte; `None` for the reserved
    /// values 0 and 15 (and anything above 15).
    pub fn from_bits(bits: u8) -> Option<PacketType> {
        Some(match bits {
            1 => PacketType::Connect,
            2 => PacketType::Connack,
            3 => PacketType::Publish,
            4 => PacketType::Puback,
            5 => PacketType::Pubrec,
            6 => PacketType::Pubrel,
            7 => PacketType::Pubcomp,
            8 => PacketType::Subscribe,
            9 => PacketType::Suback,
            10 => PacketType::Unsubscribe,
            11 => PacketType::Unsuback,
            12 => PacketType::Pingreq,
            13 => PacketType::Pingresp,
            14 => PacketType::Disconnect,
            _ => return None,
        })
    }
}

/// Quality of service of a PUBLISH or a subscription [MQTT-4.3].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum QoS {
    /// At most once: fire and forget.
    AtMostOnce = 0,
    /// At least once: PUBLISH, PUBACK.
    AtLeastOnce = 1,
    /// Exactly once: PUBLISH, PUBREC, PUBREL, PUBCOMP.
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS for a two-bit value; `None` for 3, which is malformed [MQTT-3.3.1-4].
    pub fn from_bits(bits: u8) -> Option<QoS> {
        match bits {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// CONNACK return codes of MQTT 3.1.1 [MQTT-3.2.2.3].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ConnectReturnCode {
    /// Connection accepted.
    Accepted = 0,
    /// The server does not support the requested protocol level.
    UnacceptableProtocolVersion = 1,
    /// The client identifier is well-formed UTF-8 but not allowed.
    IdentifierRejected = 2,
    /// The network connection was made but the MQTT service is unavailable.
    ServerUnavailable = 3,
    /// The user name or password is malformed or wrong.
    BadUserNameOrPassword = 4,
    /// The client is not authorized to connect.
    NotAuthorized = 5,
}

impl ConnectReturnCode {
    /// The return code for a CONNACK byte; `None` for the reserved values 6-255
    /// [MQTT-3.2.2.3].
    pub fn from_u8(code: u8) -> Option<ConnectReturnCode> {
        Some(match code {
            0 => ConnectReturnCode::Accepted,
            1 => ConnectReturnCode::UnacceptableProtocolVersion,
            2 => ConnectReturnCode::IdentifierRejected,
            3 => ConnectReturnCode::ServerUnavailable,
            4 => ConnectReturnCode::BadUserNameOrPassword,
            5 => ConnectReturnCode::NotAuthorized,
            _ => return None,
        })
    }
}

/// SUBACK return code for a refused subscription [MQTT-3.9.3].
pub const SUBACK_FAILURE: u8 = 0x80;

/// The will message carried in a CONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Will<'a> {
    /// Topic the will is published to.
    pub topic: &'a str,
    /// Will payload (may be empty).
    pub payload: &'a [u8],
    /// QoS the will is published with.
    pub qos: QoS,
    /// Whether the will is published retained.
    pub retain: bool,
}

/// A CONNECT packet [MQTT-3.1].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connect<'a> {
    /// Protocol level: [`LEVEL_31`] (`MQIsdp`) or [`LEVEL_311`] (`MQTT`).
    pub level: u8,
    /// Clean-session flag.
    pub clean_session: bool,
    /// Keep-alive interval in seconds; 0 disables keep-alive.
    pub keep_alive: u16,
    /// Client identifier (may be empty).
    pub client_id: &'a str,
    /// Will message, if the will flag is set.
    pub will: Option<Will<'a>>,
    /// User name, if the user-name flag is set.
    pub username: Option<&'a str>,
    /// Password, if the password flag is set.
    pub password: Option<&'a [u8]>,
}

/// A CONNACK packet [MQTT-3.2].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connack {
    /// Session-present flag.
    pub session_present: bool,
    /// Return code.
    pub code: ConnectReturnCode,
}

/// A PUBLISH packet [MQTT-3.3].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Publish<'a> {
    /// DUP flag: this may be a re-delivery.
    pub dup: bool,
    /// QoS level.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic name (never contains wildcards, never empty).
    pub topic: &'a str,
    /// Packet identifier: `Some` if and only if `qos > 0`.
    pub packet_id: Option<u16>,
    /// Application payload.
    pub payload: &'a [u8],
}

/// A SUBSCRIBE packet [MQTT-3.8]. The filters were checked for well-formed framing and
/// UTF-8 at decode time; [`Subscribe::filters`] iterates them without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscribe<'a> {
    /// Packet identifier.
    pub packet_id: u16,
    /// Raw payload: a sequence of (length-prefixed filter, requested QoS byte).
    pub(crate) payload: &'a [u8],
}

/// A SUBACK packet [MQTT-3.9].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suback<'a> {
    /// Packet identifier of the SUBSCRIBE being acknowledged.
    pub packet_id: u16,
    /// One return code per filter: granted QoS 0-2 or [`SUBACK_FAILURE`].
    pub return_codes: &'a [u8],
}

/// An UNSUBSCRIBE packet [MQTT-3.10].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsubscribe<'a> {
    /// Packet identifier.
    pub packet_id: u16,
    /// Raw payload: a sequence of length-prefixed filters.
    pub(crate) payload: &'a [u8],
}

/// One decoded MQTT control packet, borrowing from the buffer it was decoded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// CONNECT.
    Connect(Connect<'a>),
    /// CONNACK.
    Connack(Connack),
    /// PUBLISH.
    Publish(Publish<'a>),
    /// PUBACK with its packet identifier.
    Puback(u16),
    /// PUBREC with its packet identifier.
    Pubrec(u16),
    /// PUBREL with its packet identifier.
    Pubrel(u16),
    /// PUBCOMP with its packet identifier.
    Pubcomp(u16),
    /// SUBSCRIBE.
    Subscribe(Subscribe<'a>),
    /// SUBACK.
    Suback(Suback<'a>),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe<'a>),
    /// UNSUBACK with its packet identifier.
    Unsuback(u16),
    /// PINGREQ.
    Pingreq,
    /// PINGRESP.
    Pingresp,
    /// DISCONNECT.
    Disconnect,
}

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
    /// Reported by [`decode`], not by [`FixedHeader::parse`], so such a packet still frames.
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

/// Decodes exactly one whole packet. `frame` must be the bytes from the first byte of the
/// fixed header to the end of the packet, as delimited by [`FixedHeader::parse`].
pub fn decode(frame: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let header = FixedHeader::parse(frame)?.ok_or(DecodeError::Truncated)?;
    if frame.len() != header.packet_len() {
        return Err(if frame.len() < header.packet_len() {
            DecodeError::Truncated
        } else {
            DecodeError::TrailingBytes
        });
    }
    let body = &frame[header.header_len..];
    header::decode_body(&header, body)
}
