//! The store's picture of what is on disk, kept on the reactor thread, and the batches
//! that bring the disk up to date with the core.
//!
//! The core's session table and retained store name every change as a
//! [`Durable`] record. The model does not write those events as they come: it keeps, per
//! object, what changed since the last save, and a save ([`Model::flush`]) writes the net
//! difference. A message queued, sent and acknowledged between two saves is never
//! written; a retained topic updated a hundred times is written once. This is what keeps
//! the write volume of a busy gateway small.
//!
//! What the model tracks:
//!
//! - **bodies**: each message body on disk, by the address of the core's shared copy
//!   ([`Message::addr`]; the model holds a clone, so the address stays unique), with its
//!   store id, where its record is and how many on-disk records refer to it. A body is
//!   written once, before the first record that refers to it, however many sessions
//!   queue it;
//! - **sessions**: per persistent session, its key, a mirror of its message list (in
//!   flight, then queued) with each entry's number and whether it is on disk, and which
//!   of its facts (identity, subscriptions, inbound QoS 2 ids) must be rewritten;
//! - **retained**: per topic changed since the last save, what it held on disk and what
//!   it holds now;
//! - the file's length and how many of its bytes are dead (superseded records), which
//!   decides when to compact ([`Model::compaction`]).
//!
//! Everything it writes comes from the core's state at save time (the facts of a session
//! are read from the [`Broker`]), so the model never holds a second copy of them.

use super::format::{self, Record, Writer, ENTRY_PUBREC, ENTRY_RETAIN, HEADER_LEN, ONLINE};
use crate::broker::{Broker, Durable, Message, Retained, SessionFacts, StoredEntry};
use crate::codec::QoS;
use std::collections::{HashMap, VecDeque};

/// A message body the model knows.
#[derive(Debug)]
struct BodyInfo {
    /// The store's id for it.
    id: u64,
    /// The core's shared copy, held only so that [`Message::addr`] stays unique while the
    /// entry lives (an address freed and reused would pass for this body).
    _alive: Message,
    /// On-disk records that refer to it (entries, a retained set).
    refs: u32,
    /// Where its record is; `None` until written.
    at: Option<(u64, u32)>,
    /// Bytes of the record that made it its topic's retained message (dead once the
    /// topic changes).
    retain_bytes: u32,
}

/// Bytes the model holds per message body on disk (its map entry), for the memory ceiling.
pub const BODY_INDEX_BYTES: usize =
    std::mem::size_of::<usize>() + std::mem::size_of::<BodyInfo>() + 1;
/// Bytes the model holds per queued or in-flight message of a session, for the ceiling.
pub const ENTRY_INDEX_BYTES: usize = std::mem::size_of::<EntryView>();
/// Bytes the model holds per persistent session beyond its client id, for the ceiling.
pub const SESSION_INDEX_BYTES: usize =
    std::mem::size_of::<Box<str>>() + std::mem::size_of::<SessionView>() + 1;

/// One entry of a session's message list, as the model mirrors it.
#[derive(Debug)]
struct EntryView {
    /// Its number in the session.
    seq: u32,
    /// The message; `None` past PUBREC.
    message: Option<Message>,
    /// Delivery QoS.
    qos: QoS,
    /// RETAIN flag.
    retain: bool,
    /// Packet id, 0 while queued.
    packet_id: u16,
    /// Past PUBREC.
    pubrec: bool,
    /// An `EntryAdd` for it is on disk.
    written: bool,
    /// Its packet id or PUBREC state changed since it was written.
    changed: bool,
    /// Bytes of its records on disk (dead once it leaves).
    bytes: u32,
    /// A body of its own (a bridge outbox's message spilled to disk): its id, and where
    /// its record is once written. Such a body is written for this entry alone, so the
    /// model can let go of the message once it is on disk.
    own: Option<OwnBody>,
}

/// A body an entry has to itself; see [`EntryView::own`].
#[derive(Clone, Copy, Debug)]
struct OwnBody {
    /// The store's id for it.
    id: u64,
    /// Offset and size of its records; `None` until written.
    at: Option<(u64, u32)>,
}

impl EntryView {
    fn flags(&self) -> u8 {
        (if self.retain { ENTRY_RETAIN } else { 0 }) | (if self.pubrec { ENTRY_PUBREC } else { 0 })
    }
}

/// A persistent session, as the model mirrors it.
#[derive(Debug)]
struct SessionView {
    /// The store's key for it.
    key: u32,
    /// A `Session` record of it is on disk.
    written: bool,
    /// Listed in `dirty`.
    dirty: bool,
    /// Its identity or online state must be rewritten.
    meta: bool,
    /// Its subscriptions must be rewritten.
    subs: bool,
    /// Its inbound QoS 2 ids must be rewritten.
    pubrel: bool,
    /// Store clock when it went offline; [`ONLINE`] while connected.
    offline_at: u64,
    /// Bytes of its current `Session`, `Subscriptions` and `PubrelIds` records.
    meta_bytes: u32,
    /// See `meta_bytes`.
    subs_bytes: u32,
    /// See `meta_bytes`.
    pubrel_bytes: u32,
    /// Its messages: in flight (packet id set) first, then queued.
    entries: VecDeque<EntryView>,
    /// A bridge outbox's messages on disk only, oldest first (after `taken`).
    spilled: VecDeque<EntryView>,
    /// Those asked back by the core and not arrived yet (after `entries`).
    taken: VecDeque<EntryView>,
    /// Some of `spilled` or `taken` are written and still hold their message.
    unchilled: bool,
    /// Entries on disk that left since the last save.
    deleted: Vec<u32>,
    /// Next entry number.
    next_seq: u32,
}

/// Where the in-flight entry with `packet_id` is (in-flight entries come first).
fn inflight(entries: &VecDeque<EntryView>, packet_id: u16) -> Option<usize> {
    entries
        .iter()
        .take_while(|e| e.packet_id != 0)
        .position(|e| e.packet_id == packet_id)
}

impl SessionView {
    fn new(key: u32) -> SessionView {
        SessionView {
            key,
            written: false,
            dirty: false,
            meta: true,
            subs: true,
            pubrel: true,
            offline_at: ONLINE,
            meta_bytes: 0,
            subs_bytes: 0,
            pubrel_bytes: 0,
            entries: VecDeque::new(),
            spilled: VecDeque::new(),
            taken: VecDeque::new(),
            unchilled: false,
            deleted: Vec::new(),
            next_seq: 0,
        }
    }

    /// A new entry numbered next.
    fn entry(
        &mut self,
        message: Message,
        qos: QoS,
        retain: bool,
        own: Option<OwnBody>,
    ) -> EntryView {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        EntryView {
            seq,
            message: Some(message),
            qos,
            retain,
            packet_id: 0,
            pubrec: false,
            written: false,
            changed: false,
            bytes: 0,
            own,
        }
    }

    /// Number of entries in flight (they come first).
    fn inflight(&self) -> usize {
        self.entries.iter().take_while(|e| e.packet_id != 0).count()
    }
}

/// The fields of a retained message's source in its [`Record::RetainSet`].
fn source_fields(s: &crate::broker::RetainSource) -> (&str, Option<&str>) {
    (&s.client_id, s.username.as_deref())
}

/// A retained topic's change since the last save.
#[derive(Debug)]
struct PendingRetained {
    /// What the topic held on disk before (its body may be dropped after the save).
    before: Option<Message>,
    /// What it holds now: message, QoS and publisher, or nothing.
    after: Option<Retained>,
}

/// A piece of a compacted file: bytes to write, or a range of an earlier file to copy.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// Bytes encoded on the reactor thread.
    Bytes(Vec<u8>),
    /// `len` bytes at `offset` of the file being replaced (a message body written before).
    Copy {
        /// Offset in the source file.
        offset: u64,
        /// Length.
        len: u64,
    },
}

/// A compacted file, as the writer thread is to write it.
#[derive(Debug, Default)]
pub struct Plan {
    /// Its pieces, in order.
    pub pieces: Vec<Piece>,
    /// Its length.
    pub len: u64,
}

/// What a save ([`Model::save`]) gives the writer.
#[derive(Debug)]
pub enum Save {
    /// Records to append at offset `at`.
    Append {
        /// The batch.
        bytes: Vec<u8>,
        /// The file's length before it.
        at: u64,
    },
    /// A compacted file to replace the store file.
    Rewrite(Plan),
}

/// Counts of what a save or a compaction wrote, for `$SYS` and the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelStats {
    /// Message bodies on disk.
    pub bodies: usize,
    /// Persistent sessions known.
    pub sessions: usize,
    /// Changes since the last save.
    pub pending: u64,
}

/// A bridge outbox's request for its oldest messages on disk only
/// ([`Durable::RefillWanted`]), as the model prepared it for the store.
#[derive(Debug)]
pub struct Request {
    /// The outbox session's client id.
    pub client_id: Box<str>,
    /// The messages in order.
    pub entries: Vec<Asked>,
}

/// One message of a [`Request`]: QoS, RETAIN flag, and the message if the model still
/// holds it, else where its body's records are (offset, length).
pub type Asked = (QoS, bool, Result<Message, (u64, u32)>);

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Model {
    /// Requests of bridge outboxes not handed to the store yet.
    requests: Vec<Request>,
    /// Message bytes spilled and not written yet (held until the next save).
    spill_unsaved: usize,
    /// Sessions whose spilled entries may hold messages already written.
    unchilled: Vec<Box<str>>,
    /// Bodies by [`Message::addr`].
    bodies: HashMap<usize, BodyInfo>,
    /// Next body id (0 means "none" in records).
    next_body: u64,
    /// Sessions by client id.
    sessions: HashMap<Box<str>, SessionView>,
    /// Next session key.
    next_key: u32,
    /// Sessions changed since the last save.
    dirty: Vec<Box<str>>,
    /// Keys of sessions removed since the last save that are on disk.
    removed: Vec<u32>,
    /// Retained topics changed since the last save.
    retained: HashMap<Box<str>, PendingRetained>,
    /// Length of the file, counting every batch handed to the writer.
    file_len: u64,
    /// Bytes of the file that hold superseded records.
    dead: u64,
    /// Changes since the last save.
    changes: u64,
    /// The store clock of the save or compaction being written (message expiries are
    /// written on it).
    now_ms: u64,
}

impl Model {
    /// A model of an empty store file (a header only).
    pub fn new() -> Model {
        Model {
            next_body: 1,
            file_len: HEADER_LEN as u64,
            ..Model::default()
        }
    }

    /// Changes recorded since the last save.
    pub fn pending(&self) -> u64 {
        self.changes
    }

    /// Length of the file once every batch so far is written.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Bytes of the file that a compaction would drop.
    pub fn dead(&self) -> u64 {
        self.dead
    }

    /// Counts for `$SYS`.
    pub fn stats(&self) -> ModelStats {
        ModelStats {
            bodies: self.bodies.len(),
            sessions: self.sessions.len(),
            pending: self.changes,
        }
    }

    /// Takes in one change of the core.
    pub fn record(&mut self, change: Durable, clock_ms: u64) {
        self.changes += 1;
        match change {
            Durable::SessionCreated { client_id, .. } => {
                let key = self.next_key;
                self.next_key = self.next_key.wrapping_add(1);
                // A client id that had a session on disk under another key (removed in
                // this batch) gets a new key: the removal is written first.
                self.sessions
                    .insert(client_id.as_str().into(), SessionView::new(key));
                if let Some(s) = self.touch(&client_id) {
                    s.meta = true;
                }
            }
            Durable::SessionAttached { client_id, .. } => {
                if let Some(s) = self.touch(&client_id) {
                    s.offline_at = ONLINE;
                    s.meta = true;
                }
            }
            Durable::SessionDetached { client_id } => {
                if let Some(s) = self.touch(&client_id) {
                    s.offline_at = clock_ms;
                    s.meta = true;
                }
            }
            Durable::SessionExpiryChanged { client_id } => {
                if let Some(s) = self.touch(&client_id) {
                    s.meta = true;
                }
            }
            Durable::SessionRemoved { client_id } => self.remove_session(&client_id),
            Durable::Subscribed { client_id, .. } | Durable::Unsubscribed { client_id, .. } => {
                if let Some(s) = self.touch(&client_id) {
                    s.subs = true;
                }
            }
            Durable::PubrelAwaited { client_id, .. }
            | Durable::PubrelReceived { client_id, .. } => {
                if let Some(s) = self.touch(&client_id) {
                    s.pubrel = true;
                }
            }
            Durable::MessageQueued {
                client_id,
                message,
                qos,
                retain,
            } => {
                if let Some(s) = self.touch(&client_id) {
                    let e = s.entry(message, qos, retain, None);
                    s.entries.push_back(e);
                }
            }
            Durable::MessageSpilled {
                client_id,
                message,
                qos,
                retain,
            } => {
                let own = Some(OwnBody {
                    id: self.next_body,
                    at: None,
                });
                let size = message.budget_size();
                let Some(s) = self.touch(&client_id) else {
                    return;
                };
                let e = s.entry(message, qos, retain, own);
                if s.spilled.len() == s.spilled.capacity() {
                    // An eighth more, not double: a full outbox rotates through all of
                    // its ring (the oldest dropped, the newest added), so every slot of
                    // it becomes resident.
                    s.spilled.reserve_exact((s.spilled.len() / 8).max(64));
                }
                s.spilled.push_back(e);
                self.next_body += 1;
                self.spill_unsaved += size;
            }
            Durable::SpilledDropped { client_id } => {
                let Some(s) = self.touch(&client_id) else {
                    return;
                };
                let e = match s.taken.pop_front() {
                    Some(e) => Some(e),
                    None => s.spilled.pop_front(),
                };
                if let Some(e) = e {
                    self.drop_entry(&client_id, e);
                }
            }
            Durable::RefillWanted { client_id, count } => {
                let Some(s) = self.sessions.get_mut(client_id.as_str()) else {
                    return;
                };
                let mut entries = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    let Some(e) = s.spilled.pop_front() else {
                        break;
                    };
                    let body = match (&e.message, e.own.and_then(|o| o.at)) {
                        (Some(m), _) => Ok(m.clone()),
                        (None, Some(at)) => Err(at),
                        // Not reached: a spilled entry lets go of its message once written.
                        (None, None) => Err((0, 0)),
                    };
                    entries.push((e.qos, e.retain, body));
                    s.taken.push_back(e);
                }
                self.requests.push(Request {
                    client_id: client_id.as_str().into(),
                    entries,
                });
            }
            Durable::Refilled { client_id, kept } => {
                let Some(s) = self.touch(&client_id) else {
                    return;
                };
                let taken = std::mem::take(&mut s.taken);
                if kept {
                    s.entries.extend(taken);
                } else {
                    for e in taken {
                        self.drop_entry(&client_id, e);
                    }
                }
            }
            Durable::MessageSent {
                client_id,
                packet_id,
            } => {
                let Some(s) = self.touch(&client_id) else {
                    return;
                };
                let at = s.inflight();
                let left = match packet_id {
                    Some(id) => {
                        if let Some(e) = s.entries.get_mut(at) {
                            e.packet_id = id;
                            e.changed = e.written;
                        }
                        None
                    }
                    None => s.entries.remove(at),
                };
                if let Some(e) = left {
                    self.drop_entry(&client_id, e);
                }
            }
            Durable::MessageAcknowledged {
                client_id,
                packet_id,
            } => {
                let Some(s) = self.touch(&client_id) else {
                    return;
                };
                let found = inflight(&s.entries, packet_id);
                if let Some(e) = found.and_then(|i| s.entries.remove(i)) {
                    self.drop_entry(&client_id, e);
                }
            }
            Durable::PubrecReceived {
                client_id,
                packet_id,
            } => {
                let Some(s) = self.touch(&client_id) else {
                    return;
                };
                let mut own_dead = 0;
                let released = inflight(&s.entries, packet_id)
                    .and_then(|i| s.entries.get_mut(i))
                    .and_then(|e| {
                        e.pubrec = true;
                        e.changed = e.written;
                        // Only its PUBREL remains: its own body (if any) is dead.
                        if let Some(OwnBody {
                            at: Some((_, size)),
                            ..
                        }) = e.own.take()
                        {
                            own_dead = u64::from(size);
                        }
                        e.message.take().filter(|_| e.written)
                    });
                self.dead += own_dead;
                if let Some(m) = released {
                    self.release(&m);
                }
            }
            Durable::QueuedQos0Dropped { client_id } => {
                let Some(s) = self.touch(&client_id) else {
                    return;
                };
                let mut dropped = Vec::new();
                let mut kept = VecDeque::with_capacity(s.entries.len());
                for e in s.entries.drain(..) {
                    if e.packet_id == 0 && e.qos == QoS::AtMostOnce {
                        dropped.push(e);
                    } else {
                        kept.push_back(e);
                    }
                }
                s.entries = kept;
                for e in dropped {
                    self.drop_entry(&client_id, e);
                }
            }
            Durable::RetainedSet {
                message,
                qos,
                source,
                replaced,
            } => {
                let topic: Box<str> = message.topic().into();
                let after = (message, qos, source);
                self.retained
                    .entry(topic)
                    .and_modify(|p| p.after = Some(after.clone()))
                    .or_insert(PendingRetained {
                        before: replaced,
                        after: Some(after),
                    });
            }
            Durable::RetainedCleared { topic, cleared } => {
                self.retained
                    .entry(topic)
                    .and_modify(|p| p.after = None)
                    .or_insert(PendingRetained {
                        before: Some(cleared),
                        after: None,
                    });
            }
        }
    }

    /// Session `client_id`, marked changed (listed for the next save); `None` if it is
    /// not a persistent session the model knows. One lookup per change of the core.
    fn touch(&mut self, client_id: &str) -> Option<&mut SessionView> {
        let s = self.sessions.get_mut(client_id)?;
        if !s.dirty {
            s.dirty = true;
            self.dirty.push(client_id.into());
        }
        Some(s)
    }

    /// Forgets session `client_id`; its records on disk become dead.
    fn remove_session(&mut self, client_id: &str) {
        let Some(s) = self.sessions.remove(client_id) else {
            return;
        };
        if s.written {
            self.removed.push(s.key);
            self.dead += u64::from(s.meta_bytes + s.subs_bytes + s.pubrel_bytes);
        }
        for e in s.entries.into_iter().chain(s.taken).chain(s.spilled) {
            self.drop_entry(client_id, e);
        }
    }

    /// An entry left its session: if on disk, its records die and its body loses a
    /// reference (the `EntryDel` is written at the next save).
    fn drop_entry(&mut self, client_id: &str, e: EntryView) {
        if !e.written {
            return;
        }
        self.dead += u64::from(e.bytes);
        if let Some(s) = self.sessions.get_mut(client_id) {
            s.deleted.push(e.seq);
        }
        match (e.own, &e.message) {
            (Some(own), _) => self.dead += own.at.map_or(0, |(_, size)| u64::from(size)),
            (None, Some(m)) => self.release(m),
            (None, None) => {}
        }
    }

    /// One on-disk reference to `message`'s body is gone.
    fn release(&mut self, message: &Message) {
        let addr = message.addr();
        let Some(b) = self.bodies.get_mut(&addr) else {
            return;
        };
        b.refs = b.refs.saturating_sub(1);
        if b.refs == 0 {
            if let Some((_, size)) = b.at {
                self.dead += u64::from(size);
            }
            self.bodies.remove(&addr);
        }
    }

    /// The id of `message`'s body, writing its record into `w` first if it is not on
    /// disk, and counting one more reference to it.
    fn reference(&mut self, w: &mut Writer, broker: &Broker, message: &Message) -> u64 {
        let addr = message.addr();
        let base = self.file_len;
        let next = &mut self.next_body;
        let b = self.bodies.entry(addr).or_insert_with(|| {
            let id = *next;
            *next += 1;
            BodyInfo {
                id,
                _alive: message.clone(),
                refs: 0,
                at: None,
                retain_bytes: 0,
            }
        });
        if b.at.is_none() {
            let offset = base + w.buf.len() as u64;
            let size = write_body(w, b.id, message, broker, self.now_ms);
            b.at = Some((offset, size));
        }
        b.refs += 1;
        b.id
    }

    /// Writes the difference between the disk and the core since the last save into a
    /// batch (to be appended at [`Model::file_len`]); `None` if nothing changed.
    pub fn flush(&mut self, broker: &Broker, clock_ms: u64) -> Option<Vec<u8>> {
        self.now_ms = clock_ms;
        if self.changes == 0 && self.dirty.is_empty() && self.removed.is_empty() {
            return None;
        }
        self.changes = 0;
        let mut w = Writer::default();
        for key in std::mem::take(&mut self.removed) {
            let size = w.record(&Record::SessionRemove { key });
            self.dead += size as u64;
        }
        let mut retained: Vec<(Box<str>, PendingRetained)> = self.retained.drain().collect();
        retained.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (topic, p) in retained {
            if let Some(before) = &p.before {
                if let Some(b) = self.bodies.get(&before.addr()) {
                    self.dead += u64::from(b.retain_bytes);
                }
                self.release(before);
            }
            match p.after {
                Some((message, qos, source)) => {
                    let body = self.reference(&mut w, broker, &message);
                    let source = source.as_deref().map(source_fields);
                    let size = w.record(&Record::RetainSet { body, qos, source });
                    if let Some(b) = self.bodies.get_mut(&message.addr()) {
                        b.retain_bytes = size as u32;
                    }
                }
                None if p.before.is_some() => {
                    let size = w.record(&Record::RetainClear { topic: &topic });
                    self.dead += size as u64;
                }
                None => {}
            }
        }
        for client_id in std::mem::take(&mut self.dirty) {
            self.flush_session(&mut w, broker, &client_id);
        }
        let commit = w.record(&Record::Commit { clock_ms });
        self.dead += commit as u64;
        self.file_len += w.buf.len() as u64;
        Some(w.buf)
    }

    /// Writes what changed of one session.
    fn flush_session(&mut self, w: &mut Writer, broker: &Broker, client_id: &str) {
        let Some(mut s) = self.sessions.remove(client_id) else {
            return;
        };
        s.dirty = false;
        let facts = broker.session_facts(client_id);
        if s.meta || !s.written {
            self.dead += u64::from(s.meta_bytes);
            s.meta_bytes = write_session(w, s.key, s.offline_at, client_id, facts.as_ref());
            s.written = true;
            s.meta = false;
        }
        if s.subs {
            self.dead += u64::from(s.subs_bytes);
            s.subs_bytes = write_subscriptions(w, s.key, facts.as_ref());
            s.subs = false;
        }
        if s.pubrel {
            let raw = format::pubrel_raw(facts.iter().flat_map(|f| f.pubrel_ids.iter().copied()));
            self.dead += u64::from(s.pubrel_bytes);
            s.pubrel_bytes = w.record(&Record::PubrelIds {
                key: s.key,
                raw: &raw,
            }) as u32;
            s.pubrel = false;
        }
        for seq in std::mem::take(&mut s.deleted) {
            let size = w.record(&Record::EntryDel { key: s.key, seq });
            self.dead += size as u64;
        }
        self.flush_entries(w, broker, s.key, &mut s.entries);
        let cold = self.flush_entries(w, broker, s.key, &mut s.taken)
            + self.flush_entries(w, broker, s.key, &mut s.spilled);
        if cold > 0 && !s.unchilled {
            s.unchilled = true;
            self.unchilled.push(client_id.into());
        }
        self.sessions.insert(client_id.into(), s);
    }

    /// Writes the entries of `entries` not on disk yet and the changes of those that
    /// are; returns how many were written.
    fn flush_entries(
        &mut self,
        w: &mut Writer,
        broker: &Broker,
        key: u32,
        entries: &mut VecDeque<EntryView>,
    ) -> usize {
        // The new entries' bodies first, side by side, then the entries: a compaction
        // copies a run of bodies as one piece.
        let mut bodies = Vec::new();
        for e in entries.iter_mut().filter(|e| !e.written) {
            bodies.push(match (e.own.is_some(), e.message.clone()) {
                (true, _) => self.write_own(w, broker, e),
                (false, Some(m)) => self.reference(w, broker, &m),
                (false, None) => 0,
            });
        }
        let mut bodies = bodies.into_iter();
        let mut written = 0;
        for e in entries.iter_mut() {
            if !e.written {
                let body = bodies.next().unwrap_or(0);
                e.bytes = w.record(&Record::EntryAdd {
                    key,
                    seq: e.seq,
                    body,
                    qos: e.qos,
                    flags: e.flags(),
                    packet_id: e.packet_id,
                }) as u32;
                e.written = true;
                e.changed = false;
                written += 1;
            } else if e.changed {
                e.bytes += w.record(&Record::EntrySet {
                    key,
                    seq: e.seq,
                    packet_id: e.packet_id,
                    flags: e.flags(),
                }) as u32;
                e.changed = false;
            }
        }
        written
    }

    /// Writes entry `e`'s own body into `w` if it is not on disk; its id.
    fn write_own(&mut self, w: &mut Writer, broker: &Broker, e: &mut EntryView) -> u64 {
        let Some(own) = e.own.as_mut() else { return 0 };
        if let (None, Some(m)) = (own.at, &e.message) {
            let offset = self.file_len + w.buf.len() as u64;
            let size = write_body(w, own.id, m, broker, self.now_ms);
            own.at = Some((offset, size));
        }
        own.id
    }

    /// Lets go of the messages of spilled entries that are on disk (after a save or a
    /// compaction is handed to the writer: a read queued after it finds them).
    pub fn chill(&mut self) {
        self.spill_unsaved = 0;
        for client_id in std::mem::take(&mut self.unchilled) {
            let Some(s) = self.sessions.get_mut(&client_id) else {
                continue;
            };
            s.unchilled = false;
            for e in s.taken.iter_mut().chain(s.spilled.iter_mut()) {
                if e.own.is_some_and(|o| o.at.is_some()) {
                    e.message = None;
                }
            }
        }
    }

    /// Message bytes spilled since the last save: what the model holds for outboxes
    /// beyond their windows until it is written.
    pub fn spill_unsaved(&self) -> usize {
        self.spill_unsaved
    }

    /// Spilled messages the model still holds (not written yet).
    #[cfg(test)]
    pub fn spilled_in_memory(&self) -> usize {
        let held = |s: &SessionView| {
            let all = s.spilled.iter().chain(&s.taken);
            all.filter(|e| e.message.is_some()).count()
        };
        self.sessions.values().map(held).sum()
    }

    /// The bridge outboxes' requests recorded since the last call.
    pub fn take_requests(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.requests)
    }

    /// A save: the changes since the last one as a batch to append at the file's end, or,
    /// when the file would then want compaction ([`Model::wants_compaction`] with
    /// `compact_min`), a compacted file in its place. The compacted file holds the batch's
    /// changes too, so writing the batch first would only add bytes: when most of the live
    /// state changes between saves (every retained topic updated each interval), every
    /// other save is one rewrite of the live state instead of a batch plus a rewrite.
    /// `None`: nothing changed and nothing to compact.
    pub fn save(&mut self, broker: &Broker, clock_ms: u64, compact_min: u64) -> Option<Save> {
        let at = self.file_len;
        let batch = self.flush(broker, clock_ms);
        let save = if self.wants_compaction(compact_min) {
            // The batch's bodies never reach the disk: the plan encodes bodies from memory.
            let plan = self.compaction(broker, clock_ms, batch.is_some());
            Some(Save::Rewrite(plan))
        } else {
            batch.map(|bytes| Save::Append { bytes, at })
        };
        self.chill();
        save
    }

    /// Whether the file has grown enough past its live state to be rewritten: more than
    /// half of it dead, and at least `min_len` long. Each live byte is then rewritten at
    /// most once per doubling of the file: write amplification stays below 2.
    pub fn wants_compaction(&self, min_len: u64) -> bool {
        self.file_len >= min_len && self.dead * 2 > self.file_len
    }

    /// A plan for a new file holding only the live state: the bodies (copied from the
    /// current file where they are on disk, encoded from memory otherwise, or always when
    /// `from_memory`), the retained messages, and every persistent session of `broker`.
    /// Call right after [`Model::flush`], so the core and the disk agree. The model then
    /// describes the new file.
    pub fn compaction(&mut self, broker: &Broker, clock_ms: u64, from_memory: bool) -> Plan {
        self.now_ms = clock_ms;
        let old: HashMap<usize, BodyInfo> = std::mem::take(&mut self.bodies);
        let mut out = PlanWriter::default();
        out.w.buf.extend_from_slice(&format::header());
        for (message, qos, source) in broker.durable_retained() {
            let body = self.place(&old, &mut out, broker, message, from_memory);
            let (qos, source) = (*qos, source.as_deref().map(source_fields));
            let size = out.w.record(&Record::RetainSet { body, qos, source });
            if let Some(b) = self.bodies.get_mut(&message.addr()) {
                b.retain_bytes = size as u32;
            }
        }
        let mut clients: Vec<Box<str>> = self.sessions.keys().cloned().collect();
        clients.sort_unstable();
        for client_id in clients {
            self.rewrite_session(&mut out, broker, &client_id, &old, from_memory);
        }
        out.w.record(&Record::Commit { clock_ms });
        let plan = out.finish();
        self.dirty.clear();
        self.removed.clear();
        self.retained.clear();
        self.changes = 0;
        self.file_len = plan.len;
        self.dead = 0;
        plan
    }

    /// Places `m`'s body in a compacted file, once: copied from the old file with its id
    /// when it was on disk there (unless `from_memory`), else encoded; counts a reference.
    fn place(
        &mut self,
        old: &HashMap<usize, BodyInfo>,
        out: &mut PlanWriter,
        broker: &Broker,
        m: &Message,
        from_memory: bool,
    ) -> u64 {
        let addr = m.addr();
        if let Some(b) = self.bodies.get_mut(&addr) {
            b.refs += 1;
            return b.id;
        }
        let prior = old.get(&addr);
        let id = match prior {
            Some(b) => b.id,
            None => {
                let id = self.next_body;
                self.next_body += 1;
                id
            }
        };
        let at = out.position();
        let size = match prior.and_then(|b| b.at).filter(|_| !from_memory) {
            Some((offset, size)) => {
                out.copy(offset, u64::from(size));
                size
            }
            None => write_body(&mut out.w, id, m, broker, self.now_ms),
        };
        self.bodies.insert(
            addr,
            BodyInfo {
                id,
                _alive: m.clone(),
                refs: 1,
                at: Some((at, size)),
                retain_bytes: 0,
            },
        );
        id
    }

    /// Writes all of one session into a compacted file.
    fn rewrite_session(
        &mut self,
        out: &mut PlanWriter,
        broker: &Broker,
        client_id: &str,
        old: &HashMap<usize, BodyInfo>,
        from_memory: bool,
    ) {
        let Some(mut s) = self.sessions.remove(client_id) else {
            return;
        };
        let facts = broker.session_facts(client_id);
        s.meta_bytes = write_session(&mut out.w, s.key, s.offline_at, client_id, facts.as_ref());
        s.subs_bytes = write_subscriptions(&mut out.w, s.key, facts.as_ref());
        let raw = format::pubrel_raw(facts.iter().flat_map(|f| f.pubrel_ids.iter().copied()));
        s.pubrel_bytes = out.w.record(&Record::PubrelIds {
            key: s.key,
            raw: &raw,
        }) as u32;
        (s.written, s.dirty, s.meta, s.subs, s.pubrel) = (true, false, false, false, false);
        s.deleted.clear();
        let key = s.key;
        // Bodies first, then the entries (see `flush_entries`).
        let mut bodies = Vec::with_capacity(s.entries.len() + s.taken.len() + s.spilled.len());
        let all = s.entries.iter_mut().chain(&mut s.taken);
        for e in all.chain(&mut s.spilled) {
            bodies.push(match (e.own.as_mut(), e.message.clone()) {
                (Some(own), message) => {
                    // Its own body: from memory while it holds the message, else copied.
                    let at = out.position();
                    let size = match (message, own.at) {
                        (Some(m), _) => write_body(&mut out.w, own.id, &m, broker, self.now_ms),
                        (None, Some((offset, size))) => {
                            out.copy(offset, u64::from(size));
                            size
                        }
                        (None, None) => 0,
                    };
                    own.at = (size > 0).then_some((at, size));
                    own.id
                }
                (None, Some(m)) => self.place(old, out, broker, &m, from_memory),
                (None, None) => 0,
            });
        }
        let all = s.entries.iter_mut().chain(&mut s.taken);
        for (e, body) in all.chain(&mut s.spilled).zip(bodies) {
            e.bytes = out.w.record(&Record::EntryAdd {
                key,
                seq: e.seq,
                body,
                qos: e.qos,
                flags: e.flags(),
                packet_id: e.packet_id,
            }) as u32;
            e.written = true;
            e.changed = false;
        }
        if !s.spilled.is_empty() || !s.taken.is_empty() {
            s.unchilled = true;
            self.unchilled.push(client_id.into());
        }
        self.sessions.insert(client_id.into(), s);
    }

    /// Adds a restored bridge outbox's messages beyond its window (the core counts them
    /// as on disk only; [`crate::broker::RestoreOutcome::spilled`]) to session
    /// `client_id`, after [`Model::adopt`]; the compaction that follows writes them and
    /// [`Model::chill`] lets go of them.
    pub fn adopt_spilled(&mut self, client_id: &str, entries: Vec<StoredEntry>) {
        let Some(s) = self.sessions.get_mut(client_id) else {
            return;
        };
        for e in entries {
            let Some(message) = e.message else { continue };
            let own = Some(OwnBody {
                id: self.next_body,
                at: None,
            });
            self.next_body += 1;
            let e = s.entry(message, e.qos, e.retain, own);
            s.spilled.push_back(e);
        }
    }

    /// Builds the model of a store whose file is about to be rewritten from the core's
    /// state (after a restore): every persistent session of `broker` with its messages,
    /// and `offline_at` of each. Follow with [`Model::compaction`].
    pub fn adopt(&mut self, broker: &Broker, offline_at: impl Fn(&str) -> u64) {
        for client_id in broker.persistent_sessions() {
            let key = self.next_key;
            self.next_key = self.next_key.wrapping_add(1);
            let mut s = SessionView::new(key);
            s.offline_at = offline_at(&client_id);
            for (seq, e) in broker.session_entries(&client_id).into_iter().enumerate() {
                let StoredEntry {
                    message,
                    qos,
                    retain,
                    packet_id,
                } = e;
                let pubrec = qos == QoS::ExactlyOnce && packet_id.is_some() && message.is_none();
                s.entries.push_back(EntryView {
                    seq: seq as u32,
                    message,
                    qos,
                    retain,
                    packet_id: packet_id.unwrap_or(0),
                    pubrec,
                    written: false,
                    changed: false,
                    bytes: 0,
                    own: None,
                });
                s.next_seq = seq as u32 + 1;
            }
            self.sessions.insert(client_id.into(), s);
        }
    }
}

/// Writes a message body's record, and its expiry (MQTT 5.0) on the store's clock
/// (`now_ms` now) right after it when it has one; returns the bytes written (they are
/// copied and die together).
fn write_body(w: &mut Writer, id: u64, m: &Message, broker: &Broker, now_ms: u64) -> u32 {
    let (topic_field, properties, payload) = m.parts();
    let mut size = w.record(&Record::Body {
        id,
        topic: std::str::from_utf8(&topic_field[2..]).unwrap_or_default(),
        properties,
        payload,
    });
    if let Some(left) = broker.expiry_left(m) {
        let left = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
        let expires_ms = now_ms.saturating_add(left).max(1);
        size += w.record(&Record::BodyExpiry {
            body: id,
            expires_ms,
        });
    }
    size as u32
}

/// Writes a session's identity record; returns its size.
fn write_session(
    w: &mut Writer,
    key: u32,
    offline_at: u64,
    client_id: &str,
    facts: Option<&SessionFacts>,
) -> u32 {
    let (version, username, expiry) = facts.map_or((4, None, format::NEVER), |f| {
        (f.version.level(), f.username.as_deref(), f.expiry)
    });
    w.record(&Record::Session {
        key,
        version,
        offline_at,
        client_id,
        username,
        expiry,
    }) as u32
}

/// Writes a session's subscriptions, and their MQTT 5.0 Subscription Identifiers when
/// any has one; returns the bytes written.
fn write_subscriptions(w: &mut Writer, key: u32, facts: Option<&SessionFacts>) -> u32 {
    let subs = facts.map_or(&[][..], |f| &f.subscriptions[..]);
    let raw = format::subscriptions_raw(subs.iter().map(|s| (s.filter.as_str(), s.options)));
    let mut size = w.record(&Record::Subscriptions { key, raw: &raw });
    if subs.iter().any(|s| s.subscription_id != 0) {
        let ids = subs
            .iter()
            .filter(|s| s.subscription_id != 0)
            .map(|s| (s.filter.as_str(), s.subscription_id));
        let raw = format::subscription_ids_raw(ids);
        size += w.record(&Record::SubscriptionIds { key, raw: &raw });
    }
    size as u32
}

/// Builds a [`Plan`]: records encoded into a buffer, with copies of old records between.
#[derive(Debug, Default)]
struct PlanWriter {
    /// The pieces so far.
    plan: Plan,
    /// Records encoded since the last piece.
    w: Writer,
}

impl PlanWriter {
    /// Where the next byte goes in the new file.
    fn position(&self) -> u64 {
        self.plan.len + self.w.buf.len() as u64
    }

    /// Ends the encoded bytes so far as a piece.
    fn cut(&mut self) {
        if !self.w.buf.is_empty() {
            self.plan.len += self.w.buf.len() as u64;
            self.plan
                .pieces
                .push(Piece::Bytes(std::mem::take(&mut self.w.buf)));
        }
    }

    /// Copies `len` bytes at `offset` of the old file (one piece with the copy before it
    /// when nothing was encoded between and they are side by side there).
    fn copy(&mut self, offset: u64, len: u64) {
        self.plan.len += len;
        if self.w.buf.is_empty() {
            if let Some(Piece::Copy { offset: o, len: l }) = self.plan.pieces.last_mut() {
                if *o + *l == offset {
                    *l += len;
                    return;
                }
            }
        }
        self.cut();
        self.plan.pieces.push(Piece::Copy { offset, len });
    }

    /// The finished plan.
    fn finish(mut self) -> Plan {
        self.cut();
        self.plan
    }
}
