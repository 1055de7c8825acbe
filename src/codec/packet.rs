//! The packets themselves: one type per MQTT control packet, borrowing its strings,
//! payload and properties from the buffer it was decoded from (or the caller's data when
//! it is built to be encoded).
//!
//! The types hold what every supported version can say. Fields only MQTT 5.0 carries
//! (reason codes on acknowledgments, properties, subscription options beyond the QoS) are
//! present for every version: a 3.1.1 packet decodes with [`ReasonCode::SUCCESS`] and
//! [`Properties::NONE`] there, and encoding for 3.1.1 maps or drops them (see
//! [`ReasonCode`]). AUTH exists in MQTT 5.0 only.

use super::{Properties, ProtocolVersion, ReasonCode};

/// The reason codes each MQTT 5.0 packet may carry [MQTT-2.4] (tables of 3.2.2.2,
/// 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1, 3.9.3, 3.11.3, 3.14.2.1, 3.15.2.1).
pub(super) mod allowed {
    /// CONNACK.
    pub const CONNACK: &[u8] = &[
        0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95,
        0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f,
    ];
    /// PUBACK and PUBREC.
    pub const PUBACK: &[u8] = &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
    /// PUBREL and PUBCOMP.
    pub const PUBREL: &[u8] = &[0x00, 0x92];
    /// SUBACK.
    pub const SUBACK: &[u8] = &[
        0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2,
    ];
    /// UNSUBACK.
    pub const UNSUBACK: &[u8] = &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91];
    /// DISCONNECT (from either side).
    pub const DISCONNECT: &[u8] = &[
        0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94,
        0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2,
    ];
    /// AUTH.
    pub const AUTH: &[u8] = &[0x00, 0x18, 0x19];
}

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
    /// Client is disconnecting (MQTT 5.0: either side).
    Disconnect = 14,
    /// Authentication exchange (MQTT 5.0 only).
    Auth = 15,
}

impl PacketType {
    /// The packet type for the high nibble of a first byte; `None` for the reserved
    /// value 0 (and anything above 15). 15 is AUTH, which only MQTT 5.0 defines: framing
    /// accepts it, and decoding refuses it for MQTT 3.1/3.1.1, where it is reserved.
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
            15 => PacketType::Auth,
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

/// The will message carried in a CONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Will<'a> {
    /// Topic the will is published to.
    pub topic: &'a str,
    /// Will properties (MQTT 5.0: delay interval, expiry, content type, ...).
    pub properties: Properties<'a>,
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
    /// The protocol version its name and level announce; the connection speaks it from
    /// here on.
    pub version: ProtocolVersion,
    /// Mosquitto's bridge marker: the high bit of a 3.1 or 3.1.1 protocol level (0x83,
    /// 0x84; `try_private` in a Mosquitto bridge). The broker gives such a client No Local
    /// and Retain As Published on every subscription, as Mosquitto does. Never set for
    /// 5.0 (the encoder leaves it out there).
    pub bridge: bool,
    /// Clean-session flag (MQTT 5.0: Clean Start).
    pub clean_session: bool,
    /// Keep-alive interval in seconds; 0 disables keep-alive.
    pub keep_alive: u16,
    /// CONNECT properties (MQTT 5.0: session expiry, receive maximum, ...).
    pub properties: Properties<'a>,
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
pub struct Connack<'a> {
    /// Session-present flag (always written as 0 for MQTT 3.1, where the byte is
    /// reserved).
    pub session_present: bool,
    /// The outcome; MQTT 3.1/3.1.1 carry it as a return code
    /// ([`ReasonCode::to_v311_connack`]).
    pub reason: ReasonCode,
    /// CONNACK properties (MQTT 5.0: what the server allows).
    pub properties: Properties<'a>,
}

impl Connack<'_> {
    /// A CONNACK without properties.
    pub fn new(session_present: bool, reason: ReasonCode) -> Connack<'static> {
        Connack {
            session_present,
            reason,
            properties: Properties::NONE,
        }
    }
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
    /// PUBLISH properties (MQTT 5.0: message expiry, topic alias, content type, ...).
    pub properties: Properties<'a>,
    /// Application payload.
    pub payload: &'a [u8],
}

/// A PUBACK, PUBREC, PUBREL or PUBCOMP [MQTT-3.4]-[MQTT-3.7]: a packet id and, in MQTT
/// 5.0, a reason code and properties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack<'a> {
    /// Packet identifier of the flow it belongs to.
    pub packet_id: u16,
    /// The outcome ([`ReasonCode::SUCCESS`] for MQTT 3.1/3.1.1, which cannot say more).
    pub reason: ReasonCode,
    /// Properties (MQTT 5.0: reason string, user properties).
    pub properties: Properties<'a>,
}

impl Ack<'_> {
    /// A successful acknowledgment of `packet_id`, without properties.
    pub fn new(packet_id: u16) -> Ack<'static> {
        Ack {
            packet_id,
            reason: ReasonCode::SUCCESS,
            properties: Properties::NONE,
        }
    }
}

/// What MQTT 5.0 does with retained messages when a subscription is made [MQTT-3.8.3.1].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum RetainHandling {
    /// Send retained messages at subscribe (the only behaviour of MQTT 3.1/3.1.1).
    #[default]
    SendAtSubscribe = 0,
    /// Send them only if the subscription did not exist yet.
    SendIfNew = 1,
    /// Do not send them.
    DoNotSend = 2,
}

/// The options of one subscription request [MQTT-3.8.3.1]. MQTT 3.1/3.1.1 requests only
/// carry the QoS; the other options then keep their defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubscriptionOptions {
    /// Maximum QoS requested.
    pub qos: QoS,
    /// Do not send the subscriber's own publications back to it (MQTT 5.0).
    pub no_local: bool,
    /// Keep the RETAIN flag of forwarded messages (MQTT 5.0).
    pub retain_as_published: bool,
    /// Retained messages at subscribe (MQTT 5.0).
    pub retain_handling: RetainHandling,
}

impl From<QoS> for SubscriptionOptions {
    /// The options of an MQTT 3.1.1 request for `qos`.
    fn from(qos: QoS) -> SubscriptionOptions {
        SubscriptionOptions {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendAtSubscribe,
        }
    }
}

/// A SUBSCRIBE packet [MQTT-3.8]. The filters were checked for well-formed framing and
/// UTF-8 at decode time; [`Subscribe::filters`] iterates them without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscribe<'a> {
    /// Packet identifier.
    pub packet_id: u16,
    /// SUBSCRIBE properties (MQTT 5.0: subscription identifier, user properties).
    pub properties: Properties<'a>,
    /// Raw payload: a sequence of (length-prefixed filter, options byte).
    pub(crate) payload: &'a [u8],
}

/// A SUBACK packet [MQTT-3.9].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suback<'a> {
    /// Packet identifier of the SUBSCRIBE being acknowledged.
    pub packet_id: u16,
    /// SUBACK properties (MQTT 5.0: reason string, user properties).
    pub properties: Properties<'a>,
    /// One [`ReasonCode`] byte per filter: the granted QoS, or a failure. MQTT 3.1.1
    /// writes any failure as 0x80 ([`ReasonCode::to_v311_suback`]).
    pub reason_codes: &'a [u8],
}

/// An UNSUBSCRIBE packet [MQTT-3.10].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsubscribe<'a> {
    /// Packet identifier.
    pub packet_id: u16,
    /// UNSUBSCRIBE properties (MQTT 5.0: user properties).
    pub properties: Properties<'a>,
    /// Raw payload: a sequence of length-prefixed filters.
    pub(crate) payload: &'a [u8],
}

/// An UNSUBACK packet [MQTT-3.11].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsuback<'a> {
    /// Packet identifier of the UNSUBSCRIBE being acknowledged.
    pub packet_id: u16,
    /// UNSUBACK properties (MQTT 5.0).
    pub properties: Properties<'a>,
    /// One [`ReasonCode`] byte per filter (MQTT 5.0); empty, and not written, for MQTT
    /// 3.1/3.1.1, whose UNSUBACK is only a packet id.
    pub reason_codes: &'a [u8],
}

impl Unsuback<'_> {
    /// An UNSUBACK without reason codes or properties (what MQTT 3.1.1 sends).
    pub fn new(packet_id: u16) -> Unsuback<'static> {
        Unsuback {
            packet_id,
            properties: Properties::NONE,
            reason_codes: &[],
        }
    }
}

/// A DISCONNECT packet [MQTT-3.14]. MQTT 3.1/3.1.1 DISCONNECT is empty and sent by clients
/// only; MQTT 5.0's carries a reason and properties and may come from the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Disconnect<'a> {
    /// Why ([`ReasonCode::NORMAL_DISCONNECTION`] for MQTT 3.1/3.1.1).
    pub reason: ReasonCode,
    /// DISCONNECT properties (MQTT 5.0: session expiry, reason string, server reference).
    pub properties: Properties<'a>,
}

/// An AUTH packet [MQTT-3.15] (MQTT 5.0): a step of enhanced authentication.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Auth<'a> {
    /// Success, Continue authentication or Re-authenticate.
    pub reason: ReasonCode,
    /// AUTH properties: authentication method and data, reason string, user properties.
    pub properties: Properties<'a>,
}

/// One decoded MQTT control packet, borrowing from the buffer it was decoded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// CONNECT.
    Connect(Connect<'a>),
    /// CONNACK.
    Connack(Connack<'a>),
    /// PUBLISH.
    Publish(Publish<'a>),
    /// PUBACK.
    Puback(Ack<'a>),
    /// PUBREC.
    Pubrec(Ack<'a>),
    /// PUBREL.
    Pubrel(Ack<'a>),
    /// PUBCOMP.
    Pubcomp(Ack<'a>),
    /// SUBSCRIBE.
    Subscribe(Subscribe<'a>),
    /// SUBACK.
    Suback(Suback<'a>),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe<'a>),
    /// UNSUBACK.
    Unsuback(Unsuback<'a>),
    /// PINGREQ.
    Pingreq,
    /// PINGRESP.
    Pingresp,
    /// DISCONNECT.
    Disconnect(Disconnect<'a>),
    /// AUTH (MQTT 5.0).
    Auth(Auth<'a>),
}

impl Packet<'_> {
    /// A successful PUBACK of `packet_id`.
    pub fn puback(packet_id: u16) -> Packet<'static> {
        Packet::Puback(Ack::new(packet_id))
    }

    /// A successful PUBREC of `packet_id`.
    pub fn pubrec(packet_id: u16) -> Packet<'static> {
        Packet::Pubrec(Ack::new(packet_id))
    }

    /// A successful PUBREL of `packet_id`.
    pub fn pubrel(packet_id: u16) -> Packet<'static> {
        Packet::Pubrel(Ack::new(packet_id))
    }

    /// A successful PUBCOMP of `packet_id`.
    pub fn pubcomp(packet_id: u16) -> Packet<'static> {
        Packet::Pubcomp(Ack::new(packet_id))
    }

    /// An UNSUBACK of `packet_id` without reason codes (MQTT 3.1.1).
    pub fn unsuback(packet_id: u16) -> Packet<'static> {
        Packet::Unsuback(Unsuback::new(packet_id))
    }

    /// A normal DISCONNECT without properties.
    pub fn disconnect() -> Packet<'static> {
        Packet::Disconnect(Disconnect::default())
    }

    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::Connack(_) => PacketType::Connack,
            Packet::Publish(_) => PacketType::Publish,
            Packet::Puback(_) => PacketType::Puback,
            Packet::Pubrec(_) => PacketType::Pubrec,
            Packet::Pubrel(_) => PacketType::Pubrel,
            Packet::Pubcomp(_) => PacketType::Pubcomp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::Suback(_) => PacketType::Suback,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::Unsuback(_) => PacketType::Unsuback,
            Packet::Pingreq => PacketType::Pingreq,
            Packet::Pingresp => PacketType::Pingresp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }
}
