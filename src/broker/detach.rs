//! A session's end: when its connection goes it is detached (kept offline if persistent)
//! or removed, and a removed session's subscriptions leave the topic tree. The session
//! table does the bookkeeping; this file ties it to the tree, the timers and flow control.

use super::*;

impl Broker {
    /// Removes session `sid` (a clean reconnect replaced it, or it expired) with its
    /// subscriptions, releasing the publishers stalled on its queue.
    pub(super) fn remove_session(&mut self, sid: SessionId, now: Instant) {
        self.release_stalls_on(sid, now);
        // The session ends: a will still waiting for its delay goes now.
        self.delayed_will_due(sid, false, now);
        if let Some(s) = self.sessions.remove(sid) {
            self.unsubscribe_all(sid, &s, now);
        }
    }

    /// Takes every subscription of the removed session `s` out of the topic tree and
    /// its shared groups, whose other members get the messages it held for them.
    fn unsubscribe_all(&mut self, sid: SessionId, s: &sessions::Session, now: Instant) {
        for &at in s.subscriptions() {
            self.tree.remove_at(at, sid);
        }
        if self.shared.memberships(sid) > 0 {
            self.shared_leave_all(sid);
            self.redistribute(sid, s, now);
        }
    }

    /// The session's connection is gone: a clean session ends [MQTT-3.1.2-6], a persistent
    /// one keeps its subscriptions and queues QoS 1/2 messages [MQTT-3.1.2-4] until
    /// `persistent_client_expiration`.
    pub(super) fn detach_session(&mut self, sid: SessionId, now: Instant) {
        self.release_stalls_on(sid, now);
        let stamp = self.clock.stamp(now);
        let l = &self.limits;
        let (mut max_offline, mut queue_qos0) = (l.max_offline_sessions, l.queue_qos0_messages);
        // A bridge's outbox is kept whatever the offline count, with its own QoS 0 rule
        // (its messages on disk hold no QoS 0 it would drop here).
        let bridge = self.sessions.get(sid).and_then(sessions::Session::bridge);
        if let Some(o) = bridge.and_then(|b| self.bridge_outbox(b)) {
            (max_offline, queue_qos0) = (usize::MAX, o.queue_qos0);
        }
        match self.sessions.detach(sid, stamp, max_offline, queue_qos0) {
            None => {}
            Some(Detached::Ended(s)) => self.unsubscribe_all(sid, &s, now),
            Some(Detached::Offline { generation }) => {
                if let Some(expiry) = self.session_lifetime(sid) {
                    self.timers
                        .push(stamp.after(expiry), Owner::Session(sid, generation));
                }
            }
        }
    }

    /// How long session `sid` lives offline: its Session Expiry Interval (MQTT 5.0,
    /// capped at CONNECT by `persistent_client_expiration`), or for a session without
    /// one (MQTT 3.1.1, restored), `persistent_client_expiration`; `None`: for ever.
    pub(super) fn session_lifetime(&self, sid: SessionId) -> Option<std::time::Duration> {
        match self.sessions.get(sid).map_or(NEVER, |s| s.expiry()) {
            NEVER => self.limits.persistent_client_expiration,
            secs => Some(std::time::Duration::from_secs(u64::from(secs))),
        }
    }
}
