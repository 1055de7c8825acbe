//! Loading a store file: every intact record replayed into the state it describes.
//!
//! Reading stops being trusting at the first record that is not intact:
//!
//! - a **torn tail** (the last record runs past the end of the file, or fails its CRC and
//!   nothing intact follows) is what a power cut during an append leaves: the file is cut
//!   back to the last intact record, which the store reports and does not treat as damage;
//! - a damaged record **followed by intact ones** (a flipped bit, a bad sector) is
//!   skipped: the loader looks for the next position where an intact record starts and
//!   goes on from there, counting what it dropped; the file is then **damaged**, and the
//!   store moves it aside (never deletes it) and writes a clean one from what it loaded.
//!
//! Replay is forgiving by design: a record that refers to something the file no longer
//! holds (a session lost with a damaged record, a body skipped) is dropped and counted,
//! never fatal. What a restored state may hold is then checked against the caps by the
//! broker ([`crate::broker::Broker::restore_session`]).

use super::disk::FileBytes;
use super::format::{self, HeaderError, Record, ENTRY_PUBREC, HEADER_LEN};
use crate::broker::RetainSource;
use crate::codec::QoS;
use std::collections::HashMap;

/// A message body found in the file: where its record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyAt {
    /// Offset of its record in the file.
    pub offset: u64,
    /// Size of its record on disk (with its [`Record::BodyExpiry`] right after it).
    pub size: u32,
    /// When it expires on the store's clock (MQTT 5.0), 0 for never.
    pub expires_ms: u64,
}

/// An entry of a session's message list, as loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadedEntry {
    /// Body id; 0 for a QoS 2 delivery past PUBREC.
    pub body: u64,
    /// Delivery QoS.
    pub qos: QoS,
    /// Record flags ([`format::ENTRY_RETAIN`], [`ENTRY_PUBREC`]).
    pub flags: u8,
    /// Packet id, 0 while queued.
    pub packet_id: u16,
}

/// A persistent session, as loaded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadedSession {
    /// Client id.
    pub client_id: String,
    /// User name of its last connection.
    pub username: Option<String>,
    /// Protocol level of its last connection.
    pub version: u8,
    /// Store clock when it went offline ([`format::ONLINE`]: it was connected when the
    /// file was last written, so Sol stopped or lost power under it).
    pub offline_at: u64,
    /// Its Session Expiry Interval ([`format::NEVER`] for a 3.1.1 session).
    pub expiry: u32,
    /// Subscriptions: filter and options byte.
    pub subscriptions: Vec<(String, u8)>,
    /// Subscription Identifiers of the subscriptions that have one: filter, identifier.
    pub subscription_ids: Vec<(String, u32)>,
    /// Messages by their number in the session ([`LoadedSession::in_order`] lists them
    /// in queue order).
    pub entries: HashMap<u32, LoadedEntry>,
    /// Inbound QoS 2 ids awaiting PUBREL.
    pub pubrel_ids: Vec<u16>,
}

impl LoadedSession {
    /// The messages in queue order (their numbers grow with the queue): in flight first,
    /// then queued.
    pub fn in_order(&self) -> Vec<&LoadedEntry> {
        let mut entries: Vec<(u32, &LoadedEntry)> =
            self.entries.iter().map(|(seq, e)| (*seq, e)).collect();
        entries.sort_unstable_by_key(|(seq, _)| *seq);
        entries.into_iter().map(|(_, e)| e).collect()
    }
}

/// What loading found, for the log and `$SYS`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Intact records read.
    pub records: u64,
    /// Bytes cut off a torn tail.
    pub torn_bytes: u64,
    /// Bytes of damaged records skipped before the tail.
    pub damaged_bytes: u64,
    /// Records that referred to something missing, dropped.
    pub dangling: u64,
    /// Records of kinds this version does not know, skipped.
    pub unknown: u64,
}

impl LoadReport {
    /// Whether the file had damage beyond a torn tail (it is then moved aside).
    pub fn damaged(&self) -> bool {
        self.damaged_bytes > 0
    }
}

/// The state a store file describes.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The file's bytes (message bodies are read from here when restored).
    pub bytes: FileBytes,
    /// Length of the intact prefix: where appending goes on.
    pub valid_len: u64,
    /// The store clock when the file was last written.
    pub clock_ms: u64,
    /// Bodies by id.
    pub bodies: HashMap<u64, BodyAt>,
    /// Retained messages: topic -> (body id, QoS, who published it if the record says).
    pub retained: HashMap<String, (u64, QoS, Option<RetainSource>)>,
    /// Sessions by key.
    pub sessions: HashMap<u32, LoadedSession>,
    /// What was found.
    pub report: LoadReport,
}

impl Loaded {
    /// The body with `id`: topic, properties and payload, borrowed from the file's bytes.
    pub fn body(&self, id: u64) -> Option<(&str, &[u8], &[u8])> {
        body_in(&self.bytes, &self.bodies, id)
    }
}

/// The body with `id` in `bytes`, located through `bodies` (whose records were checked
/// when they were first read).
fn body_in<'a>(
    bytes: &'a [u8],
    bodies: &HashMap<u64, BodyAt>,
    id: u64,
) -> Option<(&'a str, &'a [u8], &'a [u8])> {
    let at = bodies.get(&id)?;
    let start = usize::try_from(at.offset).ok()?;
    match format::reread_record(bytes.get(start..)?) {
        Ok(Record::Body {
            topic,
            properties,
            payload,
            ..
        }) => Some((topic, properties, payload)),
        _ => None,
    }
}

/// Loads a store file's bytes. `Err` only for a file of a newer format (whose records
/// this version must not guess at) or another program's file; a damaged header is
/// treated as damage, and every intact record after it is still read.
pub fn load(bytes: impl Into<FileBytes>) -> Result<Loaded, HeaderError> {
    let bytes = bytes.into();
    let mut state = Loaded::default();
    let mut report = LoadReport::default();
    let mut at = HEADER_LEN;
    match format::check_header(&bytes) {
        Ok(()) => {}
        Err(e @ (HeaderError::NewerVersion(_) | HeaderError::Foreign)) => return Err(e),
        Err(HeaderError::Truncated) => {
            // A file cut before its header was complete: nothing was ever in it.
            report.torn_bytes = bytes.len() as u64;
            state.bytes = bytes;
            state.valid_len = 0;
            state.report = report;
            return Ok(state);
        }
        Err(HeaderError::NotAStore) => report.damaged_bytes += HEADER_LEN as u64,
    }
    // Records of the batch being read, applied when its commit record is read.
    let mut batch: Vec<(Record<'_>, u64, usize)> = Vec::new();
    let mut valid_len = at;
    while at < bytes.len() {
        match format::read_record(&bytes[at..]) {
            Ok((record, size)) => {
                report.records += 1;
                let commit = matches!(record, Record::Commit { .. });
                batch.push((record, at as u64, size));
                at += size;
                if commit {
                    for (record, offset, size) in batch.drain(..) {
                        apply(&mut state, &mut report, &bytes, &record, offset, size);
                    }
                    valid_len = at;
                }
            }
            Err(_) => match resync(&bytes, at + 1) {
                Some(next) => {
                    // Intact records follow: this one is damage, not a torn tail.
                    report.damaged_bytes += (next - at) as u64;
                    at = next;
                }
                None => break,
            },
        }
    }
    // A batch without its commit record is a torn tail: it never took effect.
    report.records -= batch.len() as u64;
    report.torn_bytes = (bytes.len() - valid_len) as u64;
    state.valid_len = valid_len as u64;
    state.bytes = bytes;
    state.report = report;
    Ok(state)
}

/// The first position at or after `from` where an intact record of a known kind starts,
/// if any. Positions whose kind byte is not a known kind, or whose length runs past the
/// end, are passed over without computing a CRC, so a garbage region costs little.
fn resync(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len().saturating_sub(format::RECORD_OVERHEAD)).find(|&p| {
        format::plausible_record(&bytes[p..])
            && matches!(format::read_record(&bytes[p..]), Ok((r, _)) if !matches!(r, Record::Unknown { .. }))
    })
}

/// Replays one record.
fn apply(
    state: &mut Loaded,
    report: &mut LoadReport,
    bytes: &[u8],
    record: &Record<'_>,
    offset: u64,
    size: usize,
) {
    let mut dangling = false;
    match *record {
        Record::Commit { clock_ms } => state.clock_ms = state.clock_ms.max(clock_ms),
        Record::Body { id, .. } => {
            let size = u32::try_from(size).unwrap_or(u32::MAX);
            state.bodies.insert(
                id,
                BodyAt {
                    offset,
                    size,
                    expires_ms: 0,
                },
            );
        }
        Record::RetainSet { body, qos, source } => match body_in(bytes, &state.bodies, body) {
            Some((topic, _, _)) => {
                let topic = topic.to_owned();
                let source = source.map(|(id, user)| RetainSource {
                    client_id: id.into(),
                    username: user.map(Box::from),
                });
                state.retained.insert(topic, (body, qos, source));
            }
            None => dangling = true,
        },
        Record::RetainClear { topic } => {
            state.retained.remove(topic);
        }
        Record::Session {
            key,
            version,
            offline_at,
            client_id,
            username,
            expiry,
        } => {
            let s = state.sessions.entry(key).or_default();
            s.client_id = client_id.to_owned();
            s.username = username.map(str::to_owned);
            s.version = version;
            s.offline_at = offline_at;
            s.expiry = expiry;
        }
        Record::SubscriptionIds { key, raw } => match state.sessions.get_mut(&key) {
            Some(s) => {
                s.subscription_ids = Record::subscription_ids(raw)
                    .map(|(f, id)| (f.to_owned(), id))
                    .collect();
            }
            None => dangling = true,
        },
        Record::BodyExpiry { body, expires_ms } => match state.bodies.get_mut(&body) {
            Some(b) => {
                b.expires_ms = expires_ms;
                if b.offset + u64::from(b.size) == offset {
                    // Written right after its body: they are copied together.
                    b.size += u32::try_from(size).unwrap_or(0);
                }
            }
            None => dangling = true,
        },
        Record::SessionRemove { key } => {
            state.sessions.remove(&key);
        }
        Record::Subscriptions { key, raw } => match state.sessions.get_mut(&key) {
            Some(s) => {
                s.subscriptions = Record::subscriptions(raw)
                    .map(|(f, o)| (f.to_owned(), o))
                    .collect();
                // The identifiers follow in their own record, if any.
                s.subscription_ids.clear();
            }
            None => dangling = true,
        },
        Record::EntryAdd {
            key,
            seq,
            body,
            qos,
            flags,
            packet_id,
        } => {
            let body_known = body == 0 || state.bodies.contains_key(&body);
            match state.sessions.get_mut(&key) {
                Some(s) if body_known => {
                    s.entries.insert(
                        seq,
                        LoadedEntry {
                            body,
                            qos,
                            flags,
                            packet_id,
                        },
                    );
                }
                _ => dangling = true,
            }
        }
        Record::EntryDel { key, seq } => {
            if let Some(s) = state.sessions.get_mut(&key) {
                s.entries.remove(&seq);
            }
        }
        Record::EntrySet {
            key,
            seq,
            packet_id,
            flags,
        } => match state
            .sessions
            .get_mut(&key)
            .and_then(|s| s.entries.get_mut(&seq))
        {
            Some(e) => {
                e.packet_id = packet_id;
                e.flags = flags;
                if flags & ENTRY_PUBREC != 0 {
                    e.body = 0;
                }
            }
            None => dangling = true,
        },
        Record::PubrelIds { key, raw } => match state.sessions.get_mut(&key) {
            Some(s) => s.pubrel_ids = Record::pubrel_ids(raw).collect(),
            None => dangling = true,
        },
        Record::Unknown { .. } => report.unknown += 1,
    }
    if dangling {
        report.dangling += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use format::{Writer, ENTRY_RETAIN, ONLINE};

    fn file(records: &[Record<'_>]) -> Vec<u8> {
        let mut w = Writer::default();
        w.buf.extend_from_slice(&format::header());
        for r in records {
            w.record(r);
        }
        w.buf
    }

    fn sample() -> Vec<Record<'static>> {
        vec![
            Record::Commit { clock_ms: 5 },
            Record::Body {
                id: 1,
                topic: "home/t",
                properties: &[],
                payload: b"21.5",
            },
            Record::RetainSet {
                body: 1,
                qos: QoS::AtLeastOnce,
                source: None,
            },
            Record::Session {
                key: 1,
                version: 4,
                offline_at: ONLINE,
                client_id: "ha",
                username: None,
                expiry: format::NEVER,
            },
            Record::Subscriptions {
                key: 1,
                raw: &[1, 6, 0, b'h', b'o', b'm', b'e', b'/', b'#'],
            },
            Record::EntryAdd {
                key: 1,
                seq: 0,
                body: 1,
                qos: QoS::AtLeastOnce,
                flags: ENTRY_RETAIN,
                packet_id: 0,
            },
            Record::EntrySet {
                key: 1,
                seq: 0,
                packet_id: 7,
                flags: ENTRY_RETAIN,
            },
            Record::Commit { clock_ms: 9 },
        ]
    }

    #[test]
    fn replays_retained_messages_and_sessions() {
        let loaded = load(file(&sample())).expect("loads");
        assert_eq!(loaded.clock_ms, 9);
        assert_eq!(loaded.retained["home/t"], (1, QoS::AtLeastOnce, None));
        assert_eq!(loaded.body(1), Some(("home/t", &[][..], &b"21.5"[..])));
        let s = &loaded.sessions[&1];
        assert_eq!(s.client_id, "ha");
        assert_eq!(s.subscriptions, [("home/#".to_string(), 1)]);
        assert_eq!(s.entries[&0].packet_id, 7);
        assert_eq!(loaded.report.records, 8);
        assert!(!loaded.report.damaged());
        assert_eq!(loaded.valid_len as usize, loaded.bytes.len());
    }

    #[test]
    fn every_cut_keeps_the_intact_prefix_as_a_torn_tail() {
        let whole = file(&sample());
        let full = load(whole.clone()).expect("loads");
        for cut in HEADER_LEN..whole.len() {
            let loaded = load(whole[..cut].to_vec()).expect("loads");
            assert!(!loaded.report.damaged(), "cut {cut}: a tear is not damage");
            assert!(loaded.valid_len as usize <= cut);
            assert_eq!(
                loaded.report.torn_bytes as usize,
                cut - loaded.valid_len as usize
            );
            assert!(loaded.report.records <= full.report.records);
        }
    }

    #[test]
    fn a_batch_without_its_commit_never_took_effect() {
        let mut records = sample();
        records.push(Record::RetainClear { topic: "home/t" });
        let loaded = load(file(&records)).expect("loads");
        assert_eq!(
            loaded.retained.len(),
            1,
            "the uncommitted clear is a torn tail"
        );
        assert_eq!(
            loaded.report.torn_bytes as usize,
            loaded.bytes.len() - loaded.valid_len as usize
        );
        assert!(loaded.report.torn_bytes > 0 && !loaded.report.damaged());
    }

    #[test]
    fn a_damaged_record_is_skipped_and_the_rest_kept() {
        let mut bytes = file(&sample());
        // Damage the Subscriptions record (the fifth), keep the entries after it.
        let mut at = HEADER_LEN;
        for _ in 0..4 {
            at += format::read_record(&bytes[at..]).expect("intact").1;
        }
        bytes[at + 10] ^= 0xff;
        let loaded = load(bytes).expect("loads");
        assert!(loaded.report.damaged());
        assert_eq!(loaded.report.records, 7);
        let s = &loaded.sessions[&1];
        assert!(s.subscriptions.is_empty(), "the damaged record is gone");
        assert_eq!(s.entries.len(), 1, "the records after it are kept");
        assert_eq!(loaded.retained.len(), 1);
    }

    #[test]
    fn a_newer_format_is_refused_and_a_bad_header_is_damage() {
        let mut bytes = file(&sample());
        bytes[8] = 9;
        let crc = super::super::crc::crc32(&bytes[..12]);
        bytes[12..16].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(load(bytes).err(), Some(HeaderError::NewerVersion(9)));
        let mut bytes = file(&sample());
        bytes[0] = 0;
        let loaded = load(bytes).expect("loads what is intact");
        assert!(loaded.report.damaged());
        assert_eq!(loaded.retained.len(), 1);
    }

    #[test]
    fn records_about_missing_things_are_dropped_and_counted() {
        let loaded = load(file(&[
            Record::RetainSet {
                body: 42,
                qos: QoS::AtMostOnce,
                source: None,
            },
            Record::EntryAdd {
                key: 9,
                seq: 0,
                body: 0,
                qos: QoS::AtLeastOnce,
                flags: 0,
                packet_id: 0,
            },
            Record::Commit { clock_ms: 1 },
        ]))
        .expect("loads");
        assert_eq!(loaded.report.dangling, 2);
        assert!(loaded.retained.is_empty() && loaded.sessions.is_empty());
    }
}
