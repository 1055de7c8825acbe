//! Flow control: which connections the reactor must stop reading, and when to resume.
//!
//! A publisher whose QoS 1/2 message waits beyond a draining subscriber's full queue is
//! stalled until that queue has room, at most `max_publisher_stall`; a client whose own
//! outbox (its acknowledgments) grows past [`OUTBOX_HIGH_WATER`] frames is paused until it
//! reads them. ARCHITECTURE.md's slow-consumer table is implemented here and in
//! `delivery.rs`.

use super::*;

/// A connection whose outbox (a batch of publishes plus acknowledgements to its own
/// publishes) grows past this many frames is not read until it drains to
/// [`OUTBOX_LOW_WATER`]: a client that does not read cannot make the broker queue
/// acknowledgements without bound. It bounds the outbox for the memory ceiling
/// ([`OUTBOX_BYTES_MAX`]).
pub(super) const OUTBOX_HIGH_WATER: usize = OUTBOX_BATCH + 64;

/// See [`OUTBOX_HIGH_WATER`].
pub(super) const OUTBOX_LOW_WATER: usize = 32;

/// A publisher not read because one of its QoS 1/2 messages waits beyond a full queue.
#[derive(Clone, Copy, Debug)]
pub(super) struct Stall {
    /// The publisher.
    pub(super) conn: ConnId,
    /// The session whose queue is full.
    pub(super) session: SessionId,
    /// Since when (for `max_publisher_stall`).
    pub(super) since: Instant,
}

impl Broker {
    pub(super) fn stall(&mut self, publisher: ConnId, sid: SessionId, now: Instant) {
        let Some(c) = self.conn_mut(publisher) else {
            return;
        };
        if c.stalled {
            return;
        }
        let was_paused = c.paused();
        c.stalled = true;
        self.stalled.push(Stall {
            conn: publisher,
            session: sid,
            since: now,
        });
        self.stats.publisher_stalls += 1;
        if !was_paused {
            self.effects.push_back(Effect::PauseRead(publisher));
        }
    }

    pub(super) fn release(&mut self, publisher: ConnId, now: Instant) {
        self.stalled.retain(|p| p.conn != publisher);
        let Some(c) = self.conn_mut(publisher) else {
            return;
        };
        c.stalled = false;
        self.resume_if_unpaused(publisher, now);
    }

    /// Resumes reading from `conn` if nothing pauses it any more. Its keep-alive restarts:
    /// packets it sent while the broker was not reading must not count against it
    /// [MQTT-3.1.2-24].
    pub(super) fn resume_if_unpaused(&mut self, conn: ConnId, now: Instant) {
        let stamp = self.clock.stamp(now);
        let Some(c) = self.conn_mut(conn) else { return };
        if c.paused() {
            return;
        }
        c.last_packet = c.last_packet.max(stamp);
        self.effects.push_back(Effect::ResumeRead(conn));
        self.arm_conn_timer(conn);
    }

    #[inline]
    pub(super) fn release_stalls_on(&mut self, sid: SessionId, now: Instant) {
        if self.stalled.is_empty() {
            return;
        }
        self.release_stalls_on_slow(sid, now);
    }

    pub(super) fn release_stalls_on_slow(&mut self, sid: SessionId, now: Instant) {
        let waiting: Vec<ConnId> = self
            .stalled
            .iter()
            .filter(|p| p.session == sid)
            .map(|p| p.conn)
            .collect();
        for p in waiting {
            self.release(p, now);
        }
    }

    /// Pauses reading from a connection whose own outbox is too long, resumes it once the
    /// outbox has drained.
    pub(super) fn check_outbox_pressure(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conn_mut(conn) else { return };
        let len = c.outbox.len();
        if !c.paused_self && len > OUTBOX_HIGH_WATER {
            let was_paused = c.paused();
            c.paused_self = true;
            if !was_paused {
                self.effects.push_back(Effect::PauseRead(conn));
            }
        } else if c.paused_self && len <= OUTBOX_LOW_WATER {
            c.paused_self = false;
            self.resume_if_unpaused(conn, now);
        }
    }

    /// Releases the publishers stalled for `max_publisher_stall`; the subscribers they
    /// waited for drop their overflowing QoS 1/2 messages from now until they drain.
    pub(super) fn expire_stalls(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.stalled.len() {
            let Stall {
                conn: p,
                session: sid,
                since,
            } = self.stalled[i];
            match now.duration_since(since) >= self.limits.max_publisher_stall {
                true => {
                    if let Some(s) = self.sessions.get(sid) {
                        let id = s.client_id().to_string();
                        self.sessions.set_dropping(sid, true);
                        self.drop_log.warn(
                            now,
                            format_args!(
                                "subscriber {id} did not drain its queue within \
                                 max_publisher_stall: dropping its overflowing QoS 1/2 messages"
                            ),
                        );
                    }
                    self.release(p, now);
                }
                false => i += 1,
            }
        }
    }
}
