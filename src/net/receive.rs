//! The reactor's read side: reading a connection's socket into the scratch buffer within
//! a budget per event, handing the bytes to its read state machine ([`super::read`]), and
//! the sink that passes each framed packet into the core.

use super::core::LargeWaiter;
use super::*;
use crate::broker::large::{self, Reservation};
use crate::broker::MessageBuilder;
use crate::codec::ProtocolVersion;
use read::Admission;

/// The read state machine's consumer under the reactor: decodes each frame, hands it to
/// the broker and drains the effects at once, so the next packet sees them.
pub(super) struct BrokerSink<'a> {
    /// The core.
    pub(super) core: &'a mut Core,
    /// Where effects go.
    pub(super) conns: &'a mut Connections,
    /// The connection being read.
    pub(super) conn: ConnId,
    /// The time of this read.
    pub(super) now: Instant,
}

impl BrokerSink<'_> {
    /// What the effects so far mean for the connection being read.
    fn flow(&mut self) -> Flow {
        match self.conns.slots.get_mut(self.conn) {
            None => Flow::Stop,
            Some(c) if c.closing.is_some() => Flow::Stop,
            Some(c) if c.paused => Flow::Pause,
            Some(_) => Flow::Continue,
        }
    }
}

impl PacketSink for BrokerSink<'_> {
    fn version(&self) -> ProtocolVersion {
        self.core.get().conn_version(self.conn)
    }

    fn admit_large(&mut self, header: &FixedHeader) -> Admission {
        let allowance = self.core.get().limits().large_message_memory;
        // The body's bytes, rounded up for its small prefix.
        let need = header.packet_len() + 16;
        if need > allowance {
            // It could never fit: read it like any packet (`max_packet_size` is kept
            // within the allowance, so only a configuration that raised it gets here).
            return Admission::Whole;
        }
        if large::available(need, allowance) {
            return Admission::Large(Reservation::new(need));
        }
        if let Some(c) = self.conns.slots.get_mut(self.conn) {
            c.waiting = true;
            self.conns.large_waiters.push_back(LargeWaiter {
                conn: self.conn,
                need,
                since: self.now,
                reclaimed: false,
            });
            log::debug!(
                "connection {}: PUBLISH of {} bytes waits for the large-message allowance \
                 ({} of {allowance} bytes in use)",
                self.conn,
                header.packet_len(),
                large::in_use()
            );
        }
        Admission::Wait
    }

    fn large_body(&mut self, header: &FixedHeader, head: &[u8]) -> Result<MessageBuilder, Flow> {
        match self.core.get().large_body(self.conn, header, head) {
            Ok(body) => Ok(body),
            Err(error) => {
                log::debug!("connection {}: malformed packet: {error}", self.conn);
                let (conn, now) = (self.conn, self.now);
                self.core
                    .call(self.conns, |b| b.malformed(conn, error, now));
                Err(Flow::Stop)
            }
        }
    }

    fn large_packet(&mut self, header: &FixedHeader, head: &[u8], body: MessageBuilder) -> Flow {
        let (conn, now) = (self.conn, self.now);
        self.core.call(self.conns, |b| {
            b.receive_large(conn, header, head, body, now)
        });
        self.flow()
    }

    fn packet(&mut self, header: &FixedHeader, frame: &[u8]) -> Flow {
        let body = &frame[header.header_len..];
        let (conn, now) = (self.conn, self.now);
        self.core
            .call(self.conns, |b| b.receive(conn, header, body, now));
        self.flow()
    }

    fn malformed(&mut self, error: DecodeError) {
        log::debug!("connection {}: malformed header: {error}", self.conn);
        let (conn, now) = (self.conn, self.now);
        self.core
            .call(self.conns, |b| b.malformed(conn, error, now));
    }
}

impl Server {
    /// Reads connection `id` until the socket is drained, its read budget is spent, it is
    /// paused or it closes. With `short_read_drains`, a read that does not fill the scratch
    /// buffer counts as drained (edge-triggered: later bytes raise a new edge), saving the
    /// `EAGAIN` read; the caller passes false when a FIN may be waiting behind the data,
    /// since its edge was already consumed.
    pub(super) fn read_conn(&mut self, id: ConnId, short_read_drains: bool) {
        let now = self.turn_now;
        let mut reads = 0;
        loop {
            let Some(conn) = self.conns.slots.get_mut(id) else {
                return;
            };
            if conn.paused || conn.waiting || conn.closing.is_some() {
                return;
            }
            if reads == READS_PER_EVENT {
                // Fairness: let the others have their turn; come back next round.
                self.conns.queue_ready(id);
                return;
            }
            // A large PUBLISH's payload goes straight into its shared body; anything
            // else into the scratch buffer, to be framed.
            let (direct, wanted, result) = match conn.read.large_tail() {
                Some(tail) => (true, tail.len(), conn.stream.read(tail)),
                None => (false, SCRATCH_SIZE, conn.stream.read(&mut self.scratch)),
            };
            match result {
                Ok(0) => {
                    self.conns.request_close(id, CloseReason::PeerClosed);
                    return;
                }
                Ok(n) => {
                    reads += 1;
                    let drained = short_read_drains && conn.stream.drained_by(n, wanted);
                    // The first plaintext follows the completed handshake: the broker
                    // learns the client certificate's identity before any packet.
                    // (Copied out of the stream, once per connection: the core is called
                    // with the connections, which hold the stream.)
                    let identity = conn
                        .stream
                        .take_client_identity()
                        .map(|name| name.map(str::to_owned));
                    self.core.call(&mut self.conns, |b| {
                        if let Some(name) = identity {
                            b.client_certificate(id, name.as_deref().map_err(|e| *e));
                        }
                        b.bytes_received(n);
                    });
                    let outcome = if direct {
                        self.with_read_state(id, now, |read, _, _, sink| read.large_filled(n, sink))
                    } else {
                        self.frame(id, n, now)
                    };
                    // Deliver what the reads produced before reading more once it is
                    // worth a write: subscribers drain while publishers are read, so a
                    // flood from many publishers does not overflow their queues between
                    // two writes. Less (packets arriving one at a time) is written at
                    // the end of the turn, one write per connection for all of it.
                    if self.core.get().unwritten_frames() >= WRITE_AFTER_FRAMES {
                        self.flush_writable();
                    }
                    if outcome != Outcome::Open {
                        self.on_outcome(id, outcome);
                        return;
                    }
                    if drained {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("connection {id}: read: {e}");
                    self.conns.request_close(id, CloseReason::SocketError);
                    return;
                }
            }
        }
    }

    /// Frames the first `n` scratch bytes for `id` (after its pending bytes) and hands the
    /// packets to the broker.
    pub(super) fn frame(&mut self, id: ConnId, n: usize, now: Instant) -> Outcome {
        self.with_read_state(id, now, |read, buffers, scratch, sink| {
            let max = sink.core.get().limits().max_packet_size;
            read.feed(&scratch[..n], buffers, max, sink)
        })
    }

    /// Processes the bytes held back while `id` was paused.
    pub(super) fn resume(&mut self, id: ConnId, now: Instant) -> Outcome {
        self.with_read_state(id, now, |read, buffers, _, sink| {
            let max = sink.core.get().limits().max_packet_size;
            read.resume(buffers, max, sink)
        })
    }

    /// Runs `f` on the read state of `id` with a sink into the broker. The read state is
    /// moved out of the slot meanwhile, so the sink can apply effects to every slot.
    pub(super) fn with_read_state(
        &mut self,
        id: ConnId,
        now: Instant,
        f: impl FnOnce(&mut ReadState, &mut BufferPool, &[u8], &mut BrokerSink<'_>) -> Outcome,
    ) -> Outcome {
        let Some(conn) = self.conns.slots.get_mut(id) else {
            return Outcome::Stopped;
        };
        let mut read = std::mem::take(&mut conn.read);
        let mut sink = BrokerSink {
            core: &mut self.core,
            conns: &mut self.conns,
            conn: id,
            now,
        };
        let outcome = f(&mut read, &mut self.buffers, &self.scratch, &mut sink);
        match self.conns.slots.get_mut(id) {
            Some(conn) => conn.read = read,
            None => read.clear(&mut self.buffers),
        }
        outcome
    }

    /// Carries out what the read state machine decided.
    pub(super) fn on_outcome(&mut self, id: ConnId, outcome: Outcome) {
        match outcome {
            Outcome::Open | Outcome::Paused | Outcome::Stopped | Outcome::Wait => {}
            Outcome::TooLarge(size) => {
                // The core says why (MQTT 5.0: DISCONNECT 0x95) and asks for the close.
                let now = Instant::now();
                self.core
                    .call(&mut self.conns, |b| b.packet_too_large(id, size, now));
            }
            Outcome::Close(reason) => {
                if reason == CloseReason::OutOfMemory {
                    let counters = &mut self.conns.counters;
                    counters.out_of_memory = counters.out_of_memory.wrapping_add(1);
                    if let Some(n) = self.warn_oom.hit(Instant::now()) {
                        log::warn!(
                            "read buffer budget ({} bytes allocated, {} buffers lent) \
                             exhausted: closed {n} connection(s) in the last 10 s ({} \
                             refusals since start)",
                            self.buffers.allocated(),
                            self.buffers.lent(),
                            self.buffers.refused()
                        );
                    }
                } else {
                    log::debug!("connection {id}: {reason:?}");
                }
                self.conns.request_close(id, reason);
            }
        }
    }

    /// Wakes the oldest connection waiting for the large-message allowance once its
    /// packet fits (one at a time: it reserves only when it is read). Closed ones are
    /// skipped. One that has waited `max_publisher_stall` has the core make room for it
    /// once, by dropping large messages queued for offline sessions (which could
    /// otherwise hold the allowance until they expire).
    pub(super) fn wake_large_waiter(&mut self, now: Instant) {
        if self.conns.large_waiters.is_empty() {
            return;
        }
        let allowance = self.core.get().limits().large_message_memory;
        let stall = self.core.get().limits().max_publisher_stall;
        while let Some(&waiter) = self.conns.large_waiters.front() {
            let live = self
                .conns
                .slots
                .get_mut(waiter.conn)
                .is_some_and(|c| c.waiting && c.closing.is_none());
            if !live {
                self.conns.large_waiters.pop_front();
                continue;
            }
            let mut fits = large::available(waiter.need, allowance);
            if !fits && !waiter.reclaimed && now.saturating_duration_since(waiter.since) >= stall {
                if let Some(front) = self.conns.large_waiters.front_mut() {
                    front.reclaimed = true;
                }
                let need = waiter.need;
                fits = self
                    .core
                    .call(&mut self.conns, |b| b.reclaim_large(need, now));
            }
            if fits {
                self.conns.large_waiters.pop_front();
                if let Some(c) = self.conns.slots.get_mut(waiter.conn) {
                    c.waiting = false;
                }
                self.conns.queue_ready(waiter.conn);
            }
            return;
        }
    }

    /// When the oldest large-message waiter is due to have room made for it, if one is
    /// waiting.
    pub(super) fn large_waiter_deadline(&self) -> Option<Instant> {
        let waiter = self.conns.large_waiters.front()?;
        let stall = self.core.get().limits().max_publisher_stall;
        (!waiter.reclaimed).then(|| waiter.since + stall)
    }

    /// Reads the connections on the ready list (resumed, or over budget last round): first
    /// the bytes they hold, then their sockets.
    pub(super) fn read_ready(&mut self) {
        let now = self.turn_now;
        for _ in 0..self.conns.ready.len() {
            let Some(id) = self.conns.ready.pop_front() else {
                break;
            };
            let Some(conn) = self.conns.slots.get_mut(id) else {
                continue;
            };
            conn.queued = false;
            if conn.paused || conn.waiting || conn.closing.is_some() {
                continue;
            }
            match self.resume(id, now) {
                Outcome::Open => self.read_conn(id, false),
                outcome => self.on_outcome(id, outcome),
            }
            self.run_closes();
        }
    }
}
