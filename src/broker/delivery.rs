//! Delivery and acknowledgments: a message joins a session's queue (or is dropped under
//! its caps, or stalls its publisher), queued messages move into the connection's outbox
//! within the inflight window, are re-sent when a session resumes, and leave the inflight
//! window with PUBACK, PUBREC/PUBREL/PUBCOMP [MQTT-4.3], [MQTT-4.4].

use super::*;
use crate::codec::PerSubscriber;

/// Frames moved from a session's queue into its connection's outbox at a time: enough
/// for one write of many small messages (the reactor packs them into one syscall), few
/// enough that queue caps keep their meaning and the outbox's worst case stays small.
pub(super) const OUTBOX_BATCH: usize = 128;

/// Why a queued message was not delivered to its subscriber.
enum Undelivered {
    /// Its Message Expiry Interval ran out while it waited.
    Expired,
    /// Larger than the client's Maximum Packet Size.
    TooLarge,
    /// Past the protocol's size limit once its header was added.
    Unencodable(EncodeError),
    /// Not below the mount point of the client's listener.
    OutsideMount,
}

impl Undelivered {
    /// Logs why a message was dropped for connection `conn` (the caller counts it):
    /// expired, larger than the client accepts, at the protocol's size limit with a
    /// packet id added, or outside the mount point.
    #[inline(never)]
    fn log(self, conn: ConnId) {
        match self {
            Undelivered::Expired => debug!("connection {conn}: message expired"),
            Undelivered::TooLarge => {
                debug!("connection {conn}: message larger than its Maximum Packet Size")
            }
            Undelivered::Unencodable(e) => warn!("dropped a message for connection {conn}: {e}"),
            Undelivered::OutsideMount => {
                debug!("connection {conn}: message outside its listener's mount point")
            }
        }
    }
}

/// What a delivery's frame depends on besides the message: the connection's protocol
/// version, Maximum Packet Size and listener's mount point, and the time (for what is
/// left of a Message Expiry Interval). The one place a queued message becomes a PUBLISH
/// frame, for [`Broker::pump`] and [`Broker::deliver_now`].
struct Recipient<'a> {
    /// The broker's clock at the delivery.
    stamp: Tick,
    /// The connection's protocol version.
    version: ProtocolVersion,
    /// The largest packet the client accepts (`usize::MAX`: no limit).
    max_size: usize,
    /// The mount point of the connection's listener.
    mount: Option<&'a str>,
}

impl<'a> Recipient<'a> {
    /// Connection `c` (of a listener in `limits`) at `stamp`.
    #[inline]
    fn of(c: &Conn, limits: &'a Limits, stamp: Tick) -> Recipient<'a> {
        let listener = limits.listeners.get(c.listener as usize);
        Recipient {
            stamp,
            version: c.version,
            max_size: c.maximum_packet_size(),
            mount: listener.and_then(|l| l.clients.mount_point.as_deref()),
        }
    }

    /// The PUBLISH frame of `item` with `packet_id`, or why it is not delivered.
    #[inline]
    fn frame(&self, item: &Queued, packet_id: Option<u16>) -> Result<Frame, Undelivered> {
        // An expired message is not delivered [MQTT-3.3.2-5 of 5.0].
        let expiry = item
            .message
            .remaining(self.stamp)
            .map_err(|_| Undelivered::Expired)?;
        let ids = [item.subscription_id];
        let extra = PerSubscriber {
            expiry,
            subscription_ids: if item.subscription_id == 0 { &[] } else { &ids },
        };
        let message = match self.mount {
            None => item.message.clone(),
            Some(mount) => {
                mount::unmounted(&item.message, mount).ok_or(Undelivered::OutsideMount)?
            }
        };
        let (qos, retain) = (item.qos, item.retain);
        let frame =
            Frame::publish_with(message, self.version, qos, false, retain, packet_id, &extra)
                .map_err(Undelivered::Unencodable)?;
        // Nothing larger than the client accepts [MQTT-3.1.2-24 of 5.0].
        if self.max_size != usize::MAX && frame.len() > self.max_size {
            return Err(Undelivered::TooLarge);
        }
        Ok(frame)
    }
}

impl Broker {
    /// Queues a message for a session, applying the slow-consumer policy of
    /// ARCHITECTURE.md when the queue is full.
    pub(super) fn enqueue(
        &mut self,
        sid: SessionId,
        item: Queued,
        from: Option<ConnId>,
        now: Instant,
    ) {
        let l = &self.limits;
        let (mut max_messages, mut max_bytes) = (l.max_queued_messages, l.max_queued_bytes);
        let size = item.message.budget_size();
        let mut queue_qos0 = l.queue_qos0_messages;
        let Some(s) = self.sessions.get(sid) else {
            return;
        };
        // A bridge's outbox has its own caps (and its own line in the memory ceiling):
        // max_queued_memory neither applies to it nor counts it.
        let bridge = s.bridge();
        // The total first: the outboxes are subtracted (hash lookups) only near the cap.
        let memory_full = bridge.is_none()
            && self.sessions.held_bytes() + size > l.max_queued_memory
            && self.client_held_bytes() + size > l.max_queued_memory;
        if let Some(o) = bridge.and_then(|b| self.bridge_outbox(b)) {
            (max_messages, max_bytes, queue_qos0) = (o.max_messages, o.max_bytes, o.queue_qos0);
        }
        let online = s.conn().is_some();
        if !online && item.qos == QoS::AtMostOnce && !queue_qos0 {
            // A bridge counts what its uplink missed (a client's offline QoS 0 is not
            // its to miss [MQTT-3.1.2-5]).
            if let Some(b) = bridge.and_then(|b| self.bridges.get_mut(b)?.as_mut()) {
                b.dropped += 1;
            }
            return;
        }
        // A bridge's outbox counts what waits on disk too.
        let caps = (max_messages, max_bytes, size);
        let full = |s: &Session, on_disk| queue_full(s, on_disk, caps);
        let was_full = !memory_full && full(s, bridge.map(|b| self.spilled_of(b)));
        let refused = if memory_full {
            Some("max_queued_memory reached")
        } else if was_full {
            // A draining subscriber's QoS 1/2 messages overflow the cap while their
            // publisher is paused; everything else is dropped and counted.
            let stallable = online
                && item.qos != QoS::AtMostOnce
                && !s.is_dropping()
                && from.is_some()
                && from != s.conn();
            match (stallable, online) {
                (true, _) => None,
                (false, true) => Some("queue full"),
                (false, false) => Some("offline queue full"),
            }
        } else {
            None
        };
        // A full bridge outbox drops its oldest message for the new one, or the new one.
        let made_room = match (refused, bridge) {
            (Some(_), Some(b)) if !memory_full => self.bridge_overflow(sid, b, now),
            _ => false,
        };
        if let (Some(why), false) = (refused, made_room) {
            let id = self.sessions.get(sid).map(|s| s.client_id().to_string());
            let id = id.unwrap_or_default();
            self.stats.publish_dropped += 1;
            let topic = item.message.topic();
            self.drop_log.warn(
                now,
                format_args!("dropped message on {topic} for {id}: {why}"),
            );
            return;
        }
        // Whether it goes beyond the cap (a stall): as found above, unless a bridge's
        // outbox just made room.
        let overflow = match made_room {
            false => was_full,
            true => {
                let spilled = bridge.map(|b| self.spilled_of(b));
                self.sessions.get(sid).is_some_and(|s| full(s, spilled))
            }
        };
        let item = match bridge {
            Some(b) => self.bridge_spill(sid, b, item, now),
            None => Some(item),
        };
        let item = match (online, bridge, item) {
            (true, None, Some(item)) if !overflow => self.deliver_now(sid, item, now),
            (_, _, item) => item,
        };
        let Some(item) = item else {
            // Delivered (or dropped as the pump would drop it) without the queue.
            return;
        };
        self.sessions.enqueue(sid, item);
        if let (true, Some(publisher)) = (overflow, from) {
            self.stall(publisher, sid, now);
        }
        if online {
            self.pump(sid, now);
        }
    }

    /// A message for a client's online session that has nothing queued, nothing to
    /// re-send and no publisher stalled on it goes straight into its connection's
    /// outbox (at QoS 1/2 when it fits the inflight window, through
    /// [`SessionTable::send_now`]): the frame [`Broker::pump`] would make at once from
    /// the queue, without the queue (a queue push and pop, the sender, the drain check:
    /// about 190 instructions per QoS 0 delivery and 90-100 per QoS 1 one,
    /// `benches/instructions.py`). The caps were applied by [`Broker::enqueue`]; order
    /// holds because everything queued before is in the outbox already; a QoS 1/2
    /// message is journalled as the queue would have. Returns the message when the
    /// queue must take it.
    fn deliver_now(&mut self, sid: SessionId, item: Queued, now: Instant) -> Option<Queued> {
        let conn = match self.sessions.get(sid) {
            Some(s) if s.queue_len() == 0 && s.deferred() == 0 && !self.awaits_drain(s, sid) => {
                s.conn()
            }
            _ => None,
        };
        let Some(conn) = conn else {
            return Some(item);
        };
        let stamp = self.clock.stamp(now);
        let max_inflight = self.max_inflight();
        let Some(Some(c)) = self.conns.get_mut(conn) else {
            return Some(item);
        };
        // Nothing follows the broker's DISCONNECT; a full outbox leaves the rest queued.
        if c.closing || c.outbox.len() >= OUTBOX_BATCH {
            return Some(item);
        }
        let to = Recipient::of(c, &self.limits, stamp);
        let sent = if item.qos == QoS::AtMostOnce {
            // The session does not change: a QoS 0 message to an online client is
            // never kept, so the journal (a store) has nothing to record either.
            to.frame(&item, None)
        } else {
            // Never more in flight than the client accepts [MQTT-3.3.4-7 of 5.0].
            let window = (
                max_inflight.min(c.receive_maximum()),
                self.limits.max_inflight_bytes,
            );
            match self
                .sessions
                .send_now(sid, item, window, |item, id| to.frame(item, id))
            {
                Ok(sent) => sent,
                Err(item) => return Some(item),
            }
        };
        match sent {
            Ok(frame) => {
                let started = c.outbox.is_empty();
                if started {
                    c.last_progress = stamp;
                }
                c.outbox.push_back(frame);
                self.moved_to_outbox(conn, 1, started, stamp);
            }
            Err(why) => {
                self.stats.publish_dropped += 1;
                why.log(conn);
            }
        }
        None
    }

    /// `moved` frames were put in the outbox of `conn` (empty before if `started`):
    /// counted, the connection marked for writing, and its slow-consumer deadline
    /// started with the first frame.
    fn moved_to_outbox(&mut self, conn: ConnId, moved: usize, started: bool, stamp: Tick) {
        self.stats.publish_sent += moved as u64;
        self.stats.messages_sent += moved as u64;
        self.unwritten += moved;
        self.mark_writable(conn);
        if started {
            self.arm_slow_consumer_timer(conn, stamp);
        }
    }

    /// Moves queued messages into the connection's outbox while the inflight window and
    /// the batch size allow, then releases the publishers stalled on the queue if it has
    /// drained enough ([`Broker::room_freed`]).
    pub(super) fn pump(&mut self, sid: SessionId, now: Instant) {
        if self.pump_idle(sid, now) {
            return;
        }
        let max_inflight = self.max_inflight();
        let max_inflight_bytes = self.limits.max_inflight_bytes;
        if self.sessions.get(sid).is_some_and(|s| s.deferred() > 0) {
            self.resend_deferred(sid, now);
        }
        let (max_messages, max_bytes) = (
            self.limits.max_queued_messages,
            self.limits.max_queued_bytes,
        );
        let stamp = self.clock.stamp(now);
        let Some(mut sender) = self.sessions.sender(sid) else {
            return;
        };
        let Some(conn) = sender.session().conn() else {
            return;
        };
        let Some(Some(c)) = self.conns.get_mut(conn) else {
            return;
        };
        if c.closing {
            // Nothing follows the broker's DISCONNECT [MQTT-3.14.4-1 of 5.0].
            return;
        }
        // The slow-consumer deadline starts with the first frame of an empty outbox.
        let started = c.outbox.is_empty();
        let queued = sender.session().queue_len();
        let bridge_index = sender.session().bridge();
        let bridge = bridge_index.is_some();
        let mut moved = 0usize;
        let mut unencodable = 0u64;
        if queued > 0 {
            // At most what the outbox has room for; none when it is full (a flood).
            let batch = queued.min(OUTBOX_BATCH.saturating_sub(c.outbox.len()));
            if batch > 1 {
                // One allocation for the batch (a single frame needs none: see `Outbox`).
                c.outbox.reserve(batch);
            }
            // Never more in flight than the client accepts [MQTT-3.3.4-7 of 5.0].
            let max_inflight = max_inflight.min(c.receive_maximum());
            let to = Recipient::of(c, &self.limits, stamp);
            let window = (max_inflight, max_inflight_bytes);
            for _ in 0..batch {
                let sent = sender.next(window, |item, packet_id| to.frame(item, packet_id));
                match sent {
                    None => break,
                    Some(Ok(frame)) => {
                        if c.outbox.is_empty() {
                            c.last_progress = stamp;
                        }
                        c.outbox.push_back(frame);
                        moved += 1;
                    }
                    Some(Err(why)) => {
                        unencodable += 1;
                        why.log(conn);
                    }
                }
            }
        }
        // Whether its stalled publishers may be read again: drained, or with room once
        // a stall has lasted (`stall_aged`).
        let (drained, room) = match bridge_index.and_then(|b| self.bridges.get(b)?.as_ref()) {
            // A bridge's outbox: its own caps, counting what waits on disk.
            Some(b) => {
                let room = b.has_room(sender.session());
                (room, room)
            }
            None => {
                let s = sender.session();
                // Drained implies room: the low-water mark is below each cap.
                (
                    s.queue_drained(max_messages, max_bytes),
                    !s.queue_full(max_messages, max_bytes, 0),
                )
            }
        };
        self.stats.publish_dropped += unencodable;
        if moved > 0 {
            self.moved_to_outbox(conn, moved, started, stamp);
        }
        if drained || (room && self.stall_aged(sid, now)) {
            self.room_freed(sid, now);
        }
        // A bridge's outbox takes its messages on disk back as its window drains.
        if bridge {
            self.bridge_ask(sid);
        }
    }

    /// [`Broker::pump`] for a client session with nothing queued and nothing to re-send,
    /// the case of most calls (every acknowledgment and every write lands in `pump`):
    /// only the end of a pump applies, the drain check that releases publishers. Returns
    /// false, doing nothing, when the full pump is needed.
    #[inline]
    fn pump_idle(&mut self, sid: SessionId, now: Instant) -> bool {
        let Some(s) = self.sessions.get(sid) else {
            return true;
        };
        if s.queue_len() > 0 || s.deferred() > 0 || s.bridge().is_some() {
            return false;
        }
        // An empty queue has drained: what is left to do is clear the dropping mark and
        // release the publishers stalled on it, if there are any ...
        if !self.awaits_drain(s, sid) {
            return true;
        }
        // ... and, as the full pump, nothing for a session without a live connection.
        let live = s
            .conn()
            .and_then(|conn| self.conn(conn))
            .is_some_and(|c| !c.closing);
        if live {
            self.room_freed(sid, now);
        }
        true
    }

    /// Whether anything waits for session `s` (slot `sid`) to drain: its dropping mark
    /// or a publisher stalled on its queue, which [`Broker::room_freed`] clears. Neither:
    /// a delivery may skip the queue, and an idle pump has nothing to do.
    #[inline]
    fn awaits_drain(&self, s: &Session, sid: SessionId) -> bool {
        s.is_dropping() || self.stalled.iter().any(|p| p.session == sid)
    }

    /// Whether a publisher stalled on session `sid` has waited half of
    /// `max_publisher_stall`: then it is released as soon as the queue has room, drained
    /// or not, so a subscriber that drains slowly holds its publishers back (as it did
    /// before the low-water mark) instead of making their stalls run out.
    fn stall_aged(&self, sid: SessionId, now: Instant) -> bool {
        // Stalls are kept in the order they began: the first on `sid` is its oldest.
        self.stalled
            .iter()
            .find(|p| p.session == sid)
            .is_some_and(|p| {
                now.saturating_duration_since(p.since) >= self.limits.max_publisher_stall / 2
            })
    }

    /// The end of every pump whose session's queue has drained to its low-water mark
    /// ([`Session::queue_drained`]), or has room with a stall aged ([`Broker::stall_aged`]):
    /// its overflowing QoS 1/2 messages are no longer dropped, and the publishers it
    /// stalled are released.
    fn room_freed(&mut self, sid: SessionId, now: Instant) {
        self.sessions.set_dropping(sid, false);
        self.release_stalls_on(sid, now);
    }

    /// The most QoS 1/2 messages in flight to one client `max_inflight_messages` allows.
    fn max_inflight(&self) -> usize {
        match self.limits.max_inflight_messages {
            0 => usize::from(u16::MAX) - 1,
            n => n.min(usize::from(u16::MAX) - 1),
        }
    }

    /// Re-sends in-flight messages of session `sid` that waited for room in the client's
    /// Receive Maximum (see [`Broker::retransmit`]), oldest first, while there is room.
    fn resend_deferred(&mut self, sid: SessionId, now: Instant) {
        let Some(conn) = self.sessions.get(sid).and_then(|s| s.conn()) else {
            return;
        };
        let Some((version, window)) = self.send_window(conn) else {
            return;
        };
        let stamp = self.clock.stamp(now);
        while self
            .sessions
            .get(sid)
            .is_some_and(|s| s.deferred() > 0 && s.inflight_len() - s.deferred() < window)
        {
            let Some((id, msg, qos, retain, sub_id)) = self.sessions.next_resend(sid) else {
                break;
            };
            let ids = [sub_id];
            let extra = redelivery(&msg, stamp, &ids);
            let msg = self.sent_again(conn, msg);
            let frame = Frame::publish_with(msg, version, qos, true, retain, Some(id), &extra);
            self.push_encoded(conn, frame, now);
        }
    }

    /// The protocol version of connection `conn` and how many QoS 1/2 messages may be in
    /// flight to it: `max_inflight_messages`, at most its Receive Maximum.
    fn send_window(&self, conn: ConnId) -> Option<(ProtocolVersion, usize)> {
        let c = self.conn(conn)?;
        Some((c.version, self.max_inflight().min(c.receive_maximum())))
    }

    /// Re-sends unacknowledged messages with DUP set, and PUBREL for those past PUBREC,
    /// in their original order, when a persistent session resumes [MQTT-4.4.0-1]. No
    /// more PUBLISHes than the client's Receive Maximum go at once
    /// [MQTT-3.3.4-9 of 5.0]: the others follow as acknowledgments free the window.
    pub(super) fn retransmit(&mut self, conn: ConnId, sid: SessionId, now: Instant) {
        let Some((version, window)) = self.send_window(conn) else {
            return;
        };
        let stamp = self.clock.stamp(now);
        // A QoS 1 message that expired while it waited for its PUBACK is not sent again
        // [MQTT-3.3.2-5 of 5.0]; a QoS 2 one is (its exactly-once flow has begun).
        let expired: Vec<u16> = self.sessions.get(sid).map_or_else(Vec::new, |s| {
            s.inflight()
                .filter(|m| m.state == Awaiting::Puback)
                .filter(|m| {
                    m.message
                        .as_ref()
                        .is_some_and(|msg| msg.remaining(stamp).is_err())
                })
                .map(|m| m.packet_id)
                .collect()
        });
        for id in expired {
            self.sessions.acknowledge(sid, id, Awaiting::Puback);
            self.stats.publish_dropped += 1;
        }
        self.sessions.defer_resend(sid, window);
        let frames: Vec<_> = self.sessions.get(sid).map_or_else(Vec::new, |s| {
            s.inflight()
                .filter(|m| !m.deferred)
                .map(|m| match (&m.message, m.state) {
                    (Some(msg), Awaiting::Puback | Awaiting::Pubrec) => {
                        let id = Some(m.packet_id);
                        let ids = [m.subscription_id];
                        let extra = redelivery(msg, stamp, &ids);
                        let (qos, retain) = (m.qos, m.retain);
                        let msg = self.sent_again(conn, msg.clone());
                        Frame::publish_with(msg, version, qos, true, retain, id, &extra)
                    }
                    _ => Ok(Frame::short_ack(PacketType::Pubrel, m.packet_id)),
                })
                .collect()
        });
        for frame in frames {
            self.push_encoded(conn, frame, now);
        }
    }

    /// PUBACK (`state` [`Awaiting::Puback`]) or PUBCOMP ([`Awaiting::Pubcomp`]) for an
    /// outbound message: it leaves the inflight window, which may let the next one out.
    pub(super) fn on_ack(&mut self, sid: SessionId, id: u16, state: Awaiting, now: Instant) {
        if self.sessions.acknowledge(sid, id, state) {
            self.pump(sid, now);
        }
    }

    /// PUBREC for an outbound QoS 2 message: answered with PUBREL [MQTT-4.3.3-1].
    pub(super) fn on_pubrec(&mut self, conn: ConnId, sid: SessionId, id: u16, now: Instant) {
        self.sessions.pubrec_received(sid, id);
        // PUBREL answers every PUBREC [MQTT-4.3.3-1].
        self.send_ack(conn, PacketType::Pubrel, id, now);
    }

    /// PUBREL for an inbound QoS 2 message: its id is released, PUBCOMP answers.
    pub(super) fn on_pubrel(&mut self, conn: ConnId, sid: SessionId, id: u16, now: Instant) {
        self.sessions.pubrel_received(sid, id);
        // PUBCOMP answers every PUBREL, known id or not [MQTT-4.3.3-2].
        self.send_ack(conn, PacketType::Pubcomp, id, now);
    }
}

/// The per-subscriber properties of a message sent again: what is left of its expiry
/// (1 s once it has run out: its flow began while it was valid), and the identifier of
/// its subscription (`ids`, one entry, 0 for none), as when it was first sent
/// [MQTT-3.3.2-6], [MQTT-3.3.4-3 of 5.0].
fn redelivery<'a>(message: &Message, stamp: Tick, ids: &'a [u32; 1]) -> PerSubscriber<'a> {
    PerSubscriber {
        expiry: message.remaining(stamp).unwrap_or(Some(1)),
        subscription_ids: if ids[0] == 0 { &[] } else { ids },
    }
}

impl Broker {
    /// A large PUBLISH has waited `max_publisher_stall` for `need` bytes of the
    /// large-message allowance: makes room from what would otherwise hold it until it
    /// expires, until `need` fits. First large messages at the front of offline
    /// sessions' queues, oldest first (persistent sessions record them as sent, so the
    /// store agrees); then large retained messages, largest first (a retained snapshot
    /// as large as the allowance could otherwise never be replaced). Counted and logged.
    /// Messages for online subscribers are left alone: they drain. Whether `need` fits
    /// now.
    pub fn reclaim_large(&mut self, need: usize, now: Instant) -> bool {
        let allowance = self.limits.large_message_memory;
        let offline: Vec<SessionId> = self
            .sessions
            .ids()
            .filter(|&sid| self.sessions.get(sid).is_some_and(|s| s.conn().is_none()))
            .collect();
        let mut dropped = 0u64;
        loop {
            let mut progress = false;
            for &sid in &offline {
                if large::available(need, allowance) {
                    break;
                }
                let large_front = self
                    .sessions
                    .get(sid)
                    .and_then(|s| s.front())
                    .is_some_and(|q| large::is_large(q.message.size()));
                if !large_front {
                    continue;
                }
                if let Some(mut sender) = self.sessions.sender(sid) {
                    let _ = sender.next((usize::MAX, 0), |_, _| Err::<(), ()>(()));
                    dropped += 1;
                    progress = true;
                }
            }
            if !progress || large::available(need, allowance) {
                break;
            }
        }
        let mut unretained = 0u64;
        for topic in self.retained.large_topics() {
            if large::available(need, allowance) {
                break;
            }
            self.retained.clear(&topic);
            unretained += 1;
        }
        if dropped + unretained > 0 {
            self.stats.publish_dropped += dropped + unretained;
            self.drop_log.warn(
                now,
                format_args!(
                    "a publisher waited for large_message_memory: dropped {dropped} large \
                     message(s) queued for offline sessions and {unretained} large retained \
                     message(s)"
                ),
            );
        }
        large::available(need, allowance)
    }
}

/// Whether session `s`'s queue is full under `(max_messages, max_bytes)` with a message of
/// `size` more bytes; a bridge's outbox (`on_disk`: its messages and bytes on disk only)
/// counts those too.
pub(super) fn queue_full(
    s: &Session,
    on_disk: Option<(usize, usize)>,
    (max_messages, max_bytes, size): (usize, usize, usize),
) -> bool {
    match on_disk {
        None | Some((0, _)) => s.queue_full(max_messages, max_bytes, size),
        Some((n, bytes)) => {
            s.queue_len() + n >= max_messages
                || (max_bytes != 0 && s.queued_bytes() + bytes + size > max_bytes)
        }
    }
}
