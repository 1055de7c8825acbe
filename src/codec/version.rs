//! Protocol versions: which MQTT a connection speaks, named once at CONNECT and then
//! passed to every decode and encode of that connection.
//!
//! MQTT 3.1 (`MQIsdp`, level 3) and 3.1.1 (`MQTT`, level 4) share one wire format but for
//! a few rules (3.1's CONNACK has no session-present flag, its CONNECT tolerates the
//! reserved flag). MQTT 5.0 (`MQTT`, level 5) adds properties to most packets and reason
//! codes to every acknowledgment, and the AUTH packet.

use core::fmt;

/// The MQTT version a connection speaks, from its CONNECT's protocol name and level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ProtocolVersion {
    /// MQTT 3.1: protocol name `MQIsdp`, level 3.
    V31 = 3,
    /// MQTT 3.1.1: protocol name `MQTT`, level 4. The version assumed before CONNECT.
    #[default]
    V311 = 4,
    /// MQTT 5.0: protocol name `MQTT`, level 5.
    V5 = 5,
}

impl ProtocolVersion {
    /// The protocol level byte of CONNECT [MQTT-3.1.2.2].
    pub fn level(self) -> u8 {
        self as u8
    }

    /// The protocol name written in CONNECT: `MQIsdp` for 3.1, `MQTT` otherwise.
    pub fn protocol_name(self) -> &'static [u8] {
        match self {
            ProtocolVersion::V31 => b"MQIsdp",
            ProtocolVersion::V311 | ProtocolVersion::V5 => b"MQTT",
        }
    }

    /// Whether packets of this version carry properties (MQTT 5.0 only).
    pub fn has_properties(self) -> bool {
        self == ProtocolVersion::V5
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProtocolVersion::V31 => "MQTT 3.1",
            ProtocolVersion::V311 => "MQTT 3.1.1",
            ProtocolVersion::V5 => "MQTT 5.0",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_names_follow_the_specs() {
        assert_eq!(ProtocolVersion::V31.level(), 3);
        assert_eq!(ProtocolVersion::V311.level(), 4);
        assert_eq!(ProtocolVersion::V5.level(), 5);
        assert_eq!(ProtocolVersion::V31.protocol_name(), b"MQIsdp");
        assert_eq!(ProtocolVersion::V311.protocol_name(), b"MQTT");
        assert!(ProtocolVersion::V5.has_properties() && !ProtocolVersion::V311.has_properties());
    }
}
