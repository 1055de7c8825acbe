//! Connection state and its life: a connection is admitted ([`Broker::accepted`]), may
//! present a client certificate's name ([`Broker::client_certificate`]), is closed by the
//! core ([`Broker::close`], [`Broker::protocol_error`]) and ends when its socket is gone
//! ([`Broker::closed`]: the will is published, the session detached).
//!
//! A [`Conn`] is per-slot protocol state; the socket belongs to the reactor.

use super::*;

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Accepted, CONNECT not received yet.
    AwaitingConnect,
    /// CONNECT accepted; attached to (or, after a takeover, formerly attached to) a session.
    Connected(SessionId),
}

/// Per-connection protocol state. The socket itself belongs to the reactor.
///
/// One per connection slot, so it is kept small (104 bytes on 64-bit targets, checked by a
/// test): times are [`Tick`]s, the will is boxed, the outbox stores one frame inline and a
/// publisher's stall lives in the broker's `stalled` list.
#[derive(Debug)]
pub(super) struct Conn {
    /// Distinguishes this connection from earlier ones in the same slot, for timers.
    pub(super) generation: u32,
    /// Listener number it came in on, for its policy.
    pub(super) listener: u32,
    /// Lifecycle phase.
    pub(super) phase: Phase,
    /// The protocol version its CONNECT named ([`ProtocolVersion::V311`] before):
    /// every packet from and to it is decoded and encoded in it.
    pub(super) version: ProtocolVersion,
    /// Bytes of `outbox.front()` already written.
    pub(super) written: u32,
    /// The keep-alive in seconds [MQTT-3.1.2-24]; 0 turns the timeout off.
    pub(super) keep_alive: u16,
    /// Acknowledgements of its PUBLISHes held for the store (`persistence_sync`).
    pub(super) held_acks: u16,
    /// An [`Effect::Close`] was issued: no further packets are processed.
    pub(super) closing: bool,
    /// Already listed in the broker's writable queue.
    pub(super) in_writable: bool,
    /// Not read because its own outbox is over [`OUTBOX_HIGH_WATER`].
    pub(super) paused_self: bool,
    /// Not read because a message of it waits for a full queue (see `Broker::stalled`).
    pub(super) stalled: bool,
    /// Its CONNECT carried Mosquitto's bridge marker ([`codec::Connect::bridge`]): its
    /// subscriptions get No Local and Retain As Published.
    pub(super) bridge: bool,
    /// When the last packet arrived (keep-alive); before CONNECT, when it was accepted
    /// (CONNECT timeout): every packet before CONNECT ends that phase or the connection.
    pub(super) last_packet: Tick,
    /// When the socket last took bytes, or when output became pending (slow consumer).
    pub(super) last_progress: Tick,
    /// The deadline this connection has in the timer heap, if any.
    pub(super) timer_at: Option<Tick>,
    /// Its will and what an MQTT 5.0 client told the broker at CONNECT, boxed so that a
    /// 3.1.1 connection without a will pays one pointer for them.
    pub(super) extra: Option<Box<Extra>>,
    /// Frames waiting to be written.
    pub(super) outbox: Outbox,
}

/// Upper bound of the bytes of a connection's [`Extra`] (boxed, with its allocation's
/// overhead), beyond its will's message and its topic aliases, for the memory ceiling.
pub const EXTRA_BYTES: usize =
    std::mem::size_of::<Extra>() + 2 * crate::broker::compact_str::ALLOCATION_OVERHEAD;

/// Bytes one inbound Topic Alias costs in its table beyond its topic's allocation.
pub const ALIAS_BYTES: usize = std::mem::size_of::<Option<Box<str>>>();

/// What a connection may carry beyond the common state: see [`Conn::extra`].
#[derive(Debug)]
pub(super) struct Extra {
    /// Will to publish unless the client disconnects cleanly.
    /// (Boxed: most connections have none, and [`EXTRA_BYTES`] is paid per slot in the
    /// memory ceiling.)
    pub(super) will: Option<Box<Will>>,
    /// The most unacknowledged QoS 1/2 messages the client accepts (its Receive Maximum
    /// [MQTT-3.1.2.11.3 of 5.0]; 65,535 when it says nothing).
    pub(super) receive_maximum: u16,
    /// The largest packet the client accepts (its Maximum Packet Size; unlimited when it
    /// says nothing): larger messages are dropped for it [MQTT-3.1.2-25 of 5.0].
    pub(super) maximum_packet_size: u32,
    /// The Session Expiry Interval its CONNECT asked for: a DISCONNECT may not raise 0
    /// to more [MQTT-3.14.2-2 of 5.0].
    pub(super) connect_expiry: u32,
    /// Topics of the client's inbound Topic Aliases, index alias - 1; at most
    /// `max_topic_alias` entries [MQTT-3.3.2-9 of 5.0].
    pub(super) aliases: Vec<Option<Box<str>>>,
    /// The enhanced authentication it uses (MQTT 5.0), and an exchange under way.
    pub(super) enhanced: Option<Box<crate::broker::enhanced_auth::Enhanced>>,
}

impl Default for Extra {
    fn default() -> Extra {
        Extra {
            will: None,
            receive_maximum: u16::MAX,
            maximum_packet_size: u32::MAX,
            connect_expiry: 0,
            aliases: Vec::new(),
            enhanced: None,
        }
    }
}

impl Conn {
    /// Its extra state, created on first use.
    pub(super) fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Takes its will, if it has one.
    pub(super) fn take_will(&mut self) -> Option<Will> {
        self.extra.as_mut().and_then(|e| e.will.take()).map(|w| *w)
    }

    /// The most QoS 1/2 messages the client accepts unacknowledged.
    #[inline]
    pub(super) fn receive_maximum(&self) -> usize {
        self.extra
            .as_ref()
            .map_or(usize::from(u16::MAX), |e| usize::from(e.receive_maximum))
    }

    /// The largest packet the client accepts.
    #[inline]
    pub(super) fn maximum_packet_size(&self) -> usize {
        self.extra
            .as_ref()
            .map_or(usize::MAX, |e| e.maximum_packet_size as usize)
    }

    /// Whether the reactor must not read it (flow control).
    pub(super) fn paused(&self) -> bool {
        self.paused_self || self.stalled || self.held_acks >= HELD_PER_CONNECTION
    }

    /// When 1.5 times the keep-alive has passed since the last packet [MQTT-3.1.2-24].
    pub(super) fn keep_alive_deadline(&self) -> Option<Tick> {
        (self.keep_alive > 0).then(|| self.last_packet.after_ms(u64::from(self.keep_alive) * 1500))
    }
}

impl Broker {
    /// A socket was accepted into slot `conn` on listener number `listener`; it must send
    /// CONNECT within `connect_timeout`.
    pub fn accepted(&mut self, conn: ConnId, listener: usize, now: Instant) {
        if conn < self.limits.max_connections && conn >= self.conns.len() {
            // Within the capacity reserved at start: no reallocation.
            self.conns.resize_with(conn + 1, || None);
        }
        let Some(slot) = self.conns.get_mut(conn) else {
            warn!(
                "connection slot {conn} is outside the pool of {}",
                self.limits.max_connections
            );
            self.effects.push_back(Effect::Close {
                conn,
                reason: CloseReason::OutOfMemory,
            });
            return;
        };
        if !self.identities.is_empty() {
            // A new connection in the slot never inherits an earlier one's certificate.
            self.identities.remove(&conn);
        }
        self.conn_generation = self.conn_generation.wrapping_add(1);
        let stamp = self.clock.stamp(now);
        *slot = Some(Conn {
            generation: self.conn_generation,
            listener: u32::try_from(listener).unwrap_or(u32::MAX),
            phase: Phase::AwaitingConnect,
            version: ProtocolVersion::default(),
            written: 0,
            keep_alive: 0,
            held_acks: 0,
            closing: false,
            in_writable: false,
            paused_self: false,
            stalled: false,
            bridge: false,
            last_packet: stamp,
            last_progress: stamp,
            timer_at: None,
            extra: None,
            outbox: Outbox::default(),
        });
        self.arm_conn_timer(conn);
    }

    /// The TLS handshake of `conn` completed with a verified client certificate whose
    /// subject common name is `common_name` (or the reason it has no usable one). The
    /// reactor calls this before handing over any packet of `conn`. On a listener with
    /// `use_identity_as_username` the name becomes the client's user name at CONNECT;
    /// elsewhere it is not kept.
    pub fn client_certificate(&mut self, conn: ConnId, common_name: Result<&str, CommonNameError>) {
        let Some(c) = self.conn(conn) else { return };
        let uses_identity = self
            .limits
            .listeners
            .get(c.listener as usize)
            .is_some_and(|l| l.use_identity_as_username);
        if !uses_identity || c.phase != Phase::AwaitingConnect {
            return;
        }
        let name = match common_name {
            Ok(name) if name.len() <= self.limits.max_username_length => Some(name.into()),
            Ok(_) => {
                debug!(
                    "connection {conn}: client certificate: the common name is longer than \
                     max_username_length {}",
                    self.limits.max_username_length
                );
                None
            }
            Err(e) => {
                debug!("connection {conn}: client certificate: {e}");
                None
            }
        };
        self.identities.insert(conn, name);
    }

    /// The socket of `conn` is gone (or was closed after an [`Effect::Close`]). Publishes
    /// the will unless the client sent DISCONNECT, detaches the session and frees the slot.
    /// Harmless for a slot that holds no connection.
    pub fn closed(&mut self, conn: ConnId, reason: CloseReason, now: Instant) {
        let Some(mut c) = self.conns.get_mut(conn).and_then(Option::take) else {
            return;
        };
        if !self.identities.is_empty() {
            self.identities.remove(&conn);
        }
        if c.stalled {
            self.stalled.retain(|p| p.conn != conn);
        }
        if c.held_acks > 0 {
            self.drop_held_acks(conn);
        }
        let mut will_session = None;
        if let Phase::Connected(sid) = c.phase {
            self.connected -= 1;
            will_session = Some(sid);
            let session = self.sessions.get(sid).filter(|s| s.conn() == Some(conn));
            if let Some(s) = session {
                let id = s.client_id();
                match reason {
                    _ if !crate::log::connection_lines() => {}
                    CloseReason::ClientDisconnect => {
                        info!(target: TARGET_CONNECTION, "client {id} disconnected")
                    }
                    _ => info!(target: TARGET_CONNECTION, "client {id} closed: {reason:?}"),
                }
                self.detach_session(sid, now);
            }
        }
        if let Some(will) = c.take_will() {
            self.will_at_close(will, will_session, reason, now);
        }
    }

    /// Closes `conn`: it is handed to the reactor as [`Effect::Close`], and no further
    /// packet of it is processed.
    pub(super) fn close(&mut self, conn: ConnId, reason: CloseReason) {
        let Some(c) = self.conn_mut(conn) else { return };
        if c.closing {
            return;
        }
        c.closing = true;
        self.effects.push_back(Effect::Close { conn, reason });
    }

    /// Closes `conn` for breaking the protocol: counted and logged (rate-limited); an
    /// MQTT 5.0 client is told Protocol Error (0x82) first.
    pub(super) fn protocol_error(&mut self, conn: ConnId, why: &str, now: Instant) {
        self.protocol_error_code(conn, why, ReasonCode::PROTOCOL_ERROR, now);
    }

    /// As [`Broker::protocol_error`], with the MQTT 5.0 reason `code` (Malformed Packet,
    /// Receive Maximum exceeded, Topic Alias invalid, ...).
    pub(super) fn protocol_error_code(
        &mut self,
        conn: ConnId,
        why: &str,
        code: ReasonCode,
        now: Instant,
    ) {
        self.stats.protocol_errors += 1;
        let id = self
            .client_id_of(conn)
            .unwrap_or("(before CONNECT)")
            .to_string();
        self.error_log.warn(
            now,
            format_args!("client {id}: protocol violation: {why}; disconnecting"),
        );
        self.disconnect(conn, code, CloseReason::ProtocolError, now);
    }

    /// The state of the connection in slot `conn`.
    #[inline]
    pub(super) fn conn(&self, conn: ConnId) -> Option<&Conn> {
        self.conns.get(conn)?.as_ref()
    }

    /// The state of the connection in slot `conn`, to change.
    #[inline]
    pub(super) fn conn_mut(&mut self, conn: ConnId) -> Option<&mut Conn> {
        self.conns.get_mut(conn)?.as_mut()
    }

    /// The client id of the session `conn` is attached to, once connected.
    pub(super) fn client_id_of(&self, conn: ConnId) -> Option<&str> {
        match self.conn(conn)?.phase {
            Phase::Connected(sid) => self.sessions.get(sid).map(|s| s.client_id()),
            Phase::AwaitingConnect => None,
        }
    }

    /// The session `conn` is attached to, once connected.
    pub(super) fn session_of(&self, conn: ConnId) -> Option<SessionId> {
        match self.conn(conn)?.phase {
            Phase::Connected(sid) => Some(sid),
            Phase::AwaitingConnect => None,
        }
    }
}
