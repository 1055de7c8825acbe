//! One session's state [MQTT-4.1]: what survives a connection when clean session is 0.
//!
//! A session owns its subscriptions list, the queue of messages not yet sent, the outbound
//! inflight window (sent, not yet acknowledged) and the inbound QoS 2 packet ids awaiting
//! PUBREL. It does not know about sockets; the connection it is attached to, if any, is a
//! [`ConnId`].
//!
//! Everything here can be read by the whole core, but changed only by the session table
//! (`super`): its mutators are `pub(super)`, so every change goes through the table's
//! door, where the byte and offline counts are kept and durable records are made.

use crate::broker::clock::Tick;
use crate::broker::compact_str::CompactStr;
use crate::broker::id::ConnId;
use crate::broker::message::Message;
use crate::broker::topic_tree::FilterRef;
use crate::codec::{ProtocolVersion, QoS};
use std::collections::VecDeque;

/// Upper bound of the bytes one session costs besides its client id's string, its
/// subscriptions and its messages, for the memory ceiling: the slab entry and its hash,
/// its share of the client-id index, and its filter list's allocation.
pub const SESSION_BYTES: usize = std::mem::size_of::<Option<Session>>()
    + std::mem::size_of::<u32>()
    + crate::broker::index::BYTES_PER_ENTRY
    + 2 * crate::broker::compact_str::ALLOCATION_OVERHEAD;

/// [`Session::conn`] of a session without a connection.
const NO_CONN: u32 = u32::MAX;

/// A Session Expiry Interval that never ends the session [MQTT-3.1.2.11.2 of 5.0]
/// (0xFFFFFFFF), and the interval of every MQTT 3.1.1 session with clean session 0.
pub const NEVER: u32 = u32::MAX;

/// A message waiting in a session's queue.
#[derive(Clone, Debug)]
pub struct Queued {
    /// Shared topic and payload.
    pub message: Message,
    /// Delivery QoS for this subscriber.
    pub qos: QoS,
    /// RETAIN flag to send (retained messages sent on subscribe, Retain As Published).
    pub retain: bool,
    /// The Subscription Identifier of the subscription it matched (MQTT 5.0), 0 for none.
    /// (Kept in the padding after the flags: a queued message stays 24 bytes.)
    pub subscription_id: u32,
    /// The shared subscription group it was given to this session by (its number + 1),
    /// 0 for none: if the session ends first, the group's other members get it
    /// [MQTT-4.8.2-6 of 5.0].
    pub share: u16,
}

/// The acknowledgment an outbound QoS 1/2 message is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Awaiting {
    /// QoS 1 PUBLISH sent, PUBACK expected.
    Puback,
    /// QoS 2 PUBLISH sent, PUBREC expected.
    Pubrec,
    /// QoS 2 PUBREL sent, PUBCOMP expected.
    Pubcomp,
}

/// An outbound QoS 1/2 message in flight.
#[derive(Clone, Debug)]
pub struct Inflight {
    /// Packet id used for this delivery.
    pub packet_id: u16,
    /// The message, kept for re-delivery; `None` once PUBREC arrived (only PUBREL remains).
    pub message: Option<Message>,
    /// Delivery QoS.
    pub qos: QoS,
    /// RETAIN flag it was sent with.
    pub retain: bool,
    /// The shared subscription group it came through, as [`Queued::share`].
    pub share: u16,
    /// The Subscription Identifier it was sent with, as [`Queued::subscription_id`].
    pub subscription_id: u32,
    /// Not re-sent yet on the session's current connection: beyond the client's Receive
    /// Maximum when the session resumed, it goes out as acknowledgments free the window.
    pub deferred: bool,
    /// Acknowledgment state.
    pub state: Awaiting,
}

/// One client's session.
///
/// 192 bytes on 64-bit targets (checked by a test). The message state stays inline: it was
/// boxed (to save 96 bytes per idle session), but the extra pointer on every queue
/// operation cost 10-15 % CPU per message in a QoS 0 fan-out. Its deques allocate nothing
/// until a message is held, and keep their buffers afterwards.
#[derive(Debug)]
pub struct Session {
    /// The client identifier (also the key the broker finds the session by).
    pub(super) client_id: CompactStr,
    /// The username of the connection that owns it, for ACL checks of its deliveries.
    pub(super) username: Option<Box<str>>,
    /// The session's filters as stored in the topic tree (which holds the granted QoS),
    /// for cleanup; a store can rebuild the filter strings from the tree.
    pub(super) subscriptions: Vec<FilterRef>,
    /// The connection it is attached to; [`NO_CONN`] while offline. A bare `u32`, not an
    /// `Option<ConnId>`, to save 12 bytes: slots are below `net::MAX_POOL`.
    pub(super) conn: u32,
    /// When it went offline, for `persistent_client_expiration`.
    pub(super) offline_since: Option<Tick>,
    /// Messages not yet sent, oldest first.
    pub(super) queue: VecDeque<Queued>,
    /// Sum of the sizes of the queued messages, for `max_queued_bytes`.
    pub(super) queued_bytes: usize,
    /// Outbound QoS 1/2 messages sent and not yet fully acknowledged, in send order.
    pub(super) inflight: VecDeque<Inflight>,
    /// Sum of the sizes of the messages still held by `inflight`.
    pub(super) inflight_bytes: usize,
    /// Inbound QoS 2 packet ids delivered and awaiting PUBREL [MQTT-4.3.3-2].
    pub(super) awaiting_pubrel: Vec<u16>,
    /// Bumped whenever the slab slot is reused, so stale timers can be told apart.
    pub(super) generation: u32,
    /// Next outbound packet id to try.
    pub(super) next_packet_id: u16,
    /// The protocol version of the connection that owns it (or owned it last).
    pub(super) version: ProtocolVersion,
    /// Session Expiry Interval in seconds [MQTT-3.1.2-11 of 5.0]: 0 ends the session with
    /// its connection (MQTT 3.1.1's clean session 1), [`NEVER`] keeps it until
    /// `persistent_client_expiration` (clean session 0).
    pub(super) expiry: u32,
    /// Two marks in one byte (a session stays 192 bytes). Bit 7, [`DROPPING`]: a
    /// publisher stall on this session's full queue ran out, so overflowing QoS 1/2
    /// messages are dropped until the queue drains below its cap. Bits 0-6: the bridge
    /// whose outbox it is (its index + 1; 0 for a client's session), whose caps and
    /// policy its queue has (`super::super::bridge`).
    pub(super) marks: u8,
}

/// [`Session::marks`]' bit of "dropping".
const DROPPING: u8 = 0x80;

impl Session {
    /// A fresh session for `client_id`.
    pub(super) fn new(client_id: &str, expiry: u32, generation: u32) -> Session {
        Session {
            client_id: client_id.into(),
            username: None,
            subscriptions: Vec::new(),
            conn: NO_CONN,
            offline_since: None,
            queue: VecDeque::new(),
            queued_bytes: 0,
            inflight: VecDeque::new(),
            inflight_bytes: 0,
            awaiting_pubrel: Vec::new(),
            generation,
            next_packet_id: 1,
            version: ProtocolVersion::default(),
            expiry,
            marks: 0,
        }
    }

    /// The client identifier.
    #[inline]
    pub fn client_id(&self) -> &str {
        self.client_id.as_str()
    }

    /// The client identifier as stored: a copy is free of allocation when it is short.
    #[inline]
    pub(super) fn client_id_owned(&self) -> CompactStr {
        self.client_id.clone()
    }

    /// The user name of the connection that owns it (or owned it last).
    #[inline]
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The session's filters as stored in the topic tree.
    #[inline]
    pub fn subscriptions(&self) -> &[FilterRef] {
        &self.subscriptions
    }

    /// When it went offline (`None` while it has a connection, or for a clean session).
    #[inline]
    pub fn offline_since(&self) -> Option<Tick> {
        self.offline_since
    }

    /// Generation of its table slot, for telling stale timers apart.
    #[inline]
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// The protocol version of the connection that owns it (or owned it last): what a
    /// store keeps with the session (MQTT 5.0 sessions differ in expiry and properties).
    #[inline]
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Whether it ends with its connection (clean session 1).
    #[inline]
    pub fn is_clean(&self) -> bool {
        self.expiry == 0
    }

    /// Its Session Expiry Interval in seconds ([`NEVER`]: until
    /// `persistent_client_expiration`).
    #[inline]
    pub fn expiry(&self) -> u32 {
        self.expiry
    }

    /// Whether its overflowing QoS 1/2 messages are being dropped (a publisher stall on
    /// its queue ran out).
    #[inline]
    pub fn is_dropping(&self) -> bool {
        self.marks & DROPPING != 0
    }

    /// The bridge whose outbox it is, if it is one.
    #[inline]
    pub fn bridge(&self) -> Option<usize> {
        (self.marks & !DROPPING).checked_sub(1).map(usize::from)
    }

    /// Sets or clears the "dropping" mark (see [`Session::is_dropping`]).
    pub(super) fn set_dropping(&mut self, dropping: bool) {
        self.marks = (self.marks & !DROPPING) | if dropping { DROPPING } else { 0 };
    }

    /// Marks it as the outbox of bridge `index` (below 127).
    pub(super) fn set_bridge(&mut self, index: usize) {
        let bridge = u8::try_from(index + 1).unwrap_or(0).min(!DROPPING);
        self.marks = (self.marks & DROPPING) | bridge;
    }

    /// Payload bytes queued (not in flight), as `max_queued_bytes` counts them.
    #[inline]
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// The connection it is attached to; `None` while offline.
    #[inline]
    pub fn conn(&self) -> Option<ConnId> {
        (self.conn != NO_CONN).then_some(self.conn as ConnId)
    }

    /// Attaches the session to `conn`, or detaches it (`None`).
    pub(super) fn set_conn(&mut self, conn: Option<ConnId>) {
        self.conn = conn.map_or(NO_CONN, |c| {
            u32::try_from(c)
                .ok()
                .filter(|&c| c != NO_CONN)
                .expect("connection slots are below 2^16")
        });
    }

    /// Whether the queue has reached `max_messages` or would exceed `max_bytes` (0 = no
    /// byte cap) with `extra` more bytes. A message larger than the byte cap may still
    /// enter an empty queue.
    #[inline]
    pub fn queue_full(&self, max_messages: usize, max_bytes: usize, extra: usize) -> bool {
        self.queue.len() >= max_messages
            || (max_bytes != 0 && self.queued_bytes + extra > max_bytes && !self.queue.is_empty())
    }

    /// Whether the queue has drained to its low-water mark, where the publishers it
    /// stalled are read again: half of each cap free (at least one message), or empty.
    /// Released at the first free slot, each stalled publisher would add one message and
    /// stall again: a PUBACK write, a pause and a resume per delivered message (a QoS 1
    /// flood from 64 publishers to one subscriber spent 4.7 µs of broker CPU per message
    /// so, against 1.8 µs with its queue never full).
    #[inline]
    pub fn queue_drained(&self, max_messages: usize, max_bytes: usize) -> bool {
        let low_water = |cap: usize| cap.saturating_sub((cap / 2).max(1));
        self.queue.is_empty()
            || (self.queue.len() <= low_water(max_messages)
                && (max_bytes == 0 || self.queued_bytes <= low_water(max_bytes)))
    }

    /// Appends to the queue.
    #[inline]
    pub(super) fn push(&mut self, item: Queued) {
        self.queued_bytes += item.message.budget_size();
        self.queue.push_back(item);
    }

    /// Number of queued messages.
    #[inline]
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// The oldest queued message.
    #[inline]
    pub fn front(&self) -> Option<&Queued> {
        self.queue.front()
    }

    /// Takes the oldest queued message.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<Queued> {
        let item = self.queue.pop_front()?;
        self.queued_bytes -= item.message.budget_size();
        Some(item)
    }

    /// Message bytes this session holds (queue plus inflight), for `max_queued_memory`.
    #[inline]
    pub fn held_bytes(&self) -> usize {
        self.queued_bytes + self.inflight_bytes
    }

    /// The outbound QoS 1/2 messages in flight, in send order.
    pub fn inflight(&self) -> impl Iterator<Item = &Inflight> {
        self.inflight.iter()
    }

    /// Number of outbound QoS 1/2 messages in flight.
    #[inline]
    pub fn inflight_len(&self) -> usize {
        self.inflight.len()
    }

    /// Marks the in-flight PUBLISHes beyond the first `window` entries as not re-sent yet
    /// (see [`Inflight::deferred`]); returns how many were.
    pub(super) fn defer_beyond(&mut self, window: usize) -> usize {
        let mut deferred = 0;
        for (i, m) in self.inflight.iter_mut().enumerate() {
            // A PUBREL-only entry (no message) is not a PUBLISH to re-send.
            m.deferred = i >= window && m.message.is_some();
            deferred += usize::from(m.deferred);
        }
        deferred
    }

    /// The oldest in-flight message not re-sent yet, now marked re-sent.
    pub(super) fn undefer(&mut self) -> Option<&Inflight> {
        let m = self.inflight.iter_mut().find(|m| m.deferred)?;
        m.deferred = false;
        Some(m)
    }

    /// How many in-flight messages wait to be re-sent.
    pub fn deferred(&self) -> usize {
        self.inflight.iter().filter(|m| m.deferred).count()
    }

    /// Records a message sent with a packet id.
    pub(super) fn push_inflight(&mut self, entry: Inflight) {
        self.inflight_bytes += entry.message.as_ref().map_or(0, Message::budget_size);
        self.inflight.push_back(entry);
    }

    /// Forgets the message of an inflight QoS 2 entry once PUBREC arrived: only the PUBREL
    /// flow remains. Returns false if no entry with `packet_id` awaits PUBREC.
    pub(super) fn pubrec_received(&mut self, packet_id: u16) -> bool {
        let Some(m) = self
            .inflight
            .iter_mut()
            .find(|m| m.packet_id == packet_id && m.state == Awaiting::Pubrec)
        else {
            return false;
        };
        m.state = Awaiting::Pubcomp;
        self.inflight_bytes -= m.message.take().map_or(0, |m| m.budget_size());
        true
    }

    /// Drops queued QoS 0 messages (a session going offline keeps only QoS 1/2).
    pub(super) fn drop_queued_qos0(&mut self) {
        self.queue.retain(|q| q.qos != QoS::AtMostOnce);
        self.queued_bytes = self.queue.iter().map(|q| q.message.budget_size()).sum();
    }

    /// A packet id not used by any inflight message [MQTT-2.3.1-2]. The caller keeps the
    /// window below 65,535 entries, so one is always free.
    pub(super) fn allocate_packet_id(&mut self) -> u16 {
        loop {
            let id = self.next_packet_id;
            self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
            if !self.inflight.iter().any(|m| m.packet_id == id) {
                return id;
            }
        }
    }

    /// Removes the inflight entry with `packet_id` if it is in `state`.
    pub(super) fn take_inflight(&mut self, packet_id: u16, state: Awaiting) -> Option<Inflight> {
        let pos = self
            .inflight
            .iter()
            .position(|e| e.packet_id == packet_id && e.state == state)?;
        // Acknowledgements come in order as a rule [MQTT-4.6.0-2]: the oldest entry,
        // which `pop_front` takes without `remove`'s general shifting.
        let entry = match pos {
            0 => self.inflight.pop_front(),
            _ => self.inflight.remove(pos),
        }?;
        self.inflight_bytes -= entry.message.as_ref().map_or(0, Message::budget_size);
        Some(entry)
    }

    /// The queued messages, oldest first.
    pub fn queued(&self) -> impl Iterator<Item = &Queued> {
        self.queue.iter()
    }

    /// Inbound QoS 2 packet ids delivered and awaiting PUBREL.
    pub fn pubrel_ids(&self) -> &[u16] {
        &self.awaiting_pubrel
    }

    /// Whether an inbound QoS 2 message with `packet_id` was delivered and awaits PUBREL.
    pub fn awaits_pubrel(&self, packet_id: u16) -> bool {
        self.awaiting_pubrel.contains(&packet_id)
    }

    /// Number of inbound QoS 2 messages awaiting PUBREL.
    pub fn awaiting_pubrel(&self) -> usize {
        self.awaiting_pubrel.len()
    }

    /// Records an inbound QoS 2 message delivered, awaiting PUBREL.
    pub(super) fn await_pubrel(&mut self, packet_id: u16) {
        self.awaiting_pubrel.push(packet_id);
    }

    /// PUBREL arrived for `packet_id`: the id may be used for a new message.
    pub(super) fn pubrel_received(&mut self, packet_id: u16) -> bool {
        let before = self.awaiting_pubrel.len();
        self.awaiting_pubrel.retain(|&x| x != packet_id);
        self.awaiting_pubrel.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_ids_skip_ids_in_flight_and_zero_mqtt_2_3_1_2() {
        let mut s = Session::new("c", NEVER, 0);
        s.next_packet_id = u16::MAX;
        let a = s.allocate_packet_id();
        assert_eq!(a, u16::MAX);
        s.push_inflight(Inflight {
            packet_id: 1,
            message: None,
            qos: QoS::AtLeastOnce,
            retain: false,
            share: 0,
            subscription_id: 0,
            deferred: false,
            state: Awaiting::Puback,
        });
        assert_eq!(
            s.allocate_packet_id(),
            2,
            "wraps past 0 and skips 1, which is in flight"
        );
    }

    #[test]
    fn queue_caps_count_messages_and_bytes() {
        let mut s = Session::new("c", NEVER, 0);
        let m = Message::new("t", &[0; 10]);
        s.push(Queued {
            message: m.clone(),
            qos: QoS::AtMostOnce,
            retain: false,
            subscription_id: 0,
            share: 0,
        });
        assert_eq!(s.held_bytes(), 13);
        assert!(s.queue_full(1, 0, 13));
        assert!(!s.queue_full(2, 0, 13));
        assert!(s.queue_full(2, 20, 13));
        assert!(!s.queue_full(2, 26, 13));
        s.pop();
        assert_eq!(s.held_bytes(), 0);
    }

    #[test]
    fn a_session_without_messages_allocates_nothing() {
        let s = Session::new("c", 0, 0);
        assert_eq!((s.queue.capacity(), s.inflight.capacity()), (0, 0));
        assert!(!s.queue_full(1, 1, 0) && s.front().is_none() && s.inflight_len() == 0);
        crate::broker::assert_size_of::<Option<Session>>(192);
    }
}
