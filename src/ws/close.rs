//! WebSocket close status codes (RFC 6455 7.4): the ones Sol sends, and which ones a
//! peer may send. Owns the numbers only; the frames are `encoder.rs`'s.

/// The close status codes Sol sends (RFC 6455 7.4.1).
pub mod status {
    /// 1000: the purpose of the connection was fulfilled (an MQTT DISCONNECT).
    pub const NORMAL: u16 = 1000;
    /// 1001: the server is going away (shutting down).
    pub const GOING_AWAY: u16 = 1001;
    /// 1002: the peer broke the WebSocket protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// 1003: a kind of data the endpoint cannot accept (a text frame, for MQTT).
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// 1007: data inconsistent with its type (a close reason that is not UTF-8).
    pub const INVALID_PAYLOAD: u16 = 1007;
}

/// Whether a peer may send `code` in a Close frame (RFC 6455 7.4.1, 7.4.2).
///
/// Allowed: the codes RFC 6455 defines for use on the wire (1000-1003, 1007-1011), the
/// ones registered in its IANA registry since (1012 Service Restart, 1013 Try Again
/// Later, 1014 Bad Gateway), and the ranges left to libraries, frameworks and
/// applications (3000-4999). Refused: 0-999 ("not used"), 1004 (reserved), 1005, 1006
/// and 1015 (which "MUST NOT be set as a status code in a Close control frame"), and the
/// rest of 1000-2999, reserved for future revisions of the protocol.
pub fn valid_close_status(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_sol_sends_are_valid_on_the_wire() {
        for code in [
            status::NORMAL,
            status::GOING_AWAY,
            status::PROTOCOL_ERROR,
            status::UNSUPPORTED_DATA,
            status::INVALID_PAYLOAD,
        ] {
            assert!(valid_close_status(code), "{code}");
        }
    }

    #[test]
    fn reserved_and_local_only_codes_are_refused() {
        for code in [
            0,
            999,
            1004,
            1005,
            1006,
            1015,
            1016,
            2000,
            2999,
            5000,
            u16::MAX,
        ] {
            assert!(!valid_close_status(code), "{code}");
        }
        for code in [1011, 1012, 1014, 3000, 4999] {
            assert!(valid_close_status(code), "{code}");
        }
    }
}
