//! The disk the caps allow the store to use, for `sol check` and `docs/persistence.md`:
//! an upper bound computed from the caps and the record sizes of [`super::format`], not a
//! measurement (a real file holds what is live, written once).

use crate::broker::Limits;

/// Bytes a message body's record adds to the message's own size (`Message::size`: topic
/// field, properties, payload): length, CRC, kind, id and the properties' length, and
/// the record of its expiry (MQTT 5.0) when it has one.
pub const BODY_RECORD_OVERHEAD: u64 = 8 + 1 + 8 + 4 + BODY_EXPIRY_RECORD;
/// Bytes of the record of a message body's expiry.
const BODY_EXPIRY_RECORD: u64 = 8 + 1 + 8 + 8;
/// Bytes of the record that makes a body its topic's retained message.
pub const RETAIN_RECORD: u64 = 8 + 1 + 8 + 1;
/// Bytes of the record of one queued or in-flight message of a session.
pub const ENTRY_RECORD: u64 = 8 + 1 + 4 + 4 + 8 + 1 + 1 + 2;
/// Bytes of a session's own record, beyond its client id and user name.
pub const SESSION_RECORD: u64 = 8 + 1 + 4 + 1 + 8 + 2 + 1 + 2 + 4;
/// Bytes of a subscription in a session's subscription record beyond its filter, and in
/// the record of Subscription Identifiers (MQTT 5.0), which names the filter again.
pub const SUBSCRIPTION_RECORD: u64 = 1 + 2 + 4 + 2;
/// Smallest message the queues count (a one-byte topic, no payload): bounds how many
/// entries `max_queued_memory` can hold.
const SMALLEST_MESSAGE: u64 = 3;
/// A file shorter than this is not compacted (`StoreSettings::compact_min`). Each
/// compaction rewrites the whole live state, so for a small state that changes often (a
/// few hundred KB of retained messages, saved every second) the floor decides how much of
/// the bytes written are rewrites: at 1 MiB about a third on the home-gateway benchmark,
/// at 4 MiB under a tenth (docs/performance.md, "Persistence"), for at most 4 MiB of
/// dead records on disk.
pub const COMPACT_MIN: u64 = 4 << 20;
/// The smallest compaction floor [`compact_floor`] picks.
pub const COMPACT_MIN_SMALL_DISK: u64 = 256 << 10;

/// The compaction floor for a store whose file system had `free` bytes available when it
/// opened: [`COMPACT_MIN`], but at most an eighth of the free space (not below
/// [`COMPACT_MIN_SMALL_DISK`]), so that on a small flash partition (an OpenWrt overlay
/// of a few megabytes) dead records never take much of the room left. Fewer bytes of
/// dead records allowed means more frequent rewrites, which a small store on a small
/// partition can afford.
pub fn compact_floor(free: Option<u64>) -> u64 {
    free.map_or(COMPACT_MIN, |f| {
        (f / 8).clamp(COMPACT_MIN_SMALL_DISK, COMPACT_MIN)
    })
}

/// The store's disk use in the worst case the caps allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskBudget {
    /// Bytes of every record of a state with every cap full.
    pub max_live: u64,
    /// Largest the file gets: compaction keeps at most half of it dead (files under
    /// [`COMPACT_MIN`] are left to grow that far first).
    pub max_file: u64,
    /// Most bytes written in an hour at `autosave_interval` seconds (every item of a full
    /// state changed in every interval, and the compactions that causes); `None` when saves
    /// are not timed (on changes, or only at a stop).
    pub max_per_hour: Option<u64>,
}

impl DiskBudget {
    /// The budget of `limits` with saves every `autosave_interval` seconds (or, with
    /// `on_changes`, after that many changes).
    pub fn of(limits: &Limits, autosave_interval: u64, on_changes: bool) -> DiskBudget {
        let n = |v: usize| v as u64;
        let sessions = n(sessions(limits));
        // Under check_retain_source a retained record ends with its publisher's client id
        // and user name (two length prefixes and a presence byte).
        let source = if limits.check_retain_source {
            2 + n(limits.max_client_id_length) + 1 + 2 + n(limits.max_username_length)
        } else {
            0
        };
        let retained = n(limits.max_retained_bytes).saturating_add(
            n(limits.max_retained_messages)
                .saturating_mul(BODY_RECORD_OVERHEAD + RETAIN_RECORD + source),
        );
        let per_session_entries =
            n(limits.max_queued_messages).saturating_add(n(limits.max_inflight_messages));
        let entries = sessions
            .saturating_mul(per_session_entries)
            .min(n(limits.max_queued_memory) / SMALLEST_MESSAGE);
        // Message bodies are written once however many queues hold them: at most the
        // queued memory, plus each body's record overhead.
        let queued = n(limits.max_queued_memory)
            .saturating_add(entries.saturating_mul(ENTRY_RECORD + BODY_RECORD_OVERHEAD));
        let session_bytes = sessions.saturating_mul(
            SESSION_RECORD
                + n(limits.max_client_id_length)
                + n(limits.max_username_length)
                + 3 * (8 + 1 + 4),
        );
        let subscriptions = n(limits.max_subscriptions)
            .saturating_mul(SUBSCRIPTION_RECORD + 2 * n(limits.max_topic_length));
        let max_live = retained
            .saturating_add(queued)
            .saturating_add(session_bytes)
            .saturating_add(subscriptions);
        let max_file = max_live
            .saturating_mul(2)
            .max(COMPACT_MIN.saturating_add(max_live));
        let max_per_hour = (!on_changes && autosave_interval > 0).then(|| {
            // A save writes each changed item once; compaction rewrites the live state at
            // most once per doubling of the file: at most twice the state per save.
            max_live
                .saturating_mul(2)
                .saturating_mul(3600 / autosave_interval.min(3600))
        });
        DiskBudget {
            max_live,
            max_file,
            max_per_hour,
        }
    }
}

/// Sessions the caps allow: connected ones and offline persistent ones.
fn sessions(limits: &Limits) -> usize {
    limits
        .max_connections
        .saturating_add(limits.max_offline_sessions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::Message;
    use crate::store::format::{Record, Writer};

    /// The constants are the sizes the writer really produces.
    #[test]
    fn record_sizes_match_the_format() {
        let m = Message::with_properties("a/b", &[], b"payload");
        let mut w = Writer::default();
        let body = w.record(&Record::Body {
            id: 1,
            topic: "a/b",
            properties: &[],
            payload: b"payload",
        }) as u64;
        let expiry = w.record(&Record::BodyExpiry {
            body: 1,
            expires_ms: 9,
        }) as u64;
        assert_eq!(expiry, BODY_EXPIRY_RECORD);
        assert_eq!(body + expiry, BODY_RECORD_OVERHEAD + m.size() as u64);
        let retain = w.record(&Record::RetainSet {
            body: 1,
            qos: crate::codec::QoS::AtLeastOnce,
            source: None,
        }) as u64;
        assert_eq!(retain, RETAIN_RECORD);
        let with_source = w.record(&Record::RetainSet {
            body: 1,
            qos: crate::codec::QoS::AtLeastOnce,
            source: Some(("id", Some("user"))),
        }) as u64;
        assert_eq!(with_source, RETAIN_RECORD + 2 + 2 + 1 + 2 + 4);
        let entry = w.record(&Record::EntryAdd {
            key: 1,
            seq: 2,
            body: 1,
            qos: crate::codec::QoS::AtLeastOnce,
            flags: 0,
            packet_id: 3,
        }) as u64;
        assert_eq!(entry, ENTRY_RECORD);
        let session = w.record(&Record::Session {
            key: 1,
            version: 4,
            offline_at: 0,
            client_id: "id",
            username: Some("user"),
            expiry: 60,
        }) as u64;
        assert_eq!(session, SESSION_RECORD + 2 + 4);
    }

    #[test]
    fn the_compaction_floor_leaves_a_small_disk_room() {
        assert_eq!(compact_floor(None), COMPACT_MIN);
        assert_eq!(compact_floor(Some(64 << 30)), COMPACT_MIN, "an SD card");
        assert_eq!(
            compact_floor(Some(6 << 20)),
            768 << 10,
            "6 MB free on a router"
        );
        assert_eq!(compact_floor(Some(100 << 10)), COMPACT_MIN_SMALL_DISK);
    }

    #[test]
    fn the_bound_follows_the_caps() {
        let limits = Limits {
            max_connections: 10,
            max_offline_sessions: 10,
            max_queued_messages: 100,
            max_inflight_messages: 20,
            max_queued_memory: 8 << 20,
            max_retained_messages: 1000,
            max_retained_bytes: 100_000,
            max_subscriptions: 50,
            max_topic_length: 64,
            max_client_id_length: 23,
            max_username_length: 10,
            ..Limits::default()
        };
        let b = DiskBudget::of(&limits, 300, false);
        let retained = 100_000 + 1000 * (BODY_RECORD_OVERHEAD + RETAIN_RECORD);
        let queued = (8 << 20) + 20 * 120 * (ENTRY_RECORD + BODY_RECORD_OVERHEAD);
        let sessions = 20 * (SESSION_RECORD + 23 + 10 + 39);
        let subscriptions = 50 * (SUBSCRIPTION_RECORD + 2 * 64);
        assert_eq!(b.max_live, retained + queued + sessions + subscriptions);
        assert_eq!(b.max_file, 2 * b.max_live);
        // Each retained record may end with its publisher's id (23) and user name (10).
        let sourced = Limits {
            check_retain_source: true,
            ..limits.clone()
        };
        let more = DiskBudget::of(&sourced, 300, false).max_live - b.max_live;
        assert_eq!(more, 1000 * (2 + 23 + 1 + 2 + 10));
        let tiny = DiskBudget::of(
            &Limits {
                max_queued_memory: 1000,
                ..limits.clone()
            },
            300,
            false,
        );
        assert_eq!(
            tiny.max_file,
            COMPACT_MIN + tiny.max_live,
            "files under COMPACT_MIN are not compacted"
        );
        assert_eq!(b.max_per_hour, Some(b.max_live * 2 * 12));
        assert_eq!(DiskBudget::of(&limits, 0, false).max_per_hour, None);
        assert_eq!(DiskBudget::of(&limits, 100, true).max_per_hour, None);
        let big = DiskBudget::of(&Limits::default(), 300, false);
        assert_eq!(big.max_file, 2 * big.max_live);
    }
}
