//! The memory ceiling: the worst-case bytes the configured caps allow, itemised.
//!
//! It is an upper bound computed from the caps and the real sizes of the data structures
//! (`broker::CONNECTION_BYTES`, `broker::SESSION_BYTES`, ...; they follow the target, so a
//! 32-bit build gets its own figures), for `sol check` and for sizing a device, not a
//! measurement. Messages are shared between subscribers at run time, so real use is
//! usually far below the message line, which counts a message once per queue it is in.
//!
//! The reactor's own per-connection sizes (its slot, and a TLS connection's rustls state)
//! are known only to `net`, which sits above `config`: the caller passes them in as
//! [`SlotSizes`] (`net::SLOT_SIZES`), so this module never imports `net`. With a TLS
//! listener, every slot is counted as possibly TLS.
//!
//! Not counted: a will's message (bounded by `max_packet_size`), the bytes of a SUBACK
//! frame waiting in an outbox (a few per filter), the per-entry bookkeeping of
//! queued messages (24-40 bytes each on 64-bit targets, beyond the message bytes
//! `max_queued_memory` counts; with persistence the store mirrors each entry in
//! `store::model::ENTRY_INDEX_BYTES` more, and indexes each queued body in
//! `BODY_INDEX_BYTES`), the store file mapped while it is restored (page cache, not
//! heap), and the program itself (code, static data, stack).

use super::Config;
use crate::broker::{
    string_heap_bytes, ALIAS_BYTES, CONNECTION_BYTES, EXTRA_BYTES, IDENTITY_ENTRY_BYTES,
    NODE_BYTES, OUTBOX_BYTES_MAX, SESSION_BYTES, SUBSCRIPTION_BYTES,
};
use std::fmt;

/// The per-connection sizes only the reactor knows, supplied by `net` (`net::SLOT_SIZES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotSizes {
    /// Bytes of one reactor slot (`net::SLOT_BYTES`).
    pub reactor_slot: usize,
    /// Bytes of one TLS connection's state (`net::TLS_CONNECTION_BYTES`: the boxed rustls
    /// connection and its buffers); 0 in a build without TLS.
    pub tls_connection: usize,
    /// Bytes of one WebSocket connection's own state (`net::WS_CONNECTION_BYTES`: the
    /// boxed stream with its frame decoder and waiting control frames), beside the
    /// upgrade request while the handshake lasts (`websockets_headers_size`).
    pub ws_connection: usize,
}

impl SlotSizes {
    /// Bytes of one connection slot in use: the reactor's slot and the core's state.
    pub fn slot_state(self) -> u64 {
        (self.reactor_slot + CONNECTION_BYTES) as u64
    }
}

/// Bytes of bookkeeping per retained message beyond its topic (an estimate: the retained
/// store is outside the memory work of issue 4).
pub const ENTRY_OVERHEAD_ESTIMATE: u64 = 64;

/// Bytes of a retained message's publisher record (`check_retain_source`) beyond its two
/// strings' bytes: the `Rc` with its two counts, and three allocations' overhead (the `Rc`
/// and the two boxed strings, 16 bytes each as `broker::string_heap_bytes` counts).
const RETAIN_SOURCE_BYTES: u64 = (2 * std::mem::size_of::<usize>()
    + std::mem::size_of::<crate::broker::RetainSource>()) as u64
    + 3 * 16;

/// One line of the ceiling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CeilingItem {
    /// What the memory is for.
    pub name: &'static str,
    /// How the bytes were computed, with the numbers used.
    pub formula: String,
    /// The bytes.
    pub bytes: u64,
}

/// The worst-case memory implied by a configuration's caps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryCeiling {
    /// The items, in display order.
    pub items: Vec<CeilingItem>,
}

impl MemoryCeiling {
    /// The ceiling of `config`, with the reactor's per-connection sizes `slots`.
    pub fn of(config: &Config, slots: SlotSizes) -> MemoryCeiling {
        let slot_state = slots.slot_state();
        let l = &config.limits;
        let n = |v: usize| v as u64;
        let connections = n(l.max_connections);
        let sessions = connections.saturating_add(n(l.max_offline_sessions));

        let subscriptions =
            n(l.max_subscriptions).min(n(l.max_subscriptions_per_client).saturating_mul(sessions));
        // Under check_retain_source each retained message keeps its publisher's client id
        // and user name (an `Rc` of the two).
        let retain_source = if l.check_retain_source {
            RETAIN_SOURCE_BYTES + n(l.max_client_id_length) + n(l.max_username_length)
        } else {
            0
        };
        let topic_entry = n(l.max_topic_length) + ENTRY_OVERHEAD_ESTIMATE + retain_source;
        let username_bytes = string_heap_bytes(l.max_username_length) as u64;
        let session_bytes = SESSION_BYTES as u64
            + string_heap_bytes(l.max_client_id_length) as u64
            + username_bytes;
        // A filter makes at most one node per level; levels can be empty ("a//b").
        let levels = n(l.max_topic_levels).min(n(l.max_topic_length) + 1);
        let per_subscription = levels
            .saturating_mul(NODE_BYTES as u64)
            .saturating_add(string_heap_bytes(l.max_topic_length) as u64)
            .saturating_add(SUBSCRIPTION_BYTES as u64);

        let mut items = vec![
            CeilingItem {
                name: "connection slots",
                formula: format!("max_connections {connections} x {slot_state} B"),
                bytes: connections.saturating_mul(slot_state),
            },
            CeilingItem {
                name: "connection outboxes",
                formula: format!(
                    "max_connections {connections} x {OUTBOX_BYTES_MAX} B (frames before reading pauses)"
                ),
                bytes: connections.saturating_mul(OUTBOX_BYTES_MAX as u64),
            },
            {
                // What an MQTT 5.0 client declared, and its Topic Alias table (a 3.1.1
                // connection without a will has none of it).
                let aliases = n(l.max_topic_alias);
                let per_alias = (ALIAS_BYTES + string_heap_bytes(l.max_topic_length)) as u64;
                let per = (EXTRA_BYTES as u64).saturating_add(aliases.saturating_mul(per_alias));
                CeilingItem {
                    name: "MQTT 5.0 client state",
                    formula: format!(
                        "max_connections {connections} x ({EXTRA_BYTES} B + max_topic_alias \
                         {aliases} x {per_alias} B)"
                    ),
                    bytes: connections.saturating_mul(per),
                }
            },
            CeilingItem {
                name: "buffer pool",
                formula: "max_buffer_memory".to_string(),
                bytes: n(config.memory.max_buffer_memory),
            },
            CeilingItem {
                name: "sessions",
                formula: format!(
                    "{sessions} sessions x {session_bytes} B (client ids up to max_client_id_length \
                     {}, user names up to max_username_length {})",
                    l.max_client_id_length, l.max_username_length
                ),
                bytes: sessions.saturating_mul(session_bytes),
            },
            CeilingItem {
                name: "queued and inflight messages",
                formula: "max_queued_memory (all sessions together)".to_string(),
                bytes: n(l.max_queued_memory),
            },
            CeilingItem {
                name: "large messages",
                formula: format!(
                    "large_message_memory (bodies above {} KiB, wherever held, counted once)",
                    crate::broker::large::LARGE_MESSAGE / 1024
                ),
                bytes: n(l.large_message_memory),
            },
            CeilingItem {
                name: "retained messages",
                formula: format!(
                    "max_retained_bytes + max_retained_messages {} x (max_topic_length + {ENTRY_OVERHEAD_ESTIMATE}{})",
                    l.max_retained_messages,
                    if retain_source > 0 {
                        format!(" + publisher {retain_source}: check_retain_source")
                    } else {
                        String::new()
                    }
                ),
                bytes: n(l.max_retained_bytes)
                    .saturating_add(n(l.max_retained_messages).saturating_mul(topic_entry)),
            },
            CeilingItem {
                name: "subscriptions",
                formula: format!(
                    "{subscriptions} x {per_subscription} B (a distinct filter of {levels} levels, {NODE_BYTES} B each)"
                ),
                bytes: subscriptions.saturating_mul(per_subscription),
            },
        ];
        if config
            .listeners
            .iter()
            .any(|l| l.protocol == super::ListenerProtocol::WebSockets)
        {
            let per = (slots.ws_connection + config.websockets_headers_size) as u64;
            items.push(CeilingItem {
                name: "WebSocket state",
                formula: format!(
                    "max_connections {connections} x ({} B + websockets_headers_size {} B \
                     during the upgrade; any slot may be a WebSocket)",
                    slots.ws_connection, config.websockets_headers_size
                ),
                bytes: connections.saturating_mul(per),
            });
        }
        if config.listeners.iter().any(|l| l.tls.is_some()) {
            let per = slots.tls_connection as u64;
            items.push(CeilingItem {
                name: "TLS state",
                formula: format!(
                    "max_connections {connections} x {per} B (rustls: one incoming record, \
                     16 KiB of outgoing records, handshake; any slot may be TLS)"
                ),
                bytes: connections.saturating_mul(per),
            });
        }
        if config.listeners.iter().any(|l| {
            l.tls
                .as_ref()
                .is_some_and(|t| t.settings.use_identity_as_username)
        }) {
            // Held from the handshake to CONNECT: a name and its map entry per slot.
            let per = username_bytes + IDENTITY_ENTRY_BYTES as u64;
            items.push(CeilingItem {
                name: "certificate user names",
                formula: format!(
                    "max_connections {connections} x {per} B (use_identity_as_username: \
                     a name up to max_username_length {} until CONNECT)",
                    l.max_username_length
                ),
                bytes: connections.saturating_mul(per),
            });
        }
        if !config.bridges.is_empty() {
            let sum = |f: fn(&super::OutboxLimits) -> usize| {
                let each = config.bridges.iter().map(|b| n(f(&b.outbox)));
                each.fold(0u64, u64::saturating_add)
            };
            let (messages, bytes) = (sum(|o| o.max_messages), sum(|o| o.max_bytes));
            let item = if config.persistence.enabled {
                // Beyond its window an outbox waits on disk: in RAM the window, what the
                // next save writes, and per message its size and the store's entry.
                use crate::store::{model::ENTRY_INDEX_BYTES, SPILL_BATCH};
                let held = (crate::broker::WINDOW_BYTES + SPILL_BATCH) as u64;
                let ram = sum(|o| o.max_bytes.min(crate::broker::WINDOW_BYTES + SPILL_BATCH));
                let per = 4 + ENTRY_INDEX_BYTES as u64;
                CeilingItem {
                    name: "bridge outboxes",
                    formula: format!(
                        "{ram} B of messages (each bridge's bridge_outbox_bytes up to {held} B \
                         in RAM: the rest on disk) + bridge_outbox_messages {messages} x {per} B \
                         (all bridges; bookkeeping per message)"
                    ),
                    bytes: ram.saturating_add(messages.saturating_mul(per)),
                }
            } else {
                CeilingItem {
                    name: "bridge outboxes",
                    formula: format!(
                        "bridge_outbox_bytes {bytes} + bridge_outbox_messages {messages} x \
                         {ENTRY_OVERHEAD_ESTIMATE} B (all bridges; bookkeeping per message, \
                         the estimate of a retained message's; without persistence all in RAM)"
                    ),
                    bytes: bytes.saturating_add(messages.saturating_mul(ENTRY_OVERHEAD_ESTIMATE)),
                }
            };
            items.push(item);
        }
        let log = config.log.buffer_bytes();
        if log > 0 {
            items.push(CeilingItem {
                name: "log buffers",
                formula: format!(
                    "{} B per sink that can block (its queue and the batch being written{})",
                    2 * crate::log::SINK_BUFFER_BYTES,
                    if config.log.dest.topic {
                        format!(
                            ", + {} B of $SYS/broker/log lines",
                            crate::log::TOPIC_QUEUE_BYTES
                        )
                    } else {
                        String::new()
                    }
                ),
                bytes: log,
            });
        }
        if config.persistence.enabled {
            use crate::store::model::{BODY_INDEX_BYTES, SESSION_INDEX_BYTES};
            let retained = n(l.max_retained_messages);
            let per_session = SESSION_INDEX_BYTES as u64 + n(l.max_client_id_length);
            items.push(CeilingItem {
                name: "store index",
                formula: format!(
                    "max_retained_messages {retained} x {BODY_INDEX_BYTES} B + {sessions} \
                     sessions x {per_session} B (persistence: what is on disk, and where)"
                ),
                bytes: retained
                    .saturating_mul(BODY_INDEX_BYTES as u64)
                    .saturating_add(sessions.saturating_mul(per_session)),
            });
        }
        MemoryCeiling { items }
    }

    /// The sum of the items (saturating).
    pub fn total(&self) -> u64 {
        self.items
            .iter()
            .fold(0u64, |sum, i| sum.saturating_add(i.bytes))
    }

    /// Why a ceiling above `limit` (`memory_limit`) is refused, naming its largest item
    /// and the keys that lower it; `None` within the limit.
    ///
    /// Mosquitto's `memory_limit` makes allocations fail at run time, and whatever was
    /// being done then fails with them (a client disconnected, a message dropped). Sol
    /// fixes its memory at start instead: its caps bound every allocation, so the limit
    /// is kept by refusing caps whose worst case exceeds it, before any client depends on
    /// the broker.
    pub fn limit_error(&self, limit: u64) -> Option<String> {
        let total = self.total();
        let largest = self.items.iter().max_by_key(|i| i.bytes)?;
        (total > limit).then(|| {
            format!(
                "memory_limit: the caps allow up to {} but memory_limit is {}; lower the \
                 largest items (`sol check` itemises them; the largest is {}, {}: {}), or \
                 raise memory_limit",
                size(total),
                size(limit),
                largest.name,
                size(largest.bytes),
                largest.formula
            )
        })
    }
}

impl fmt::Display for MemoryCeiling {
    /// A table: item, bytes (human-readable), formula; then the total.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name_width = self
            .items
            .iter()
            .map(|i| i.name.len())
            .max()
            .unwrap_or(0)
            .max(5);
        for item in &self.items {
            writeln!(
                f,
                "{:<name_width$}  {:>10}  {}",
                item.name,
                size(item.bytes),
                item.formula
            )?;
        }
        write!(f, "{:<name_width$}  {:>10}", "total", size(self.total()))
    }
}

/// Bytes in B, KiB, MiB, GiB or TiB with one decimal, rounded half to even (what `{:.1}`
/// prints for the exact quotient). In integers: nothing else in the binary formats a
/// float, and float formatting costs 8 KB on aarch64, 15 KB on mipsel.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes == u64::MAX {
        return "unbounded".to_string();
    }
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut unit = 0;
    while unit < UNITS.len() - 1 && bytes >> (10 * (unit + 2)) > 0 {
        unit += 1;
    }
    // bytes / 2^shift in tenths: the whole part times 10 plus the tenths digit of the
    // remainder, then rounded on what is left (below 2^shift).
    let shift = 10 * (unit + 1);
    let mask = (1u64 << shift) - 1;
    let rest = (bytes & mask) * 10;
    let mut tenths = (bytes >> shift) * 10 + (rest >> shift);
    let (left, half) = (rest & mask, 1u64 << (shift - 1));
    if left > half || (left == half && tenths % 2 == 1) {
        tenths += 1;
    }
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::{ListenerTls, TlsSettings};

    /// Reactor figures for these tests; `cli`, which sits above `net`, checks the ceiling
    /// with the real ones (`net::SLOT_SIZES`) against the documentation.
    const SLOTS: SlotSizes = SlotSizes {
        reactor_slot: 48,
        tls_connection: 40_000,
        ws_connection: 200,
    };

    #[test]
    fn a_ceiling_above_memory_limit_is_refused_naming_its_largest_items() {
        let config = Config::parse("max_connections 10\nmemory_limit 1M\n", "t").expect("ok");
        let ceiling = config.memory_ceiling(SLOTS);
        let error = ceiling.limit_error(1 << 20).expect("over the limit");
        assert!(
            error.starts_with(&format!(
                "memory_limit: the caps allow up to {} but memory_limit is 1.0 MiB; lower the \
                 largest items (`sol check` itemises them; the largest is subscriptions, ",
                size(ceiling.total())
            )),
            "{error}"
        );
        assert_eq!(config.memory_limit_error(SLOTS), Some(error));
        assert_eq!(ceiling.limit_error(ceiling.total()), None);
        let unlimited = Config::parse("memory_limit 0\n", "t").expect("ok");
        assert_eq!(unlimited.memory.memory_limit, usize::MAX);
        assert_eq!(unlimited.memory_limit_error(SLOTS), None);
    }

    #[test]
    fn sizes_are_human_readable() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1.0 KiB");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(8 << 20), "8.0 MiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
        assert_eq!(size(u64::MAX), "unbounded");
    }

    #[test]
    fn sizes_round_as_one_decimal_float_formatting_does() {
        let float = |bytes: u64| {
            let mut value = bytes as f64 / 1024.0;
            let mut unit = 0;
            while value >= 1024.0 && unit < 3 {
                value /= 1024.0;
                unit += 1;
            }
            format!("{value:.1} {}", ["KiB", "MiB", "GiB", "TiB"][unit])
        };
        let edges = (10..=50).flat_map(|shift: u32| {
            let p = 1u64 << shift;
            [
                p - 1,
                p,
                p + 1,
                p / 20 * 21,
                p + p / 20,
                p + p / 20 + 1,
                3 * p - 1,
            ]
        });
        let steps = (1024..200_000)
            .step_by(97)
            .chain((0..64).map(|i| 51 << (10 + i % 40)));
        let all = edges.chain(steps).chain([(1 << 53) - 1, 9 << 50]);
        for bytes in all.filter(|&b| b >= 1024) {
            assert_eq!(size(bytes), float(bytes), "{bytes}");
        }
        assert_eq!(size(1024 + 51), "1.0 KiB", "1.0498 rounds down");
        assert_eq!(size(1024 + 52), "1.1 KiB", "1.0508 rounds up");
        assert_eq!(size(1024 + 256), "1.2 KiB", "1.25: half to even");
        assert_eq!(size(1024 + 768), "1.8 KiB", "1.75: half to even");
        assert_eq!(size((1 << 20) - 1), "1024.0 KiB");
    }

    #[test]
    fn a_tls_listener_adds_tls_state_per_slot() {
        let mut config = Config::parse("max_connections 10\n", "t").expect("valid");
        assert!(!config
            .memory_ceiling(SLOTS)
            .items
            .iter()
            .any(|i| i.name == "TLS state"));
        let before = config.memory_ceiling(SLOTS).total();
        config.listeners[0].tls = Some(ListenerTls::without_files(TlsSettings::default()));
        let ceiling = config.memory_ceiling(SLOTS);
        let tls = ceiling
            .items
            .iter()
            .find(|i| i.name == "TLS state")
            .expect("TLS line");
        assert_eq!(tls.bytes, 10 * SLOTS.tls_connection as u64);
        assert_eq!(ceiling.total(), before + tls.bytes);
    }

    #[test]
    fn a_websocket_listener_adds_its_state_and_upgrade_request_per_slot() {
        let config = Config::parse(
            "max_connections 10
listener 9001
protocol websockets
",
            "t",
        )
        .expect("ok");
        let ceiling = config.memory_ceiling(SLOTS);
        let ws = ceiling
            .items
            .iter()
            .find(|i| i.name == "WebSocket state")
            .expect("WebSocket line");
        assert_eq!(ws.bytes, 10 * (200 + 4096));
    }

    #[test]
    fn bridge_outboxes_add_their_bytes_and_bookkeeping() {
        let bridge = |name: &str, outbox: &str| {
            format!("connection {name}\naddress h\ntopic {name}/#\n{outbox}")
        };
        let text =
            bridge("a", "bridge_outbox_messages 100\nbridge_outbox_bytes 1M\n") + &bridge("b", "");
        let config = Config::parse(&text, "t").expect("valid");
        let ceiling = config.memory_ceiling(SLOTS);
        let item = ceiling.items.iter().find(|i| i.name == "bridge outboxes");
        let item = item.expect("a bridge outboxes line");
        let defaults = crate::config::OutboxLimits::default();
        let messages = (100 + defaults.max_messages) as u64;
        let bytes = (1 << 20) + defaults.max_bytes as u64;
        assert_eq!(item.bytes, bytes + messages * ENTRY_OVERHEAD_ESTIMATE);
        assert!(item.formula.starts_with(&format!(
            "bridge_outbox_bytes {bytes} + bridge_outbox_messages {messages} x 64 B"
        )));
        let none = Config::parse("listener 1883\n", "t").expect("valid");
        let ceiling = none.memory_ceiling(SLOTS);
        assert!(!ceiling.items.iter().any(|i| i.name == "bridge outboxes"));
    }

    #[test]
    fn with_persistence_a_bridge_outbox_counts_its_window_not_its_byte_cap() {
        let text = "persistence true\nconnection a\naddress h\ntopic a/#\n\
                    bridge_outbox_messages 100000\nbridge_outbox_bytes 64M\n";
        let config = Config::parse(text, "t").expect("valid");
        let ceiling = config.memory_ceiling(SLOTS);
        let item = ceiling.items.iter().find(|i| i.name == "bridge outboxes");
        let item = item.expect("a bridge outboxes line");
        let held = (crate::broker::WINDOW_BYTES + crate::store::SPILL_BATCH) as u64;
        let per = 4 + crate::store::model::ENTRY_INDEX_BYTES as u64;
        assert_eq!(item.bytes, held + 100_000 * per);
        assert!(item.bytes < 64 << 20, "far below the byte cap on disk");
    }

    #[test]
    fn ceiling_grows_with_max_connections() {
        let small = Config::parse("max_connections 10\n", "t").expect("valid");
        let large = Config::parse("max_connections 1000\n", "t").expect("valid");
        assert!(large.memory_ceiling(SLOTS).total() > small.memory_ceiling(SLOTS).total());
        let slots = |c: &Config| c.memory_ceiling(SLOTS).items[0].bytes;
        assert_eq!(slots(&small), 10 * SLOTS.slot_state());
        assert_eq!(slots(&large), 1000 * SLOTS.slot_state());
        assert_eq!(SLOTS.slot_state(), (48 + CONNECTION_BYTES) as u64);
    }

    #[test]
    fn messages_are_bounded_by_max_queued_memory() {
        let config = Config::parse("max_queued_memory 1M\n", "t").expect("valid");
        let item = &config.memory_ceiling(SLOTS).items[5];
        assert_eq!(
            (item.name, item.bytes),
            ("queued and inflight messages", 1 << 20)
        );
    }

    #[test]
    fn check_retain_source_counts_each_retained_message_s_publisher() {
        let retained = |text: &str| {
            let config = Config::parse(text, "t").expect("valid");
            let ceiling = config.memory_ceiling(SLOTS);
            let item = ceiling.items.iter().find(|i| i.name == "retained messages");
            item.expect("a retained line").bytes
        };
        let base = "max_retained_messages 10\nmax_client_id_length 100\nmax_username_length 50\n";
        let more = retained(&format!("{base}check_retain_source true\n")) - retained(base);
        assert_eq!(more, 10 * (RETAIN_SOURCE_BYTES + 150));
    }

    #[test]
    fn defaults_give_the_documented_table() {
        let slots = SLOTS;
        let ceiling = Config::embedded_defaults().memory_ceiling(slots);
        let l = crate::broker::Limits::default();
        let sessions = (l.max_connections + l.max_offline_sessions) as u64;
        // Client ids and user names up to 256 bytes live on the heap; filters have up to
        // 16 levels.
        let session = SESSION_BYTES as u64 + 2 * (256 + 16);
        let subscription = 16 * NODE_BYTES as u64 + (256 + 16) + SUBSCRIPTION_BYTES as u64;
        let slot_state = slots.slot_state();
        // MQTT 5.0 client state: 4 topic aliases of up to 256 bytes each.
        let v5 = (EXTRA_BYTES + 4 * (ALIAS_BYTES + 256 + 16)) as u64;
        let expected = 1024 * slot_state
            + 1024 * OUTBOX_BYTES_MAX as u64
            + 1024 * v5
            + (4 << 20)
            + sessions * session
            + (8 << 20)
            + (12 << 20)
            + (4 << 20)
            + 5000 * (256 + 64)
            + 10_000 * subscription
            // stderr's log buffer and the batch its writer holds.
            + 2 * crate::log::SINK_BUFFER_BYTES as u64;
        assert!(expected < 56 << 20, "defaults fit a 64 MB router");
        assert_eq!(ceiling.total(), expected);
        let table = ceiling.to_string();
        let first = format!(
            "{:<28}  {:>10}  max_connections 1024 x {slot_state} B\n",
            "connection slots",
            size(1024 * slot_state)
        );
        assert!(table.starts_with(&first), "{table}");
        assert!(
            table.lines().last().is_some_and(|l| l.starts_with("total")),
            "{table}"
        );
        assert_eq!(table.lines().count(), 11);
    }
}
