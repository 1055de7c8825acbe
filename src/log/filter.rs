//! Which records are written, and how a record's level and target map to Mosquitto's
//! log types: the syslog severity and the `$SYS/broker/log/...` topic of each.
//!
//! | record | log_type | syslog | topic |
//! |---|---|---|---|
//! | Error | `error` | err | `E` |
//! | Warn | `warning` | warning | `W` |
//! | Info, target `sol::connection` | `notice`/`information` and `connection_messages` | notice | `N` |
//! | Info, target `sol::subscribe` / `sol::unsubscribe` | `subscribe` / `unsubscribe` | notice | `M/subscribe` / `M/unsubscribe` |
//! | Info, target `sol::websockets` | `websockets` | debug | `WS` |
//! | Debug, target `sol::websockets` | `websockets`, with `websockets_log_level` asking for info or debug | debug | `WS` |
//! | other Info | `notice`/`information` | info | `I` |
//! | other Debug | `debug` | debug | none: debug is never published |
//!
//! Sol's records have one Info level where Mosquitto has notice and information, so the
//! two types select the same records; connection messages are notices in Mosquitto and
//! keep that severity and topic here. Trace records are never written.
//!
//! This file decides only: it must not format or write.

use super::TARGET_WEBSOCKETS;
use super::{LogConfig, LogTypes, TARGET_CONNECTION, TARGET_SUBSCRIBE, TARGET_UNSUBSCRIBE};
use ::log::{Level, LevelFilter};

/// libwebsockets' `LLL_INFO` and `LLL_DEBUG` bits (and every more verbose one above):
/// a `websockets_log_level` with any of them lets Debug records of `sol::websockets`
/// through.
const LWS_INFO_AND_ABOVE: u32 = !0b111;

/// Which records pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Filter {
    /// The enabled log types.
    types: LogTypes,
    /// Whether `sol::connection` records pass.
    connection_messages: bool,
    /// Whether Debug records of `sol::websockets` pass (with the `websockets` type).
    websockets_debug: bool,
}

impl Filter {
    /// The filter of `config`; `verbose` enables every type.
    pub fn new(config: &LogConfig, verbose: bool) -> Filter {
        Filter {
            types: if verbose { LogTypes::ALL } else { config.types },
            connection_messages: config.connection_messages || verbose,
            websockets_debug: verbose || config.websockets_log_level & LWS_INFO_AND_ABOVE != 0,
        }
    }

    /// Whether a record at `level` with `target` passes.
    pub fn allows(&self, level: Level, target: &str) -> bool {
        let t = &self.types;
        match level {
            Level::Error => t.error,
            Level::Warn => t.warning,
            Level::Info => match target {
                TARGET_SUBSCRIBE => t.subscribe,
                TARGET_UNSUBSCRIBE => t.unsubscribe,
                TARGET_WEBSOCKETS => t.websockets,
                TARGET_CONNECTION => self.connection_messages && (t.notice || t.information),
                _ => t.notice || t.information,
            },
            Level::Debug if target == TARGET_WEBSOCKETS => t.websockets && self.websockets_debug,
            Level::Debug => t.debug,
            Level::Trace => false,
        }
    }

    /// The most verbose level any record can pass at, for `log::set_max_level`.
    pub fn max_level(&self) -> LevelFilter {
        let t = &self.types;
        if t.debug || (t.websockets && self.websockets_debug) {
            LevelFilter::Debug
        } else if t.notice || t.information || t.subscribe || t.unsubscribe || t.websockets {
            LevelFilter::Info
        } else if t.warning {
            LevelFilter::Warn
        } else if t.error {
            LevelFilter::Error
        } else {
            LevelFilter::Off
        }
    }
}

/// The syslog severity of a record (RFC 5424 section 6.2.1), as Mosquitto chooses it.
pub(super) fn severity(level: Level, target: &str) -> u8 {
    match (level, target) {
        (Level::Error, _) => 3,
        (Level::Warn, _) => 4,
        (_, TARGET_WEBSOCKETS) => 7,
        (Level::Info, TARGET_CONNECTION | TARGET_SUBSCRIBE | TARGET_UNSUBSCRIBE) => 5,
        (Level::Info, _) => 6,
        (Level::Debug | Level::Trace, _) => 7,
    }
}

/// The `$SYS` topic a record is published on with `log_dest topic` (Mosquitto's
/// `$SYS/broker/log/<type>`); `None` for debug records, which are never published.
pub(super) fn topic(level: Level, target: &str) -> Option<&'static str> {
    Some(match (level, target) {
        (Level::Error, _) => "$SYS/broker/log/E",
        (Level::Warn, _) => "$SYS/broker/log/W",
        (_, TARGET_WEBSOCKETS) => "$SYS/broker/log/WS",
        (Level::Info, TARGET_CONNECTION) => "$SYS/broker/log/N",
        (Level::Info, TARGET_SUBSCRIBE) => "$SYS/broker/log/M/subscribe",
        (Level::Info, TARGET_UNSUBSCRIBE) => "$SYS/broker/log/M/unsubscribe",
        (Level::Info, _) => "$SYS/broker/log/I",
        (Level::Debug | Level::Trace, _) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(types: LogTypes, connection_messages: bool) -> Filter {
        let config = LogConfig {
            types,
            connection_messages,
            ..LogConfig::default()
        };
        Filter::new(&config, false)
    }

    #[test]
    fn log_types_map_to_levels_and_targets() {
        let f = filter(LogTypes::DEFAULT, true);
        assert!(f.allows(Level::Error, "sol::net"));
        assert!(f.allows(Level::Warn, "sol::net"));
        assert!(f.allows(Level::Info, "sol::broker"));
        assert!(f.allows(Level::Info, TARGET_CONNECTION));
        assert!(!f.allows(Level::Info, TARGET_SUBSCRIBE));
        assert!(!f.allows(Level::Info, TARGET_UNSUBSCRIBE));
        assert!(!f.allows(Level::Info, TARGET_WEBSOCKETS));
        assert!(!f.allows(Level::Debug, "sol::net"));
        assert!(!f.allows(Level::Trace, "sol::net"));
        assert_eq!(f.max_level(), LevelFilter::Info);

        let only_subscribe = LogTypes {
            subscribe: true,
            ..LogTypes::NONE
        };
        let f = filter(only_subscribe, true);
        assert!(f.allows(Level::Info, TARGET_SUBSCRIBE));
        assert!(!f.allows(Level::Info, "sol::broker"));
        assert!(!f.allows(Level::Error, "sol::broker"));
        assert_eq!(f.max_level(), LevelFilter::Info);

        let errors = LogTypes {
            error: true,
            ..LogTypes::NONE
        };
        assert_eq!(filter(errors, true).max_level(), LevelFilter::Error);
        assert_eq!(filter(LogTypes::NONE, true).max_level(), LevelFilter::Off);
        assert_eq!(filter(LogTypes::ALL, true).max_level(), LevelFilter::Debug);
    }

    #[test]
    fn connection_messages_can_be_silenced() {
        let f = filter(LogTypes::DEFAULT, false);
        assert!(!f.allows(Level::Info, TARGET_CONNECTION));
        assert!(f.allows(Level::Info, "sol::broker"));
    }

    #[test]
    fn websockets_type_and_level_select_websocket_records() {
        let websockets = LogTypes {
            websockets: true,
            ..LogTypes::NONE
        };
        // Level 0 (Mosquitto's default): the handshake and close records, no debug.
        let f = filter(websockets, true);
        assert!(f.allows(Level::Info, TARGET_WEBSOCKETS));
        assert!(!f.allows(Level::Debug, TARGET_WEBSOCKETS));
        assert!(!f.allows(Level::Info, "sol::net"));
        assert_eq!(f.max_level(), LevelFilter::Info);
        // LLL_ERR | LLL_WARN | LLL_NOTICE still no debug; LLL_INFO (8) or above: debug.
        for (level, debug) in [(7, false), (8, true), (16, true), (1 << 10, true)] {
            let config = LogConfig {
                types: websockets,
                websockets_log_level: level,
                ..LogConfig::default()
            };
            let f = Filter::new(&config, false);
            assert_eq!(f.allows(Level::Debug, TARGET_WEBSOCKETS), debug, "{level}");
            assert!(!f.allows(Level::Debug, "sol::net"));
        }
        // `debug` alone does not enable WebSocket records.
        let debug = LogTypes {
            debug: true,
            ..LogTypes::NONE
        };
        assert!(!filter(debug, true).allows(Level::Debug, TARGET_WEBSOCKETS));
    }

    #[test]
    fn verbose_enables_everything_but_trace() {
        let config = LogConfig {
            types: LogTypes::NONE,
            connection_messages: false,
            ..LogConfig::default()
        };
        let f = Filter::new(&config, true);
        assert_eq!(f.max_level(), LevelFilter::Debug);
        assert!(f.allows(Level::Debug, "sol::net"));
        assert!(f.allows(Level::Debug, TARGET_WEBSOCKETS));
        assert!(f.allows(Level::Info, TARGET_CONNECTION));
        assert!(!f.allows(Level::Trace, "sol::net"));
    }

    #[test]
    fn topics_and_severities_follow_mosquitto() {
        let cases = [
            (Level::Error, "sol::net", Some("$SYS/broker/log/E"), 3),
            (Level::Warn, "sol::net", Some("$SYS/broker/log/W"), 4),
            (Level::Info, TARGET_CONNECTION, Some("$SYS/broker/log/N"), 5),
            (Level::Info, "sol::net", Some("$SYS/broker/log/I"), 6),
            (
                Level::Info,
                TARGET_SUBSCRIBE,
                Some("$SYS/broker/log/M/subscribe"),
                5,
            ),
            (
                Level::Info,
                TARGET_UNSUBSCRIBE,
                Some("$SYS/broker/log/M/unsubscribe"),
                5,
            ),
            (
                Level::Info,
                TARGET_WEBSOCKETS,
                Some("$SYS/broker/log/WS"),
                7,
            ),
            (
                Level::Debug,
                TARGET_WEBSOCKETS,
                Some("$SYS/broker/log/WS"),
                7,
            ),
            (Level::Debug, "sol::net", None, 7),
        ];
        for (level, target, want_topic, want_severity) in cases {
            assert_eq!(topic(level, target), want_topic, "{level} {target}");
            assert_eq!(severity(level, target), want_severity, "{level} {target}");
        }
    }
}
