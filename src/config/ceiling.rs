//! The memory ceiling: the worst-case bytes the configured caps allow, itemised.
//!
//! It is an upper bound computed from the caps alone, for `sol check` and for sizing a
//! device, not a measurement. Where the real cost depends on code not written yet (the
//! size of a connection slot, of a subscription entry) it uses the documented estimates
//! below. Messages are shared between subscribers at run time, so real use is usually far
//! below the message line, which counts a message once per queue it is in.

use super::Config;
use std::fmt;

/// Estimated bytes of one connection slot (read state, small header buffer, deadlines,
/// session handle). An estimate until `net` settles its slot layout.
pub const SLOT_STATE_ESTIMATE: u64 = 512;

/// Estimated bytes of one session beyond its client id (queues' headers, inflight window
/// header, counters, timers).
pub const SESSION_STATE_ESTIMATE: u64 = 256;

/// Estimated bytes of bookkeeping per subscription or retained message beyond its topic
/// (tree node, options, links).
pub const ENTRY_OVERHEAD_ESTIMATE: u64 = 64;

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
    /// The ceiling of `config`.
    pub fn of(config: &Config) -> MemoryCeiling {
        let l = &config.limits;
        let n = |v: usize| v as u64;
        let connections = n(l.max_connections);
        let sessions = connections.saturating_add(n(l.max_offline_sessions));

        let subscriptions =
            n(l.max_subscriptions).min(n(l.max_subscriptions_per_client).saturating_mul(sessions));
        let topic_entry = n(l.max_topic_length) + ENTRY_OVERHEAD_ESTIMATE;

        let items = vec![
            CeilingItem {
                name: "connection slots",
                formula: format!("max_connections {connections} x {SLOT_STATE_ESTIMATE} B (estimate)"),
                bytes: connections.saturating_mul(SLOT_STATE_ESTIMATE),
            },
            CeilingItem {
                name: "buffer pool",
                formula: "max_buffer_memory".to_string(),
                bytes: n(config.memory.max_buffer_memory),
            },
            CeilingItem {
                name: "sessions",
                formula: format!(
                    "{sessions} sessions x ({SESSION_STATE_ESTIMATE} B + max_client_id_length {})",
                    l.max_client_id_length
                ),
                bytes: sessions.saturating_mul(SESSION_STATE_ESTIMATE + n(l.max_client_id_length)),
            },
            CeilingItem {
                name: "queued and inflight messages",
                formula: "max_queued_memory (all sessions together)".to_string(),
                bytes: n(l.max_queued_memory),
            },
            CeilingItem {
                name: "retained messages",
                formula: format!(
                    "max_retained_bytes + max_retained_messages {} x (max_topic_length + {ENTRY_OVERHEAD_ESTIMATE})",
                    l.max_retained_messages
                ),
                bytes: n(l.max_retained_bytes)
                    .saturating_add(n(l.max_retained_messages).saturating_mul(topic_entry)),
            },
            CeilingItem {
                name: "subscriptions",
                formula: format!("{subscriptions} x (max_topic_length {} + {ENTRY_OVERHEAD_ESTIMATE})", l.max_topic_length),
                bytes: subscriptions.saturating_mul(topic_entry),
            },
        ];
        MemoryCeiling { items }
    }

    /// The sum of the items (saturating).
    pub fn total(&self) -> u64 {
        self.items
            .iter()
            .fold(0u64, |sum, i| sum.saturating_add(i.bytes))
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

/// Bytes in B, KiB, MiB, GiB or TiB with one decimal.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes == u64::MAX {
        return "unbounded".to_string();
    }
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn ceiling_grows_with_max_connections() {
        let small = Config::parse("max_connections 10\n", "t").expect("valid");
        let large = Config::parse("max_connections 1000\n", "t").expect("valid");
        assert!(large.memory_ceiling().total() > small.memory_ceiling().total());
        let slots = |c: &Config| c.memory_ceiling().items[0].bytes;
        assert_eq!(slots(&small), 10 * SLOT_STATE_ESTIMATE);
        assert_eq!(slots(&large), 1000 * SLOT_STATE_ESTIMATE);
    }

    #[test]
    fn messages_are_bounded_by_max_queued_memory() {
        let config = Config::parse("max_queued_memory 1M\n", "t").expect("valid");
        let item = &config.memory_ceiling().items[3];
        assert_eq!(
            (item.name, item.bytes),
            ("queued and inflight messages", 1 << 20)
        );
    }

    #[test]
    fn defaults_give_the_documented_table() {
        let ceiling = Config::embedded_defaults().memory_ceiling();
        let l = crate::broker::Limits::default();
        let sessions = (l.max_connections + l.max_offline_sessions) as u64;
        let expected = 1024 * 512
            + (4 << 20)
            + sessions * (256 + 256)
            + (8 << 20)
            + (4 << 20)
            + 5000 * (256 + 64)
            + 10_000 * (256 + 64);
        assert!(
            expected < 24 << 20,
            "defaults fit a 64 MB router with room to spare"
        );
        assert_eq!(ceiling.total(), expected);
        let table = ceiling.to_string();
        assert!(
            table.starts_with(
                "connection slots               512.0 KiB  max_connections 1024 x 512 B (estimate)\n"
            ),
            "{table}"
        );
        assert!(
            table.lines().last().is_some_and(|l| l.starts_with("total")),
            "{table}"
        );
        assert_eq!(table.lines().count(), 7);
    }
}
