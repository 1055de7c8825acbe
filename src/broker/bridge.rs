//! Bridges as the core sees them: each bridge to an upstream broker is a local session
//! (its outbox) subscribed to the bridge's `out` filters, and, while its uplink is up, a
//! connection slot the reactor attaches to that session. The session exists from start,
//! uplink or not, so messages wait in it (and in the store) through an outage; its queue
//! has the bridge's own caps and full-queue policy (drop the oldest or the new message),
//! counted per bridge.
//!
//! What the connection sends and receives are ordinary MQTT 5.0 packets (PUBLISH with
//! a Subscription Identifier naming the `out` mapping that matched, PUBACK, ...), so
//! routing, ACLs (under the bridge's `local_username`), retained messages and `$SYS`
//! stay where they are. This file must not know about the uplink's socket or topics'
//! remote side (`crate::bridge` maps them).
//!
//! With a store, an outbox keeps a window in RAM ([`WINDOW_MESSAGES`],
//! [`WINDOW_BYTES`]); what arrives beyond it is *spilled*: recorded for the store only
//! ([`Durable::MessageSpilled`]), which lets go of the message once it is written. The
//! core keeps each spilled message's size (for the caps, 4 bytes each) and, as the window
//! drains, asks the store for the oldest of them back ([`Durable::RefillWanted`]); the
//! reactor hands the answer to [`Broker::bridge_refill`]. Without a store the whole
//! outbox is in RAM, up to its caps.

use super::*;
use std::collections::VecDeque;

/// Most messages of a bridge's outbox kept in RAM while the rest wait on disk.
pub const WINDOW_MESSAGES: usize = 256;
/// Most message bytes of a bridge's outbox kept in RAM (one larger message still fits).
pub const WINDOW_BYTES: usize = 256 * 1024;

/// The messages of a bridge's outbox that wait on disk only, oldest first.
#[derive(Debug, Default)]
pub(super) struct Spilled {
    /// Their sizes (as [`Message::budget_size`]), those asked back included.
    sizes: VecDeque<u32>,
    /// Sum of `sizes`.
    bytes: usize,
    /// How many of the oldest were asked back and have not arrived (0: none asked).
    asked: usize,
    /// Of those, how many were dropped meanwhile (the answer's first ones are skipped).
    skip: usize,
}

impl Spilled {
    /// One more message of `size` bytes on disk only.
    pub(super) fn push(&mut self, size: usize) {
        self.sizes
            .push_back(u32::try_from(size).unwrap_or(u32::MAX));
        self.bytes += size;
    }
}

/// The caps and policy of a bridge's outbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BridgeOutbox {
    /// Most messages waiting.
    pub max_messages: usize,
    /// Most payload bytes waiting (a message counts as in `max_queued_bytes`).
    pub max_bytes: usize,
    /// A message for a full outbox replaces the oldest one (else it is dropped).
    pub drop_oldest: bool,
    /// QoS 0 messages wait while the uplink is down (else they are dropped).
    pub queue_qos0: bool,
}

#[cfg(test)]
impl BridgeOutbox {
    /// Caps for tests: `max_messages`, no byte cap, QoS 0 not queued.
    pub fn for_test(max_messages: usize, drop_oldest: bool) -> BridgeOutbox {
        BridgeOutbox {
            max_messages,
            max_bytes: 0,
            drop_oldest,
            queue_qos0: false,
        }
    }
}

/// A bridge's local side: what [`Broker::bridge_session`] sets up.
#[derive(Clone, Debug)]
pub struct BridgeLocal<'a> {
    /// The session's client id (`local_clientid`).
    pub client_id: &'a str,
    /// The user name its subscriptions and publications are checked under
    /// (`local_username`).
    pub username: Option<&'a str>,
    /// `local_cleansession true`: whatever a previous run left is discarded at start.
    pub clean: bool,
    /// The outbox's caps.
    pub outbox: BridgeOutbox,
    /// The `out` filters with their QoS; a delivery through filter `i` carries
    /// Subscription Identifier `i + 1`.
    pub filters: &'a [(String, QoS)],
}

/// The core's record of one bridge.
#[derive(Debug)]
pub(super) struct BridgeState {
    /// Its session.
    pub(super) sid: SessionId,
    /// Its outbox's caps.
    pub(super) outbox: BridgeOutbox,
    /// Messages dropped from or refused by its full outbox.
    pub(super) dropped: u64,
    /// Its messages on disk only.
    pub(super) spilled: Spilled,
}

impl BridgeState {
    /// Whether its outbox (session `s`, and what waits on disk) is below its caps: the
    /// publishers held back on it may go on.
    pub(super) fn has_room(&self, s: &Session) -> bool {
        let o = &self.outbox;
        let on_disk = (self.spilled.sizes.len(), self.spilled.bytes);
        !super::delivery::queue_full(s, Some(on_disk), (o.max_messages, o.max_bytes, 0))
    }
}

/// A bridge's counters, for `$SYS/broker/connection/NAME/...` and `sol check`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BridgeCounts {
    /// Messages waiting in its outbox (not sent yet).
    pub queued: usize,
    /// Payload bytes waiting.
    pub queued_bytes: usize,
    /// Messages sent and not acknowledged yet.
    pub inflight: usize,
    /// Messages dropped because the outbox was full.
    pub dropped: u64,
}

impl Broker {
    /// Sets up bridge `index`'s local session (call at start, after the store's
    /// restore): found or created, kept until the broker stops, with `local`'s caps, and
    /// subscribed to its `out` filters with No Local (what the bridge publishes here is
    /// not sent back up), Retain As Published and no retained messages at subscribe.
    /// Filters a previous configuration subscribed and this one does not are removed.
    pub fn bridge_session(&mut self, index: usize, local: &BridgeLocal<'_>, now: Instant) {
        if local.clean {
            if let Some(old) = self.sessions.find(local.client_id) {
                self.remove_session(old, now);
            }
        }
        let sid = match self.sessions.find(local.client_id) {
            Some(sid) => sid,
            None => self.sessions.create(local.client_id, NEVER),
        };
        self.sessions.set_username(sid, local.username);
        let wanted: Vec<&str> = local.filters.iter().map(|(f, _)| f.as_str()).collect();
        let stale: Vec<String> = self.sessions.get(sid).map_or_else(Vec::new, |s| {
            s.subscriptions()
                .iter()
                .map(|&at| self.tree.filter_of(at))
                .filter(|f| !wanted.contains(&f.as_str()))
                .collect()
        });
        for filter in stale {
            self.unsubscribe_one(sid, &filter);
        }
        for (i, (filter, qos)) in local.filters.iter().enumerate() {
            match self.subscribe_one(sid, filter, *qos) {
                Ok(_) => {
                    if let Some(at) = self.tree.find(filter) {
                        let id = u32::try_from(i + 1).unwrap_or(u32::MAX);
                        self.tree.set_options(at, sid, true, true, id);
                    }
                }
                Err((_, why)) => warn!(
                    "bridge {}: local subscription to {filter:?} refused: {why}",
                    local.client_id
                ),
            }
        }
        if self.bridges.len() <= index {
            self.bridges.resize_with(index + 1, || None);
        }
        // What the store restored on disk only (gone with the session if it is clean).
        let restored = (self.restored_spills.iter())
            .position(|(id, _)| &**id == local.client_id)
            .map(|i| self.restored_spills.swap_remove(i).1);
        let spilled = restored.filter(|_| !local.clean).unwrap_or_default();
        self.bridges[index] = Some(BridgeState {
            sid,
            outbox: local.outbox,
            dropped: 0,
            spilled,
        });
        self.sessions.set_bridge(sid, index);
    }

    /// Bridge `index`'s uplink is up: `conn` (a slot the reactor keeps for it) becomes
    /// the connection of its session, which resends what was in flight and drains its
    /// outbox within `receive_maximum` (the upstream's) and `maximum_packet_size`.
    pub fn bridge_attach(
        &mut self,
        conn: ConnId,
        index: usize,
        receive_maximum: u16,
        maximum_packet_size: u32,
        now: Instant,
    ) {
        let Some(sid) = self.bridge_sid(index) else {
            return;
        };
        self.accepted(conn, usize::MAX, now);
        let Some(c) = self.conn_mut(conn) else { return };
        c.phase = Phase::Connected(sid);
        c.version = ProtocolVersion::V5;
        let e = c.extra_mut();
        e.receive_maximum = receive_maximum.max(1);
        e.maximum_packet_size = maximum_packet_size;
        let username = self
            .sessions
            .get(sid)
            .and_then(|s| s.username().map(Box::<str>::from));
        self.sessions
            .attach(sid, conn, ProtocolVersion::V5, NEVER, username.as_deref());
        self.connected += 1;
        self.stats.clients_maximum = self.stats.clients_maximum.max(self.connected as u64);
        self.retransmit(conn, sid, now);
        self.pump(sid, now);
        self.arm_conn_timer(conn);
    }

    /// Publishes `payload` on `topic`, retained, from the broker itself: a bridge's
    /// state and counters (`$SYS/broker/connection/...`).
    pub fn publish_state(&mut self, topic: &str, payload: &[u8], qos: QoS, now: Instant) {
        self.publish(None, Message::new(topic, payload), qos, true, now);
    }

    /// Bridge `index`'s counters.
    pub fn bridge_counts(&self, index: usize) -> BridgeCounts {
        let Some(Some(b)) = self.bridges.get(index) else {
            return BridgeCounts::default();
        };
        let s = self.sessions.get(b.sid);
        BridgeCounts {
            queued: s.map_or(0, Session::queue_len) + b.spilled.sizes.len(),
            queued_bytes: s.map_or(0, Session::queued_bytes) + b.spilled.bytes,
            inflight: s.map_or(0, Session::inflight_len),
            dropped: b.dropped,
        }
    }

    /// Message bytes held by clients' sessions, for `max_queued_memory`: every
    /// session's but the bridges' outboxes, which have their own caps (known by client
    /// id from the start, so also while the store restores sessions).
    #[inline]
    pub(super) fn client_held_bytes(&self) -> usize {
        let all = self.sessions.held_bytes();
        let outboxes = &self.limits.bridge_outboxes;
        if outboxes.is_empty() {
            return all;
        }
        let held: usize = outboxes
            .iter()
            .filter_map(|(id, _)| self.sessions.find(id))
            .filter_map(|sid| self.sessions.get(sid))
            .map(Session::held_bytes)
            .sum();
        all - held
    }

    /// The session of bridge `index`.
    fn bridge_sid(&self, index: usize) -> Option<SessionId> {
        self.bridges.get(index)?.as_ref().map(|b| b.sid)
    }

    /// The outbox caps of a bridge's session (`bridge` is [`Session::bridge`]).
    pub(super) fn bridge_outbox(&self, bridge: usize) -> Option<BridgeOutbox> {
        self.bridges.get(bridge)?.as_ref().map(|b| b.outbox)
    }

    /// A message for bridge `bridge`'s full outbox: with `drop_oldest`, the oldest
    /// queued message makes room (true); else the new one is refused (false). Counted
    /// either way; a dropped oldest message is logged here (a refused new one where
    /// every refused message is).
    pub(super) fn bridge_overflow(&mut self, sid: SessionId, bridge: usize, now: Instant) -> bool {
        let Some(Some(b)) = self.bridges.get_mut(bridge) else {
            return false;
        };
        b.dropped += 1;
        if !b.outbox.drop_oldest {
            return false;
        }
        let in_ram = self.sessions.get(sid).is_some_and(|s| s.queue_len() > 0);
        if in_ram {
            if let Some(mut sender) = self.sessions.sender(sid) {
                // Sent nowhere: the store records it as gone, as for any dropped front.
                let _ = sender.next((usize::MAX, 0), |_, _| Err::<(), ()>(()));
            }
        } else {
            // The window in RAM drained and waits for the disk: the oldest is there.
            let sp = &mut b.spilled;
            if let Some(size) = sp.sizes.pop_front() {
                sp.bytes -= size as usize;
                if sp.skip < sp.asked {
                    sp.skip += 1;
                }
                self.sessions.spilled_dropped(sid);
            }
        }
        self.stats.publish_dropped += 1;
        let id = self.sessions.get(sid).map_or("", Session::client_id);
        self.drop_log.warn(
            now,
            format_args!("bridge outbox {id} full: dropped its oldest message"),
        );
        true
    }

    /// How many messages and bytes of bridge `bridge`'s outbox wait on disk only.
    pub(super) fn spilled_of(&self, bridge: usize) -> (usize, usize) {
        match self.bridges.get(bridge) {
            Some(Some(b)) => (b.spilled.sizes.len(), b.spilled.bytes),
            _ => (0, 0),
        }
    }

    /// Where a message for bridge `bridge`'s outbox (session `sid`, within its caps)
    /// goes: back to the caller to join the queue in RAM, or, with a store and the
    /// window full (or messages already on disk: order is kept), to disk only. A QoS 0
    /// message the outbox does not keep offline (`bridge_outbox_qos0 false`) is dropped
    /// rather than written, counted.
    pub(super) fn bridge_spill(
        &mut self,
        sid: SessionId,
        bridge: usize,
        item: Queued,
        now: Instant,
    ) -> Option<Queued> {
        let Some(s) = self.sessions.get(sid) else {
            return Some(item);
        };
        let size = item.message.budget_size();
        let in_ram = s.queue_len();
        let Some(Some(b)) = self.bridges.get_mut(bridge) else {
            return Some(item);
        };
        let window_full =
            in_ram >= WINDOW_MESSAGES || (in_ram > 0 && s.queued_bytes() + size > WINDOW_BYTES);
        if !self.limits.track_durable || (b.spilled.sizes.is_empty() && !window_full) {
            return Some(item);
        }
        if item.qos == QoS::AtMostOnce && !b.outbox.queue_qos0 {
            b.dropped += 1;
            self.stats.publish_dropped += 1;
            let id = s.client_id().to_string();
            self.drop_log.warn(
                now,
                format_args!("bridge outbox {id}: QoS 0 message dropped, its window is full"),
            );
            return None;
        }
        b.spilled.push(size);
        self.sessions.spill(sid, item);
        None
    }

    /// Asks the store for the oldest messages of session `sid`'s outbox on disk, if it
    /// is a bridge's, its window has drained to half and nothing is asked already: as
    /// many as fill the window again.
    pub(super) fn bridge_ask(&mut self, sid: SessionId) {
        let Some(s) = self.sessions.get(sid) else {
            return;
        };
        let (in_ram, ram_bytes) = (s.queue_len(), s.queued_bytes());
        let Some(Some(b)) = s.bridge().and_then(|i| self.bridges.get_mut(i)) else {
            return;
        };
        let sp = &mut b.spilled;
        if sp.asked > 0 || sp.sizes.is_empty() || in_ram > WINDOW_MESSAGES / 2 {
            return;
        }
        let mut room = WINDOW_BYTES.saturating_sub(ram_bytes);
        let mut count = 0;
        for &size in sp.sizes.iter().take(WINDOW_MESSAGES - in_ram) {
            if count > 0 && size as usize > room {
                break;
            }
            room = room.saturating_sub(size as usize);
            count += 1;
        }
        sp.asked = count;
        sp.skip = 0;
        self.sessions
            .refill_wanted(sid, u32::try_from(count).unwrap_or(u32::MAX));
    }

    /// The store's answer to bridge outbox `client_id`'s request for its oldest
    /// messages on disk: `entries` in order (`None`: they could not be read: dropped,
    /// counted and logged). Those dropped while the request was out are skipped; the
    /// rest join the queue in RAM and are sent if the uplink is up.
    pub fn bridge_refill(
        &mut self,
        client_id: &str,
        entries: Option<Vec<StoredEntry>>,
        now: Instant,
    ) {
        let Some(sid) = self.sessions.find(client_id) else {
            return;
        };
        let bridge = self.sessions.get(sid).and_then(Session::bridge);
        let Some(Some(b)) = bridge.and_then(|i| self.bridges.get_mut(i)) else {
            return;
        };
        let sp = &mut b.spilled;
        if sp.asked == 0 {
            return;
        }
        let arrived = sp.asked - sp.skip;
        for _ in 0..arrived {
            if let Some(size) = sp.sizes.pop_front() {
                sp.bytes -= size as usize;
            }
        }
        let skip = sp.skip;
        (sp.asked, sp.skip) = (0, 0);
        // All of them or none: the store's picture moves them all.
        let entries =
            entries.filter(|v| v.len() == skip + arrived && v.iter().all(|e| e.message.is_some()));
        let kept = entries.is_some();
        let items: Vec<Queued> = entries
            .unwrap_or_default()
            .into_iter()
            .skip(skip)
            .filter_map(|e| {
                Some(Queued {
                    message: e.message?,
                    qos: e.qos,
                    retain: e.retain,
                    subscription_id: 0,
                    share: 0,
                })
            })
            .collect();
        let lost = arrived.saturating_sub(items.len());
        if lost > 0 {
            b.dropped += lost as u64;
            self.stats.publish_dropped += lost as u64;
            self.drop_log.warn(
                now,
                format_args!(
                    "bridge outbox {client_id}: {lost} message(s) on disk could not be read \
                     back; dropped"
                ),
            );
        }
        self.sessions.refilled(sid, items, kept);
        self.pump(sid, now);
        self.bridge_ask(sid);
    }
}
