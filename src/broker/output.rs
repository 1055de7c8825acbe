//! The write path of the core: packets are encoded by the codec into [`Frame`]s in a
//! connection's outbox; the reactor asks which connections have output
//! ([`Broker::poll_writable`]), borrows their bytes ([`Broker::output`], which `net`
//! packs for one `writev`) and reports what the socket took ([`Broker::written`]), which frees frames and lets the session
//! send more.

use super::*;

/// Outbox capacity (frames) a connection keeps once everything is written: enough for
/// acknowledgements, small enough that ten thousand idle clients cost little.
pub(super) const OUTBOX_KEEP: usize = 16;

impl Broker {
    /// A connection that has output queued since it was last returned here.
    pub fn poll_writable(&mut self) -> Option<ConnId> {
        while let Some(conn) = self.writable.pop_front() {
            if let Some(c) = self.conn_mut(conn) {
                c.in_writable = false;
                if !c.outbox.is_empty() {
                    return Some(conn);
                }
            }
        }
        self.unwritten = 0;
        None
    }

    /// Frames (packets) queued for writing since [`Broker::poll_writable`] last ran dry:
    /// how much output the reactor would write if it wrote now. It writes after a read
    /// once this is large enough to be worth a write of its own, and at the end of its
    /// turn otherwise.
    #[inline]
    pub fn unwritten_frames(&self) -> usize {
        self.unwritten
    }

    /// The pending output of `conn`, oldest first: its frames, which the reactor packs
    /// for `writev` or copies ([`Output`]), bytes already written left out. Empty when
    /// there is nothing to write.
    pub fn output(&self, conn: ConnId) -> Output<'_> {
        match self.conn(conn) {
            Some(c) => Output::new(c.outbox.iter(), c.written as usize),
            None => Output::new(Outbox::EMPTY.iter(), 0),
        }
    }

    /// Lends the pending output of `conn` as byte slices for `writev`, filling at most
    /// `iov.len()` entries. Returns how many entries were filled (0: nothing to write).
    /// For tests, which read what a socket would; the reactor packs [`Broker::output`].
    #[cfg(test)]
    pub(crate) fn fill_iovecs<'a>(&'a self, conn: ConnId, iov: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, seg) in iov.iter_mut().zip(self.output(conn).segments()) {
            *slot = IoSlice::new(seg);
            n += 1;
        }
        n
    }

    /// The socket of `conn` took `n` bytes of the output lent by [`Broker::output`].
    pub fn written(&mut self, conn: ConnId, n: usize, now: Instant) {
        self.stats.bytes_sent += n as u64;
        let stamp = self.clock.stamp(now);
        let Some(c) = self.conn_mut(conn) else { return };
        if n > 0 {
            c.last_progress = stamp;
        }
        let mut done = c.written as usize + n;
        while let Some(front) = c.outbox.front() {
            let len = front.len();
            if done < len {
                break;
            }
            done -= len;
            c.outbox.pop_front();
        }
        c.written = u32::try_from(done).expect("less than one frame, and frames are below 4 GiB");
        c.outbox.release_after_burst(OUTBOX_KEEP);
        if let Phase::Connected(sid) = c.phase {
            self.pump(sid, now);
        }
        self.check_outbox_pressure(conn, now);
    }

    /// Whether `conn` has output not yet written.
    pub fn has_output(&self, conn: ConnId) -> bool {
        self.conn(conn).is_some_and(|c| !c.outbox.is_empty())
    }

    /// Whether reading from `conn` is paused by flow control.
    pub fn is_paused(&self, conn: ConnId) -> bool {
        self.conn(conn).is_some_and(Conn::paused)
    }

    /// Queues `packet` for `conn`, encoded in the version it speaks.
    pub(super) fn send(&mut self, conn: ConnId, packet: &Packet<'_>, now: Instant) {
        let Some(version) = self.conn(conn).map(|c| c.version) else {
            return;
        };
        self.push_encoded(conn, Frame::packet(packet, version), now);
    }

    /// Queues a PUBACK, PUBREC, PUBREL or PUBCOMP (`kind`) of `packet_id` that says
    /// success: a packet id only, in every version ([`Frame::short_ack`]).
    pub(super) fn send_ack(
        &mut self,
        conn: ConnId,
        kind: PacketType,
        packet_id: u16,
        now: Instant,
    ) {
        self.push_frame(conn, Frame::short_ack(kind, packet_id), now);
    }

    /// Queues a frame the codec encoded, or closes the connection the codec could not
    /// encode it for (a packet the broker builds always fits: this is a bug, not input).
    pub(super) fn push_encoded(
        &mut self,
        conn: ConnId,
        frame: Result<Frame, EncodeError>,
        now: Instant,
    ) {
        match frame {
            Ok(frame) => self.push_frame(conn, frame, now),
            Err(e) => {
                log::error!("connection {conn}: cannot encode a packet for it: {e}");
                self.close(conn, CloseReason::ProtocolError);
            }
        }
    }

    /// Queues `frame` for `conn`: control packets and re-sent messages (a session's
    /// messages are moved into the outbox by [`Broker::deliver_now`] and
    /// [`Broker::pump`]). Looks the connection up once; reads the clock only for a frame
    /// that starts the outbox (the slow-consumer timer runs from it).
    pub(super) fn push_frame(&mut self, conn: ConnId, frame: Frame, now: Instant) {
        let Some(c) = self.conns.get_mut(conn).and_then(Option::as_mut) else {
            return;
        };
        if c.closing {
            // Nothing follows the broker's own DISCONNECT or refusal [MQTT-3.14.4-1 of
            // 5.0]; a message stays with its session.
            return;
        }
        if frame.len() > c.maximum_packet_size() {
            return self.refuse_oversized(conn, &frame);
        }
        let started = c.outbox.is_empty();
        c.outbox.push_back(frame);
        if !c.in_writable {
            c.in_writable = true;
            self.writable.push_back(conn);
        }
        self.stats.messages_sent += 1;
        self.unwritten += 1;
        if started {
            let stamp = self.clock.stamp(now);
            c.last_progress = stamp;
            self.arm_slow_consumer_timer(conn, stamp);
        }
    }

    /// Never more than the client accepts [MQTT-3.1.2-24 of 5.0]: a message is dropped
    /// for it; a control packet it cannot take (a huge SUBACK) ends the connection, which
    /// cannot be told why.
    #[cold]
    fn refuse_oversized(&mut self, conn: ConnId, frame: &Frame) {
        let publish = matches!(frame, Frame::Publish { .. } | Frame::PublishLong(_));
        self.stats.publish_dropped += u64::from(publish);
        if !publish {
            warn!("connection {conn}: a control packet exceeds its Maximum Packet Size");
            self.close(conn, CloseReason::ProtocolError);
        }
    }

    #[inline]
    pub(super) fn mark_writable(&mut self, conn: ConnId) {
        if let Some(c) = self.conn_mut(conn) {
            if !c.in_writable {
                c.in_writable = true;
                self.writable.push_back(conn);
            }
        }
    }
}
