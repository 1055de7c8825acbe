//! DISCONNECT in both directions: a client's (MQTT 5.0: with a reason, possibly asking
//! for its will, possibly changing its Session Expiry Interval) and the broker's own,
//! which MQTT 5.0 clients get before the broker closes their connection, with the reason
//! [MQTT-4.13.1-1 of 5.0]. MQTT 3.1/3.1.1 clients are closed without one: only clients
//! send DISCONNECT there.

use super::*;

impl Broker {
    /// DISCONNECT from a client: the will is discarded [MQTT-3.14.4-3] unless an MQTT 5.0
    /// client asks for it (0x04); a new Session Expiry Interval applies, except that one
    /// of 0 at CONNECT may not become more [MQTT-3.14.2-2 of 5.0].
    pub(super) fn on_disconnect(
        &mut self,
        conn: ConnId,
        sid: SessionId,
        d: codec::Disconnect<'_>,
        now: Instant,
    ) {
        let expiry = d.properties.u32(property::SESSION_EXPIRY_INTERVAL);
        let connect_expiry = self
            .conn(conn)
            .and_then(|c| c.extra.as_ref())
            .map_or(0, |e| e.connect_expiry);
        if expiry.is_some_and(|e| e > 0) && connect_expiry == 0 {
            let why = "DISCONNECT sets a session expiry after CONNECT set none";
            return self.protocol_error(conn, why, now);
        }
        if let Some(expiry) = expiry {
            let cap = self
                .limits
                .persistent_client_expiration
                .map_or(NEVER, |d| u32::try_from(d.as_secs()).unwrap_or(NEVER));
            self.sessions.set_expiry(sid, expiry.min(cap));
        }
        if d.reason != ReasonCode::DISCONNECT_WITH_WILL {
            if let Some(c) = self.conn_mut(conn) {
                drop(c.take_will());
            }
        }
        let reason = if d.reason == ReasonCode::DISCONNECT_WITH_WILL {
            // Closed like a lost connection, so the will is published.
            CloseReason::PeerClosed
        } else {
            CloseReason::ClientDisconnect
        };
        self.close(conn, reason);
    }

    /// Closes `conn` for `reason`; an MQTT 5.0 client that is past CONNECT is first sent
    /// DISCONNECT with `code` [MQTT-4.13.1-1 of 5.0].
    pub(super) fn disconnect(
        &mut self,
        conn: ConnId,
        code: ReasonCode,
        reason: CloseReason,
        now: Instant,
    ) {
        let Some(c) = self.conn(conn) else { return };
        if !c.closing && c.version == ProtocolVersion::V5 && c.phase != Phase::AwaitingConnect {
            let packet = Packet::Disconnect(codec::Disconnect {
                reason: code,
                properties: codec::Properties::NONE,
            });
            self.send(conn, &packet, now);
        }
        self.close(conn, reason);
    }

    /// The broker is stopping: every MQTT 5.0 client is told so (0x8B) before the
    /// reactor closes the connections. Wills waiting for their delay are published when
    /// there is a store, like the wills of the connections closed now (see
    /// `will_at_close`), and dropped without one.
    pub fn shutting_down(&mut self, now: Instant) {
        if self.limits.track_durable {
            let waiting: Vec<SessionId> = self.delayed_wills.keys().copied().collect();
            for sid in waiting {
                self.delayed_will_due(sid, false, now);
            }
        }
        let v5: Vec<ConnId> = (0..self.conns.len())
            .filter(|&id| {
                self.conn(id).is_some_and(|c| {
                    c.version == ProtocolVersion::V5 && c.phase != Phase::AwaitingConnect
                })
            })
            .collect();
        for conn in v5 {
            let packet = Packet::Disconnect(codec::Disconnect {
                reason: ReasonCode::SERVER_SHUTTING_DOWN,
                properties: codec::Properties::NONE,
            });
            self.send(conn, &packet, now);
        }
        // The reactor closes every connection next: nothing more is written to any
        // (a will published meanwhile stays in its subscriber's session)
        // [MQTT-3.14.4-1 of 5.0].
        for c in self.conns.iter_mut().flatten() {
            c.closing = true;
        }
    }

    /// `conn` announced a packet of `size` bytes, larger than `max_packet_size`: logged
    /// with both, and closed (MQTT 5.0: after DISCONNECT 0x95 [MQTT-3.2.2-15 of 5.0]).
    pub fn packet_too_large(&mut self, conn: ConnId, size: usize, now: Instant) {
        let id = self
            .client_id_of(conn)
            .unwrap_or("(before CONNECT)")
            .to_string();
        self.error_log.warn(
            now,
            format_args!(
                "client {id}: packet of {size} bytes is larger than max_packet_size {}; \
                 disconnecting",
                self.limits.max_packet_size
            ),
        );
        self.disconnect(
            conn,
            ReasonCode::PACKET_TOO_LARGE,
            CloseReason::PacketTooLarge,
            now,
        );
    }
}
