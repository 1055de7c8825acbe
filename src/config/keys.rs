//! The declarative part of the key set: Sol's numeric caps as one table ([`CAPS`]: key,
//! unit and bounds, and the field it sets), the Mosquitto keys Sol accepts only with the
//! value that describes what it does anyway ([`AS_SOL_DOES`]), those it refuses with a
//! reason ([`REFUSED`]), those it accepts without effect ([`NO_EFFECT`]), and those it
//! does not implement yet ([`UNSUPPORTED`]).
//!
//! A key in none of these lists nor handled by the parser is unknown (most likely a
//! typo), and reported as such. Keeping the Mosquitto names here lets a user who brings a
//! `mosquitto.conf` learn exactly which of its lines Sol cannot honour yet.
//!
//! This module holds data only: it must not parse values or report errors (the parser
//! does, in `parse::caps`).

use super::{Config, PROTOCOL_MAX_PACKET_SIZE, PROTOCOL_MAX_PAYLOAD};
use std::time::Duration;

/// Largest `max_connections`: far beyond any device Sol targets, small enough that a typo
/// cannot ask for a pool of billions of slots.
pub const MAX_CONNECTIONS: i64 = 1_000_000;

/// Smallest `max_packet_size`, as in Mosquitto: below it not even a CONNECT fits.
pub const MIN_PACKET_SIZE: u64 = 20;

/// Largest value of the Sol timeouts, in seconds (one day).
pub const MAX_TIMEOUT_SECS: u64 = 86_400;

/// No upper bound but the field's type (`usize::MAX`, 4 GiB - 1 on 32-bit targets).
const NO_MAX: u64 = u64::MAX;

/// One numeric cap: its key, how its value is written and bounded, and the field it sets.
#[derive(Clone, Copy, Debug)]
pub struct Cap {
    /// The configuration key.
    pub key: &'static str,
    /// The unit, bounds and destination of the value.
    pub kind: CapKind,
}

/// How a cap's value is written, its bounds, and the field of [`Config`] it sets.
#[derive(Clone, Copy, Debug)]
pub enum CapKind {
    /// A decimal integer in `min..=max` (bounded by the field's type).
    Count {
        /// Smallest value.
        min: u64,
        /// Largest value.
        max: u64,
        /// What `0` stands for.
        zero: Zero,
        /// The field set.
        field: CountField,
    },
    /// A size in bytes in `min..=max` (bounded by `usize::MAX`): an integer, optionally
    /// followed by `k` or `M`.
    Bytes {
        /// Smallest value.
        min: u64,
        /// Largest value.
        max: u64,
        /// What `0` stands for.
        zero: Zero,
        /// The field set.
        field: fn(&mut Config) -> &mut usize,
    },
    /// Seconds, fractions allowed, at most [`MAX_TIMEOUT_SECS`].
    Seconds {
        /// Zero is refused.
        positive: bool,
        /// The field set.
        field: fn(&mut Config) -> &mut Duration,
    },
    /// Whole seconds in `0..=max`.
    WholeSeconds {
        /// Largest value.
        max: u64,
        /// The field set.
        field: fn(&mut Config) -> &mut Duration,
    },
    /// A Mosquitto duration with its unit (`2h`, `1d`, `1w`, `1m`, `1y`).
    Expiry {
        /// The field set.
        field: fn(&mut Config) -> &mut Option<Duration>,
    },
}

/// What a value of `0` means for a count or size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zero {
    /// Zero itself, checked against the bounds like any value.
    Plain,
    /// Mosquitto's "no maximum": the field's largest value (`max_packet_size` resolves it
    /// against `max_buffer_memory` once the file is read).
    NoCap,
    /// Mosquitto's "no maximum" where the protocol caps the value anyway.
    Means(u64),
}

/// The integer field a [`CapKind::Count`] sets.
#[derive(Clone, Copy, Debug)]
pub enum CountField {
    /// A `usize` field.
    Usize(fn(&mut Config) -> &mut usize),
    /// A `u16` field (bounded by 65535).
    U16(fn(&mut Config) -> &mut u16),
}

/// A count cap of a `usize` field.
const fn count(key: &'static str, min: u64, max: u64, field: fn(&mut Config) -> &mut usize) -> Cap {
    Cap {
        key,
        kind: CapKind::Count {
            min,
            max,
            zero: Zero::Plain,
            field: CountField::Usize(field),
        },
    }
}

/// A byte-size cap.
const fn bytes(key: &'static str, min: u64, max: u64, field: fn(&mut Config) -> &mut usize) -> Cap {
    Cap {
        key,
        kind: CapKind::Bytes {
            min,
            max,
            zero: Zero::Plain,
            field,
        },
    }
}

/// A timeout in seconds.
const fn seconds(
    key: &'static str,
    positive: bool,
    field: fn(&mut Config) -> &mut Duration,
) -> Cap {
    Cap {
        key,
        kind: CapKind::Seconds { positive, field },
    }
}

/// Every numeric cap, Mosquitto's first, then Sol's own. `docs/configuration.md` gives
/// each one's meaning and what happens when it is reached.
pub const CAPS: &[Cap] = &[
    // Mosquitto's.
    Cap {
        key: "max_inflight_messages",
        kind: CapKind::Count {
            min: 0,
            max: 65535,
            // Mosquitto: 0 (and 65535) mean no maximum; packet ids cap it at 65535.
            zero: Zero::Means(65535),
            field: CountField::Usize(|c| &mut c.limits.max_inflight_messages),
        },
    },
    Cap {
        key: "max_queued_messages",
        kind: CapKind::Count {
            min: 0,
            max: NO_MAX,
            zero: Zero::NoCap,
            field: CountField::Usize(|c| &mut c.limits.max_queued_messages),
        },
    },
    bytes("max_queued_bytes", 0, NO_MAX, |c| {
        &mut c.limits.max_queued_bytes
    }),
    bytes("max_inflight_bytes", 0, NO_MAX, |c| {
        &mut c.limits.max_inflight_bytes
    }),
    bytes("message_size_limit", 0, PROTOCOL_MAX_PAYLOAD as u64, |c| {
        &mut c.limits.message_size_limit
    }),
    Cap {
        key: "max_packet_size",
        kind: CapKind::Bytes {
            min: MIN_PACKET_SIZE,
            max: PROTOCOL_MAX_PACKET_SIZE as u64,
            zero: Zero::NoCap,
            field: |c| &mut c.limits.max_packet_size,
        },
    },
    Cap {
        key: "max_keepalive",
        kind: CapKind::Count {
            min: 0,
            max: 65535,
            zero: Zero::Plain,
            field: CountField::U16(|c| &mut c.limits.max_keepalive),
        },
    },
    Cap {
        key: "sys_interval",
        kind: CapKind::WholeSeconds {
            max: 65535,
            field: |c| &mut c.limits.sys_interval,
        },
    },
    Cap {
        key: "persistent_client_expiration",
        kind: CapKind::Expiry {
            field: |c| &mut c.limits.persistent_client_expiration,
        },
    },
    // Sol's own.
    seconds("connect_timeout", true, |c| &mut c.limits.connect_timeout),
    seconds("slow_consumer_timeout", true, |c| {
        &mut c.limits.slow_consumer_timeout
    }),
    seconds("max_publisher_stall", false, |c| {
        &mut c.limits.max_publisher_stall
    }),
    count("max_topic_alias", 0, 65535, |c| {
        &mut c.limits.max_topic_alias
    }),
    count("max_inflight_incoming", 1, 65535, |c| {
        &mut c.limits.max_inflight_incoming
    }),
    count("max_subscriptions_per_client", 1, NO_MAX, |c| {
        &mut c.limits.max_subscriptions_per_client
    }),
    count("max_subscriptions", 1, NO_MAX, |c| {
        &mut c.limits.max_subscriptions
    }),
    count("max_topic_length", 1, 65535, |c| {
        &mut c.limits.max_topic_length
    }),
    count("max_topic_levels", 1, 65535, |c| {
        &mut c.limits.max_topic_levels
    }),
    // A server must accept ids of 1 to 23 bytes [MQTT-3.1.3-5].
    count("max_client_id_length", 23, 65535, |c| {
        &mut c.limits.max_client_id_length
    }),
    count("max_username_length", 1, 65535, |c| {
        &mut c.limits.max_username_length
    }),
    count("max_retained_messages", 1, NO_MAX, |c| {
        &mut c.limits.max_retained_messages
    }),
    bytes("max_retained_bytes", 1, NO_MAX, |c| {
        &mut c.limits.max_retained_bytes
    }),
    bytes("max_queued_memory", 1, NO_MAX, |c| {
        &mut c.limits.max_queued_memory
    }),
    count("max_offline_sessions", 0, NO_MAX, |c| {
        &mut c.limits.max_offline_sessions
    }),
    bytes("buffer_block_size", 256, 1 << 20, |c| {
        &mut c.memory.block_size
    }),
    bytes("max_buffer_memory", 1, NO_MAX, |c| {
        &mut c.memory.max_buffer_memory
    }),
    bytes("large_message_memory", 1, NO_MAX, |c| {
        &mut c.limits.large_message_memory
    }),
    // Mosquitto's heap cap, kept by Sol as a cap on the memory ceiling.
    Cap {
        key: "memory_limit",
        kind: CapKind::Bytes {
            min: 0,
            max: NO_MAX,
            zero: Zero::NoCap,
            field: |c| &mut c.memory.memory_limit,
        },
    },
];

/// The cap named `key`, if it is one.
pub fn cap(key: &str) -> Option<&'static Cap> {
    CAPS.iter().find(|c| c.key == key)
}

/// Mosquitto keys Sol accepts only with a value that describes what it does anyway
/// (Debian's and Home Assistant's configurations contain them); any other value is
/// refused as not supported yet.
pub const AS_SOL_DOES: &[(&str, &[&str])] = &[];

/// The values of `key` Sol accepts because they describe what it does, if `key` is one
/// of [`AS_SOL_DOES`].
pub fn as_sol_does(key: &str) -> Option<(&'static str, &'static [&'static str])> {
    AS_SOL_DOES.iter().find(|(k, _)| *k == key).copied()
}

/// Mosquitto 2.x options that Sol rejects by name because it does not implement them yet
/// (the bridge's keys are `parse::bridge`'s, or refused below with a reason).
pub const UNSUPPORTED: &[&str] = &[
    // Listener options.
    "maximum_qos",
];

/// Whether `key` is a Mosquitto option Sol does not implement yet.
pub fn is_unsupported(key: &str) -> bool {
    UNSUPPORTED.contains(&key)
}

/// Why Sol cannot load plugins, and what to use instead.
const PLUGINS: &str = "Sol cannot load Mosquitto's C plugins (auth_plugin, plugin, \
    global_plugin and their auth_opt_*/plugin_opt_* lines). Users and passwords go in \
    password_file (made by `sol passwd` or mosquitto_passwd), access rules in acl_file; \
    docs/migrating-from-mosquitto.md shows how to move go-auth's and dynamic security's \
    users there";

/// Why Sol has no TLS-PSK, and what to use instead.
const PSK: &str = "TLS-PSK is not available: rustls, Sol's TLS library, has no \
    pre-shared-key cipher suites. Give the listener a certificate (certfile and keyfile; \
    clients check it with the CA), and authenticate clients with password_file or client \
    certificates (require_certificate)";

/// Why a bridge has no TLS-PSK, and what to use instead.
const BRIDGE_PSK: &str = "TLS-PSK is not available: rustls, Sol's TLS library, has no \
    pre-shared-key cipher suites. Check the upstream's certificate with bridge_cafile or \
    bridge_capath, and authenticate the bridge with remote_username/remote_password or a \
    client certificate (bridge_certfile, bridge_keyfile)";

/// Why `bridge_require_ocsp true` is refused, and what to do instead.
pub const OCSP: &str = "rustls, Sol's TLS library, does not check OCSP responses, so a \
    bridge cannot require one; remove the line or set it to false (the upstream's \
    certificate chain, dates and name are still checked)";

/// Why a bridge's TCP options are refused, and what does the job instead.
const BRIDGE_TCP: &str = "Sol does not set TCP keep-alive or user timeouts on a bridge's \
    connection yet; its keepalive_interval (MQTT PINGREQ and PINGRESP) finds a dead upstream \
    instead. Remove the line, or lower keepalive_interval";

/// Why a bridge's cipher lists are refused, and what Sol uses instead.
const BRIDGE_CIPHERS: &str = "Sol cannot restrict a bridge's cipher suites yet; it offers \
    rustls' suites (ECDHE with AES-GCM or ChaCha20-Poly1305 only, TLS 1.2 and 1.3), which \
    leave out every weak one. Remove the line (bridge_tls_version tlsv1.3 keeps TLS 1.3 \
    only)";

/// Why Sol has no OpenSSL engines, and what to use instead.
const ENGINES: &str = "OpenSSL engines (a key kept in a TPM or an HSM) are not \
    available: Sol's TLS (rustls) reads the private key from keyfile, a PEM file. Export \
    the key to PEM, or terminate TLS in front of Sol";

/// Why `enable_control_api true` (Mosquitto 2.1) is refused, and what to do instead.
pub const CONTROL_API: &str = "Mosquitto's $CONTROL API belongs to its dynamic-security \
    plugin, which Sol cannot load; keep users in password_file (`sol passwd`) and rules in \
    acl_file, and reload them with SIGHUP";

/// Mosquitto keys Sol refuses, each with why and what to do instead.
pub const REFUSED: &[(&str, &str)] = &[
    ("auth_plugin", PLUGINS),
    ("plugin", PLUGINS),
    ("plugin_load", PLUGINS),
    ("plugin_use", PLUGINS),
    ("global_plugin", PLUGINS),
    ("psk_hint", PSK),
    ("psk_file", PSK),
    ("tls_engine", ENGINES),
    ("bridge_identity", BRIDGE_PSK),
    ("bridge_psk", BRIDGE_PSK),
    ("bridge_tcp_keepalive", BRIDGE_TCP),
    ("bridge_tcp_user_timeout", BRIDGE_TCP),
    ("bridge_ciphers", BRIDGE_CIPHERS),
    ("bridge_ciphers_tls1.3", BRIDGE_CIPHERS),
    (
        "bridge_reload_type",
        "Mosquitto 2.1. Sol does not change bridges on a reload (SIGHUP) yet: a changed \
         connection block takes effect at the next start. Remove the line",
    ),
    ("tls_engine_kpass_sha1", ENGINES),
    (
        "global_max_clients",
        "Sol bounds clients with max_connections (clients connected at once, all \
         listeners together) and max_offline_sessions (persistent sessions kept while \
         their client is away); set those instead",
    ),
    (
        "websockets_origin",
        "Sol does not check the Origin header of WebSocket upgrades yet, and accepting \
         the line without the check would let every web page's scripts in; remove it, or \
         allow only trusted networks to reach the listener",
    ),
    (
        "use_subject_as_username",
        "Sol takes a user name from a client certificate's common name \
         (use_identity_as_username true), not from its whole subject; use that, with the \
         ACL written for the common names",
    ),
];

/// Prefixes of Mosquitto's plugin option families (`plugin_opt_NAME value`), refused as
/// [`REFUSED`] says.
pub const REFUSED_PREFIXES: &[(&str, &str)] = &[
    ("auth_opt_", PLUGINS),
    ("plugin_opt_", PLUGINS),
    ("global_plugin_opt_", PLUGINS),
];

/// Why `key` is refused, if it is.
pub fn refusal(key: &str) -> Option<&'static str> {
    REFUSED
        .iter()
        .find(|(k, _)| *k == key)
        .or_else(|| REFUSED_PREFIXES.iter().find(|(p, _)| key.starts_with(p)))
        .map(|(_, why)| *why)
}

/// Mosquitto keys Sol accepts (their value checked loosely) but which change nothing in
/// Sol, each with why; `sol check` prints the reason as a warning.
pub const NO_EFFECT: &[(&str, &str)] = &[
    (
        "auth_plugin_deny_special_chars",
        "it guards plugins, and Sol loads none: no effect",
    ),
    (
        "max_topic_alias_broker",
        "a maximum: Sol sends its clients no topic aliases, which MQTT 5.0 allows",
    ),
    ("quic_log_level", "Sol has no QUIC listeners: no effect"),
    (
        "bridge_max_topic_alias",
        "a maximum: Sol's bridge sends its upstream no topic aliases, which MQTT 5.0 allows",
    ),
];

/// Why `key` has no effect in Sol, if it has none.
pub fn no_effect(key: &str) -> Option<&'static str> {
    NO_EFFECT
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, why)| *why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_have_no_duplicates() {
        let mut seen = std::collections::HashSet::new();
        let keys = UNSUPPORTED
            .iter()
            .copied()
            .chain(CAPS.iter().map(|c| c.key))
            .chain(AS_SOL_DOES.iter().map(|(k, _)| *k))
            .chain(REFUSED.iter().map(|(k, _)| *k))
            .chain(NO_EFFECT.iter().map(|(k, _)| *k));
        for key in keys {
            assert!(seen.insert(key), "{key} listed twice");
        }
    }

    #[test]
    fn bounds_fit_their_fields() {
        for cap in CAPS {
            match cap.kind {
                CapKind::Count {
                    min, max, field, ..
                } => {
                    assert!(min <= max, "{}", cap.key);
                    if let CountField::U16(_) = field {
                        assert!(max <= u64::from(u16::MAX), "{}", cap.key);
                    }
                }
                CapKind::Bytes { min, max, .. } => assert!(min <= max, "{}", cap.key),
                CapKind::WholeSeconds { .. } | CapKind::Seconds { .. } | CapKind::Expiry { .. } => {
                }
            }
        }
    }

    #[test]
    fn prefixes_match_plugin_options() {
        assert_eq!(refusal("plugin_opt_db_path"), Some(PLUGINS));
        assert_eq!(refusal("auth_opt_backends"), Some(PLUGINS));
        assert_eq!(refusal("psk_file"), Some(PSK));
        assert_eq!(refusal("max_keepalive"), None);
    }
}
