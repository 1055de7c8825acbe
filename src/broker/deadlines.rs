//! Deadlines: CONNECT timeout, keep-alive [MQTT-3.1.2-24], slow consumers, publisher
//! stalls, session expiry and `$SYS` updates, on one lazy timer heap. The reactor asks
//! [`Broker::next_tick`] and calls [`Broker::tick`].

use super::*;
use std::time::Duration;

impl Broker {
    /// Runs every timer due at `now`: CONNECT and keep-alive timeouts, slow consumers,
    /// publisher stalls, session expiry and `$SYS` updates.
    pub fn tick(&mut self, now: Instant) {
        let passed = self.clock.passed(now);
        while let Some((at, owner)) = self.timers.pop_due(passed) {
            match owner {
                Owner::Conn(conn, generation) => self.conn_timer(conn, generation, at, passed, now),
                Owner::Session(sid, generation) => self.session_timer(sid, generation, passed, now),
            }
        }
        self.expire_stalls(now);
        if self.sys_next.is_some_and(|t| t <= passed) {
            self.publish_sys(now);
            self.sys_next = Some(self.clock.stamp(now).after(self.limits.sys_interval));
        }
    }

    /// The earliest tick at which [`Broker::tick`] has work, if any. May be early (a
    /// deadline that has since moved); never late. The reactor asks this once a turn and
    /// times its sleep with [`Broker::wait_until`] and [`Broker::is_due`]: integers on
    /// the broker's clock, no `Instant` arithmetic.
    pub fn next_tick(&self) -> Option<Tick> {
        let stall = self
            .stalled
            .iter()
            .map(|p| self.clock.stamp(p.since + self.limits.max_publisher_stall))
            .min();
        earliest(earliest(self.timers.next(), self.sys_next), stall)
    }

    /// [`Broker::next_tick`] as an instant, for tests that drive the core by instants.
    #[cfg(test)]
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.next_tick().map(|t| self.clock.instant(t))
    }

    /// How long from `from` (the reactor's turn start) until deadline `t`: never short (it
    /// counts from the last whole millisecond before `from`), at most a millisecond long.
    pub fn wait_until(&self, t: Tick, from: Instant) -> Duration {
        Duration::from_millis(t.ms_since(self.clock.passed(from)))
    }

    /// Whether deadline `t` has passed at `now`: [`Broker::tick`] has work.
    pub fn is_due(&self, t: Tick, now: Instant) -> bool {
        t <= self.clock.passed(now)
    }

    /// The earliest deadline of a connection, given its state.
    pub(super) fn conn_deadline(&self, c: &Conn) -> Option<Tick> {
        if c.closing {
            return None;
        }
        let connect = (c.phase == Phase::AwaitingConnect)
            .then(|| c.last_packet.after(self.limits.connect_timeout));
        // No keep-alive while the broker itself is not reading the client.
        let keep_alive = c
            .keep_alive_deadline()
            .filter(|_| c.phase != Phase::AwaitingConnect && !c.paused());
        let slow = (!c.outbox.is_empty())
            .then(|| c.last_progress.after(self.limits.slow_consumer_timeout));
        earliest(earliest(connect, keep_alive), slow)
    }

    /// Arms the timer of `conn` for its earliest deadline ([`Broker::conn_deadline`]).
    pub(super) fn arm_conn_timer(&mut self, conn: ConnId) {
        let Some(at) = self.conn(conn).and_then(|c| self.conn_deadline(c)) else {
            return;
        };
        self.arm_conn_timer_at(conn, at);
    }

    /// The outbox of `conn` had nothing to write and now has: its slow-consumer deadline
    /// starts at `stamp`. The only deadline that changed, so the only one computed (this
    /// runs for most frames queued at a gateway's rates, where outboxes are empty between
    /// messages).
    pub(super) fn arm_slow_consumer_timer(&mut self, conn: ConnId, stamp: Tick) {
        self.arm_conn_timer_at(conn, stamp.after(self.limits.slow_consumer_timeout));
    }

    /// Arms the timer of `conn` for a deadline at `at`, unless it is armed by then.
    fn arm_conn_timer_at(&mut self, conn: ConnId, at: Tick) {
        // Checked on the next whole second of the broker's clock: an idle broker with many
        // clients wakes at most once a second for all their deadlines together (a client
        // is closed at most a second after its connect timeout, 1.5 x its keep-alive or
        // its slow-consumer timeout).
        let Some(c) = self.conn_mut(conn) else { return };
        // Armed by then already? Asked of `at` first, which answers the common case (once
        // per frame into an empty outbox) without the rounding's division.
        if c.timer_at.is_some_and(|t| t <= at || t <= at.ceil_second()) {
            return;
        }
        let at = at.ceil_second();
        c.timer_at = Some(at);
        let generation = c.generation;
        self.timers.push(at, Owner::Conn(conn, generation));
    }

    pub(super) fn conn_timer(
        &mut self,
        conn: ConnId,
        generation: u32,
        at: Tick,
        passed: Tick,
        now: Instant,
    ) {
        let Some(c) = self.conns.get_mut(conn).and_then(Option::as_mut) else {
            return;
        };
        if c.generation != generation || c.timer_at != Some(at) {
            return;
        }
        c.timer_at = None;
        if c.closing {
            return;
        }
        let limits = &self.limits;
        let reason = if c.phase == Phase::AwaitingConnect
            && passed >= c.last_packet.after(limits.connect_timeout)
        {
            Some(CloseReason::ConnectTimeout)
        } else if c
            .keep_alive_deadline()
            .is_some_and(|k| c.phase != Phase::AwaitingConnect && !c.paused() && passed >= k)
        {
            Some(CloseReason::KeepAliveTimeout)
        } else if !c.outbox.is_empty()
            && passed >= c.last_progress.after(limits.slow_consumer_timeout)
        {
            Some(CloseReason::SlowConsumer)
        } else {
            None
        };
        match reason {
            Some(reason) => {
                if reason == CloseReason::SlowConsumer {
                    self.stats.slow_consumers += 1;
                }
                let id = self
                    .client_id_of(conn)
                    .unwrap_or("(before CONNECT)")
                    .to_string();
                info!("client {id}: {reason:?}, disconnecting");
                let code = match reason {
                    CloseReason::KeepAliveTimeout => ReasonCode::KEEP_ALIVE_TIMEOUT,
                    _ => ReasonCode::UNSPECIFIED_ERROR,
                };
                self.disconnect(conn, code, reason, now);
            }
            None => self.arm_conn_timer(conn),
        }
    }

    /// An offline session's expiry timer came due: it is removed if it has been offline
    /// for its lifetime (a resume in between made the entry stale).
    pub(super) fn session_timer(
        &mut self,
        sid: SessionId,
        generation: u32,
        passed: Tick,
        now: Instant,
    ) {
        if self
            .sessions
            .get(sid)
            .is_some_and(|s| s.generation() == generation)
        {
            self.delayed_will_due(sid, true, now);
        }
        let Some(expiry) = self.session_lifetime(sid) else {
            return;
        };
        let Some(s) = self.sessions.get(sid) else {
            return;
        };
        if s.generation() != generation {
            return;
        }
        if s.offline_since().is_some_and(|t| passed >= t.after(expiry)) {
            info!("session {} expired", s.client_id());
            self.stats.clients_expired += 1;
            self.remove_session(sid, now);
        }
    }
}
