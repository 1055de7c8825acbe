//! The session table: the one door through which every session changes.
//!
//! The table owns the sessions, the index that finds them by client id, the count of
//! persistent sessions without a connection and the message bytes all sessions hold (the
//! `max_queued_memory` accounting). Every change of a session goes through one of its
//! methods, the way smoltcp routes every TCP state change through `set_state`:
//!
//! | change | method |
//! |---|---|
//! | created, resumed, taken over, detached, removed | [`SessionTable::create`], [`SessionTable::attach`], [`SessionTable::take_conn`], [`SessionTable::detach`], [`SessionTable::remove`] |
//! | subscription added or removed | [`SessionTable::subscribed`], [`SessionTable::unsubscribed`] |
//! | message queued, sent (or sent without waiting in the queue), acknowledged | [`SessionTable::enqueue`], [`SessionTable::sender`], [`SessionTable::send_now`], [`SessionTable::acknowledge`], [`SessionTable::pubrec_received`] |
//! | inbound QoS 2 ids | [`SessionTable::await_pubrel`], [`SessionTable::pubrel_received`] |
//!
//! Each of these keeps the counts right and, for a persistent session, records the change
//! in the table's [`Journal`] as a [`Durable`] record: a store observes exactly these
//! changes. A [`Session`]'s own mutators are visible only here.
//!
//! The table does not know about connections beyond their slot numbers, nor about the
//! topic tree: removing a session hands it back so the caller can unsubscribe it there.

mod session;

pub use session::{Awaiting, Inflight, Queued, Session, NEVER, SESSION_BYTES};

use super::clock::Tick;
use super::compact_str::CompactStr;
use super::effect::{Durable, Journal};
use super::id::{ConnId, SessionId};
use super::index::ArenaIndex;
use super::message::Message;
use super::topic_tree::FilterRef;
use crate::codec::{ProtocolVersion, QoS};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// What became of a session whose connection is gone.
#[derive(Debug)]
pub enum Detached {
    /// It ended (clean session, or no room for another offline session): it was removed
    /// from the table and is handed back, so its subscriptions can be removed too.
    Ended(Session),
    /// It is kept offline; its expiry timer needs its generation.
    Offline {
        /// The session's generation, for its expiry timer.
        generation: u32,
    },
}

/// The sessions, by slot and by client id. See the module documentation.
pub struct SessionTable {
    /// Session slots; `None` is free.
    slab: Vec<Option<Session>>,
    /// Free slots.
    free: Vec<SessionId>,
    /// Next session generation.
    generation: u32,
    /// Sessions by client id (the key is the session's own `client_id`).
    by_client_id: ArenaIndex,
    /// Keys the client-id hash of `by_client_id`.
    id_hasher: RandomState,
    /// The index's 32 bits of each slot's client-id hash, so that removing a session
    /// does not hash its client id again (4 bytes a slot, outside `Session`, which stays
    /// 192 bytes).
    id_hashes: Vec<u32>,
    /// Persistent sessions without a connection.
    offline: usize,
    /// Message bytes held by all sessions' queues and inflight windows.
    held_bytes: usize,
    /// Changes of persistent sessions, for a store.
    journal: Journal,
}

/// A client id and its hash in one table's client-id index ([`SessionTable::key`]); valid
/// for that table only (each table keys its hasher at random).
#[derive(Clone, Copy, Debug)]
pub struct IdKey<'a> {
    /// The client id.
    client_id: &'a str,
    /// Its hash under the table's hasher.
    hash: u64,
}

impl SessionTable {
    /// An empty table; it records durable changes only if `track_durable`.
    pub fn new(track_durable: bool) -> SessionTable {
        SessionTable {
            slab: Vec::new(),
            free: Vec::new(),
            generation: 0,
            by_client_id: ArenaIndex::default(),
            id_hasher: RandomState::new(),
            id_hashes: Vec::new(),
            offline: 0,
            held_bytes: 0,
            journal: Journal::new(track_durable),
        }
    }

    // ----- reading -------------------------------------------------------------------

    /// The session in slot `sid`.
    #[inline]
    pub fn get(&self, sid: SessionId) -> Option<&Session> {
        self.slab.get(sid as usize)?.as_ref()
    }

    /// Every slot number that may hold a session.
    pub fn ids(&self) -> impl Iterator<Item = SessionId> {
        0..self.slab.len() as SessionId
    }

    /// The session of `client_id`, if there is one.
    pub fn find(&self, client_id: &str) -> Option<SessionId> {
        self.find_key(self.key(client_id))
    }

    /// `client_id` with its hash in the client-id index, for a lookup and the
    /// [`SessionTable::create_key`] that may follow it (a CONNECT hashes its id once).
    pub fn key<'a>(&self, client_id: &'a str) -> IdKey<'a> {
        IdKey {
            client_id,
            hash: self.id_hasher.hash_one(client_id),
        }
    }

    /// [`SessionTable::find`] with the hash already computed.
    pub fn find_key(&self, key: IdKey<'_>) -> Option<SessionId> {
        self.by_client_id.find(key.hash, |sid| {
            self.get(sid)
                .is_some_and(|s| s.client_id() == key.client_id)
        })
    }

    /// Every session, for tests that check the table's counts against its sessions.
    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.slab.iter().flatten()
    }

    /// Whether no session is stored, nor indexed by client id.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.by_client_id.len() == 0 && self.slab.iter().all(Option::is_none)
    }

    /// Persistent sessions without a connection.
    pub fn offline(&self) -> usize {
        self.offline
    }

    /// Message bytes held by all queues and inflight windows (`max_queued_memory`).
    #[inline]
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// The next durable record not handed out yet.
    pub fn pop_durable(&mut self) -> Option<Durable> {
        self.journal.pop()
    }

    /// Records `change(client_id)` for session `sid` if it is persistent.
    #[inline]
    fn record(&mut self, sid: SessionId, change: impl FnOnce(CompactStr) -> Durable) {
        if !self.journal.enabled() {
            return;
        }
        let Some(s) = self.slab.get(sid as usize).and_then(Option::as_ref) else {
            return;
        };
        if !s.is_clean() {
            let client_id = s.client_id_owned();
            self.journal.record(|| change(client_id));
        }
    }

    #[inline]
    fn get_mut(&mut self, sid: SessionId) -> Option<&mut Session> {
        self.slab.get_mut(sid as usize)?.as_mut()
    }

    // ----- lifecycle -----------------------------------------------------------------

    /// A new session for `client_id`, attached to nothing yet ([`SessionTable::attach`]
    /// follows).
    pub fn create(&mut self, client_id: &str, expiry: u32) -> SessionId {
        self.create_key(self.key(client_id), expiry)
    }

    /// [`SessionTable::create`] with the hash already computed.
    pub fn create_key(&mut self, key: IdKey<'_>, expiry: u32) -> SessionId {
        let IdKey { client_id, hash } = key;
        self.generation = self.generation.wrapping_add(1);
        let session = Session::new(client_id, expiry, self.generation);
        let sid = match self.free.pop() {
            Some(sid) => {
                self.slab[sid as usize] = Some(session);
                self.id_hashes[sid as usize] = hash as u32;
                sid
            }
            None => {
                self.slab.push(Some(session));
                self.id_hashes.push(hash as u32);
                SessionId::try_from(self.slab.len() - 1)
                    .expect("sessions are bounded by connections plus max_offline_sessions")
            }
        };
        self.by_client_id.insert(hash, sid);
        self.record(sid, |client_id| Durable::SessionCreated {
            client_id,
            username: None,
        });
        sid
    }

    /// Puts back a persistent session loaded from the store, offline since `offline_since`,
    /// with its messages (in flight, then queued) and inbound QoS 2 ids; nothing is
    /// recorded (it is on disk). Its subscriptions follow with
    /// [`SessionTable::restore_subscription`].
    #[allow(clippy::too_many_arguments)]
    pub fn restore(
        &mut self,
        client_id: &str,
        username: Option<&str>,
        version: ProtocolVersion,
        expiry: u32,
        offline_since: Tick,
        inflight: Vec<Inflight>,
        queue: Vec<Queued>,
        pubrel_ids: Vec<u16>,
    ) -> SessionId {
        let enabled = self.journal.enabled();
        self.journal.set_enabled(false);
        // Created persistent (NEVER), so that it is counted offline below whatever its
        // interval: an interval of 0 is never stored.
        let sid = self.create(client_id, NEVER);
        self.journal.set_enabled(enabled);
        let Some(s) = self.slab.get_mut(sid as usize).and_then(Option::as_mut) else {
            return sid;
        };
        s.username = username.map(Box::from);
        s.version = version;
        s.expiry = expiry.max(1);
        s.offline_since = Some(offline_since);
        s.next_packet_id = inflight
            .iter()
            .map(|e| e.packet_id)
            .max()
            .map_or(1, |id| id.checked_add(1).unwrap_or(1));
        for entry in inflight {
            s.push_inflight(entry);
        }
        for item in queue {
            s.push(item);
        }
        for id in pubrel_ids {
            s.await_pubrel(id);
        }
        self.held_bytes += s.held_bytes();
        self.offline += 1;
        sid
    }

    /// Gives a restored session back its subscription stored in the tree at `at`,
    /// without recording it.
    pub fn restore_subscription(&mut self, sid: SessionId, at: FilterRef) {
        if let Some(s) = self.get_mut(sid) {
            s.subscriptions.push(at);
        }
    }

    /// Attaches session `sid` to `conn` speaking `version`, with its connection's
    /// Session Expiry Interval (0 for MQTT 3.1.1's clean session 1, [`NEVER`] for 0) and
    /// user name. A session that was offline is counted online again. Returns whether
    /// the user name changed (its subscriptions' ACL marks need deciding again).
    pub fn attach(
        &mut self,
        sid: SessionId,
        conn: ConnId,
        version: ProtocolVersion,
        expiry: u32,
        username: Option<&str>,
    ) -> bool {
        let Some(s) = self.get_mut(sid) else {
            return false;
        };
        if s.conn().is_none() && !s.is_clean() && s.offline_since().is_some() {
            self.offline -= 1;
        }
        let Some(s) = self.get_mut(sid) else {
            return false;
        };
        s.set_conn(Some(conn));
        s.offline_since = None;
        s.version = version;
        self.set_expiry(sid, expiry);
        let Some(s) = self.get_mut(sid) else {
            return false;
        };
        let user_changed = s.username() != username;
        if user_changed {
            s.username = username.map(Box::from);
        }
        let username = username.map(Box::from);
        self.record(sid, |client_id| Durable::SessionAttached {
            client_id,
            username,
        });
        user_changed
    }

    /// Takes session `sid`'s connection away (another connection takes the session over
    /// [MQTT-3.1.4-2]): the session is offline from `stamp` until attached again.
    /// Returns the connection it had.
    pub fn take_conn(&mut self, sid: SessionId, stamp: Tick) -> Option<ConnId> {
        let s = self.get_mut(sid)?;
        let old = s.conn()?;
        s.set_conn(None);
        if !s.is_clean() {
            s.offline_since = Some(stamp);
            self.offline += 1;
        }
        Some(old)
    }

    /// Session `sid`'s connection is gone at `stamp`: a clean session ends
    /// [MQTT-3.1.2-6], a persistent one stays offline with its subscriptions and QoS 1/2
    /// messages [MQTT-3.1.2-4], unless `max_offline` sessions are offline already. Its
    /// queued QoS 0 messages go unless `queue_qos0`.
    pub fn detach(
        &mut self,
        sid: SessionId,
        stamp: Tick,
        max_offline: usize,
        queue_qos0: bool,
    ) -> Option<Detached> {
        let offline = self.offline;
        let s = self.get_mut(sid)?;
        s.set_conn(None);
        if s.is_clean() {
            return self.remove(sid).map(Detached::Ended);
        }
        if offline >= max_offline {
            log::warn!(
                "session {} not kept: max_offline_sessions ({max_offline}) reached",
                s.client_id()
            );
            return self.remove(sid).map(Detached::Ended);
        }
        s.offline_since = Some(stamp);
        s.set_dropping(false);
        let generation = s.generation();
        let mut freed = 0;
        if !queue_qos0 {
            let before = s.held_bytes();
            s.drop_queued_qos0();
            freed = before - s.held_bytes();
        }
        self.held_bytes -= freed;
        self.offline += 1;
        if freed > 0 {
            self.record(sid, |client_id| Durable::QueuedQos0Dropped { client_id });
        }
        self.record(sid, |client_id| Durable::SessionDetached { client_id });
        Some(Detached::Offline { generation })
    }

    /// Removes session `sid` (a clean reconnect replaced it, it expired, or it ended) and
    /// hands it back: its subscriptions are still in the topic tree.
    pub fn remove(&mut self, sid: SessionId) -> Option<Session> {
        self.record(sid, |client_id| Durable::SessionRemoved { client_id });
        let s = self.slab.get_mut(sid as usize).and_then(Option::take)?;
        self.held_bytes -= s.held_bytes();
        if s.conn().is_none() && !s.is_clean() && s.offline_since().is_some() {
            self.offline -= 1;
        }
        // Kept beside the slab entry just taken: the same index is in bounds.
        let hash = self.id_hashes[sid as usize];
        self.by_client_id.remove(u64::from(hash), |id| id == sid);
        self.free.push(sid);
        Some(s)
    }

    /// Changes session `sid`'s Session Expiry Interval (at attach, and an MQTT 5.0
    /// DISCONNECT may [MQTT-3.14.2.2.2]). A session that now ends with its connection is
    /// forgotten by a store at once (recorded while it is still persistent: the journal
    /// records changes of persistent sessions only).
    pub fn set_expiry(&mut self, sid: SessionId, expiry: u32) {
        let Some(s) = self.get_mut(sid) else { return };
        if s.expiry == expiry {
            return;
        }
        if expiry == 0 {
            self.record(sid, |client_id| Durable::SessionRemoved { client_id });
        }
        if let Some(s) = self.get_mut(sid) {
            s.expiry = expiry;
        }
        if expiry != 0 {
            self.record(sid, |client_id| Durable::SessionExpiryChanged { client_id });
        }
    }

    /// Whether session `sid`'s overflowing QoS 1/2 messages are dropped (a publisher
    /// stall on its full queue ran out) or not (its queue has room again, or it went
    /// offline).
    #[inline]
    pub fn set_dropping(&mut self, sid: SessionId, dropping: bool) {
        if let Some(s) = self.get_mut(sid) {
            s.set_dropping(dropping);
        }
    }

    /// Session `sid` is the outbox of bridge `index` (below `config::MAX_BRIDGES`).
    pub fn set_bridge(&mut self, sid: SessionId, index: usize) {
        if let Some(s) = self.get_mut(sid) {
            s.set_bridge(index);
        }
    }

    /// Session `sid` is owned by `username` (a bridge's `local_username`, set at start).
    pub fn set_username(&mut self, sid: SessionId, username: Option<&str>) {
        if let Some(s) = self.get_mut(sid) {
            if s.username.as_deref() != username {
                s.username = username.map(Box::from);
            }
        }
    }

    // ----- subscriptions -------------------------------------------------------------

    /// Session `sid` subscribed to `filter` (stored in the tree at `at`) with `qos`
    /// granted; `new` is false when an existing subscription's QoS was replaced.
    pub fn subscribed(&mut self, sid: SessionId, at: FilterRef, new: bool, filter: &str, qos: QoS) {
        if new {
            if let Some(s) = self.get_mut(sid) {
                s.subscriptions.push(at);
            }
        }
        self.record(sid, |client_id| Durable::Subscribed {
            client_id,
            filter: filter.into(),
            qos,
        });
    }

    /// Session `sid` unsubscribed from `filter` (stored in the tree at `at`).
    pub fn unsubscribed(&mut self, sid: SessionId, at: FilterRef, filter: &str) {
        if let Some(s) = self.get_mut(sid) {
            s.subscriptions.retain(|&f| f != at);
        }
        self.record(sid, |client_id| Durable::Unsubscribed {
            client_id,
            filter: filter.into(),
        });
    }

    /// Session `sid` resumed on a connection that accepts `window` unacknowledged
    /// PUBLISHes: the in-flight ones beyond it wait to be re-sent (no durable change:
    /// they stay in flight with their packet ids). Returns how many wait.
    pub fn defer_resend(&mut self, sid: SessionId, window: usize) -> usize {
        self.get_mut(sid).map_or(0, |s| s.defer_beyond(window))
    }

    /// The oldest in-flight message of session `sid` waiting to be re-sent, now taken
    /// as re-sent: (packet id, message, QoS, retain, subscription identifier).
    pub fn next_resend(&mut self, sid: SessionId) -> Option<(u16, Message, QoS, bool, u32)> {
        let m = self.get_mut(sid)?.undefer()?;
        let message = m.message.clone()?;
        Some((m.packet_id, message, m.qos, m.retain, m.subscription_id))
    }

    /// Session `sid` joined (or changed its options in) the shared subscription
    /// `$share/GROUP/FILTER` at `qos`. Memberships are kept by the broker's shared
    /// groups, not in the session; a store records them like any subscription.
    pub fn shared_subscribed(&mut self, sid: SessionId, filter: &str, qos: QoS) {
        self.record(sid, |client_id| Durable::Subscribed {
            client_id,
            filter: filter.into(),
            qos,
        });
    }

    /// Session `sid` left the shared subscription `filter`.
    pub fn shared_unsubscribed(&mut self, sid: SessionId, filter: &str) {
        self.record(sid, |client_id| Durable::Unsubscribed {
            client_id,
            filter: filter.into(),
        });
    }

    // ----- messages ------------------------------------------------------------------

    /// Appends `item` to session `sid`'s queue (the caller decided the caps allow it).
    #[inline]
    pub fn enqueue(&mut self, sid: SessionId, item: Queued) {
        let Some(s) = self.slab.get_mut(sid as usize).and_then(Option::as_mut) else {
            return;
        };
        self.held_bytes += item.message.budget_size();
        if self.journal.enabled() && !s.is_clean() {
            let (message, qos, retain) = (item.message.clone(), item.qos, item.retain);
            s.push(item);
            self.record(sid, |client_id| Durable::MessageQueued {
                client_id,
                message,
                qos,
                retain,
            });
        } else {
            s.push(item);
        }
    }

    /// Records `item` for session `sid` (a bridge's outbox) as queued on disk only: it
    /// does not enter the queue in RAM, and the store keeps it until asked back
    /// ([`SessionTable::refill_wanted`]). Without a store nothing is recorded (the caller
    /// spills only with one).
    pub fn spill(&mut self, sid: SessionId, item: Queued) {
        let Queued {
            message,
            qos,
            retain,
            ..
        } = item;
        self.record(sid, |client_id| Durable::MessageSpilled {
            client_id,
            message,
            qos,
            retain,
        });
    }

    /// The oldest message of session `sid` on disk only was dropped.
    pub fn spilled_dropped(&mut self, sid: SessionId) {
        self.record(sid, |client_id| Durable::SpilledDropped { client_id });
    }

    /// Asks the store for the oldest `count` messages of session `sid` on disk only.
    pub fn refill_wanted(&mut self, sid: SessionId, count: u32) {
        self.record(sid, |client_id| Durable::RefillWanted { client_id, count });
    }

    /// The messages asked back for session `sid` arrived: `items` (those not dropped
    /// meanwhile) join the end of its queue in RAM; with `kept` false none could be read.
    pub fn refilled(&mut self, sid: SessionId, items: Vec<Queued>, kept: bool) {
        let Some(s) = self.slab.get_mut(sid as usize).and_then(Option::as_mut) else {
            return;
        };
        for item in items {
            self.held_bytes += item.message.budget_size();
            s.push(item);
        }
        self.record(sid, |client_id| Durable::Refilled { client_id, kept });
    }

    /// Sends `item` for session `sid` at once, as [`SessionTable::enqueue`] followed by
    /// [`Sender::next`] would, when nothing is queued ahead of it and its QoS fits the
    /// inflight `window` (see [`Sender::next`]): the message never waits in the queue, and
    /// the journal records the same two changes. `Err(item)` when it must be queued.
    pub fn send_now<T, E>(
        &mut self,
        sid: SessionId,
        item: Queued,
        window: (usize, usize),
        frame: impl FnOnce(&Queued, Option<u16>) -> Result<T, E>,
    ) -> Result<Result<T, E>, Queued> {
        let Some(s) = self.slab.get_mut(sid as usize).and_then(Option::as_mut) else {
            return Err(item);
        };
        if s.queue_len() > 0 || !has_room(s, item.qos, window) {
            return Err(item);
        }
        if self.journal.enabled() && !s.is_clean() {
            let (client_id, message) = (s.client_id_owned(), item.message.clone());
            let (qos, retain) = (item.qos, item.retain);
            self.journal.record(|| Durable::MessageQueued {
                client_id,
                message,
                qos,
                retain,
            });
        }
        Ok(send(
            s,
            &mut self.held_bytes,
            &mut self.journal,
            item,
            frame,
        ))
    }

    /// A handle that sends session `sid`'s queued messages one by one, for the delivery
    /// loop (one lookup for a whole batch).
    #[inline]
    pub fn sender(&mut self, sid: SessionId) -> Option<Sender<'_>> {
        let session = self.slab.get_mut(sid as usize)?.as_mut()?;
        Some(Sender {
            session,
            held_bytes: &mut self.held_bytes,
            journal: &mut self.journal,
        })
    }

    /// The in-flight message `packet_id` of session `sid` was acknowledged (PUBACK when
    /// `state` is [`Awaiting::Puback`], PUBCOMP when [`Awaiting::Pubcomp`]). False if
    /// nothing in that state had that id.
    pub fn acknowledge(&mut self, sid: SessionId, packet_id: u16, state: Awaiting) -> bool {
        let Some(s) = self.get_mut(sid) else {
            return false;
        };
        let Some(entry) = s.take_inflight(packet_id, state) else {
            return false;
        };
        self.held_bytes -= entry.message.map_or(0, |m| m.budget_size());
        self.record(sid, |client_id| Durable::MessageAcknowledged {
            client_id,
            packet_id,
        });
        true
    }

    /// PUBREC arrived for session `sid`'s outbound QoS 2 message `packet_id`: its body is
    /// released, only PUBREL remains. False if no message awaited that PUBREC.
    pub fn pubrec_received(&mut self, sid: SessionId, packet_id: u16) -> bool {
        let Some(s) = self.get_mut(sid) else {
            return false;
        };
        let before = s.held_bytes();
        if !s.pubrec_received(packet_id) {
            return false;
        }
        self.held_bytes -= before - s.held_bytes();
        self.record(sid, |client_id| Durable::PubrecReceived {
            client_id,
            packet_id,
        });
        true
    }

    /// An inbound QoS 2 message `packet_id` from session `sid`'s client: `Ok(true)` if it
    /// is new (deliver it; its id now awaits PUBREL), `Ok(false)` if it was delivered
    /// already [MQTT-4.3.3-2], `Err(())` if `max_incoming` ids await PUBREL already.
    pub fn await_pubrel(
        &mut self,
        sid: SessionId,
        packet_id: u16,
        max_incoming: usize,
    ) -> Result<bool, ()> {
        let Some(s) = self.get_mut(sid) else {
            return Ok(false);
        };
        if s.awaits_pubrel(packet_id) {
            return Ok(false);
        }
        if s.awaiting_pubrel() >= max_incoming {
            return Err(());
        }
        s.await_pubrel(packet_id);
        self.record(sid, |client_id| Durable::PubrelAwaited {
            client_id,
            packet_id,
        });
        Ok(true)
    }

    /// PUBREL arrived for inbound QoS 2 message `packet_id` of session `sid`: the id may
    /// be used again.
    pub fn pubrel_received(&mut self, sid: SessionId, packet_id: u16) {
        let released = self
            .get_mut(sid)
            .is_some_and(|s| s.pubrel_received(packet_id));
        if released {
            self.record(sid, |client_id| Durable::PubrelReceived {
                client_id,
                packet_id,
            });
        }
    }
}

/// Sends one session's queued messages: see [`SessionTable::sender`].
pub struct Sender<'a> {
    /// The session.
    session: &'a mut Session,
    /// The table's byte count.
    held_bytes: &'a mut usize,
    /// The table's journal.
    journal: &'a mut Journal,
}

impl Sender<'_> {
    /// The session being sent from.
    #[inline]
    pub fn session(&self) -> &Session {
        self.session
    }

    /// Sends the oldest queued message unless it is QoS 1/2 and `max_inflight` messages,
    /// or `max_inflight_bytes` bytes of them (0: no byte cap), are in flight already:
    /// `frame` makes what goes on the wire from it and its packet
    /// id. A QoS 1/2 message gets a packet id and enters the inflight window, kept for
    /// re-delivery until acknowledged; a QoS 0 one is gone. If `frame` fails, the message
    /// is dropped (the caller counts it). `None` when nothing may be sent.
    #[inline]
    pub fn next<T, E>(
        &mut self,
        window: (usize, usize),
        frame: impl FnOnce(&Queued, Option<u16>) -> Result<T, E>,
    ) -> Option<Result<T, E>> {
        let s = &mut *self.session;
        if !has_room(s, s.front()?.qos, window) {
            return None;
        }
        let item = s.pop()?;
        *self.held_bytes -= item.message.budget_size();
        Some(send(s, self.held_bytes, self.journal, item, frame))
    }
}

/// Whether session `s` may send a message of `qos` now: QoS 0 always; QoS 1/2 while
/// fewer than `max_inflight` messages are in flight and, with a byte cap, while they
/// hold fewer than `max_inflight_bytes` bytes (Mosquitto's rule: one always fits).
#[inline]
fn has_room(s: &Session, qos: QoS, (max_inflight, max_inflight_bytes): (usize, usize)) -> bool {
    qos == QoS::AtMostOnce
        || (s.inflight_len() < max_inflight
            && (max_inflight_bytes == 0 || s.inflight_bytes < max_inflight_bytes))
}

/// Sends `item`, no longer queued, from session `s`: a QoS 1/2 message gets a packet id
/// and, once `frame` made its frame, enters the inflight window; the journal records
/// the send. For [`Sender::next`] and [`SessionTable::send_now`].
#[inline]
fn send<T, E>(
    s: &mut Session,
    held_bytes: &mut usize,
    journal: &mut Journal,
    item: Queued,
    frame: impl FnOnce(&Queued, Option<u16>) -> Result<T, E>,
) -> Result<T, E> {
    let packet_id = (item.qos != QoS::AtMostOnce).then(|| s.allocate_packet_id());
    let made = frame(&item, packet_id);
    sent(
        s,
        held_bytes,
        journal,
        item,
        packet_id.filter(|_| made.is_ok()),
    );
    made
}

/// The end of [`send`], the same whatever made the frame (not generic, so not copied
/// for each caller): a message sent with `packet_id` enters the inflight window, and
/// the journal records the send (`None`: QoS 0, or a frame that could not be made).
fn sent(
    s: &mut Session,
    held_bytes: &mut usize,
    journal: &mut Journal,
    item: Queued,
    packet_id: Option<u16>,
) {
    if let Some(packet_id) = packet_id {
        let state = if item.qos == QoS::AtLeastOnce {
            Awaiting::Puback
        } else {
            Awaiting::Pubrec
        };
        *held_bytes += item.message.budget_size();
        s.push_inflight(Inflight {
            packet_id,
            message: Some(item.message),
            qos: item.qos,
            retain: item.retain,
            share: item.share,
            subscription_id: item.subscription_id,
            deferred: false,
            state,
        });
    }
    if journal.enabled() && !s.is_clean() {
        let client_id = s.client_id_owned();
        journal.record(|| Durable::MessageSent {
            client_id,
            packet_id,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::message::Message;
    use crate::codec::ProtocolVersion::V311;

    fn item(qos: QoS) -> Queued {
        Queued {
            message: Message::new("t", &[0; 10]),
            qos,
            retain: false,
            subscription_id: 0,
            share: 0,
        }
    }

    #[test]
    fn counts_follow_every_change() {
        let mut t = SessionTable::new(false);
        let stamp = Tick::ZERO;
        let sid = t.create("p", NEVER);
        assert_eq!(t.find("p"), Some(sid));
        t.attach(sid, 0, V311, NEVER, None);
        t.enqueue(sid, item(QoS::AtLeastOnce));
        t.enqueue(sid, item(QoS::AtMostOnce));
        assert_eq!(t.held_bytes(), 26);
        let sent = t
            .sender(sid)
            .unwrap()
            .next((10, 0), |_, id| Ok::<_, ()>(id));
        let id = sent.unwrap().unwrap();
        assert_eq!(t.held_bytes(), 26, "in flight, still held");
        assert!(t.acknowledge(sid, id.unwrap(), Awaiting::Puback));
        assert_eq!(t.held_bytes(), 13);
        assert!(matches!(
            t.detach(sid, stamp, 10, false),
            Some(Detached::Offline { .. })
        ));
        assert_eq!(
            (t.offline(), t.held_bytes()),
            (1, 0),
            "QoS 0 dropped offline"
        );
        assert_eq!(t.take_conn(sid, stamp), None, "no connection to take");
        t.attach(sid, 1, V311, NEVER, None);
        assert_eq!(t.offline(), 0);
        assert_eq!(t.take_conn(sid, stamp), Some(1));
        assert_eq!(t.offline(), 1, "taken over: offline until attached again");
        let s = t.remove(sid).unwrap();
        assert_eq!((s.client_id(), t.offline(), t.find("p")), ("p", 0, None));
    }

    /// `send_now` leaves the table as `enqueue` then `next` would, journal included, and
    /// refuses (handing the message back) when something is queued or the window is full.
    #[test]
    fn send_now_is_enqueue_then_next_without_the_queue() {
        let names = |t: &mut SessionTable| -> Vec<&str> {
            std::iter::from_fn(|| t.pop_durable())
                .map(|d| match d {
                    Durable::MessageQueued { .. } => "queued",
                    Durable::MessageSent {
                        packet_id: Some(_), ..
                    } => "sent with an id",
                    Durable::MessageSent { .. } => "sent",
                    _ => "other",
                })
                .collect()
        };
        let (mut a, mut b) = (SessionTable::new(true), SessionTable::new(true));
        let (sa, sb) = (a.create("p", NEVER), b.create("p", NEVER));
        a.attach(sa, 0, V311, NEVER, None);
        b.attach(sb, 0, V311, NEVER, None);
        names(&mut a);
        names(&mut b);
        let window = (2, 0);
        for qos in [QoS::AtLeastOnce, QoS::AtMostOnce, QoS::ExactlyOnce] {
            a.enqueue(sa, item(qos));
            let queued = a.sender(sa).unwrap().next(window, |_, id| Ok::<_, ()>(id));
            let sent = b.send_now(sb, item(qos), window, |_, id| Ok::<_, ()>(id));
            assert_eq!(sent.ok(), queued, "{qos:?}: the same packet id");
            assert_eq!(a.held_bytes(), b.held_bytes(), "{qos:?}");
            assert_eq!(names(&mut b), names(&mut a), "{qos:?}: the same records");
        }
        let s = b.get(sb).unwrap();
        assert_eq!((s.inflight_len(), s.queue_len()), (2, 0));
        // The window (2) is full: a QoS 1 message goes back to be queued, QoS 0 still goes.
        let full = b.send_now(sb, item(QoS::AtLeastOnce), window, |_, _| Ok::<_, ()>(()));
        assert!(full.is_err(), "window full");
        assert!(b
            .send_now(sb, item(QoS::AtMostOnce), window, |_, _| Ok::<_, ()>(()))
            .is_ok());
        // Something queued: nothing overtakes it.
        b.enqueue(sb, item(QoS::AtLeastOnce));
        let behind = b.send_now(sb, item(QoS::AtMostOnce), window, |_, _| Ok::<_, ()>(()));
        assert!(behind.is_err(), "queued ahead");
        assert_eq!(b.get(sb).unwrap().queue_len(), 1);
    }

    #[test]
    fn acknowledgements_in_any_order_take_their_own_entry() {
        // In order (the front) and out of order (MQTT allows a client to acknowledge
        // in any order): each PUBACK frees its own message and nothing else.
        let mut t = SessionTable::new(false);
        let sid = t.create("s", 0);
        t.attach(sid, 0, V311, 0, None);
        let mut ids = Vec::new();
        for _ in 0..4 {
            t.enqueue(sid, item(QoS::AtLeastOnce));
            let sent = t
                .sender(sid)
                .unwrap()
                .next((10, 0), |_, id| Ok::<_, ()>(id));
            let id = sent.unwrap().unwrap();
            ids.push(id.expect("a QoS 1 message has a packet id"));
        }
        let each = t.held_bytes() / 4;
        let inflight = |t: &SessionTable| -> Vec<u16> {
            t.get(sid)
                .unwrap()
                .inflight()
                .map(|m| m.packet_id)
                .collect()
        };
        assert!(
            !t.acknowledge(sid, ids[1], Awaiting::Pubcomp),
            "not awaiting PUBCOMP"
        );
        for (n, &i) in [2, 0, 3, 1].iter().enumerate() {
            assert!(t.acknowledge(sid, ids[i], Awaiting::Puback));
            assert!(
                !t.acknowledge(sid, ids[i], Awaiting::Puback),
                "acknowledged once"
            );
            assert!(!inflight(&t).contains(&ids[i]));
            assert_eq!(inflight(&t).len(), 3 - n);
            assert_eq!(t.held_bytes(), each * (3 - n));
        }
    }

    #[test]
    fn persistent_sessions_journal_their_changes_clean_ones_do_not() {
        let mut t = SessionTable::new(true);
        let clean = t.create("c", 0);
        t.attach(clean, 0, V311, 0, None);
        t.enqueue(clean, item(QoS::AtLeastOnce));
        assert_eq!(t.pop_durable(), None);
        let p = t.create("p", NEVER);
        t.attach(p, 1, V311, NEVER, Some("u"));
        t.enqueue(p, item(QoS::AtLeastOnce));
        t.sender(p).unwrap().next((10, 0), |_, _| Ok::<_, ()>(()));
        let records: Vec<Durable> = std::iter::from_fn(|| t.pop_durable()).collect();
        let names: Vec<&str> = records
            .iter()
            .map(|d| match d {
                Durable::SessionCreated { .. } => "created",
                Durable::SessionAttached { .. } => "attached",
                Durable::MessageQueued { .. } => "queued",
                Durable::MessageSent { .. } => "sent",
                _ => "other",
            })
            .collect();
        assert_eq!(names, ["created", "attached", "queued", "sent"]);
        assert_eq!(t.await_pubrel(p, 9, 1), Ok(true));
        assert_eq!(t.await_pubrel(p, 9, 1), Ok(false), "a re-sent one");
        assert_eq!(
            t.await_pubrel(p, 10, 1),
            Err(()),
            "over max_inflight_incoming"
        );
    }
}
