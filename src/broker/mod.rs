//! The protocol core: MQTT semantics with no I/O.
//!
//! The reactor feeds the core events for a connection slot ([`ConnId`]) with the current
//! monotonic time: [`Broker::accepted`], [`Broker::handle`] for each decoded packet,
//! [`Broker::malformed`] for a packet that failed to decode, [`Broker::closed`] when the
//! socket is gone, and [`Broker::tick`] when [`Broker::next_deadline`] has passed. The core
//! answers in two ways:
//!
//! - **Output**: frames queued per connection. [`Broker::poll_writable`] names connections
//!   that have new output, [`Broker::output`] lends their bytes for `writev`, and
//!   [`Broker::written`] reports how many were taken by the socket.
//! - **Effects** ([`Broker::poll_effect`]): close a connection, pause or resume reading from
//!   one (flow control), and what a store must make durable.
//!
//! The core owns sessions, the topic tree, retained messages, wills, keep-alive, inflight
//! windows, offline queues, flow control for full queues and `$SYS`. It must not know about
//! sockets, files or `mio`.

mod compact_str;
mod frame;
mod index;
mod limits;
mod message;
mod retained;
mod session;
mod stats;
mod timer;
mod topic;

use crate::topic::{validate_filter, validate_topic, FilterError};
pub use compact_str::heap_bytes as string_heap_bytes;
pub use frame::Frame;
pub use limits::{Limits, ListenerPolicy};
pub use message::Message;
pub use session::SESSION_BYTES;
pub use stats::Stats;
use topic::FilterRef;
/// Public for the micro-benchmarks (`benches/topic.rs`), which measure matching, insert and
/// remove on their own; [`Broker`] is the only other user. The benchmarks call only
/// `default`, `insert`, `remove`, `matches` and `len`, so the tree's representation stays
/// free to change.
pub use topic::{Subscriber, TopicTree};
pub use topic::{NODE_BYTES, SUBSCRIPTION_BYTES};

/// Upper bound of the core's bytes per connection slot in use, for the memory ceiling: the
/// connection state and up to four timer-heap entries (a live deadline and stale ones
/// waiting to be popped, with room for the heap to grow). The outbox's frames and the
/// will's message are not counted (see `config::MemoryCeiling`).
pub const CONNECTION_BYTES: usize = std::mem::size_of::<Option<Conn>>() + 4 * timer::ENTRY_BYTES;

/// Upper bound of the bytes one entry of the table of certificate names awaiting CONNECT
/// (`use_identity_as_username`) costs beyond the name's own allocation: the entry and its
/// control byte, at the hash table's 7/8 load, rounded up.
pub const IDENTITY_ENTRY_BYTES: usize =
    (std::mem::size_of::<(ConnId, Option<Box<str>>)>() + 1) * 8 / 7 + 1;

/// Most bytes of frames a connection's outbox can hold: reading pauses once it passes
/// [`OUTBOX_HIGH_WATER`] frames (publishes are moved in only below [`OUTBOX_BATCH`]), and
/// the packet that crossed the threshold may add one more. For the memory ceiling.
pub const OUTBOX_BYTES_MAX: usize = (OUTBOX_HIGH_WATER + 1) * std::mem::size_of::<Frame>();

use crate::auth::acl::{Identity, SubscribeVerdict, Want};
use crate::auth::password::Login;
use crate::auth::Auth;
use crate::codec::{
    self, Connack, DecodeError, EncodeError, FixedHeader, Packet, ProtocolVersion, QoS, ReasonCode,
    Suback,
};
use crate::log::TARGET_CONNECTION;
use crate::x509::CommonNameError;
use frame::Outbox;
use index::ArenaIndex;
use log::{debug, info, warn};
use retained::RetainedStore;
use session::{Awaiting, Inflight, Queued, Session, SessionId};
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::io::IoSlice;
use std::time::{Duration, Instant};
use timer::{Clock, Owner, Tick, Timers};

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

/// Frames moved from a session's queue into its connection's outbox at a time: enough
/// for one write of many small messages (the reactor packs them into one syscall), few
/// enough that queue caps keep their meaning and the outbox's worst case stays small.
const OUTBOX_BATCH: usize = 128;
/// A connection whose outbox (a batch of publishes plus acknowledgements to its own
/// publishes) grows past this many frames is not read until it drains to
/// [`OUTBOX_LOW_WATER`]: a client that does not read cannot make the broker queue
/// acknowledgements without bound. It bounds the outbox for the memory ceiling
/// ([`OUTBOX_BYTES_MAX`]).
const OUTBOX_HIGH_WATER: usize = OUTBOX_BATCH + 64;
/// See [`OUTBOX_HIGH_WATER`].
const OUTBOX_LOW_WATER: usize = 32;
/// Outbox capacity (frames) a connection keeps once everything is written: enough for
/// acknowledgements, small enough that ten thousand idle clients cost little.
const OUTBOX_KEEP: usize = 16;
/// Why a PUBLISH or will is refused when the ACL does not let its client write the topic.
const ACL_WRITE_DENIED: &str = "the ACL does not allow publishing to its topic";
/// Minimum time between two warnings about dropped messages.
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Accepted, CONNECT not received yet.
    AwaitingConnect,
    /// CONNECT accepted; attached to (or, after a takeover, formerly attached to) a session.
    Connected(SessionId),
}

/// A will, owned, waiting for an abnormal end of its connection.
#[derive(Clone, Debug)]
struct Will {
    message: Message,
    qos: QoS,
    retain: bool,
    /// Who left it: a reload may take away its right to write the topic before the will
    /// is published, and by then a takeover may have given the session another username.
    client_id: Box<str>,
    /// The username its connection logged in with.
    username: Option<Box<str>>,
}

/// Per-connection protocol state. The socket itself belongs to the reactor.
///
/// One per connection slot, so it is kept small (104 bytes on 64-bit targets, checked by a
/// test): times are [`Tick`]s, the will is boxed, the outbox stores one frame inline and a
/// publisher's stall lives in the broker's `stalled` list.
#[derive(Debug)]
struct Conn {
    /// Distinguishes this connection from earlier ones in the same slot, for timers.
    generation: u32,
    /// Listener number it came in on, for its policy.
    listener: u32,
    /// Lifecycle phase.
    phase: Phase,
    /// The protocol version its CONNECT named ([`ProtocolVersion::V311`] before):
    /// every packet from and to it is decoded and encoded in it.
    version: ProtocolVersion,
    /// Bytes of `outbox.front()` already written.
    written: u32,
    /// The keep-alive in seconds [MQTT-3.1.2-24]; 0 turns the timeout off.
    keep_alive: u16,
    /// An [`Effect::Close`] was issued: no further packets are processed.
    closing: bool,
    /// Already listed in the broker's writable queue.
    in_writable: bool,
    /// Not read because its own outbox is over [`OUTBOX_HIGH_WATER`].
    paused_self: bool,
    /// Not read because a message of it waits for a full queue (see `Broker::stalled`).
    stalled: bool,
    /// When the last packet arrived (keep-alive); before CONNECT, when it was accepted
    /// (CONNECT timeout): every packet before CONNECT ends that phase or the connection.
    last_packet: Tick,
    /// When the socket last took bytes, or when output became pending (slow consumer).
    last_progress: Tick,
    /// The deadline this connection has in the timer heap, if any.
    timer_at: Option<Tick>,
    /// Will to publish unless the client disconnects cleanly.
    will: Option<Box<Will>>,
    /// Frames waiting to be written.
    outbox: Outbox,
}

impl Conn {
    fn paused(&self) -> bool {
        self.paused_self || self.stalled
    }

    /// When 1.5 times the keep-alive has passed since the last packet [MQTT-3.1.2-24].
    fn keep_alive_deadline(&self) -> Option<Tick> {
        (self.keep_alive > 0).then(|| self.last_packet.after_ms(u64::from(self.keep_alive) * 1500))
    }
}

/// A publisher not read because one of its QoS 1/2 messages waits beyond a full queue.
#[derive(Clone, Copy, Debug)]
struct Stall {
    /// The publisher.
    conn: ConnId,
    /// The session whose queue is full.
    session: SessionId,
    /// Since when (for `max_publisher_stall`).
    since: Instant,
}

/// A warning that is logged at most once per [`DROP_LOG_INTERVAL`], with a count of the
/// occurrences in between.
#[derive(Default)]
struct RateLimitedLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    fn warn(&mut self, now: Instant, what: std::fmt::Arguments<'_>) {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < DROP_LOG_INTERVAL)
        {
            self.suppressed += 1;
            return;
        }
        if self.suppressed > 0 {
            warn!(
                "{what} (and {} more since the last report)",
                self.suppressed
            );
        } else {
            warn!("{what}");
        }
        self.last = Some(now);
        self.suppressed = 0;
    }
}

/// The broker core. See the module documentation.
pub struct Broker {
    /// Caps and timeouts in force.
    limits: Limits,
    /// Start time, for `$SYS/broker/uptime`.
    started: Instant,
    /// Converts times to the compact [`Tick`]s connections and sessions keep.
    clock: Clock,
    /// Connection state by slot. Room for `max_connections` is reserved at start, but
    /// entries are written only up to the highest slot used so far, so memory the
    /// system has not handed out yet is not touched (and not resident) for slots never
    /// used; the vector never reallocates.
    conns: Vec<Option<Conn>>,
    /// Next connection generation.
    conn_generation: u32,
    /// Session slab.
    sessions: Vec<Option<Session>>,
    /// Free session slots.
    free_sessions: Vec<SessionId>,
    /// Next session generation.
    session_generation: u32,
    /// Sessions by client id (the key is the session's own `client_id`).
    by_client_id: ArenaIndex,
    /// Keys the client-id hash of `by_client_id`.
    id_hasher: RandomState,
    /// Subscriptions.
    tree: TopicTree,
    /// Retained messages.
    retained: RetainedStore,
    /// Connection and session deadlines.
    timers: Timers,
    /// Effects not yet polled.
    effects: VecDeque<Effect>,
    /// Connections with new output not yet polled.
    writable: VecDeque<ConnId>,
    /// Publishers paused by flow control.
    stalled: Vec<Stall>,
    /// Reused buffer for topic-tree matches (no allocation per message).
    scratch: Vec<Subscriber>,
    /// Counters.
    stats: Stats,
    /// Connections past CONNECT.
    connected: usize,
    /// Persistent sessions without a connection.
    offline: usize,
    /// Message bytes held by all sessions' queues and inflight windows.
    held_bytes: usize,
    /// Next `$SYS` update.
    sys_next: Option<Instant>,
    /// Last value published per `$SYS` topic, to publish only changes.
    sys_last: HashMap<&'static str, String>,
    /// Password file and ACL in force (none: everyone may do everything).
    auth: Auth,
    /// Client certificate common names reported by [`Broker::client_certificate`] for
    /// connections awaiting CONNECT on a `use_identity_as_username` listener (`None`: the
    /// certificate has no usable one). Taken at CONNECT, dropped at close: it holds at
    /// most one name of at most `max_username_length` bytes per connection in the
    /// CONNECT phase, and nothing for other listeners (kept out of [`Conn`], which every
    /// slot pays for).
    identities: HashMap<ConnId, Option<Box<str>>>,
    /// Warnings about dropped messages.
    drop_log: RateLimitedLog,
    /// Warnings about protocol errors.
    error_log: RateLimitedLog,
}

impl Broker {
    /// A broker with `limits`, started at `now`. Allocates the connection table.
    pub fn new(limits: Limits, now: Instant) -> Broker {
        let conns = Vec::with_capacity(limits.max_connections);
        let sys_next = (!limits.sys_interval.is_zero()).then_some(now);
        Broker {
            clock: Clock::new(now),
            limits,
            started: now,
            conns,
            conn_generation: 0,
            sessions: Vec::new(),
            free_sessions: Vec::new(),
            session_generation: 0,
            by_client_id: ArenaIndex::default(),
            id_hasher: RandomState::new(),
            tree: TopicTree::default(),
            retained: RetainedStore::default(),
            timers: Timers::default(),
            effects: VecDeque::new(),
            writable: VecDeque::new(),
            stalled: Vec::new(),
            scratch: Vec::new(),
            stats: Stats::default(),
            connected: 0,
            offline: 0,
            held_bytes: 0,
            sys_next,
            sys_last: HashMap::new(),
            auth: Auth::default(),
            identities: HashMap::new(),
            drop_log: RateLimitedLog::default(),
            error_log: RateLimitedLog::default(),
        }
    }

    /// The caps in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Number of connections past CONNECT.
    pub fn clients_connected(&self) -> usize {
        self.connected
    }

    /// Number of subscriptions across all sessions.
    pub fn subscription_count(&self) -> usize {
        self.tree.len()
    }

    /// Number of retained messages (`$SYS` included).
    pub fn retained_count(&self) -> usize {
        self.retained.len()
    }

    /// Puts a password file and ACL in force (at start and on reload). Connected clients
    /// keep their session; the new rules apply to their next PUBLISH, SUBSCRIBE and
    /// delivery, and to their will.
    pub fn set_auth(&mut self, auth: Auth) {
        self.auth = auth;
        for sid in 0..self.sessions.len() as SessionId {
            self.mark_acl_checks(sid);
        }
    }

    /// Decides again, for each of session `sid`'s subscriptions, whether its deliveries
    /// need an ACL check: after the ACL or the session's user name changed.
    fn mark_acl_checks(&mut self, sid: SessionId) {
        let Some(s) = self.session(sid) else { return };
        let who = Identity {
            client_id: &s.client_id,
            username: s.username.as_deref(),
        };
        let marks: Vec<(FilterRef, bool)> = s
            .subscriptions
            .iter()
            .map(|&at| {
                let checked = self.auth.acl.as_ref().is_some_and(|acl| {
                    acl.subscribe(who, &self.tree.filter_of(at)) != SubscribeVerdict::GrantAll
                });
                (at, checked)
            })
            .collect();
        for (at, checked) in marks {
            self.tree.set_acl_checked(at, sid, checked);
        }
    }

    /// Replaces the caps that can change at run time (on SIGHUP). The number of connection
    /// slots and the listeners cannot change; those fields of `limits` are ignored.
    pub fn reconfigure(&mut self, mut limits: Limits, now: Instant) {
        limits.max_connections = self.limits.max_connections;
        if limits.listeners.len() != self.limits.listeners.len() {
            limits.listeners.clone_from(&self.limits.listeners);
        }
        self.sys_next = (!limits.sys_interval.is_zero()).then_some(now);
        self.limits = limits;
    }

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
            closing: false,
            in_writable: false,
            paused_self: false,
            stalled: false,
            last_packet: stamp,
            last_progress: stamp,
            timer_at: None,
            will: None,
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

    /// One decoded packet from `conn`.
    pub fn handle(&mut self, conn: ConnId, packet: Packet<'_>, now: Instant) {
        let stamp = self.clock.stamp(now);
        let Some(c) = self.conn_mut(conn) else { return };
        if c.closing {
            return;
        }
        c.last_packet = stamp;
        let phase = c.phase;
        self.stats.messages_received += 1;
        match (phase, packet) {
            (Phase::AwaitingConnect, Packet::Connect(p)) => self.on_connect(conn, p, now),
            (Phase::AwaitingConnect, _) => {
                self.protocol_error(conn, "first packet is not CONNECT [MQTT-3.1.0-1]", now)
            }
            (Phase::Connected(_), Packet::Connect(_)) => {
                self.protocol_error(conn, "second CONNECT [MQTT-3.1.0-2]", now)
            }
            (Phase::Connected(sid), Packet::Publish(p)) => self.on_publish(conn, sid, p, now),
            (Phase::Connected(sid), Packet::Puback(ack)) => {
                self.on_ack(sid, ack.packet_id, Awaiting::Puback, now)
            }
            (Phase::Connected(sid), Packet::Pubrec(ack)) => {
                self.on_pubrec(conn, sid, ack.packet_id, now)
            }
            (Phase::Connected(sid), Packet::Pubrel(ack)) => {
                self.on_pubrel(conn, sid, ack.packet_id, now)
            }
            (Phase::Connected(sid), Packet::Pubcomp(ack)) => {
                self.on_ack(sid, ack.packet_id, Awaiting::Pubcomp, now)
            }
            (Phase::Connected(sid), Packet::Subscribe(p)) => self.on_subscribe(conn, sid, p, now),
            (Phase::Connected(sid), Packet::Unsubscribe(p)) => {
                self.on_unsubscribe(conn, sid, p, now)
            }
            (Phase::Connected(_), Packet::Pingreq) => self.send(conn, &Packet::Pingresp, now),
            (Phase::Connected(_), Packet::Disconnect(_)) => {
                // The will is discarded without being published [MQTT-3.14.4-3].
                if let Some(c) = self.conn_mut(conn) {
                    c.will = None;
                }
                self.close(conn, CloseReason::ClientDisconnect);
            }
            (
                Phase::Connected(_),
                Packet::Connack(_) | Packet::Suback(_) | Packet::Unsuback(_) | Packet::Pingresp,
            ) => self.protocol_error(conn, "client sent a packet only a server may send", now),
        }
        self.check_outbox_pressure(conn, now);
    }

    /// One whole packet from `conn`: its fixed header, parsed by framing, and the `body`
    /// after it. Decoded in the version the connection speaks, then handled like
    /// [`Broker::handle`] (or [`Broker::malformed`] if it does not decode).
    pub fn receive(&mut self, conn: ConnId, header: &FixedHeader, body: &[u8], now: Instant) {
        let version = self
            .conn(conn)
            .map_or_else(ProtocolVersion::default, |c| c.version);
        match codec::decode_packet(header, body, version) {
            Ok(packet) => self.handle(conn, packet, now),
            Err(error) => {
                debug!("connection {conn}: malformed packet: {error}");
                self.malformed(conn, error, now);
            }
        }
    }

    /// A packet from `conn` failed to decode. Answers CONNACK 0x01 for an unsupported
    /// protocol level on a first packet [MQTT-3.1.2-2]; always ends with [`Effect::Close`].
    pub fn malformed(&mut self, conn: ConnId, error: DecodeError, now: Instant) {
        let Some(c) = self.conn_mut(conn) else { return };
        if c.closing {
            return;
        }
        if let (Phase::AwaitingConnect, DecodeError::UnsupportedProtocolLevel(_)) = (c.phase, error)
        {
            debug!("connection {conn}: {error}");
            let refusal = Connack::new(false, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION);
            self.send(conn, &Packet::Connack(refusal), now);
            self.close(conn, CloseReason::ConnectRefused);
            return;
        }
        self.protocol_error(conn, &format!("malformed packet: {error}"), now);
    }

    /// The socket of `conn` is gone (or was closed after an [`Effect::Close`]). Publishes
    /// the will unless the client sent DISCONNECT, detaches the session and frees the slot.
    /// Harmless for a slot that holds no connection.
    pub fn closed(&mut self, conn: ConnId, reason: CloseReason, now: Instant) {
        let Some(c) = self.conns.get_mut(conn).and_then(Option::take) else {
            return;
        };
        if !self.identities.is_empty() {
            self.identities.remove(&conn);
        }
        if c.stalled {
            self.stalled.retain(|p| p.conn != conn);
        }
        if let Phase::Connected(sid) = c.phase {
            self.connected -= 1;
            let attached = self.session(sid).is_some_and(|s| s.conn() == Some(conn));
            if attached {
                let s = self
                    .session(sid)
                    .map(|s| s.client_id.to_string())
                    .unwrap_or_default();
                match reason {
                    CloseReason::ClientDisconnect => {
                        info!(target: TARGET_CONNECTION, "client {s} disconnected")
                    }
                    _ => info!(target: TARGET_CONNECTION, "client {s} closed: {reason:?}"),
                }
                self.detach_session(sid, now);
            }
        }
        if let Some(will) = c.will {
            if !matches!(
                reason,
                CloseReason::ClientDisconnect | CloseReason::Shutdown
            ) && self.will_still_allowed(&will, now)
            {
                self.publish(None, will.message, will.qos, will.retain, now);
            }
        }
    }

    /// Whether the ACL in force lets a will's client write its topic. Checked at CONNECT
    /// and again when the will is published, as Mosquitto does: a reload in between may
    /// have taken the right away. A will refused here is counted and logged.
    fn will_still_allowed(&mut self, will: &Will, now: Instant) -> bool {
        let who = Identity {
            client_id: &will.client_id,
            username: will.username.as_deref(),
        };
        let topic = will.message.topic();
        if self
            .auth
            .acl
            .as_ref()
            .is_none_or(|acl| acl.allows(who, topic, Want::Write))
        {
            return true;
        }
        self.stats.acl_denied += 1;
        self.stats.publish_dropped += 1;
        let id = &will.client_id;
        self.drop_log.warn(
            now,
            format_args!("dropped the will of {id} to {topic}: {ACL_WRITE_DENIED}"),
        );
        false
    }

    /// Counts `n` bytes read from clients, for `$SYS/broker/bytes/received`.
    pub fn bytes_received(&mut self, n: usize) {
        self.stats.bytes_received += n as u64;
    }

    /// Runs every timer due at `now`: CONNECT and keep-alive timeouts, slow consumers,
    /// publisher stalls, session expiry and `$SYS` updates.
    pub fn tick(&mut self, now: Instant) {
        let passed = self.clock.passed(now);
        while let Some((at, owner)) = self.timers.pop_due(passed) {
            match owner {
                Owner::Conn(conn, generation) => self.conn_timer(conn, generation, at, passed),
                Owner::Session(sid, generation) => self.session_timer(sid, generation, passed, now),
            }
        }
        let mut i = 0;
        while i < self.stalled.len() {
            let Stall {
                conn: p,
                session: sid,
                since,
            } = self.stalled[i];
            match now.duration_since(since) >= self.limits.max_publisher_stall {
                true => {
                    if let Some(s) = self.session_mut(sid) {
                        s.dropping = true;
                        let id = s.client_id.to_string();
                        self.drop_log.warn(now, format_args!("subscriber {id} did not drain its queue within max_publisher_stall: dropping its overflowing QoS 1/2 messages"));
                    }
                    self.release(p, now);
                }
                false => i += 1,
            }
        }
        if self.sys_next.is_some_and(|t| t <= now) {
            self.publish_sys(now);
            self.sys_next = Some(now + self.limits.sys_interval);
        }
    }

    /// The earliest instant at which [`Broker::tick`] has work, if any. May be early (a
    /// deadline that has since moved); never late.
    pub fn next_deadline(&self) -> Option<Instant> {
        let stall = self
            .stalled
            .iter()
            .map(|p| p.since + self.limits.max_publisher_stall)
            .min();
        let timer = self.timers.next().map(|t| self.clock.instant(t));
        [timer, self.sys_next, stall].into_iter().flatten().min()
    }

    /// The next effect to carry out, oldest first.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

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
        None
    }

    /// The pending output of `conn`, oldest first, as the byte slices it is made of (a
    /// PUBLISH is its fixed header, the shared topic field, a packet id and the shared
    /// payload); bytes already written are skipped. Empty when there is nothing to write.
    pub fn output(&self, conn: ConnId) -> impl Iterator<Item = &[u8]> {
        let (frames, mut skip) = match self.conn(conn) {
            Some(c) => (Some(c.outbox.iter()), c.written as usize),
            None => (None, 0),
        };
        frames
            .into_iter()
            .flatten()
            .flat_map(Frame::segments)
            .filter_map(move |seg| {
                if skip >= seg.len() {
                    skip -= seg.len();
                    None
                } else {
                    let rest = &seg[skip..];
                    skip = 0;
                    Some(rest)
                }
            })
    }

    /// Lends the pending output of `conn` as byte slices for `writev`, filling at most
    /// `iov.len()` entries. Returns how many entries were filled (0: nothing to write).
    pub fn fill_iovecs<'a>(&'a self, conn: ConnId, iov: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, seg) in iov.iter_mut().zip(self.output(conn)) {
            *slot = IoSlice::new(seg);
            n += 1;
        }
        n
    }

    /// The socket of `conn` took `n` bytes of the output lent by [`Broker::fill_iovecs`].
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

    // ----- packet handlers -------------------------------------------------------------

    fn on_connect(&mut self, conn: ConnId, p: codec::Connect<'_>, now: Instant) {
        // The connection speaks the CONNECT's version from here on, a refusal included.
        if let Some(c) = self.conn_mut(conn) {
            c.version = p.version;
        }
        let listener = self.conn(conn).map_or(0, |c| c.listener as usize);
        let policy = self.limits.listeners.get(listener);
        let allow_anonymous = policy.is_some_and(|l| l.allow_anonymous);
        let uses_identity = policy.is_some_and(|l| l.use_identity_as_username);
        // The certificate's name, taken now whatever the outcome (a refusal closes).
        let identity = if uses_identity {
            self.identities.remove(&conn).flatten()
        } else {
            None
        };
        let client_id: Box<str> = if p.client_id.is_empty() {
            // A server may accept an empty id only with clean session [MQTT-3.1.3-7],
            // [MQTT-3.1.3-8]; MQTT 3.1 requires an id.
            if !p.clean_session
                || p.version == ProtocolVersion::V31
                || !self.limits.allow_zero_length_clientid
            {
                return self.refuse(
                    conn,
                    ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
                    "empty client id",
                    now,
                );
            }
            self.generate_client_id()
        } else if p.client_id.len() > self.limits.max_client_id_length {
            return self.refuse(
                conn,
                ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
                "client id longer than max_client_id_length",
                now,
            );
        } else {
            p.client_id.into()
        };
        let username = if uses_identity {
            // The certificate authenticated the client: the CONNECT's user name and
            // password are ignored and the password file is not consulted (Mosquitto).
            // With a name, the client is not anonymous.
            match identity.as_deref() {
                Some(name) => Some(name),
                None => {
                    // Mosquitto (1.5 to 2.1) answers "bad user name or password" here.
                    let why = "the client certificate has no usable common name \
                               (use_identity_as_username)";
                    let code = ReasonCode::BAD_USER_NAME_OR_PASSWORD;
                    return self.refuse_login(conn, code, why, now);
                }
            }
        } else {
            if p.username
                .is_some_and(|u| u.len() > self.limits.max_username_length)
            {
                return self.refuse(
                    conn,
                    ReasonCode::BAD_USER_NAME_OR_PASSWORD,
                    "user name longer than max_username_length",
                    now,
                );
            }
            match (p.username, &self.auth.passwords) {
                (None, _) if !allow_anonymous => {
                    return self.refuse(
                        conn,
                        ReasonCode::NOT_AUTHORIZED,
                        "anonymous access is not allowed on this listener",
                        now,
                    );
                }
                (Some(user), Some(passwords)) => {
                    // Mosquitto answers a wrong password with "not authorised" too.
                    let login = passwords.check(user, p.password.unwrap_or_default());
                    if login != Login::Accepted {
                        let why = format!("user {user:?}: {login:?}");
                        let code = ReasonCode::NOT_AUTHORIZED;
                        return self.refuse_login(conn, code, &why, now);
                    }
                }
                _ => {}
            }
            p.username
        };
        if p.keep_alive > self.limits.max_keepalive
            || (p.keep_alive == 0 && self.limits.max_keepalive < u16::MAX)
        {
            return self.refuse(
                conn,
                ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
                "keep-alive above max_keepalive",
                now,
            );
        }
        let who = Identity {
            client_id: &client_id,
            username,
        };
        let will_refusal = p.will.and_then(|w| {
            self.publish_refusal(w.topic, w.payload.len()).or_else(|| {
                let denied = self
                    .auth
                    .acl
                    .as_ref()
                    .is_some_and(|acl| !acl.allows(who, w.topic, Want::Write));
                denied.then_some(ACL_WRITE_DENIED)
            })
        });
        if let Some(why) = will_refusal {
            let why = format!("will refused: {why}");
            return self.refuse(conn, ReasonCode::NOT_AUTHORIZED, &why, now);
        }
        let will = p.will.map(|w| {
            Box::new(Will {
                message: Message::new(w.topic, w.payload),
                qos: w.qos,
                retain: w.retain,
                client_id: client_id.clone(),
                username: username.map(Box::from),
            })
        });

        // Take over a live connection with the same id [MQTT-3.1.4-2].
        let existing = self.session_by_id(&client_id);
        if let Some(sid) = existing {
            if let Some(old) = self.session_mut(sid).and_then(|s| s.take_conn()) {
                info!("client {client_id} already connected: closing the old connection");
                self.release_stalls_on(sid, now);
                self.close(old, CloseReason::TakenOver);
                let stamp = self.clock.stamp(now);
                if let Some(s) = self.session_mut(sid) {
                    if !s.clean {
                        // Counted offline until attached again below.
                        s.offline_since = Some(stamp);
                        self.offline += 1;
                    }
                }
            }
        }
        let resumed =
            existing.filter(|&sid| !p.clean_session && self.session(sid).is_some_and(|s| !s.clean));
        if let Some(sid) = existing.filter(|&sid| Some(sid) != resumed) {
            // Clean session discards the previous session [MQTT-3.1.2-6].
            self.remove_session(sid, now);
        }
        let sid = match resumed {
            Some(sid) => {
                self.offline -= 1;
                sid
            }
            None => self.create_session(&client_id, p.clean_session),
        };
        let mut user_changed = false;
        if let Some(s) = self.session_mut(sid) {
            s.set_conn(Some(conn));
            s.offline_since = None;
            s.clean = p.clean_session;
            user_changed = s.username.as_deref() != username;
            if user_changed {
                s.username = username.map(Box::from);
            }
        }
        if resumed.is_some() && user_changed && self.auth.acl.is_some() {
            // Its subscriptions were granted to another user name: decide them again.
            self.mark_acl_checks(sid);
        }
        if let Some(c) = self.conn_mut(conn) {
            c.phase = Phase::Connected(sid);
            c.keep_alive = p.keep_alive;
            c.will = will;
        }
        self.connected += 1;
        self.stats.clients_maximum = self.stats.clients_maximum.max(self.connected as u64);
        info!(
            target: TARGET_CONNECTION,
            "client {client_id} connected (p{}, c{}, k{}{}{})",
            p.version.level(),
            u8::from(p.clean_session),
            p.keep_alive,
            match (uses_identity, username) {
                (true, Some(user)) => format!(", u'{user}' from its certificate"),
                _ => String::new(),
            },
            if resumed.is_some() {
                ", session resumed"
            } else {
                ""
            }
        );
        // Session present only when a stored session is resumed [MQTT-3.2.2-1]..[MQTT-3.2.2-3].
        let connack = Connack::new(resumed.is_some(), ReasonCode::SUCCESS);
        self.send(conn, &Packet::Connack(connack), now);
        if resumed.is_some() {
            self.retransmit(conn, sid, now);
        }
        if !p.clean_session {
            self.durable(|| Durable::SessionSaved { client_id });
        }
        self.pump(sid, now);
        self.arm_conn_timer(conn);
    }

    fn on_publish(&mut self, conn: ConnId, sid: SessionId, p: codec::Publish<'_>, now: Instant) {
        self.stats.publish_received += 1;
        if p.retain && !self.limits.retain_available {
            // Mosquitto's rule for MQTT 3.1.1, which cannot tell the client in CONNACK.
            return self.protocol_error(
                conn,
                "retained PUBLISH while retain_available is false",
                now,
            );
        }
        let deliver = self.accept_publish(conn, &p, now);
        let (first_delivery, ack) = match (p.qos, p.packet_id) {
            (QoS::ExactlyOnce, Some(id)) => {
                // Deliver on the first PUBLISH only; a re-sent one with the same id is
                // acknowledged again but not delivered twice [MQTT-4.3.3-2].
                let max_incoming = self.limits.max_inflight_incoming;
                let Some(s) = self.session_mut(sid) else {
                    return;
                };
                let first = !s.awaits_pubrel(id);
                if first {
                    if s.awaiting_pubrel() >= max_incoming {
                        let why = "more QoS 2 messages awaiting PUBREL than max_inflight_incoming";
                        return self.protocol_error(conn, why, now);
                    }
                    s.await_pubrel(id);
                }
                (first, Some(Packet::pubrec(id)))
            }
            (QoS::AtLeastOnce, Some(id)) => (true, Some(Packet::puback(id))),
            _ => (true, None),
        };
        if deliver && first_delivery {
            let message = Message::new(p.topic, p.payload);
            self.publish(Some(conn), message, p.qos, p.retain, now);
        }
        // Acknowledged after routing, in the order received [MQTT-4.6.0-2], [MQTT-4.6.0-3].
        if let Some(ack) = ack {
            self.send(conn, &ack, now);
        }
    }

    /// Checks an inbound PUBLISH against the caps; false (counted, logged) if it is dropped.
    fn accept_publish(&mut self, conn: ConnId, p: &codec::Publish<'_>, now: Instant) -> bool {
        let reason = match self.publish_refusal(p.topic, p.payload.len()) {
            Some(reason) => reason,
            // Denied silently to the client, as MQTT 3.1.1 has no way to say so (it is
            // still acknowledged, so it is not re-sent); counted and logged here.
            None if self
                .session_of(conn)
                .is_some_and(|sid| !self.acl_allows(sid, p.topic, Want::Write)) =>
            {
                self.stats.acl_denied += 1;
                ACL_WRITE_DENIED
            }
            None => return true,
        };
        self.stats.publish_dropped += 1;
        let id = self.client_id_of(conn).unwrap_or_default().to_string();
        self.drop_log.warn(
            now,
            format_args!("dropped PUBLISH from {id} to {}: {reason}", p.topic),
        );
        false
    }

    /// Why a message from a client (a PUBLISH or a will) may not be published, if it may not.
    fn publish_refusal(&self, topic: &str, payload_len: usize) -> Option<&'static str> {
        let l = &self.limits;
        if l.message_size_limit != 0 && payload_len > l.message_size_limit {
            Some("payload larger than message_size_limit")
        } else if !validate_topic(topic, l.max_topic_length, l.max_topic_levels) {
            Some("topic exceeds max_topic_length or max_topic_levels")
        } else if topic.starts_with("$SYS") {
            Some("clients may not publish to $SYS")
        } else {
            None
        }
    }

    fn on_ack(&mut self, sid: SessionId, id: u16, state: Awaiting, now: Instant) {
        let acked = self
            .session_mut(sid)
            .and_then(|s| s.take_inflight(id, state));
        if let Some(entry) = acked {
            self.held_bytes -= entry.message.map_or(0, |m| m.size());
            self.queue_changed(sid);
            self.pump(sid, now);
        }
    }

    fn on_pubrec(&mut self, conn: ConnId, sid: SessionId, id: u16, now: Instant) {
        if let Some(s) = self.session_mut(sid) {
            let before = s.held_bytes();
            if s.pubrec_received(id) {
                self.held_bytes -= before - s.held_bytes();
            }
        }
        // PUBREL answers every PUBREC [MQTT-4.3.3-1].
        self.send(conn, &Packet::pubrel(id), now);
        self.queue_changed(sid);
    }

    fn on_pubrel(&mut self, conn: ConnId, sid: SessionId, id: u16, now: Instant) {
        if let Some(s) = self.session_mut(sid) {
            s.pubrel_received(id);
        }
        // PUBCOMP answers every PUBREL, known id or not [MQTT-4.3.3-2].
        self.send(conn, &Packet::pubcomp(id), now);
    }

    fn on_subscribe(
        &mut self,
        conn: ConnId,
        sid: SessionId,
        p: codec::Subscribe<'_>,
        now: Instant,
    ) {
        let mut codes: heapless::Vec<u8, 64> = heapless::Vec::new();
        let mut more_codes = Vec::new();
        let mut granted_filters: Vec<(&str, QoS, bool)> = Vec::new();
        for (filter, options) in p.filters() {
            let qos = options.qos;
            let code = match self.subscribe_one(sid, filter, qos) {
                Ok(acl_checked) => {
                    granted_filters.push((filter, qos, acl_checked));
                    ReasonCode::granted(qos).0
                }
                Err((code, why)) => {
                    let id = self.client_id_of(conn).unwrap_or_default().to_string();
                    info!("client {id}: subscription to {filter:?} refused: {why}");
                    code.0
                }
            };
            if codes.push(code).is_err() {
                more_codes.push(code);
            }
        }
        let mut all = Vec::new();
        let reason_codes = if more_codes.is_empty() {
            &codes[..]
        } else {
            all.extend_from_slice(&codes);
            all.extend_from_slice(&more_codes);
            &all[..]
        };
        let suback = Suback {
            packet_id: p.packet_id,
            properties: codec::Properties::NONE,
            reason_codes,
        };
        // SUBACK first, then the retained messages of each granted filter, RETAIN set
        // [MQTT-3.3.1-6], re-sent on a repeated subscription too [MQTT-3.8.4-3].
        self.send(conn, &Packet::Suback(suback), now);
        for (filter, granted, acl_checked) in granted_filters {
            log::info!(target: crate::log::TARGET_SUBSCRIBE, "{} {} {filter}", self.client_id_of(conn).unwrap_or_default(), granted as u8);
            let mut retained: Vec<(Message, QoS)> = self
                .retained
                .matching(filter)
                .filter(|(m, _)| !acl_checked || self.acl_allows(sid, m.topic(), Want::Read))
                .cloned()
                .collect();
            retained.sort_by(|a, b| a.0.topic().cmp(b.0.topic()));
            for (message, qos) in retained {
                let item = Queued {
                    message,
                    qos: qos.min(granted),
                    retain: true,
                };
                self.enqueue(sid, item, None, now);
            }
        }
        self.durable_subscriptions(sid);
    }

    /// Subscribes `sid` to `filter` at `qos`; `Ok(true)` when the ACL did not grant the
    /// whole filter, so its deliveries need a check each.
    fn subscribe_one(
        &mut self,
        sid: SessionId,
        filter: &str,
        qos: QoS,
    ) -> Result<bool, (ReasonCode, &'static str)> {
        let verdict = match (&self.auth.acl, self.identity(sid)) {
            (Some(acl), Some(who)) => acl.subscribe(who, filter),
            (Some(_), None) => SubscribeVerdict::Refuse,
            (None, _) => SubscribeVerdict::GrantAll,
        };
        if verdict == SubscribeVerdict::Refuse {
            self.stats.acl_denied += 1;
            let why = "the ACL allows reading nothing it matches";
            return Err((ReasonCode::NOT_AUTHORIZED, why));
        }
        validate_filter(
            filter,
            self.limits.max_topic_length,
            self.limits.max_topic_levels,
        )
        .map_err(|e| (ReasonCode::TOPIC_FILTER_INVALID, FilterError::as_str(e)))?;
        let total_full = self.tree.len() >= self.limits.max_subscriptions;
        let per_client = self.limits.max_subscriptions_per_client;
        let stored = self.tree.find(filter);
        let Some(s) = self.session_mut(sid) else {
            return Err((ReasonCode::UNSPECIFIED_ERROR, "no session"));
        };
        let existing = stored.filter(|at| s.subscriptions.contains(at));
        if existing.is_none() {
            if s.subscriptions.len() >= per_client {
                let why = "max_subscriptions_per_client reached";
                return Err((ReasonCode::QUOTA_EXCEEDED, why));
            }
            if total_full {
                return Err((ReasonCode::QUOTA_EXCEEDED, "max_subscriptions reached"));
            }
        }
        // A repeated subscription replaces the granted QoS [MQTT-3.8.4-3].
        let (_, at) = self.tree.subscribe(filter, sid, qos);
        // A grant of the whole filter spares every delivery through it the ACL check.
        let acl_checked = verdict == SubscribeVerdict::GrantChecked;
        self.tree.set_acl_checked(at, sid, acl_checked);
        if existing.is_none() {
            if let Some(s) = self.session_mut(sid) {
                s.subscriptions.push(at);
            }
        }
        Ok(acl_checked)
    }

    fn on_unsubscribe(
        &mut self,
        conn: ConnId,
        sid: SessionId,
        p: codec::Unsubscribe<'_>,
        now: Instant,
    ) {
        for filter in p.filters() {
            let Some(at) = self.tree.find(filter) else {
                continue;
            };
            if self.tree.remove_at(at, sid) {
                if let Some(s) = self.session_mut(sid) {
                    s.subscriptions.retain(|&f| f != at);
                }
                log::info!(target: crate::log::TARGET_UNSUBSCRIBE, "{} {filter}", self.client_id_of(conn).unwrap_or_default());
            }
        }
        // UNSUBACK even when nothing matched [MQTT-3.10.4-4], [MQTT-3.10.4-5].
        self.send(conn, &Packet::unsuback(p.packet_id), now);
        self.durable_subscriptions(sid);
    }

    // ----- routing ---------------------------------------------------------------------

    /// Routes a message to every matching subscription, once per session at the highest
    /// granted QoS, and updates the retained store. `from` is the publishing connection
    /// (none for wills and `$SYS`).
    fn publish(
        &mut self,
        from: Option<ConnId>,
        message: Message,
        qos: QoS,
        retain: bool,
        now: Instant,
    ) {
        if retain {
            self.retain(&message, qos, now);
        }
        let mut matches = std::mem::take(&mut self.scratch);
        matches.clear();
        self.tree.matches(message.topic(), &mut matches);
        if matches.len() > 1 {
            // One delivery per session, at the highest QoS of its matching filters.
            matches.sort_unstable_by_key(|s| s.session);
            matches.dedup_by(|later, kept| {
                let same = later.session == kept.session;
                if same {
                    kept.qos = kept.qos.max(later.qos);
                    // One filter the ACL grants whole covers this topic.
                    kept.acl_checked &= later.acl_checked;
                }
                same
            });
        }
        if self.auth.acl.is_some() {
            // Every delivery is checked, unless its filter was granted whole: a wildcard
            // subscription never delivers a topic the subscriber may not read.
            let before = matches.len();
            matches.retain(|sub| {
                !sub.acl_checked || self.acl_allows(sub.session, message.topic(), Want::Read)
            });
            self.stats.acl_denied += (before - matches.len()) as u64;
        }
        for sub in &matches {
            // Delivery QoS is the lower of publish and granted QoS [MQTT-3.8.4-6]; RETAIN
            // is cleared on normal delivery [MQTT-3.3.1-9].
            let item = Queued {
                message: message.clone(),
                qos: qos.min(sub.qos),
                retain: false,
            };
            self.enqueue(sub.session, item, from, now);
        }
        self.scratch = matches;
    }

    fn retain(&mut self, message: &Message, qos: QoS, now: Instant) {
        if message.payload().is_empty() {
            // A zero-length retained message clears the topic [MQTT-3.3.1-10], [MQTT-3.3.1-11].
            if self.retained.clear(message.topic()) {
                let topic = message.topic().into();
                self.durable(|| Durable::RetainedCleared { topic });
            }
            return;
        }
        match self.retained.set(
            message.clone(),
            qos,
            self.limits.max_retained_messages,
            self.limits.max_retained_bytes,
        ) {
            Ok(()) => {
                let message = message.clone();
                self.durable(|| Durable::RetainedSet { message, qos });
            }
            Err(why) => {
                // The previous retained message must go even if the new one cannot be
                // stored [MQTT-3.3.1-7]: a stale value is worse than none.
                if self.retained.clear(message.topic()) {
                    let topic = message.topic().into();
                    self.durable(|| Durable::RetainedCleared { topic });
                }
                self.stats.publish_dropped += 1;
                self.drop_log.warn(
                    now,
                    format_args!("not retaining message on {}: {why:?}", message.topic()),
                );
            }
        }
    }

    /// Queues a message for a session, applying the slow-consumer policy of
    /// ARCHITECTURE.md when the queue is full.
    fn enqueue(&mut self, sid: SessionId, item: Queued, from: Option<ConnId>, now: Instant) {
        let (max_messages, max_bytes) = (
            self.limits.max_queued_messages,
            self.limits.max_queued_bytes,
        );
        let queue_qos0 = self.limits.queue_qos0_messages;
        let size = item.message.size();
        let memory_full = self.held_bytes + size > self.limits.max_queued_memory;
        let Some(s) = self.session_mut(sid) else {
            return;
        };
        let online = s.conn().is_some();
        if !online && item.qos == QoS::AtMostOnce && !queue_qos0 {
            return;
        }
        if memory_full {
            let id = s.client_id.to_string();
            self.stats.publish_dropped += 1;
            let topic = item.message.topic();
            self.drop_log.warn(
                now,
                format_args!("dropped message on {topic} for {id}: max_queued_memory reached"),
            );
            return;
        }
        if s.queue_full(max_messages, max_bytes, item.message.size()) {
            // A draining subscriber's QoS 1/2 messages overflow the cap while their
            // publisher is paused; everything else is dropped and counted.
            let subscriber_conn = s.conn();
            let stallable = online
                && item.qos != QoS::AtMostOnce
                && !s.dropping
                && from.is_some()
                && from != subscriber_conn;
            if !stallable {
                let id = s.client_id.to_string();
                self.stats.publish_dropped += 1;
                let state = if online {
                    "queue full"
                } else {
                    "offline queue full"
                };
                self.drop_log.warn(
                    now,
                    format_args!(
                        "dropped message on {} for {id}: {state}",
                        item.message.topic()
                    ),
                );
                return;
            }
            s.push(item);
            self.held_bytes += size;
            if let Some(p) = from {
                self.stall(p, sid, now);
            }
        } else {
            s.push(item);
            self.held_bytes += size;
        }
        if online {
            self.pump(sid, now);
        } else {
            self.queue_changed(sid);
        }
    }

    /// Moves queued messages into the connection's outbox while the inflight window and
    /// the batch size allow, then releases publishers if the queue has room again.
    fn pump(&mut self, sid: SessionId, now: Instant) {
        let max_inflight = match self.limits.max_inflight_messages {
            0 => usize::from(u16::MAX) - 1,
            n => n.min(usize::from(u16::MAX) - 1),
        };
        let (max_messages, max_bytes) = (
            self.limits.max_queued_messages,
            self.limits.max_queued_bytes,
        );
        let stamp = self.clock.stamp(now);
        let Some(Some(s)) = self.sessions.get_mut(sid as usize) else {
            return;
        };
        let Some(conn) = s.conn() else { return };
        let Some(Some(c)) = self.conns.get_mut(conn) else {
            return;
        };
        if s.queue_len() == 0 {
            // Nothing to move (every `written` lands here): only the room check below.
            if !s.queue_full(max_messages, max_bytes, 0) {
                s.dropping = false;
                self.release_stalls_on(sid, now);
            }
            return;
        }
        // QoS 0 frames leave the session's accounting here; QoS 1/2 move to inflight.
        let held_before = s.held_bytes();
        let mut moved = 0usize;
        let mut unencodable = 0u64;
        // At most what the outbox has room for; none when it is full (a flood).
        let batch = s
            .queue_len()
            .min(OUTBOX_BATCH.saturating_sub(c.outbox.len()));
        if batch > 1 {
            // One allocation for the batch (a single frame needs none: see `Outbox`).
            c.outbox.reserve(batch);
        }
        for _ in 0..batch {
            let Some(front) = s.front() else { break };
            if front.qos != QoS::AtMostOnce && s.inflight_len() >= max_inflight {
                break;
            }
            let Some(item) = s.pop() else { break };
            let packet_id = (item.qos != QoS::AtMostOnce).then(|| s.allocate_packet_id());
            let frame = match Frame::publish(
                item.message.clone(),
                c.version,
                item.qos,
                false,
                item.retain,
                packet_id,
            ) {
                Ok(frame) => frame,
                Err(e) => {
                    // Only a message at the protocol's size limit with a packet id added
                    // can get here; it is dropped for this subscriber, and counted.
                    unencodable += 1;
                    warn!("dropped a message on {}: {e}", item.message.topic());
                    continue;
                }
            };
            if let Some(packet_id) = packet_id {
                let state = if item.qos == QoS::AtLeastOnce {
                    Awaiting::Puback
                } else {
                    Awaiting::Pubrec
                };
                s.push_inflight(Inflight {
                    packet_id,
                    message: Some(item.message.clone()),
                    qos: item.qos,
                    retain: item.retain,
                    state,
                });
            }
            if c.outbox.is_empty() {
                c.last_progress = stamp;
            }
            c.outbox.push_back(frame);
            moved += 1;
        }
        self.held_bytes = self.held_bytes + s.held_bytes() - held_before;
        let has_room = !s.queue_full(max_messages, max_bytes, 0);
        if has_room {
            s.dropping = false;
        }
        self.stats.publish_dropped += unencodable;
        if moved > 0 {
            self.stats.publish_sent += moved as u64;
            self.stats.messages_sent += moved as u64;
            self.mark_writable(conn);
            self.arm_conn_timer(conn);
            self.queue_changed(sid);
        }
        if has_room {
            self.release_stalls_on(sid, now);
        }
    }

    /// Re-sends unacknowledged messages with DUP set, and PUBREL for those past PUBREC,
    /// in their original order, when a persistent session resumes [MQTT-4.4.0-1].
    fn retransmit(&mut self, conn: ConnId, sid: SessionId, now: Instant) {
        let Some(version) = self.conn(conn).map(|c| c.version) else {
            return;
        };
        let frames: Vec<_> = self.session(sid).map_or_else(Vec::new, |s| {
            s.inflight()
                .map(|m| match (&m.message, m.state) {
                    (Some(msg), Awaiting::Puback | Awaiting::Pubrec) => {
                        let id = Some(m.packet_id);
                        Frame::publish(msg.clone(), version, m.qos, true, m.retain, id)
                    }
                    _ => Frame::packet(&Packet::pubrel(m.packet_id), version),
                })
                .collect()
        });
        for frame in frames {
            self.push_encoded(conn, frame, now);
        }
    }

    // ----- flow control ----------------------------------------------------------------

    fn stall(&mut self, publisher: ConnId, sid: SessionId, now: Instant) {
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

    fn release(&mut self, publisher: ConnId, now: Instant) {
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
    fn resume_if_unpaused(&mut self, conn: ConnId, now: Instant) {
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
    fn release_stalls_on(&mut self, sid: SessionId, now: Instant) {
        if self.stalled.is_empty() {
            return;
        }
        self.release_stalls_on_slow(sid, now);
    }

    fn release_stalls_on_slow(&mut self, sid: SessionId, now: Instant) {
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
    fn check_outbox_pressure(&mut self, conn: ConnId, now: Instant) {
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

    // ----- timers ----------------------------------------------------------------------

    /// The earliest deadline of a connection, given its state.
    fn conn_deadline(&self, c: &Conn) -> Option<Tick> {
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
        [connect, keep_alive, slow].into_iter().flatten().min()
    }

    fn arm_conn_timer(&mut self, conn: ConnId) {
        let Some(c) = self.conn(conn) else { return };
        // Checked on the next whole second of the broker's clock: an idle broker with many
        // clients wakes at most once a second for all their deadlines together (a client
        // is closed at most a second after its connect timeout, 1.5 x its keep-alive or
        // its slow-consumer timeout).
        let Some(at) = self.conn_deadline(c).map(Tick::ceil_second) else {
            return;
        };
        if c.timer_at.is_some_and(|t| t <= at) {
            return;
        }
        let generation = c.generation;
        if let Some(c) = self.conn_mut(conn) {
            c.timer_at = Some(at);
        }
        self.timers.push(at, Owner::Conn(conn, generation));
    }

    fn conn_timer(&mut self, conn: ConnId, generation: u32, at: Tick, passed: Tick) {
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
                self.close(conn, reason);
            }
            None => self.arm_conn_timer(conn),
        }
    }

    fn session_timer(&mut self, sid: SessionId, generation: u32, passed: Tick, now: Instant) {
        let Some(expiry) = self.limits.persistent_client_expiration else {
            return;
        };
        let Some(s) = self.session(sid) else { return };
        if s.generation != generation {
            return;
        }
        if s.offline_since.is_some_and(|t| passed >= t.after(expiry)) {
            info!("session {} expired", s.client_id);
            self.stats.clients_expired += 1;
            self.remove_session(sid, now);
        }
    }

    // ----- sessions --------------------------------------------------------------------

    fn create_session(&mut self, client_id: &str, clean: bool) -> SessionId {
        self.session_generation = self.session_generation.wrapping_add(1);
        let session = Session::new(client_id, clean, self.session_generation);
        let sid = match self.free_sessions.pop() {
            Some(sid) => {
                self.sessions[sid as usize] = Some(session);
                sid
            }
            None => {
                self.sessions.push(Some(session));
                SessionId::try_from(self.sessions.len() - 1)
                    .expect("sessions are bounded by connections plus max_offline_sessions")
            }
        };
        let hash = self.id_hasher.hash_one(client_id);
        self.by_client_id.insert(hash, sid);
        sid
    }

    /// The session of `client_id`, if there is one.
    fn session_by_id(&self, client_id: &str) -> Option<SessionId> {
        let hash = self.id_hasher.hash_one(client_id);
        self.by_client_id.find(hash, |sid| {
            self.session(sid)
                .is_some_and(|s| *s.client_id == *client_id)
        })
    }

    fn remove_session(&mut self, sid: SessionId, now: Instant) {
        self.release_stalls_on(sid, now);
        let Some(s) = self.sessions.get_mut(sid as usize).and_then(Option::take) else {
            return;
        };
        self.held_bytes -= s.held_bytes();
        for &at in &s.subscriptions {
            self.tree.remove_at(at, sid);
        }
        if s.conn().is_none() && !s.clean {
            self.offline -= 1;
        }
        let hash = self.id_hasher.hash_one(&*s.client_id);
        self.by_client_id.remove(hash, |id| id == sid);
        self.free_sessions.push(sid);
        if !s.clean {
            self.durable(|| Durable::SessionRemoved {
                client_id: s.client_id.as_str().into(),
            });
        }
    }

    /// The session's connection is gone: a clean session ends [MQTT-3.1.2-6], a persistent
    /// one keeps its subscriptions and queues QoS 1/2 messages [MQTT-3.1.2-4].
    fn detach_session(&mut self, sid: SessionId, now: Instant) {
        self.release_stalls_on(sid, now);
        let max_offline = self.limits.max_offline_sessions;
        let queue_qos0 = self.limits.queue_qos0_messages;
        let offline = self.offline;
        let stamp = self.clock.stamp(now);
        let Some(s) = self.session_mut(sid) else {
            return;
        };
        s.set_conn(None);
        if s.clean {
            return self.remove_session(sid, now);
        }
        if offline >= max_offline {
            let id = s.client_id.to_string();
            warn!("session {id} not kept: max_offline_sessions ({max_offline}) reached");
            s.clean = true;
            return self.remove_session(sid, now);
        }
        s.offline_since = Some(stamp);
        s.dropping = false;
        if !queue_qos0 {
            let before = s.held_bytes();
            s.drop_queued_qos0();
            let freed = before - s.held_bytes();
            self.held_bytes -= freed;
        }
        let Some(s) = self.session(sid) else { return };
        let generation = s.generation;
        let client_id: Box<str> = s.client_id.as_str().into();
        self.offline += 1;
        if let Some(expiry) = self.limits.persistent_client_expiration {
            self.timers.push(
                self.clock.stamp(now).after(expiry),
                Owner::Session(sid, generation),
            );
        }
        self.durable(|| Durable::SessionSaved { client_id });
    }

    fn generate_client_id(&self) -> Box<str> {
        use std::hash::{BuildHasher, Hasher};
        loop {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(self.conns.len());
            let id = format!("{}{:016x}", self.limits.auto_id_prefix, h.finish());
            if self.session_by_id(&id).is_none() {
                return id.into();
            }
        }
    }

    // ----- $SYS ------------------------------------------------------------------------

    fn publish_sys(&mut self, now: Instant) {
        let s = &self.stats;
        let uptime = now.duration_since(self.started).as_secs();
        let total = self.connected + self.offline;
        let values: [(&'static str, String); 20] = [
            (
                "$SYS/broker/version",
                format!("sol version {}", env!("CARGO_PKG_VERSION")),
            ),
            ("$SYS/broker/uptime", format!("{uptime} seconds")),
            ("$SYS/broker/clients/connected", self.connected.to_string()),
            ("$SYS/broker/clients/disconnected", self.offline.to_string()),
            ("$SYS/broker/clients/total", total.to_string()),
            ("$SYS/broker/clients/maximum", s.clients_maximum.to_string()),
            ("$SYS/broker/clients/expired", s.clients_expired.to_string()),
            (
                "$SYS/broker/messages/received",
                s.messages_received.to_string(),
            ),
            ("$SYS/broker/messages/sent", s.messages_sent.to_string()),
            (
                "$SYS/broker/publish/messages/received",
                s.publish_received.to_string(),
            ),
            (
                "$SYS/broker/publish/messages/sent",
                s.publish_sent.to_string(),
            ),
            (
                "$SYS/broker/publish/messages/dropped",
                s.publish_dropped.to_string(),
            ),
            ("$SYS/broker/bytes/received", s.bytes_received.to_string()),
            ("$SYS/broker/bytes/sent", s.bytes_sent.to_string()),
            (
                "$SYS/broker/subscriptions/count",
                self.tree.len().to_string(),
            ),
            (
                "$SYS/broker/retained messages/count",
                self.retained.len().to_string(),
            ),
            (
                "$SYS/broker/sol/publishers/stalled",
                s.publisher_stalls.to_string(),
            ),
            ("$SYS/broker/sol/clients/slow", s.slow_consumers.to_string()),
            (
                "$SYS/broker/sol/clients/auth_failures",
                s.auth_failures.to_string(),
            ),
            ("$SYS/broker/sol/acl/denied", s.acl_denied.to_string()),
        ];
        for (topic, value) in values {
            if self.sys_last.get(topic) == Some(&value) {
                continue;
            }
            self.publish(
                None,
                Message::new(topic, value.as_bytes()),
                QoS::AtMostOnce,
                true,
                now,
            );
            self.sys_last.insert(topic, value);
        }
    }

    // ----- small helpers ---------------------------------------------------------------

    fn conn(&self, conn: ConnId) -> Option<&Conn> {
        self.conns.get(conn)?.as_ref()
    }

    fn conn_mut(&mut self, conn: ConnId) -> Option<&mut Conn> {
        self.conns.get_mut(conn)?.as_mut()
    }

    fn session(&self, sid: SessionId) -> Option<&Session> {
        self.sessions.get(sid as usize)?.as_ref()
    }

    fn session_mut(&mut self, sid: SessionId) -> Option<&mut Session> {
        self.sessions.get_mut(sid as usize)?.as_mut()
    }

    fn client_id_of(&self, conn: ConnId) -> Option<&str> {
        match self.conn(conn)?.phase {
            Phase::Connected(sid) => self.session(sid).map(|s| s.client_id.as_str()),
            Phase::AwaitingConnect => None,
        }
    }

    /// Queues `packet` for `conn`, encoded in the version it speaks.
    fn send(&mut self, conn: ConnId, packet: &Packet<'_>, now: Instant) {
        let Some(version) = self.conn(conn).map(|c| c.version) else {
            return;
        };
        self.push_encoded(conn, Frame::packet(packet, version), now);
    }

    /// Queues a frame the codec encoded, or closes the connection the codec could not
    /// encode it for (a packet the broker builds always fits: this is a bug, not input).
    fn push_encoded(&mut self, conn: ConnId, frame: Result<Frame, EncodeError>, now: Instant) {
        match frame {
            Ok(frame) => self.push_frame(conn, frame, now),
            Err(e) => {
                log::error!("connection {conn}: cannot encode a packet for it: {e}");
                self.close(conn, CloseReason::ProtocolError);
            }
        }
    }

    fn push_frame(&mut self, conn: ConnId, frame: Frame, now: Instant) {
        let stamp = self.clock.stamp(now);
        let Some(c) = self.conn_mut(conn) else { return };
        if c.outbox.is_empty() {
            c.last_progress = stamp;
        }
        c.outbox.push_back(frame);
        self.stats.messages_sent += 1;
        self.mark_writable(conn);
        self.arm_conn_timer(conn);
    }

    #[inline]
    fn mark_writable(&mut self, conn: ConnId) {
        if let Some(c) = self.conn_mut(conn) {
            if !c.in_writable {
                c.in_writable = true;
                self.writable.push_back(conn);
            }
        }
    }

    fn close(&mut self, conn: ConnId, reason: CloseReason) {
        let Some(c) = self.conn_mut(conn) else { return };
        if c.closing {
            return;
        }
        c.closing = true;
        self.effects.push_back(Effect::Close { conn, reason });
    }

    /// The ACL identity of a session's owner.
    fn identity(&self, sid: SessionId) -> Option<Identity<'_>> {
        self.session(sid).map(|s| Identity {
            client_id: &s.client_id,
            username: s.username.as_deref(),
        })
    }

    /// Whether the ACL (if any) lets session `sid` do `want` with `topic`.
    fn acl_allows(&self, sid: SessionId, topic: &str, want: Want) -> bool {
        match (&self.auth.acl, self.identity(sid)) {
            (Some(acl), Some(who)) => acl.allows(who, topic, want),
            (Some(_), None) => false,
            (None, _) => true,
        }
    }

    /// The session `conn` is attached to, once connected.
    fn session_of(&self, conn: ConnId) -> Option<SessionId> {
        match self.conn(conn)?.phase {
            Phase::Connected(sid) => Some(sid),
            Phase::AwaitingConnect => None,
        }
    }

    /// Refuses a CONNECT whose credentials are not accepted with CONNACK `code`, counted
    /// as an authentication failure and closed as [`CloseReason::AuthFailed`], so the
    /// reactor rate-limits the source address.
    fn refuse_login(&mut self, conn: ConnId, code: ReasonCode, why: &str, now: Instant) {
        self.stats.auth_failures += 1;
        info!("connection {conn} refused: {why} (CONNACK {code})");
        self.send(conn, &Packet::Connack(Connack::new(false, code)), now);
        self.close(conn, CloseReason::AuthFailed);
    }

    fn refuse(&mut self, conn: ConnId, code: ReasonCode, why: &str, now: Instant) {
        info!("connection {conn} refused: {why} (CONNACK {code})");
        // A non-zero CONNACK has session present 0 and is followed by a close [MQTT-3.2.2-4], [MQTT-3.2.2-5].
        self.send(conn, &Packet::Connack(Connack::new(false, code)), now);
        self.close(conn, CloseReason::ConnectRefused);
    }

    fn protocol_error(&mut self, conn: ConnId, why: &str, now: Instant) {
        self.stats.protocol_errors += 1;
        let id = self
            .client_id_of(conn)
            .unwrap_or("(before CONNECT)")
            .to_string();
        self.error_log.warn(
            now,
            format_args!("client {id}: protocol violation: {why}; disconnecting"),
        );
        self.close(conn, CloseReason::ProtocolError);
    }

    fn durable(&mut self, change: impl FnOnce() -> Durable) {
        if self.limits.track_durable {
            self.effects.push_back(Effect::Durable(change()));
        }
    }

    fn durable_subscriptions(&mut self, sid: SessionId) {
        if let Some(s) = self.session(sid).filter(|s| !s.clean) {
            let client_id: Box<str> = s.client_id.as_str().into();
            self.durable(|| Durable::SubscriptionsChanged { client_id });
        }
    }

    #[inline]
    fn queue_changed(&mut self, sid: SessionId) {
        if !self.limits.track_durable {
            return;
        }
        if let Some(s) = self.session(sid).filter(|s| !s.clean) {
            let client_id: Box<str> = s.client_id.as_str().into();
            self.durable(|| Durable::QueueChanged { client_id });
        }
    }
}

/// Checks a type's size: exactly `on_64_bit` bytes on 64-bit targets (a regression test
/// of the memory work), at most that on 32-bit ones, whose pointers are smaller.
#[cfg(test)]
pub(crate) fn assert_size_of<T>(on_64_bit: usize) {
    let size = std::mem::size_of::<T>();
    let name = std::any::type_name::<T>();
    if cfg!(target_pointer_width = "64") {
        assert_eq!(size, on_64_bit, "size of {name}");
    } else {
        assert!(size <= on_64_bit, "size of {name}: {size} > {on_64_bit}");
    }
}

#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod conformance_tests;
#[cfg(test)]
mod harness;
#[cfg(test)]
mod tests;
