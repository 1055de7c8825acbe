//! The properties section of an MQTT 5.0 packet [MQTT-2.2.2], kept as the raw bytes it
//! was received as (or will be written as), after its length prefix.
//!
//! MQTT 3.1 and 3.1.1 packets have none: every packet of theirs carries
//! [`Properties::NONE`]. The section is borrowed from the packet's buffer like topics and
//! payloads, so a message body can store it once and every subscriber's frame can lend
//! it to `writev`. Validating and reading individual properties (identifiers, duplicates,
//! which packet may carry which) comes with MQTT 5.0 support.

/// A packet's properties, as the bytes that follow the property length on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Properties<'a> {
    /// The encoded properties, without the variable byte integer that counts them.
    bytes: &'a [u8],
}

impl<'a> Properties<'a> {
    /// No properties: what every MQTT 3.1/3.1.1 packet has.
    pub const NONE: Properties<'static> = Properties { bytes: &[] };

    /// Properties already encoded as `bytes` (without their length prefix).
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
}
