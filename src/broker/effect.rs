//! What the core asks of the world: [`Effect`]s for the reactor (close a connection,
//! pause or resume reading it) and [`Durable`] records for a store, with the
//! [`CloseReason`] that decides how a connection's end is handled.
//!
//! Durable records are made by the two doors of durable state, the session table and
//! the retained store, each into its own [`Journal`]; the broker hands them out with the
//! other effects. A journal records nothing unless `Limits::track_durable` is set, so
//! nothing is allocated for them until a store exists.

use super::compact_str::CompactStr;
use super::id::ConnId;
use super::message::Message;
use super::retained::RetainSource;
#[cfg(doc)]
use super::Broker;
use crate::codec::QoS;
use std::collections::VecDeque;

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
    /// The CONNECT's username and password were refused (CONNACK "not authorised"); the
    /// reactor counts these per source address to rate-limit password guessing.
    AuthFailed,
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

/// A change of durable state: what a store appends to its log to rebuild the retained
/// messages and persistent sessions after a restart. Only persistent sessions (clean
/// session 0) are recorded, and no `$SYS` topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Durable {
    /// A persistent session was created, with the user name of its connection.
    SessionCreated {
        /// The session's client id (the key of every record of it).
        client_id: CompactStr,
        /// The user name its connection logged in with.
        username: Option<Box<str>>,
    },
    /// A persistent session got a connection again, maybe under another user name.
    SessionAttached {
        /// The session's client id.
        client_id: CompactStr,
        /// The user name of the new connection.
        username: Option<Box<str>>,
    },
    /// A persistent session lost its connection: its expiry runs from here.
    SessionDetached {
        /// The session's client id.
        client_id: CompactStr,
    },
    /// A persistent session's Session Expiry Interval changed (MQTT 5.0: at CONNECT or
    /// DISCONNECT); a store reads the new one from the session's facts.
    SessionExpiryChanged {
        /// The session's client id.
        client_id: CompactStr,
    },
    /// A persistent session ended: replaced by a clean one, expired, or not kept.
    SessionRemoved {
        /// The session's client id.
        client_id: CompactStr,
    },
    /// A subscription was added, or its granted QoS replaced [MQTT-3.8.4-3].
    Subscribed {
        /// The session's client id.
        client_id: CompactStr,
        /// The topic filter.
        filter: Box<str>,
        /// The QoS granted.
        qos: QoS,
    },
    /// A subscription was removed.
    Unsubscribed {
        /// The session's client id.
        client_id: CompactStr,
        /// The topic filter.
        filter: Box<str>,
    },
    /// A message joined the end of a session's queue.
    MessageQueued {
        /// The session's client id.
        client_id: CompactStr,
        /// The shared message body (a store writes one body once, however many queues).
        message: Message,
        /// The delivery QoS.
        qos: QoS,
        /// The RETAIN flag it will be sent with.
        retain: bool,
    },
    /// The oldest queued message was sent: with a packet id it is now in flight (QoS
    /// 1/2), without one it is gone (QoS 0).
    MessageSent {
        /// The session's client id.
        client_id: CompactStr,
        /// The packet id it was sent with.
        packet_id: Option<u16>,
    },
    /// An in-flight message was acknowledged (PUBACK, or PUBCOMP after PUBREL): gone.
    MessageAcknowledged {
        /// The session's client id.
        client_id: CompactStr,
        /// Its packet id.
        packet_id: u16,
    },
    /// An outbound QoS 2 message was received (PUBREC): only its PUBREL remains.
    PubrecReceived {
        /// The session's client id.
        client_id: CompactStr,
        /// Its packet id.
        packet_id: u16,
    },
    /// Queued QoS 0 messages were dropped as the session went offline
    /// (`queue_qos0_messages false`).
    QueuedQos0Dropped {
        /// The session's client id.
        client_id: CompactStr,
    },
    /// A message joined the end of a bridge outbox's queue on disk only (its window in
    /// RAM is full): a store writes its body for this entry alone and lets go of the
    /// message once written; it comes back through [`Durable::RefillWanted`].
    MessageSpilled {
        /// The outbox session's client id.
        client_id: CompactStr,
        /// The message.
        message: Message,
        /// The delivery QoS.
        qos: QoS,
        /// The RETAIN flag it will be sent with.
        retain: bool,
    },
    /// The oldest message of a bridge outbox on disk only was dropped (full outbox,
    /// drop_oldest): the oldest of those asked back if any are, else the oldest spilled.
    SpilledDropped {
        /// The outbox session's client id.
        client_id: CompactStr,
    },
    /// The core asks for the oldest `count` messages on disk only of a bridge outbox;
    /// the store answers with them (the reactor hands the answer to
    /// [`Broker::bridge_refill`]). One request per outbox at a time.
    RefillWanted {
        /// The outbox session's client id.
        client_id: CompactStr,
        /// How many.
        count: u32,
    },
    /// The answer to [`Durable::RefillWanted`] arrived: the messages asked back (less
    /// those dropped meanwhile) joined the queue in RAM, or, `kept` false, were lost
    /// (the store could not read them).
    Refilled {
        /// The outbox session's client id.
        client_id: CompactStr,
        /// Whether they were read.
        kept: bool,
    },
    /// An inbound QoS 2 message was delivered; its id awaits PUBREL [MQTT-4.3.3-2].
    PubrelAwaited {
        /// The session's client id.
        client_id: CompactStr,
        /// The publisher's packet id.
        packet_id: u16,
    },
    /// PUBREL arrived: the inbound packet id is free again.
    PubrelReceived {
        /// The session's client id.
        client_id: CompactStr,
        /// The publisher's packet id.
        packet_id: u16,
    },
    /// A retained message was stored for its topic.
    RetainedSet {
        /// The retained message.
        message: Message,
        /// Its QoS.
        qos: QoS,
        /// Who published it, under `check_retain_source`.
        source: Option<std::rc::Rc<RetainSource>>,
        /// The message it replaced (whose body a store may now drop).
        replaced: Option<Message>,
    },
    /// A topic's retained message was cleared.
    RetainedCleared {
        /// The topic.
        topic: Box<str>,
        /// The message that was retained.
        cleared: Message,
    },
}

/// Durable records a door has made and the broker has not handed out yet.
#[derive(Debug, Default)]
pub(super) struct Journal {
    /// Whether records are made at all (`Limits::track_durable`).
    enabled: bool,
    /// Records, oldest first.
    records: VecDeque<Durable>,
}

impl Journal {
    /// A journal that records only if `enabled`.
    pub(super) fn new(enabled: bool) -> Journal {
        Journal {
            enabled,
            records: VecDeque::new(),
        }
    }

    /// Turns recording on or off (on reload).
    pub(super) fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    /// Whether records are made; callers skip building one when not.
    #[inline]
    pub(super) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Records `change()` if enabled (the record is only built then).
    #[inline]
    pub(super) fn record(&mut self, change: impl FnOnce() -> Durable) {
        if self.enabled {
            self.records.push_back(change());
        }
    }

    /// The oldest record not handed out yet.
    pub(super) fn pop(&mut self) -> Option<Durable> {
        self.records.pop_front()
    }
}
