//! The store's file format: a header, then checksummed records, appended.
//!
//! ```text
//! file   = header record*
//! header = "SOLSTORE" version:u16 reserved:u16 crc:u32      (16 bytes; crc of the first 12)
//! record = len:u32 crc:u32 kind:u8 fields                   (little-endian; len = 1 + fields,
//!                                                            crc over len, kind and fields)
//! ```
//!
//! Every record is self-delimiting and checked: a torn write (a power cut in the middle
//! of an append) leaves a last record whose length runs past the end of the file or whose
//! CRC fails, and loading stops there. Records name objects by small numbers: a message
//! body by the id the store gave it (written once, however many queues share it), a
//! session by its key (the client id is written once, in its [`Record::Session`]).
//!
//! Versioning: the header's version is the format's; a reader refuses a newer major
//! version. Within a version, a record kind a reader does not know is skipped (its length
//! says how far), so later features (MQTT 5.0 expiry, a bridge's outbox) add kinds without
//! a format break; a field added to an existing kind goes at its end, and readers ignore
//! bytes after the fields they know.

use super::crc::Crc;
use crate::codec::QoS;

/// The header's first eight bytes.
pub const MAGIC: &[u8; 8] = b"SOLSTORE";
/// The format version this code writes and reads.
pub const VERSION: u16 = 1;
/// Bytes of the file header.
pub const HEADER_LEN: usize = 16;
/// Bytes of a record's length and CRC fields.
pub const RECORD_OVERHEAD: usize = 8;
/// Largest record accepted: a message body of the largest MQTT packet, with room.
pub const MAX_RECORD: usize = 268_435_455 + 1024;

/// A session's offline time stamp meaning "online".
pub const ONLINE: u64 = u64::MAX;

/// The file header of this format version.
pub fn header() -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..10].copy_from_slice(&VERSION.to_le_bytes());
    let crc = Crc::new().update(&h[..12]).finish();
    h[12..16].copy_from_slice(&crc.to_le_bytes());
    h
}

/// What is wrong with a file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Shorter than a header.
    Truncated,
    /// A damaged header (its records may still be intact).
    NotAStore,
    /// Not a Sol store at all: another program's file (a Mosquitto database, say).
    Foreign,
    /// Written by a newer Sol whose format this one does not read.
    NewerVersion(u16),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Truncated => f.write_str("shorter than the store header"),
            HeaderError::NotAStore => f.write_str("a damaged store header"),
            HeaderError::Foreign => f.write_str(
                "not a Sol store file (another program's file, a Mosquitto database say)",
            ),
            HeaderError::NewerVersion(v) => write!(
                f,
                "format version {v}, newer than this Sol's {VERSION}: written by a newer Sol"
            ),
        }
    }
}

/// Checks a file's header.
pub fn check_header(bytes: &[u8]) -> Result<(), HeaderError> {
    let h = bytes.get(..HEADER_LEN).ok_or(HeaderError::Truncated)?;
    let crc = u32::from_le_bytes([h[12], h[13], h[14], h[15]]);
    // Another program's file differs from the magic in most bytes; damage to a Sol file
    // (a flipped bit, a bad sector's few bytes) in at most two.
    let differing = h[..8].iter().zip(MAGIC).filter(|(a, b)| a != b).count();
    if differing > 2 {
        return Err(HeaderError::Foreign);
    }
    if differing > 0 || Crc::new().update(&h[..12]).finish() != crc {
        return Err(HeaderError::NotAStore);
    }
    match u16::from_le_bytes([h[8], h[9]]) {
        VERSION => Ok(()),
        v => Err(HeaderError::NewerVersion(v)),
    }
}

/// Record kinds. Numbers are part of the format: never reuse one.
mod kind {
    pub const COMMIT: u8 = 1;
    pub const BODY: u8 = 2;
    pub const RETAIN_SET: u8 = 3;
    pub const RETAIN_CLEAR: u8 = 4;
    pub const SESSION: u8 = 5;
    pub const SESSION_REMOVE: u8 = 6;
    pub const SUBSCRIPTIONS: u8 = 7;
    pub const ENTRY_ADD: u8 = 8;
    pub const ENTRY_DEL: u8 = 9;
    pub const ENTRY_SET: u8 = 10;
    pub const PUBREL_IDS: u8 = 11;
    pub const SUBSCRIPTION_IDS: u8 = 12;
    pub const BODY_EXPIRY: u8 = 13;
}

/// A session's Session Expiry Interval meaning "until `persistent_client_expiration`"
/// (every MQTT 3.1.1 session, and a session record written before MQTT 5.0).
pub const NEVER: u32 = u32::MAX;

/// An entry's flag: sent with its RETAIN flag set.
pub const ENTRY_RETAIN: u8 = 1;
/// An entry's flag: a QoS 2 delivery past PUBREC (only its PUBREL remains; no body).
pub const ENTRY_PUBREC: u8 = 2;

/// One record, borrowing its strings and bytes from the buffer it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// Ends a batch: the records since the previous `Commit` take effect together, or
    /// (cut off by a power cut before this record was whole) not at all. Carries the
    /// store's running clock, milliseconds Sol has run since the store was created, so a
    /// restart knows how long sessions have been offline.
    Commit {
        /// The store clock, in milliseconds.
        clock_ms: u64,
    },
    /// A message body: topic, MQTT 5.0 properties (empty for 3.x) and payload.
    Body {
        /// The store's id for it.
        id: u64,
        /// Topic name.
        topic: &'a str,
        /// Encoded properties.
        properties: &'a [u8],
        /// Payload.
        payload: &'a [u8],
    },
    /// Body `body` is its topic's retained message, at `qos`.
    RetainSet {
        /// The body (its topic is the retained topic).
        body: u64,
        /// Its QoS.
        qos: QoS,
        /// Who published it (client id, user name), kept under `check_retain_source`.
        /// Added at the end of the record: an older Sol ignores it, and a record it
        /// wrote has none.
        source: Option<(&'a str, Option<&'a str>)>,
    },
    /// The topic has no retained message any more.
    RetainClear {
        /// The topic.
        topic: &'a str,
    },
    /// A persistent session's identity and state (replaces an earlier record of `key`).
    Session {
        /// The store's key for the session.
        key: u32,
        /// Protocol level of its last connection.
        version: u8,
        /// Store clock when it went offline; [`ONLINE`] while connected.
        offline_at: u64,
        /// Client id.
        client_id: &'a str,
        /// User name of its last connection.
        username: Option<&'a str>,
        /// Its Session Expiry Interval in seconds ([`NEVER`] when absent: a record of an
        /// older Sol).
        expiry: u32,
    },
    /// The session ended.
    SessionRemove {
        /// The session's key.
        key: u32,
    },
    /// The session's subscriptions, all of them (replaces the earlier list).
    Subscriptions {
        /// The session's key.
        key: u32,
        /// Raw list: (options byte, length-prefixed filter), walked by
        /// [`Record::subscriptions`].
        raw: &'a [u8],
    },
    /// A message entered the session's list (queued, or in flight with `packet_id`).
    EntryAdd {
        /// The session's key.
        key: u32,
        /// The entry's number in the session, increasing in queue order.
        seq: u32,
        /// The body, 0 for an entry past PUBREC (none needed).
        body: u64,
        /// Delivery QoS.
        qos: QoS,
        /// [`ENTRY_RETAIN`], [`ENTRY_PUBREC`].
        flags: u8,
        /// Packet id it was sent with, 0 while queued.
        packet_id: u16,
    },
    /// The entry left the session (acknowledged, a QoS 0 message sent, dropped).
    EntryDel {
        /// The session's key.
        key: u32,
        /// The entry.
        seq: u32,
    },
    /// The entry was sent with `packet_id`, or (with [`ENTRY_PUBREC`]) got its PUBREC.
    EntrySet {
        /// The session's key.
        key: u32,
        /// The entry.
        seq: u32,
        /// Packet id.
        packet_id: u16,
        /// New flags.
        flags: u8,
    },
    /// The MQTT 5.0 Subscription Identifiers of the session's subscriptions that have
    /// one (replaces the earlier list; written after [`Record::Subscriptions`], which
    /// clears it, so a Sol that does not know this kind keeps the subscriptions).
    SubscriptionIds {
        /// The session's key.
        key: u32,
        /// Raw list: (identifier u32 BE, length-prefixed filter), walked by
        /// [`Record::subscription_ids`].
        raw: &'a [u8],
    },
    /// When body `body` expires (MQTT 5.0 Message Expiry Interval), on the store's clock;
    /// written right after the body.
    BodyExpiry {
        /// The body.
        body: u64,
        /// The store clock's millisecond at which it expires.
        expires_ms: u64,
    },
    /// Inbound QoS 2 packet ids awaiting PUBREL, all of them (replaces the earlier list).
    PubrelIds {
        /// The session's key.
        key: u32,
        /// Raw big-endian `u16`s.
        raw: &'a [u8],
    },
    /// A record of a kind this version does not know (from a newer Sol), skipped.
    Unknown {
        /// Its kind.
        kind: u8,
    },
}

impl Record<'_> {
    /// The subscriptions of a [`Record::Subscriptions`]: (filter, options byte).
    pub fn subscriptions(raw: &[u8]) -> impl Iterator<Item = (&str, u8)> {
        let mut r = Reader(raw);
        std::iter::from_fn(move || {
            let options = r.u8().ok()?;
            let filter = r.str16().ok()?;
            Some((filter, options))
        })
    }

    /// The identifiers of a [`Record::SubscriptionIds`]: (filter, identifier).
    pub fn subscription_ids(raw: &[u8]) -> impl Iterator<Item = (&str, u32)> {
        let mut r = Reader(raw);
        std::iter::from_fn(move || {
            let id = u32::from_be_bytes(r.take(4).ok()?.try_into().ok()?);
            let filter = r.str16().ok()?;
            Some((filter, id))
        })
    }

    /// The ids of a [`Record::PubrelIds`].
    pub fn pubrel_ids(raw: &[u8]) -> impl Iterator<Item = u16> + '_ {
        raw.chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
    }
}

/// Appends records to a byte buffer: each [`Writer`] method writes one whole record.
#[derive(Debug, Default)]
pub struct Writer {
    /// The encoded records.
    pub buf: Vec<u8>,
}

impl Writer {
    /// Starts a record of `kind`; returns where it starts.
    fn begin(&mut self, kind: u8) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; RECORD_OVERHEAD]);
        self.buf.push(kind);
        start
    }

    /// Finishes the record begun at `start`: fills in its length and CRC. Returns its
    /// size on disk.
    fn end(&mut self, start: usize) -> usize {
        let len = self.buf.len() - start - RECORD_OVERHEAD;
        let len32 = u32::try_from(len).expect("records are below MAX_RECORD");
        self.buf[start..start + 4].copy_from_slice(&len32.to_le_bytes());
        let crc = Crc::new()
            .update(&len32.to_le_bytes())
            .update(&self.buf[start + RECORD_OVERHEAD..])
            .finish();
        self.buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        self.buf.len() - start
    }

    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A string of at most 65,535 bytes (topics, client ids and filters are).
    fn str16(&mut self, s: &str) {
        let len = u16::try_from(s.len()).expect("MQTT strings are below 64 KiB");
        self.u16(len);
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// A presence byte, then `s` if there is one.
    fn opt_str16(&mut self, s: Option<&str>) {
        self.buf.push(u8::from(s.is_some()));
        if let Some(s) = s {
            self.str16(s);
        }
    }

    /// Writes `record`; returns its size on disk.
    pub fn record(&mut self, record: &Record<'_>) -> usize {
        match *record {
            Record::Commit { clock_ms } => {
                let at = self.begin(kind::COMMIT);
                self.u64(clock_ms);
                self.end(at)
            }
            Record::Body {
                id,
                topic,
                properties,
                payload,
            } => {
                let at = self.begin(kind::BODY);
                self.u64(id);
                self.str16(topic);
                self.u32(u32::try_from(properties.len()).expect("properties are below 4 GiB"));
                self.buf.extend_from_slice(properties);
                self.buf.extend_from_slice(payload);
                self.end(at)
            }
            Record::RetainSet { body, qos, source } => {
                let at = self.begin(kind::RETAIN_SET);
                self.u64(body);
                self.buf.push(qos as u8);
                if let Some((client_id, username)) = source {
                    self.str16(client_id);
                    self.opt_str16(username);
                }
                self.end(at)
            }
            Record::RetainClear { topic } => {
                let at = self.begin(kind::RETAIN_CLEAR);
                self.str16(topic);
                self.end(at)
            }
            Record::Session {
                key,
                version,
                offline_at,
                client_id,
                username,
                expiry,
            } => {
                let at = self.begin(kind::SESSION);
                self.u32(key);
                self.buf.push(version);
                self.u64(offline_at);
                self.str16(client_id);
                self.opt_str16(username);
                self.u32(expiry);
                self.end(at)
            }
            Record::SubscriptionIds { key, raw } => {
                let at = self.begin(kind::SUBSCRIPTION_IDS);
                self.u32(key);
                self.buf.extend_from_slice(raw);
                self.end(at)
            }
            Record::BodyExpiry { body, expires_ms } => {
                let at = self.begin(kind::BODY_EXPIRY);
                self.u64(body);
                self.u64(expires_ms);
                self.end(at)
            }
            Record::SessionRemove { key } => {
                let at = self.begin(kind::SESSION_REMOVE);
                self.u32(key);
                self.end(at)
            }
            Record::Subscriptions { key, raw } => {
                let at = self.begin(kind::SUBSCRIPTIONS);
                self.u32(key);
                self.buf.extend_from_slice(raw);
                self.end(at)
            }
            Record::EntryAdd {
                key,
                seq,
                body,
                qos,
                flags,
                packet_id,
            } => {
                let at = self.begin(kind::ENTRY_ADD);
                self.u32(key);
                self.u32(seq);
                self.u64(body);
                self.buf.push(qos as u8);
                self.buf.push(flags);
                self.u16(packet_id);
                self.end(at)
            }
            Record::EntryDel { key, seq } => {
                let at = self.begin(kind::ENTRY_DEL);
                self.u32(key);
                self.u32(seq);
                self.end(at)
            }
            Record::EntrySet {
                key,
                seq,
                packet_id,
                flags,
            } => {
                let at = self.begin(kind::ENTRY_SET);
                self.u32(key);
                self.u32(seq);
                self.u16(packet_id);
                self.buf.push(flags);
                self.end(at)
            }
            Record::PubrelIds { key, raw } => {
                let at = self.begin(kind::PUBREL_IDS);
                self.u32(key);
                self.buf.extend_from_slice(raw);
                self.end(at)
            }
            Record::Unknown { .. } => 0,
        }
    }
}

/// Encodes a subscription list for [`Record::Subscriptions`].
pub fn subscriptions_raw<'a>(subs: impl Iterator<Item = (&'a str, u8)>) -> Vec<u8> {
    let mut w = Writer::default();
    for (filter, options) in subs {
        w.buf.push(options);
        w.str16(filter);
    }
    w.buf
}

/// Encodes the subscription identifiers for [`Record::SubscriptionIds`].
pub fn subscription_ids_raw<'a>(ids: impl Iterator<Item = (&'a str, u32)>) -> Vec<u8> {
    let mut w = Writer::default();
    for (filter, id) in ids {
        w.buf.extend_from_slice(&id.to_be_bytes());
        w.str16(filter);
    }
    w.buf
}

/// Encodes packet ids for [`Record::PubrelIds`].
pub fn pubrel_raw(ids: impl Iterator<Item = u16>) -> Vec<u8> {
    ids.flat_map(u16::to_be_bytes).collect()
}

/// Why the bytes at some position are not a whole, intact record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// The record runs past the end of the bytes (a torn tail, or a damaged length).
    Incomplete,
    /// The length field is impossible (zero, or above [`MAX_RECORD`]).
    BadLength,
    /// The CRC does not match: a torn or damaged record.
    BadCrc,
    /// The CRC matches but the fields do not parse (a bug, or a deliberate forgery).
    BadFields,
}

/// Reads the record at the start of `bytes`: the record and its size on disk.
pub fn read_record(bytes: &[u8]) -> Result<(Record<'_>, usize), RecordError> {
    let head = bytes
        .get(..RECORD_OVERHEAD)
        .ok_or(RecordError::Incomplete)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if len == 0 || len > MAX_RECORD {
        return Err(RecordError::BadLength);
    }
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let body = bytes
        .get(RECORD_OVERHEAD..RECORD_OVERHEAD + len)
        .ok_or(RecordError::Incomplete)?;
    if Crc::new().update(&head[..4]).update(body).finish() != crc {
        return Err(RecordError::BadCrc);
    }
    let record = parse(body[0], Reader(&body[1..])).map_err(|()| RecordError::BadFields)?;
    Ok((record, RECORD_OVERHEAD + len))
}

/// [`read_record`] without checking the CRC, for a record [`read_record`] has already
/// accepted at this offset of the same bytes (the loader reads a message body again each
/// time a retained message or queue entry refers to it: checking it once is enough).
pub fn reread_record(bytes: &[u8]) -> Result<Record<'_>, RecordError> {
    let head = bytes
        .get(..RECORD_OVERHEAD)
        .ok_or(RecordError::Incomplete)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let body = bytes
        .get(RECORD_OVERHEAD..RECORD_OVERHEAD + len)
        .filter(|b| !b.is_empty())
        .ok_or(RecordError::Incomplete)?;
    parse(body[0], Reader(&body[1..])).map_err(|()| RecordError::BadFields)
}

/// Whether a record of a kind this version knows could start at `bytes[0]`: its length
/// field is possible and within `bytes` (a cheap filter before the CRC, for resyncing
/// after damage).
pub fn plausible_record(bytes: &[u8]) -> bool {
    let Some(head) = bytes.get(..=RECORD_OVERHEAD) else {
        return false;
    };
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    len != 0
        && len <= bytes.len() - RECORD_OVERHEAD
        && (kind::COMMIT..=kind::BODY_EXPIRY).contains(&head[RECORD_OVERHEAD])
}

/// A cursor over a record's fields.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ()> {
        if n > self.0.len() {
            return Err(());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, ()> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, ()> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, ()> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, ()> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn str16(&mut self) -> Result<&'a str, ()> {
        let len = usize::from(self.u16()?);
        std::str::from_utf8(self.take(len)?).map_err(|_| ())
    }

    /// A presence byte, then the string if it is not 0.
    fn opt_str16(&mut self) -> Result<Option<&'a str>, ()> {
        match self.u8()? {
            0 => Ok(None),
            _ => self.str16().map(Some),
        }
    }

    fn qos(&mut self) -> Result<QoS, ()> {
        QoS::from_bits(self.u8()?).ok_or(())
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

/// Parses the fields of a record of `kind`.
fn parse(kind: u8, mut r: Reader<'_>) -> Result<Record<'_>, ()> {
    Ok(match kind {
        kind::COMMIT => Record::Commit { clock_ms: r.u64()? },
        kind::BODY => {
            let id = r.u64()?;
            let topic = r.str16()?;
            let props_len = r.u32()? as usize;
            let properties = r.take(props_len)?;
            Record::Body {
                id,
                topic,
                properties,
                payload: r.rest(),
            }
        }
        kind::RETAIN_SET => Record::RetainSet {
            body: r.u64()?,
            qos: r.qos()?,
            source: if r.0.is_empty() {
                None
            } else {
                Some((r.str16()?, r.opt_str16()?))
            },
        },
        kind::RETAIN_CLEAR => Record::RetainClear { topic: r.str16()? },
        kind::SESSION => {
            let key = r.u32()?;
            let version = r.u8()?;
            let offline_at = r.u64()?;
            let client_id = r.str16()?;
            let username = r.opt_str16()?;
            // Added for MQTT 5.0 at the end: a record of an older Sol has none.
            let expiry = if r.0.is_empty() { NEVER } else { r.u32()? };
            Record::Session {
                key,
                version,
                offline_at,
                client_id,
                username,
                expiry,
            }
        }
        kind::SUBSCRIPTION_IDS => Record::SubscriptionIds {
            key: r.u32()?,
            raw: r.rest(),
        },
        kind::BODY_EXPIRY => Record::BodyExpiry {
            body: r.u64()?,
            expires_ms: r.u64()?,
        },
        kind::SESSION_REMOVE => Record::SessionRemove { key: r.u32()? },
        kind::SUBSCRIPTIONS => Record::Subscriptions {
            key: r.u32()?,
            raw: r.rest(),
        },
        kind::ENTRY_ADD => Record::EntryAdd {
            key: r.u32()?,
            seq: r.u32()?,
            body: r.u64()?,
            qos: r.qos()?,
            flags: r.u8()?,
            packet_id: r.u16()?,
        },
        kind::ENTRY_DEL => Record::EntryDel {
            key: r.u32()?,
            seq: r.u32()?,
        },
        kind::ENTRY_SET => Record::EntrySet {
            key: r.u32()?,
            seq: r.u32()?,
            packet_id: r.u16()?,
            flags: r.u8()?,
        },
        kind::PUBREL_IDS => Record::PubrelIds {
            key: r.u32()?,
            raw: r.rest(),
        },
        other => Record::Unknown { kind: other },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<Record<'static>> {
        vec![
            Record::Commit { clock_ms: 123_456 },
            Record::Body {
                id: 7,
                topic: "a/b",
                properties: &[1, 2],
                payload: b"hello",
            },
            Record::RetainSet {
                body: 7,
                qos: QoS::AtLeastOnce,
                source: None,
            },
            Record::RetainSet {
                body: 8,
                qos: QoS::AtMostOnce,
                source: Some(("sensor", Some("u"))),
            },
            Record::RetainSet {
                body: 9,
                qos: QoS::AtMostOnce,
                source: Some(("anonymous", None)),
            },
            Record::RetainClear { topic: "a/b" },
            Record::Session {
                key: 3,
                version: 4,
                offline_at: ONLINE,
                client_id: "c",
                username: Some("u"),
                expiry: NEVER,
            },
            Record::Session {
                key: 4,
                version: 3,
                offline_at: 99,
                client_id: "d",
                username: None,
                expiry: 30,
            },
            Record::SubscriptionIds {
                key: 4,
                raw: &[0, 0, 0, 7, 0, 1, b'#'],
            },
            Record::BodyExpiry {
                body: 7,
                expires_ms: 12_345,
            },
            Record::SessionRemove { key: 3 },
            Record::Subscriptions {
                key: 3,
                raw: &[1, 0, 1, b'#'],
            },
            Record::EntryAdd {
                key: 3,
                seq: 9,
                body: 7,
                qos: QoS::ExactlyOnce,
                flags: ENTRY_RETAIN,
                packet_id: 0,
            },
            Record::EntryDel { key: 3, seq: 9 },
            Record::EntrySet {
                key: 3,
                seq: 9,
                packet_id: 12,
                flags: ENTRY_PUBREC,
            },
            Record::PubrelIds {
                key: 3,
                raw: &[0, 1, 0, 2],
            },
        ]
    }

    #[test]
    fn every_record_kind_round_trips() {
        let mut w = Writer::default();
        let sizes: Vec<usize> = every_kind().iter().map(|r| w.record(r)).collect();
        let mut at = 0;
        for (expected, size) in every_kind().into_iter().zip(sizes) {
            let (record, len) = read_record(&w.buf[at..]).expect("intact");
            assert_eq!((record, len), (expected, size));
            at += len;
        }
        assert_eq!(at, w.buf.len());
    }

    #[test]
    fn a_torn_or_flipped_record_is_detected() {
        let mut w = Writer::default();
        w.record(&Record::Body {
            id: 1,
            topic: "t",
            properties: &[],
            payload: &[9; 100],
        });
        for cut in 0..w.buf.len() {
            assert!(read_record(&w.buf[..cut]).is_err(), "cut at {cut}");
        }
        for byte in 0..w.buf.len() {
            for bit in 0..8 {
                let mut b = w.buf.clone();
                b[byte] ^= 1 << bit;
                assert!(read_record(&b).is_err(), "flip {byte}.{bit}");
            }
        }
    }

    #[test]
    fn unknown_kinds_are_skipped_by_length() {
        let mut w = Writer::default();
        let at = w.begin(200);
        w.u32(5);
        let size = w.end(at);
        assert_eq!(
            read_record(&w.buf),
            Ok((Record::Unknown { kind: 200 }, size))
        );
    }

    #[test]
    fn headers_are_checked() {
        assert_eq!(check_header(&header()), Ok(()));
        assert_eq!(check_header(&header()[..10]), Err(HeaderError::Truncated));
        let mut h = header();
        h[0] = b'X';
        assert_eq!(check_header(&h), Err(HeaderError::NotAStore));
        let mut newer = header();
        newer[8] = 2;
        let crc = Crc::new().update(&newer[..12]).finish();
        newer[12..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(check_header(&newer), Err(HeaderError::NewerVersion(2)));
    }

    #[test]
    fn subscription_and_pubrel_lists_round_trip() {
        let raw = subscriptions_raw([("a/#", 1u8), ("b", 2u8)].into_iter());
        let subs: Vec<(&str, u8)> = Record::subscriptions(&raw).collect();
        assert_eq!(subs, [("a/#", 1), ("b", 2)]);
        let ids = pubrel_raw([1u16, 0xbeef].into_iter());
        assert_eq!(Record::pubrel_ids(&ids).collect::<Vec<_>>(), [1, 0xbeef]);
    }
}
