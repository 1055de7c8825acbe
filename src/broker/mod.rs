//! The protocol core: MQTT semantics with no I/O.
//!
//! The reactor feeds the core events for a connection slot ([`ConnId`]) with the current
//! monotonic time: [`Broker::accepted`], [`Broker::handle`] for each decoded packet,
//! [`Broker::malformed`] for a packet that failed to decode, [`Broker::closed`] when the
//! socket is gone, and [`Broker::tick`] when [`Broker::next_tick`] has passed
//! ([`Broker::is_due`]). The core answers in two ways:
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

mod access;
mod bridge;
mod clock;
mod compact_str;
mod conn;
mod connect;
mod deadlines;
mod delivery;
mod detach;
mod disconnect;
mod durable;
mod effect;
mod enhanced_auth;
mod flow;
mod held_acks;
mod id;
mod index;
pub mod large;
mod limits;
mod message;
mod mount;
mod outbox;
mod output;
mod retained;
mod route_cache;
mod routing;
mod sessions;
mod shared;
mod stats;
mod subscribe;
mod sys;
mod timer;
mod topic_tree;
mod will;

pub use bridge::{BridgeCounts, BridgeLocal, BridgeOutbox, WINDOW_BYTES, WINDOW_MESSAGES};
pub use clock::{earliest, Tick};
pub use compact_str::heap_bytes as string_heap_bytes;
pub use compact_str::CompactStr;
pub use conn::{ALIAS_BYTES, EXTRA_BYTES};
pub use durable::{
    options_byte, RestoreOutcome, RestoredSession, SessionFacts, StoredEntry, StoredSubscription,
};
pub use effect::{CloseReason, Durable, Effect};
pub use id::ConnId;
pub use limits::{Limits, ListenerClients, ListenerPolicy, DEFAULT_LARGE_MESSAGE_MEMORY};
pub use message::{Message, MessageBuilder};
pub use outbox::{Frame, Output};
pub use retained::{RetainSource, Retained};
pub use sessions::SESSION_BYTES;
pub use stats::{Stats, StoreStats};
/// Public for the micro-benchmarks (`benches/topic.rs`), which measure matching, insert and
/// remove on their own; [`Broker`] is the only other user. The benchmarks call only
/// `default`, `insert`, `remove`, `matches` and `len`, so the tree's representation stays
/// free to change.
pub use topic_tree::{Subscriber, TopicTree};
pub use topic_tree::{NODE_BYTES, SUBSCRIPTION_BYTES};

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
    self, property, Connack, DecodeError, EncodeError, FixedHeader, Packet, PacketType,
    ProtocolVersion, QoS, ReasonCode, Suback,
};
use crate::log::{Throttle, TARGET_CONNECTION};
use crate::topic::{validate_filter, validate_topic, FilterError};
use crate::x509::CommonNameError;
use access::ACL_WRITE_DENIED;
use clock::Clock;
use conn::{Conn, Phase};
use delivery::OUTBOX_BATCH;
use flow::{Stall, OUTBOX_HIGH_WATER};
use held_acks::HELD_PER_CONNECTION;
use id::SessionId;
use log::{debug, info, warn};
use outbox::Outbox;
use retained::RetainedStore;
use sessions::{Awaiting, Detached, Queued, Session, SessionTable, NEVER};
use std::collections::{HashMap, VecDeque};
#[cfg(test)]
use std::io::IoSlice;
use std::time::Instant;
use timer::{Owner, Timers};
use topic_tree::FilterRef;
use will::Will;

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
    /// The sessions: the one door through which every session changes.
    sessions: SessionTable,
    /// Subscriptions.
    tree: TopicTree,
    /// Shared subscription groups (their entries in `tree` stand for them).
    shared: shared::SharedGroups,
    /// The bridges' local sessions and outbox caps, by bridge index.
    bridges: Vec<Option<bridge::BridgeState>>,
    /// Bridge outboxes' messages on disk only as the store restored them, by client id,
    /// until [`Broker::bridge_session`] takes them.
    restored_spills: Vec<(Box<str>, bridge::Spilled)>,
    /// MQTT 5.0 wills waiting for their Will Delay Interval, by session, with when.
    delayed_wills: HashMap<SessionId, (Tick, Will)>,
    /// Enhanced authentication methods offered to MQTT 5.0 clients (none by default).
    auth_methods: Vec<Box<dyn crate::auth::enhanced::Method>>,
    /// Retained messages.
    retained: RetainedStore,
    /// Connection and session deadlines.
    timers: Timers,
    /// Effects not yet polled.
    effects: VecDeque<Effect>,
    /// Connections with new output not yet polled.
    writable: VecDeque<ConnId>,
    /// Frames queued for writing since the writable list was last drained
    /// ([`Broker::unwritten_frames`]).
    unwritten: usize,
    /// Publishers paused by flow control.
    stalled: Vec<Stall>,
    /// Acknowledgements held for the store (`persistence_sync`).
    held: held_acks::HeldAcks,
    /// Reused buffer for topic-tree matches (no allocation per message).
    scratch: Vec<Subscriber>,
    /// Counters.
    stats: Stats,
    /// Connections past CONNECT.
    connected: usize,
    /// Next `$SYS` update.
    sys_next: Option<Tick>,
    /// Last value published per `$SYS` topic, to publish only changes. A list, not a
    /// map: a few dozen topics once per `sys_interval`.
    sys_last: Vec<(&'static str, String)>,
    /// Password file and ACL in force (none: everyone may do everything).
    auth: Auth,
    /// Client certificate common names reported by [`Broker::client_certificate`] for
    /// connections awaiting CONNECT on a `use_identity_as_username` listener (`None`: the
    /// certificate has no usable one). Taken at CONNECT, dropped at close: it holds at
    /// most one name of at most `max_username_length` bytes per connection in the
    /// CONNECT phase, and nothing for other listeners (kept out of [`Conn`], which every
    /// slot pays for).
    identities: HashMap<ConnId, Option<Box<str>>>,
    /// What the durable store reports, for `$SYS` (none without persistence).
    store_stats: Option<StoreStats>,
    /// Warnings about dropped messages.
    drop_log: Throttle,
    /// Warnings about protocol errors.
    error_log: Throttle,
}

impl Broker {
    /// A broker with `limits`, started at `now`. Allocates the connection table.
    pub fn new(limits: Limits, now: Instant) -> Broker {
        let conns = Vec::with_capacity(limits.max_connections);
        let track_durable = limits.track_durable;
        let clock = Clock::new(now);
        let sys_next = (!limits.sys_interval.is_zero()).then(|| clock.stamp(now));
        Broker {
            clock,
            limits,
            started: now,
            conns,
            conn_generation: 0,
            sessions: SessionTable::new(track_durable),
            tree: TopicTree::default(),
            shared: shared::SharedGroups::default(),
            bridges: Vec::new(),
            restored_spills: Vec::new(),
            delayed_wills: HashMap::new(),
            auth_methods: Vec::new(),
            retained: RetainedStore::new(track_durable),
            timers: Timers::default(),
            effects: VecDeque::new(),
            writable: VecDeque::new(),
            unwritten: 0,
            stalled: Vec::new(),
            held: held_acks::HeldAcks::default(),
            scratch: Vec::new(),
            stats: Stats::default(),
            connected: 0,
            sys_next,
            sys_last: Vec::new(),
            auth: Auth::default(),
            identities: HashMap::new(),
            store_stats: None,
            drop_log: Throttle::default(),
            error_log: Throttle::default(),
        }
    }

    /// The protocol version `conn` speaks (3.1.1 before its CONNECT).
    pub fn conn_version(&self, conn: ConnId) -> ProtocolVersion {
        self.conn(conn)
            .map_or_else(ProtocolVersion::default, |c| c.version)
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
        // A shared group stands in the tree once for all its members.
        self.tree.len() - self.shared.group_count() + self.shared.len()
    }

    /// Number of retained messages (`$SYS` included).
    pub fn retained_count(&self) -> usize {
        self.retained.len()
    }

    /// Replaces the caps that can change at run time (on SIGHUP). The number of connection
    /// slots and the listeners cannot change; those fields of `limits` are ignored.
    pub fn reconfigure(&mut self, mut limits: Limits, now: Instant) {
        limits.max_connections = self.limits.max_connections;
        if limits.listeners.len() != self.limits.listeners.len() {
            limits.listeners.clone_from(&self.limits.listeners);
        }
        // Mount points, use_username_as_clientid and a listener's max_qos are fixed at
        // start, as in Mosquitto: connected clients' topics and ids depend on them.
        for (new, old) in limits.listeners.iter_mut().zip(&self.limits.listeners) {
            new.clients.clone_from(&old.clients);
        }
        self.sys_next = (!limits.sys_interval.is_zero()).then(|| self.clock.stamp(now));
        // Whether there is a store is fixed at start.
        limits.track_durable = self.limits.track_durable;
        limits.ack_after_sync = self.limits.ack_after_sync;
        limits.bridge_outboxes = std::mem::take(&mut self.limits.bridge_outboxes);
        self.limits = limits;
    }

    /// The shared body the payload of a large PUBLISH from `conn` is read into, made from
    /// its variable header `head`: topic and properties as the message will keep them
    /// (MQTT 5.0's Topic Alias and Message Expiry Interval left out, as for any message).
    /// A malformed `head` is an error the caller reports with [`Broker::malformed`].
    pub fn large_body(
        &self,
        conn: ConnId,
        header: &FixedHeader,
        head: &[u8],
    ) -> Result<MessageBuilder, DecodeError> {
        let version = self.conn_version(conn);
        let p = codec::decode_publish_head(header, head, version)?;
        let payload_len = header.remaining_len - head.len();
        let props = p.properties;
        if props.get(property::TOPIC_ALIAS).is_none()
            && props.get(property::MESSAGE_EXPIRY_INTERVAL).is_none()
        {
            return Ok(MessageBuilder::new(p.topic, props.as_bytes(), payload_len));
        }
        let kept = props.without(&[property::TOPIC_ALIAS, property::MESSAGE_EXPIRY_INTERVAL]);
        Ok(MessageBuilder::new(p.topic, &kept, payload_len))
    }

    /// A large PUBLISH from `conn`, read in two parts: its variable header `head` and its
    /// `body` (from [`Broker::large_body`]) with the payload read into it. Handled as
    /// [`Broker::receive`] handles any packet, and the body becomes the shared message
    /// without a copy.
    pub fn receive_large(
        &mut self,
        conn: ConnId,
        header: &FixedHeader,
        head: &[u8],
        body: MessageBuilder,
        now: Instant,
    ) {
        let version = self.conn_version(conn);
        let expiry = match codec::decode_publish_split(header, head, body.payload(), version) {
            Ok(p) => p.properties.u32(property::MESSAGE_EXPIRY_INTERVAL),
            Err(error) => {
                debug!("connection {conn}: malformed packet: {error}");
                return self.malformed(conn, error, now);
            }
        };
        // The deadline, as for any message (`routing::v5_message`), written before the
        // body is shared.
        let expires = expiry.map(|secs| {
            self.clock
                .stamp(now)
                .after(std::time::Duration::from_secs(u64::from(secs)))
        });
        let message = body.finish(expires);
        if let Ok(p) = codec::decode_publish_split(header, head, message.payload(), version) {
            self.dispatch(conn, Packet::Publish(p), Some(&message), now);
        }
    }

    /// One decoded packet from `conn`.
    pub fn handle(&mut self, conn: ConnId, packet: Packet<'_>, now: Instant) {
        self.dispatch(conn, packet, None, now);
    }

    /// One decoded packet from `conn`; for a PUBLISH read into its body, `body` is it.
    fn dispatch(&mut self, conn: ConnId, packet: Packet<'_>, body: Option<&Message>, now: Instant) {
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
            (Phase::AwaitingConnect, Packet::Auth(a)) => self.on_auth(conn, a, now),
            (Phase::AwaitingConnect, _) => {
                self.protocol_error(conn, "first packet is not CONNECT [MQTT-3.1.0-1]", now)
            }
            (Phase::Connected(_), Packet::Connect(_)) => {
                self.protocol_error(conn, "second CONNECT [MQTT-3.1.0-2]", now)
            }
            (Phase::Connected(sid), Packet::Publish(p)) => self.on_publish(conn, sid, p, body, now),
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
            (Phase::Connected(sid), Packet::Disconnect(d)) => self.on_disconnect(conn, sid, d, now),
            (
                Phase::Connected(_),
                Packet::Connack(_) | Packet::Suback(_) | Packet::Unsuback(_) | Packet::Pingresp,
            ) => self.protocol_error(conn, "client sent a packet only a server may send", now),
            (Phase::Connected(_), Packet::Auth(a)) => self.on_auth(conn, a, now),
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
        let why = format!("malformed packet: {error}");
        self.protocol_error_code(conn, &why, error.reason_code(), now);
    }

    /// Hands in the durable store's counters, published under `$SYS/broker/store/`.
    pub fn set_store_stats(&mut self, stats: StoreStats) {
        self.store_stats = Some(stats);
    }

    /// Counts `n` bytes read from clients, for `$SYS/broker/bytes/received`.
    pub fn bytes_received(&mut self, n: usize) {
        self.stats.bytes_received += n as u64;
    }

    /// Whether [`Broker::poll_effect`] may have something: cheap, so the reactor asks it
    /// after every call into the core and polls only when it says yes (most calls, such
    /// as a QoS 0 PUBLISH routed to an online subscriber, produce no effect).
    #[inline]
    pub fn may_have_effects(&self) -> bool {
        !self.effects.is_empty() || self.limits.track_durable
    }

    /// The next effect to carry out, oldest first; then what the session table and the
    /// retained store have made durable ([`Effect::Durable`]).
    #[inline]
    pub fn poll_effect(&mut self) -> Option<Effect> {
        if let Some(effect) = self.effects.pop_front() {
            return Some(effect);
        }
        if !self.limits.track_durable {
            // The journals are empty: nothing is recorded without a store.
            return None;
        }
        self.sessions
            .pop_durable()
            .or_else(|| self.retained.pop_durable())
            .map(Effect::Durable)
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
mod conformance_v5_tests;
#[cfg(test)]
mod harness;
#[cfg(test)]
mod tests;
