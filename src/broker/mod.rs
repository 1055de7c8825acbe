//! The protocol core: MQTT semantics with no I/O.
//!
//! The reactor feeds the core events for a connection slot ([`ConnId`]) with the current
//! monotonic time: [`Broker::accepted`], [`Broker::handle`] for each decoded packet,
//! [`Broker::malformed`] for a packet that failed to decode, [`Broker::closed`] when the
//! socket is gone, and [`Broker::tick`] when [`Broker::next_deadline`] has passed. The core
//! answers in two ways:
//!
//! - **Output**: frames queued per connection. [`Broker::poll_writable`] names connections
//!   that have new output, [`Broker::fill_iovecs`] lends their bytes for `writev`, and
//!   [`Broker::written`] reports how many were taken by the socket.
//! - **Effects** ([`Broker::poll_effect`]): close a connection, pause or resume reading from
//!   one (flow control), and what a store must make durable.
//!
//! The core owns sessions, the topic tree, retained messages, wills, keep-alive, inflight
//! windows, offline queues, flow control for full queues and `$SYS`. It must not know about
//! sockets, files or `mio`.

mod frame;
mod limits;
mod message;

pub use frame::Frame;
pub use limits::{Limits, ListenerPolicy};
pub use message::Message;

use crate::codec::{DecodeError, Packet};
use std::io::IoSlice;
use std::time::Instant;

/// A connection slot, assigned by the reactor's client pool (`0..max_connections`).
pub type ConnId = usize;

/// Why a connection ended. Decides whether the will is published and how it is logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent DISCONNECT: no will.
    ClientDisconnect,
    /// The peer closed the socket without DISCONNECT.
    PeerClosed,
    /// A socket read or write failed.
    SocketError,
    /// The client broke the protocol (malformed or unexpected packet).
    ProtocolError,
    /// A packet larger than `max_packet_size` was announced.
    PacketTooLarge,
    /// No packet for 1.5 times the keep-alive [MQTT-3.1.2-24].
    KeepAliveTimeout,
    /// No CONNECT within `connect_timeout`.
    ConnectTimeout,
    /// The CONNECT was refused with a non-zero CONNACK.
    ConnectRefused,
    /// Another connection with the same client id took the session over [MQTT-3.1.4-2].
    TakenOver,
    /// The socket took no bytes for `slow_consumer_timeout` while output was pending.
    SlowConsumer,
    /// A memory budget could not be met for this connection.
    OutOfMemory,
    /// The broker is shutting down: no will.
    Shutdown,
}

/// Something the reactor (or a store) must carry out for the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Write what is pending for `conn` if the socket takes it now, close the socket, then
    /// call [`Broker::closed`]. The core processes no further packets from `conn`.
    Close {
        /// The connection to close.
        conn: ConnId,
        /// Why, for the log and for will handling.
        reason: CloseReason,
    },
    /// Stop reading from `conn` (its messages wait for a full subscriber queue).
    PauseRead(ConnId),
    /// Resume reading from `conn`, including bytes already buffered.
    ResumeRead(ConnId),
    /// A change a persistent store must record.
    Durable(Durable),
}

/// A change of durable state, named so a store can be added without reshaping the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Durable {
    /// A persistent session was created or its clean flag/connection state changed.
    SessionSaved {
        /// The session's client id.
        client_id: Box<str>,
    },
    /// A persistent session ended (clean reconnect or expiry).
    SessionRemoved {
        /// The session's client id.
        client_id: Box<str>,
    },
    /// A persistent session's subscriptions changed.
    SubscriptionsChanged {
        /// The session's client id.
        client_id: Box<str>,
    },
    /// A retained message was stored for a topic.
    RetainedSet {
        /// The retained message.
        message: Message,
        /// Its QoS.
        qos: crate::codec::QoS,
    },
    /// A topic's retained message was cleared.
    RetainedCleared {
        /// The topic.
        topic: Box<str>,
    },
    /// A persistent session's queue or inflight window changed.
    QueueChanged {
        /// The session's client id.
        client_id: Box<str>,
    },
}

/// The broker core. See the module documentation.
pub struct Broker {
    limits: Limits,
}

impl Broker {
    /// A broker with `limits`, started at `now`.
    pub fn new(limits: Limits, _now: Instant) -> Broker {
        Broker { limits }
    }

    /// The caps in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Replaces the caps that can change at run time (on SIGHUP). The number of connection
    /// slots and listeners cannot change; those fields of `limits` are ignored.
    pub fn reconfigure(&mut self, limits: Limits) {
        let _ = limits;
        todo!()
    }

    /// A socket was accepted into slot `conn` on listener number `listener`; it must send
    /// CONNECT within `connect_timeout`.
    pub fn accepted(&mut self, conn: ConnId, listener: usize, now: Instant) {
        let _ = (conn, listener, now);
        todo!()
    }

    /// One decoded packet from `conn`.
    pub fn handle(&mut self, conn: ConnId, packet: Packet<'_>, now: Instant) {
        let _ = (conn, packet, now);
        todo!()
    }

    /// A packet from `conn` failed to decode. Answers CONNACK 0x01 for an unsupported
    /// protocol level on a first packet; always ends with [`Effect::Close`].
    pub fn malformed(&mut self, conn: ConnId, error: DecodeError, now: Instant) {
        let _ = (conn, error, now);
        todo!()
    }

    /// The socket of `conn` is gone (or was closed after an [`Effect::Close`]). Publishes
    /// the will unless the client sent DISCONNECT, detaches the session and frees the slot.
    pub fn closed(&mut self, conn: ConnId, reason: CloseReason, now: Instant) {
        let _ = (conn, reason, now);
        todo!()
    }

    /// Runs every timer due at `now`: CONNECT and keep-alive timeouts, slow consumers,
    /// publisher stalls, session expiry and `$SYS` updates.
    pub fn tick(&mut self, now: Instant) {
        let _ = now;
        todo!()
    }

    /// The earliest instant at which [`Broker::tick`] has work, if any. May be early (a
    /// deadline that has since moved); never late.
    pub fn next_deadline(&self) -> Option<Instant> {
        todo!()
    }

    /// The next effect to carry out, oldest first.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        todo!()
    }

    /// A connection that has output queued since it was last returned here.
    pub fn poll_writable(&mut self) -> Option<ConnId> {
        todo!()
    }

    /// Lends the pending output of `conn` as byte slices for `writev`, filling at most
    /// `iov.len()` entries. Returns how many entries were filled (0: nothing to write).
    pub fn fill_iovecs<'a>(&'a self, conn: ConnId, iov: &mut [IoSlice<'a>]) -> usize {
        let _ = (conn, iov);
        todo!()
    }

    /// The socket of `conn` took `n` bytes of the output lent by [`Broker::fill_iovecs`].
    pub fn written(&mut self, conn: ConnId, n: usize, now: Instant) {
        let _ = (conn, n, now);
        todo!()
    }

    /// Counts `n` bytes read from clients, for `$SYS/broker/bytes/received`.
    pub fn bytes_received(&mut self, n: usize) {
        let _ = n;
        todo!()
    }

    /// Whether `conn` has output not yet written.
    pub fn has_output(&self, conn: ConnId) -> bool {
        let _ = conn;
        todo!()
    }
}
