//! The properties section of an MQTT 5.0 packet [MQTT-2.2.2]: its identifiers, which
//! packet may carry which, their values, and the raw bytes the packet types keep.
//!
//! A packet keeps its properties as the raw bytes after their length prefix
//! ([`Properties`]), borrowed from the packet's buffer like topics and payloads, so a
//! message body can store them once and every subscriber's frame can lend them to
//! `writev`. MQTT 3.1 and 3.1.1 packets have none: every packet of theirs carries
//! [`Properties::NONE`].
//!
//! Decoding checks the whole section once ([`read_properties`]): every identifier known
//! and allowed on this packet (else Malformed Packet), present at most once
//! unless the spec lets it repeat (Protocol Error), and its value well-formed (UTF-8
//! strings and pairs, variable byte integers) and in range (Protocol Error). After that,
//! [`Properties::iter`] walks the section without errors to report, and the typed
//! lookups ([`Properties::u32`] and friends) find one property by identifier.
//!
//! Encoding appends [`Property`] values to a caller's `Vec` ([`Property::write`]); the
//! packet encoders write the length prefix.

use super::wire::{Reader, Writer};
use super::{DecodeError, EncodeError};

/// Property identifiers [MQTT-2.2.2.2], as the byte on the wire.
pub mod id {
    /// Payload Format Indicator (byte): PUBLISH, will.
    pub const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
    /// Message Expiry Interval (four-byte integer): PUBLISH, will.
    pub const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
    /// Content Type (string): PUBLISH, will.
    pub const CONTENT_TYPE: u8 = 0x03;
    /// Response Topic (string): PUBLISH, will.
    pub const RESPONSE_TOPIC: u8 = 0x08;
    /// Correlation Data (binary): PUBLISH, will.
    pub const CORRELATION_DATA: u8 = 0x09;
    /// Subscription Identifier (variable byte integer): PUBLISH, SUBSCRIBE.
    pub const SUBSCRIPTION_IDENTIFIER: u8 = 0x0b;
    /// Session Expiry Interval (four-byte integer): CONNECT, CONNACK, DISCONNECT.
    pub const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    /// Assigned Client Identifier (string): CONNACK.
    pub const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    /// Server Keep Alive (two-byte integer): CONNACK.
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    /// Authentication Method (string): CONNECT, CONNACK, AUTH.
    pub const AUTHENTICATION_METHOD: u8 = 0x15;
    /// Authentication Data (binary): CONNECT, CONNACK, AUTH.
    pub const AUTHENTICATION_DATA: u8 = 0x16;
    /// Request Problem Information (byte): CONNECT.
    pub const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
    /// Will Delay Interval (four-byte integer): will.
    pub const WILL_DELAY_INTERVAL: u8 = 0x18;
    /// Request Response Information (byte): CONNECT.
    pub const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
    /// Response Information (string): CONNACK.
    pub const RESPONSE_INFORMATION: u8 = 0x1a;
    /// Server Reference (string): CONNACK, DISCONNECT.
    pub const SERVER_REFERENCE: u8 = 0x1c;
    /// Reason String (string): every acknowledgment, DISCONNECT, AUTH.
    pub const REASON_STRING: u8 = 0x1f;
    /// Receive Maximum (two-byte integer): CONNECT, CONNACK.
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    /// Topic Alias Maximum (two-byte integer): CONNECT, CONNACK.
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    /// Topic Alias (two-byte integer): PUBLISH.
    pub const TOPIC_ALIAS: u8 = 0x23;
    /// Maximum QoS (byte): CONNACK.
    pub const MAXIMUM_QOS: u8 = 0x24;
    /// Retain Available (byte): CONNACK.
    pub const RETAIN_AVAILABLE: u8 = 0x25;
    /// User Property (string pair): every packet with properties; may repeat.
    pub const USER_PROPERTY: u8 = 0x26;
    /// Maximum Packet Size (four-byte integer): CONNECT, CONNACK.
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    /// Wildcard Subscription Available (byte): CONNACK.
    pub const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
    /// Subscription Identifier Available (byte): CONNACK.
    pub const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
    /// Shared Subscription Available (byte): CONNACK.
    pub const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2a;
}

/// Where a properties section sits: which packet (or the will in a CONNECT) it belongs
/// to, for the table of which property may appear where [MQTT-2.2.2.2].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Context {
    /// CONNECT.
    Connect = 0,
    /// CONNACK.
    Connack,
    /// PUBLISH.
    Publish,
    /// The will properties of a CONNECT.
    Will,
    /// PUBACK, PUBREC, PUBREL and PUBCOMP.
    Ack,
    /// SUBSCRIBE.
    Subscribe,
    /// SUBACK.
    Suback,
    /// UNSUBSCRIBE.
    Unsubscribe,
    /// UNSUBACK.
    Unsuback,
    /// DISCONNECT.
    Disconnect,
    /// AUTH.
    Auth,
}

/// The type of a property's value [MQTT-2.2.2.2].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// One byte; every byte property is 0 or 1 except Maximum QoS (also 0 or 1).
    Byte,
    /// Two-byte integer.
    U16,
    /// Four-byte integer.
    U32,
    /// Variable byte integer.
    VarInt,
    /// UTF-8 string.
    Str,
    /// Binary data.
    Binary,
    /// UTF-8 string pair.
    Pair,
}

/// Bit of a [`Context`] in a mask.
const fn bit(c: Context) -> u16 {
    1 << c as u8
}

const CONNECT: u16 = bit(Context::Connect);
const CONNACK: u16 = bit(Context::Connack);
const PUBLISH: u16 = bit(Context::Publish);
const WILL: u16 = bit(Context::Will);
const SUBSCRIBE: u16 = bit(Context::Subscribe);
const DISCONNECT: u16 = bit(Context::Disconnect);
const AUTH: u16 = bit(Context::Auth);
/// Every context with a Reason String: the acknowledgments, DISCONNECT and AUTH.
const REPLIES: u16 =
    CONNACK | bit(Context::Ack) | bit(Context::Suback) | bit(Context::Unsuback) | DISCONNECT | AUTH;
/// Every context.
const ALL: u16 = (1 << (Context::Auth as u8 + 1)) - 1;

/// The value type and the contexts of property `id`; `None` for an unknown identifier.
fn spec(id: u8) -> Option<(Kind, u16)> {
    use id::*;
    Some(match id {
        PAYLOAD_FORMAT_INDICATOR => (Kind::Byte, PUBLISH | WILL),
        MESSAGE_EXPIRY_INTERVAL => (Kind::U32, PUBLISH | WILL),
        CONTENT_TYPE | RESPONSE_TOPIC => (Kind::Str, PUBLISH | WILL),
        CORRELATION_DATA => (Kind::Binary, PUBLISH | WILL),
        SUBSCRIPTION_IDENTIFIER => (Kind::VarInt, PUBLISH | SUBSCRIBE),
        SESSION_EXPIRY_INTERVAL => (Kind::U32, CONNECT | CONNACK | DISCONNECT),
        ASSIGNED_CLIENT_IDENTIFIER | RESPONSE_INFORMATION => (Kind::Str, CONNACK),
        SERVER_KEEP_ALIVE => (Kind::U16, CONNACK),
        AUTHENTICATION_METHOD => (Kind::Str, CONNECT | CONNACK | AUTH),
        AUTHENTICATION_DATA => (Kind::Binary, CONNECT | CONNACK | AUTH),
        REQUEST_PROBLEM_INFORMATION | REQUEST_RESPONSE_INFORMATION => (Kind::Byte, CONNECT),
        WILL_DELAY_INTERVAL => (Kind::U32, WILL),
        SERVER_REFERENCE => (Kind::Str, CONNACK | DISCONNECT),
        REASON_STRING => (Kind::Str, REPLIES),
        RECEIVE_MAXIMUM | TOPIC_ALIAS_MAXIMUM => (Kind::U16, CONNECT | CONNACK),
        TOPIC_ALIAS => (Kind::U16, PUBLISH),
        MAXIMUM_QOS
        | RETAIN_AVAILABLE
        | WILDCARD_SUBSCRIPTION_AVAILABLE
        | SUBSCRIPTION_IDENTIFIER_AVAILABLE
        | SHARED_SUBSCRIPTION_AVAILABLE => (Kind::Byte, CONNACK),
        USER_PROPERTY => (Kind::Pair, ALL),
        MAXIMUM_PACKET_SIZE => (Kind::U32, CONNECT | CONNACK),
        _ => return None,
    })
}

/// Largest value of a variable byte integer [MQTT-1.5.5].
pub const MAX_VARINT: u32 = 268_435_455;

/// Reads a variable byte integer [MQTT-1.5.5]: at most four bytes, in the fewest bytes
/// that can hold the value [MQTT-1.5.5-1].
pub(super) fn read_varint(r: &mut Reader<'_>) -> Result<u32, DecodeError> {
    let mut value = 0u32;
    for i in 0..4 {
        let byte = r.u8()?;
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                // A last byte of 0 means a shorter encoding existed.
                return Err(DecodeError::MalformedVarInt);
            }
            return Ok(value);
        }
    }
    Err(DecodeError::MalformedVarInt)
}

/// Bytes a variable byte integer of `value` takes (1..=4; values above [`MAX_VARINT`]
/// cannot be written).
pub fn varint_len(value: u32) -> usize {
    1 + usize::from(value >= 128) + usize::from(value >= 16_384) + usize::from(value >= 2_097_152)
}

/// Writes a variable byte integer into `out`; returns the bytes used (1..=4).
///
/// # Panics
///
/// If `value > MAX_VARINT` or `out` is shorter than [`varint_len`]`(value)`.
pub fn write_varint(value: u32, out: &mut [u8]) -> usize {
    assert!(
        value <= MAX_VARINT,
        "variable byte integer {value} too large"
    );
    super::header::encode_remaining_length(value as usize, out)
}

/// One property value, borrowing strings and binary data from the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Property<'a> {
    /// A byte property (identifier, value).
    Byte(u8, u8),
    /// A two-byte integer property.
    U16(u8, u16),
    /// A four-byte integer property.
    U32(u8, u32),
    /// A variable byte integer property (the Subscription Identifier).
    VarInt(u8, u32),
    /// A UTF-8 string property.
    Str(u8, &'a str),
    /// A binary data property.
    Binary(u8, &'a [u8]),
    /// A User Property: a name and a value.
    User(&'a str, &'a str),
}

impl Property<'_> {
    /// The identifier byte.
    pub fn id(&self) -> u8 {
        match *self {
            Property::Byte(id, _)
            | Property::U16(id, _)
            | Property::U32(id, _)
            | Property::VarInt(id, _)
            | Property::Str(id, _)
            | Property::Binary(id, _) => id,
            Property::User(..) => id::USER_PROPERTY,
        }
    }

    /// Bytes the property takes on the wire (identifier and value).
    pub fn encoded_len(&self) -> usize {
        1 + match *self {
            Property::Byte(..) => 1,
            Property::U16(..) => 2,
            Property::U32(..) => 4,
            Property::VarInt(_, v) => varint_len(v),
            Property::Str(_, s) => 2 + s.len(),
            Property::Binary(_, b) => 2 + b.len(),
            Property::User(k, v) => 4 + k.len() + v.len(),
        }
    }

    /// Appends the property to `out`. Strings and binary data longer than 65,535 bytes
    /// are [`EncodeError::TooLarge`] (and `out` is left unchanged).
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        out.resize(start + self.encoded_len(), 0);
        let mut w = Writer::new(&mut out[start..]);
        let written = self.write_to(&mut w);
        if written.is_err() {
            out.truncate(start);
        }
        written
    }

    /// Writes the property through `w`.
    pub(super) fn write_to(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.u8(self.id())?;
        match *self {
            Property::Byte(_, v) => w.u8(v),
            Property::U16(_, v) => w.u16(v),
            Property::U32(_, v) => w.bytes(&v.to_be_bytes()),
            Property::VarInt(_, v) => {
                if v > MAX_VARINT {
                    return Err(EncodeError::TooLarge);
                }
                let mut buf = [0u8; 4];
                let n = write_varint(v, &mut buf);
                w.bytes(&buf[..n])
            }
            Property::Str(_, s) => w.str(s),
            Property::Binary(_, b) => w.binary(b),
            Property::User(k, v) => {
                w.str(k)?;
                w.str(v)
            }
        }
    }
}

/// A packet's properties, as the bytes that follow the property length on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Properties<'a> {
    /// The encoded properties, without the variable byte integer that counts them.
    bytes: &'a [u8],
}

impl<'a> Properties<'a> {
    /// No properties: what every MQTT 3.1/3.1.1 packet has.
    pub const NONE: Properties<'static> = Properties { bytes: &[] };

    /// Properties already encoded as `bytes` (without their length prefix). Not checked:
    /// for bytes this codec wrote or checked ([`read_properties`]); [`Properties::iter`]
    /// stops at the first malformed property of anything else.
    pub fn from_bytes(bytes: &'a [u8]) -> Properties<'a> {
        Properties { bytes }
    }

    /// The encoded properties, without their length prefix.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Bytes the section takes on the wire with its length prefix.
    pub fn encoded_len(&self) -> usize {
        varint_len(self.bytes.len() as u32) + self.bytes.len()
    }

    /// The properties in wire order.
    pub fn iter(&self) -> impl Iterator<Item = Property<'a>> {
        let mut r = Reader::new(self.bytes);
        core::iter::from_fn(move || {
            if r.is_empty() {
                return None;
            }
            read_property(&mut r).ok()
        })
    }

    /// The first property `id`, if present.
    pub fn get(&self, id: u8) -> Option<Property<'a>> {
        self.iter().find(|p| p.id() == id)
    }

    /// The value of byte property `id`.
    pub fn byte(&self, id: u8) -> Option<u8> {
        match self.get(id)? {
            Property::Byte(_, v) => Some(v),
            _ => None,
        }
    }

    /// The value of two-byte integer property `id`.
    pub fn u16(&self, id: u8) -> Option<u16> {
        match self.get(id)? {
            Property::U16(_, v) => Some(v),
            _ => None,
        }
    }

    /// The value of four-byte or variable byte integer property `id`.
    pub fn u32(&self, id: u8) -> Option<u32> {
        match self.get(id)? {
            Property::U32(_, v) | Property::VarInt(_, v) => Some(v),
            _ => None,
        }
    }

    /// The value of string property `id`.
    pub fn str(&self, id: u8) -> Option<&'a str> {
        match self.get(id)? {
            Property::Str(_, v) => Some(v),
            _ => None,
        }
    }

    /// The value of binary property `id`.
    pub fn binary(&self, id: u8) -> Option<&'a [u8]> {
        match self.get(id)? {
            Property::Binary(_, v) => Some(v),
            _ => None,
        }
    }

    /// The properties, in order, without those whose identifier is in `ids` (how a
    /// broker drops what it must not forward, such as a Topic Alias).
    pub fn without(&self, ids: &[u8]) -> Vec<u8> {
        let mut kept = Vec::with_capacity(self.bytes.len());
        for p in self.iter().filter(|p| !ids.contains(&p.id())) {
            // Read from checked bytes: it writes back within its size.
            let _ = p.write(&mut kept);
        }
        kept
    }

    /// Writes the length prefix and the properties through `w`.
    pub(super) fn write_to(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        let len = u32::try_from(self.bytes.len()).map_err(|_| EncodeError::TooLarge)?;
        if len > MAX_VARINT {
            return Err(EncodeError::TooLarge);
        }
        let mut buf = [0u8; 4];
        let n = write_varint(len, &mut buf);
        w.bytes(&buf[..n])?;
        w.bytes(self.bytes)
    }
}

/// Reads one property, checking its identifier is known and its value well-formed, but
/// not where it appears.
fn read_property<'a>(r: &mut Reader<'a>) -> Result<Property<'a>, DecodeError> {
    let id = r.u8()?;
    // An identifier is a variable byte integer, but every defined one fits one byte: a
    // continuation bit makes it unknown.
    let (kind, _) = spec(id).ok_or(DecodeError::UnknownProperty(id))?;
    Ok(match kind {
        Kind::Byte => Property::Byte(id, r.u8()?),
        Kind::U16 => Property::U16(id, r.u16()?),
        Kind::U32 => {
            let b = r.take(4)?;
            Property::U32(id, u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        }
        Kind::VarInt => Property::VarInt(id, read_varint(r)?),
        Kind::Str => Property::Str(id, r.str()?),
        Kind::Binary => Property::Binary(id, r.binary()?),
        Kind::Pair => Property::User(r.str()?, r.str()?),
    })
}

/// Whether property `id` may appear more than once in `context`: User Property anywhere
/// [MQTT-3.1.2-x], Subscription Identifier in a PUBLISH (one per matching subscription,
/// [MQTT-3.3.4-4]) but not in a SUBSCRIBE.
fn may_repeat(id: u8, context: Context) -> bool {
    id == id::USER_PROPERTY || (id == id::SUBSCRIPTION_IDENTIFIER && context == Context::Publish)
}

/// Checks a property's value range: byte flags are 0 or 1; Receive Maximum, Maximum
/// Packet Size, Topic Alias and Subscription Identifier are not 0 [MQTT-3.1.2-x] (the
/// spec's "It is a Protocol Error ... to have the value 0").
fn check_value(p: &Property<'_>) -> Result<(), DecodeError> {
    let ok = match *p {
        Property::Byte(_, v) => v <= 1,
        Property::U16(id::RECEIVE_MAXIMUM | id::TOPIC_ALIAS, v) => v != 0,
        Property::U32(id::MAXIMUM_PACKET_SIZE, v) => v != 0,
        Property::VarInt(id::SUBSCRIPTION_IDENTIFIER, v) => v != 0,
        // A topic name: not empty, no wildcards [MQTT-3.3.2-14 of 5.0].
        Property::Str(id::RESPONSE_TOPIC, s) => !s.is_empty() && !s.contains(['+', '#']),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(DecodeError::InvalidPropertyValue(p.id()))
    }
}

/// Reads a properties section (length prefix and properties) for `context` and checks
/// it whole: see the module documentation.
pub(super) fn read_properties<'a>(
    r: &mut Reader<'a>,
    context: Context,
) -> Result<Properties<'a>, DecodeError> {
    let len = read_varint(r)?;
    let bytes = r.take(len as usize)?;
    let mut section = Reader::new(bytes);
    // Identifiers seen so far: every defined one is below 64.
    let mut seen = 0u64;
    while !section.is_empty() {
        let property = read_property(&mut section)?;
        let id = property.id();
        let (_, contexts) = spec(id).expect("read_property accepts only known identifiers");
        if contexts & bit(context) == 0 {
            // A Malformed Packet [MQTT-2.2.2.2].
            return Err(DecodeError::PropertyNotAllowed(id));
        }
        if seen & (1 << id) != 0 && !may_repeat(id, context) {
            return Err(DecodeError::DuplicateProperty(id));
        }
        seen |= 1 << id;
        check_value(&property)?;
    }
    Ok(Properties { bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(props: &[Property<'_>]) -> Vec<u8> {
        let mut body = Vec::new();
        for p in props {
            p.write(&mut body).unwrap();
        }
        let mut out = vec![0u8; 4];
        let n = write_varint(body.len() as u32, &mut out);
        out.truncate(n);
        out.extend_from_slice(&body);
        out
    }

    fn read(bytes: &[u8], context: Context) -> Result<Properties<'_>, DecodeError> {
        let mut r = Reader::new(bytes);
        let props = read_properties(&mut r, context)?;
        r.finish()?;
        Ok(props)
    }

    #[test]
    fn every_kind_round_trips_in_order() {
        let props = [
            Property::Byte(id::PAYLOAD_FORMAT_INDICATOR, 1),
            Property::U32(id::MESSAGE_EXPIRY_INTERVAL, 0xdead_beef),
            Property::Str(id::CONTENT_TYPE, "text/plain"),
            Property::Binary(id::CORRELATION_DATA, &[0, 1, 2]),
            Property::User("k", "v1"),
            Property::U16(id::TOPIC_ALIAS, 3),
            Property::User("k", "v2"),
            Property::VarInt(id::SUBSCRIPTION_IDENTIFIER, 268_435_455),
            Property::VarInt(id::SUBSCRIPTION_IDENTIFIER, 7),
        ];
        let bytes = section(&props);
        let decoded = read(&bytes, Context::Publish).unwrap();
        assert_eq!(decoded.iter().collect::<Vec<_>>(), props);
        assert_eq!(decoded.encoded_len(), bytes.len());
        assert_eq!(decoded.u32(id::MESSAGE_EXPIRY_INTERVAL), Some(0xdead_beef));
        assert_eq!(decoded.str(id::CONTENT_TYPE), Some("text/plain"));
        assert_eq!(decoded.u16(id::TOPIC_ALIAS), Some(3));
        assert_eq!(decoded.byte(id::PAYLOAD_FORMAT_INDICATOR), Some(1));
        assert_eq!(decoded.binary(id::CORRELATION_DATA), Some(&[0, 1, 2][..]));
        assert_eq!(decoded.u32(id::SUBSCRIPTION_IDENTIFIER), Some(268_435_455));
        assert_eq!(decoded.str(id::RESPONSE_TOPIC), None);
    }

    #[test]
    fn empty_section_is_one_zero_byte() {
        assert_eq!(read(&[0], Context::Connect), Ok(Properties::NONE));
        assert_eq!(Properties::NONE.encoded_len(), 1);
    }

    #[test]
    fn unknown_identifier_is_malformed_mqtt_2_2_2_2() {
        assert_eq!(
            read(&[2, 0x7f, 0], Context::Publish),
            Err(DecodeError::UnknownProperty(0x7f))
        );
        assert!(DecodeError::UnknownProperty(0x7f).is_malformed());
    }

    #[test]
    fn property_on_the_wrong_packet_is_a_protocol_error() {
        let bytes = section(&[Property::U16(id::TOPIC_ALIAS, 1)]);
        assert_eq!(
            read(&bytes, Context::Connect),
            Err(DecodeError::PropertyNotAllowed(id::TOPIC_ALIAS))
        );
        let bytes = section(&[Property::U32(id::WILL_DELAY_INTERVAL, 1)]);
        assert!(read(&bytes, Context::Will).is_ok());
        assert_eq!(
            read(&bytes, Context::Publish),
            Err(DecodeError::PropertyNotAllowed(id::WILL_DELAY_INTERVAL))
        );
        // "An Identifier which is not valid for its packet type" [MQTT-2.2.2.2].
        assert!(DecodeError::PropertyNotAllowed(0).is_malformed());
        assert!(!DecodeError::DuplicateProperty(0).is_malformed());
    }

    #[test]
    fn property_twice_is_a_protocol_error_unless_it_may_repeat() {
        let twice = section(&[
            Property::U32(id::SESSION_EXPIRY_INTERVAL, 1),
            Property::U32(id::SESSION_EXPIRY_INTERVAL, 2),
        ]);
        assert_eq!(
            read(&twice, Context::Connect),
            Err(DecodeError::DuplicateProperty(id::SESSION_EXPIRY_INTERVAL))
        );
        let ids = section(&[
            Property::VarInt(id::SUBSCRIPTION_IDENTIFIER, 1),
            Property::VarInt(id::SUBSCRIPTION_IDENTIFIER, 2),
        ]);
        assert!(read(&ids, Context::Publish).is_ok());
        // [MQTT-3.8.2.1.2]: once in a SUBSCRIBE.
        assert_eq!(
            read(&ids, Context::Subscribe),
            Err(DecodeError::DuplicateProperty(id::SUBSCRIPTION_IDENTIFIER))
        );
    }

    #[test]
    fn out_of_range_values_are_protocol_errors() {
        for (bad, context) in [
            (
                Property::Byte(id::REQUEST_PROBLEM_INFORMATION, 2),
                Context::Connect,
            ),
            (
                Property::Byte(id::PAYLOAD_FORMAT_INDICATOR, 2),
                Context::Publish,
            ),
            (Property::U16(id::RECEIVE_MAXIMUM, 0), Context::Connect),
            (Property::U32(id::MAXIMUM_PACKET_SIZE, 0), Context::Connect),
            (Property::U16(id::TOPIC_ALIAS, 0), Context::Publish),
            (
                Property::VarInt(id::SUBSCRIPTION_IDENTIFIER, 0),
                Context::Subscribe,
            ),
        ] {
            assert_eq!(
                read(&section(&[bad]), context),
                Err(DecodeError::InvalidPropertyValue(bad.id())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn malformed_strings_and_lengths_are_malformed() {
        // Content type with invalid UTF-8.
        assert_eq!(
            read(&[4, id::CONTENT_TYPE, 0, 1, 0xff], Context::Publish),
            Err(DecodeError::InvalidUtf8)
        );
        // A user property whose value is missing.
        assert_eq!(
            read(&[5, id::USER_PROPERTY, 0, 1, b'k', 0], Context::Publish),
            Err(DecodeError::Truncated)
        );
        // Section length beyond the packet.
        assert_eq!(
            read(&[9, 1, 1], Context::Publish),
            Err(DecodeError::Truncated)
        );
        // A subscription identifier of five bytes.
        assert_eq!(
            read(
                &[6, id::SUBSCRIPTION_IDENTIFIER, 0x80, 0x80, 0x80, 0x80, 1],
                Context::Publish
            ),
            Err(DecodeError::MalformedVarInt)
        );
    }

    #[test]
    fn varints_are_minimal_mqtt_1_5_5_1() {
        for (bytes, value) in [
            (&[0x00][..], 0),
            (&[0x7f], 127),
            (&[0x80, 0x01], 128),
            (&[0xff, 0xff, 0xff, 0x7f], MAX_VARINT),
        ] {
            assert_eq!(read_varint(&mut Reader::new(bytes)), Ok(value));
            assert_eq!(varint_len(value), bytes.len());
            let mut out = [0u8; 4];
            let n = write_varint(value, &mut out);
            assert_eq!(&out[..n], bytes);
        }
        assert_eq!(
            read_varint(&mut Reader::new(&[0x80, 0x00])),
            Err(DecodeError::MalformedVarInt)
        );
        assert_eq!(
            read_varint(&mut Reader::new(&[0x80, 0x80, 0x80, 0x80])),
            Err(DecodeError::MalformedVarInt)
        );
    }
}
