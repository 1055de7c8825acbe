//! Every cap the broker core enforces, in one place, with the defaults Sol ships.
//!
//! Defaults are sized for a 64 MB router; `docs/configuration.md` lists each key and what
//! happens when its cap is hit. The `config` module fills this struct from a file;
//! the core only reads it.

use crate::codec::QoS;
use std::time::Duration;

/// Per-listener policy the core needs to know when a client connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerPolicy {
    /// Whether clients without a user name may connect through this listener.
    pub allow_anonymous: bool,
    /// The common name of the client's certificate is its user name; the CONNECT's user
    /// name and password are ignored and the password file is not consulted
    /// (`use_identity_as_username`, TLS listeners with `require_certificate true`).
    pub use_identity_as_username: bool,
    /// What the listener does to its clients' ids and topics.
    pub clients: ListenerClients,
}

impl Default for ListenerPolicy {
    /// Anonymous clients allowed, nothing else set: the embedded defaults' listener.
    fn default() -> ListenerPolicy {
        ListenerPolicy {
            allow_anonymous: true,
            use_identity_as_username: false,
            clients: ListenerClients::default(),
        }
    }
}

/// Mosquitto's listener keys that change what a client is called and which topics it
/// sees. Fixed at start, as in Mosquitto: a reload keeps the listeners' values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListenerClients {
    /// Prefixed to every topic and filter a client of the listener sends (PUBLISH,
    /// SUBSCRIBE, UNSUBSCRIBE, will) and stripped from the topics it is sent, so it sees
    /// only the messages below it (`mount_point`).
    pub mount_point: Option<Box<str>>,
    /// The client's user name replaces its client id; a client without one is refused
    /// as not authorised (`use_username_as_clientid`).
    pub use_username_as_clientid: bool,
    /// The listener's own `max_qos`, overriding [`Limits::max_qos`] for its clients.
    pub max_qos: Option<QoS>,
}

/// Caps and timeouts of the broker core. Zero means "no limit" only where a field says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Number of connection slots (the client pool size).
    pub max_connections: usize,
    /// Outbound QoS 1/2 messages in flight per client (`max_inflight_messages`).
    pub max_inflight_messages: usize,
    /// Inbound QoS 2 packet ids awaiting PUBREL per client; a client that exceeds it is
    /// disconnected (`max_inflight_incoming`).
    pub max_inflight_incoming: usize,
    /// Topic Aliases an MQTT 5.0 client may set up for its PUBLISHes (Topic Alias
    /// Maximum in CONNACK; 0: none), as Mosquitto's `max_topic_alias`.
    pub max_topic_alias: usize,
    /// Messages queued per client beyond the inflight window (`max_queued_messages`).
    pub max_queued_messages: usize,
    /// Payload bytes queued per client; 0 = no byte cap (`max_queued_bytes`).
    pub max_queued_bytes: usize,
    /// Bytes of messages held in all queues and inflight windows together; beyond it new
    /// messages for any session are dropped and counted (`max_queued_memory`). Counted per
    /// session, so a message shared by several queues counts several times: a safe bound.
    pub max_queued_memory: usize,
    /// Queue QoS 0 messages for offline persistent sessions (`queue_qos0_messages`).
    pub queue_qos0_messages: bool,
    /// Largest accepted PUBLISH payload; larger ones are dropped and counted; 0 = no cap
    /// beyond `max_packet_size` (`message_size_limit`).
    pub message_size_limit: usize,
    /// Largest whole packet accepted from a client; larger ones close the connection
    /// before their body is buffered (`max_packet_size`).
    pub max_packet_size: usize,
    /// Bytes all large message bodies together may hold (`large_message_memory`; see
    /// [`super::large`]): a large PUBLISH is read only when its body fits, and waits
    /// otherwise.
    pub large_message_memory: usize,
    /// Largest keep-alive a client may ask for, in seconds (`max_keepalive`).
    pub max_keepalive: u16,
    /// Interval between `$SYS` updates; zero disables them (`sys_interval`).
    pub sys_interval: Duration,
    /// How long an offline persistent session is kept; `None` = forever
    /// (`persistent_client_expiration`).
    pub persistent_client_expiration: Option<Duration>,
    /// How long a new connection may take to send CONNECT (`connect_timeout`).
    pub connect_timeout: Duration,
    /// How long a subscriber's socket may accept no bytes while output is pending before
    /// it is disconnected (`slow_consumer_timeout`).
    pub slow_consumer_timeout: Duration,
    /// Longest stretch a publisher is held by flow control for a full subscriber queue
    /// (`max_publisher_stall`).
    pub max_publisher_stall: Duration,
    /// Subscriptions per client; more get SUBACK 0x80 (`max_subscriptions_per_client`).
    pub max_subscriptions_per_client: usize,
    /// Subscriptions across all sessions; more get SUBACK 0x80 (`max_subscriptions`).
    pub max_subscriptions: usize,
    /// Longest topic name or filter in bytes (`max_topic_length`).
    pub max_topic_length: usize,
    /// Most levels in a topic name or filter (`max_topic_levels`).
    pub max_topic_levels: usize,
    /// Longest client identifier in bytes (`max_client_id_length`).
    pub max_client_id_length: usize,
    /// Longest user name in bytes, from CONNECT or a client certificate
    /// (`max_username_length`): the session keeps it for the ACL, so it is capped and
    /// counted in the memory ceiling.
    pub max_username_length: usize,
    /// Retained messages kept; new topics beyond it are not retained (`max_retained_messages`).
    pub max_retained_messages: usize,
    /// Retained payload bytes kept (`max_retained_bytes`).
    pub max_retained_bytes: usize,
    /// Offline persistent sessions kept; beyond it a new one is not kept (`max_offline_sessions`).
    pub max_offline_sessions: usize,
    /// Whether an empty client id with clean session gets a generated id
    /// (`allow_zero_length_clientid`).
    pub allow_zero_length_clientid: bool,
    /// Prefix of generated client ids (`auto_id_prefix`).
    pub auto_id_prefix: String,
    /// Only client ids that start with it may connect, generated ones included; others
    /// are refused as not authorised (`clientid_prefixes`; empty: any id).
    pub clientid_prefixes: String,
    /// A retained message is sent to a new subscriber only if its publisher may still
    /// write its topic under the ACL in force (`check_retain_source`).
    pub check_retain_source: bool,
    /// The outboxes of bridges: each bridge's local client id and its queue's caps,
    /// which replace `max_queued_messages`, `max_queued_bytes` and `queue_qos0_messages`
    /// for that session, from the store's restore on (set by the reactor from the
    /// bridges it runs; fixed at start, as bridges are).
    pub bridge_outboxes: Vec<(Box<str>, super::BridgeOutbox)>,
    /// Deliveries go at the subscription's QoS, not the lower of it and the message's
    /// (`upgrade_outgoing_qos`; against [MQTT-3.8.4-6], as in Mosquitto).
    pub upgrade_outgoing_qos: bool,
    /// Bytes of outbound QoS 1/2 messages in flight per client: none is sent while the
    /// window holds this many or more (one always fits); 0 = no byte cap
    /// (`max_inflight_bytes`).
    pub max_inflight_bytes: usize,
    /// Whether retained messages are stored (`retain_available`).
    pub retain_available: bool,
    /// The highest QoS clients may publish, subscribe or leave a will at (`max_qos`
    /// before any `listener` line; a listener's own [`ListenerClients::max_qos`] wins).
    pub max_qos: QoS,
    /// Emit [`super::Effect::Durable`] effects for a store to consume. Fixed at start.
    pub track_durable: bool,
    /// Hold each PUBACK and PUBREC to a client's QoS 1/2 PUBLISH until the store reports
    /// the changes it made durable ([`super::Broker::seal_acks`],
    /// [`super::Broker::release_acks`]). Fixed at start.
    pub ack_after_sync: bool,
    /// Policies of the listeners, indexed by the listener number the reactor passes in.
    pub listeners: Vec<ListenerPolicy>,
}

/// Default `large_message_memory` and `max_packet_size`: a 10 MB message (a camera
/// snapshot, a firmware image) passes by default, as it does with Mosquitto, with room
/// for smaller large ones beside it.
pub const DEFAULT_LARGE_MESSAGE_MEMORY: usize = 12 << 20;

impl Limits {
    /// The QoS of a delivery of a message published at `published` through a
    /// subscription granted `granted`: the lower of the two [MQTT-3.8.4-6], or the
    /// subscription's under `upgrade_outgoing_qos` (Mosquitto's non-standard option).
    #[inline]
    pub fn delivery_qos(&self, published: QoS, granted: QoS) -> QoS {
        if self.upgrade_outgoing_qos {
            granted
        } else {
            published.min(granted)
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            max_inflight_messages: 20,
            max_inflight_incoming: 100,
            max_topic_alias: 4,
            max_queued_messages: 1000,
            max_queued_bytes: 1 << 20,
            max_queued_memory: 8 << 20,
            queue_qos0_messages: false,
            message_size_limit: 0,
            max_packet_size: DEFAULT_LARGE_MESSAGE_MEMORY,
            large_message_memory: DEFAULT_LARGE_MESSAGE_MEMORY,
            max_keepalive: 65535,
            sys_interval: Duration::from_secs(10),
            persistent_client_expiration: None,
            connect_timeout: Duration::from_secs(10),
            slow_consumer_timeout: Duration::from_secs(30),
            max_publisher_stall: Duration::from_secs(2),
            max_subscriptions_per_client: 1000,
            max_subscriptions: 10_000,
            max_topic_length: 256,
            max_topic_levels: 16,
            max_client_id_length: 256,
            max_username_length: 256,
            max_retained_messages: 5000,
            max_retained_bytes: 4 << 20,
            max_offline_sessions: 1000,
            allow_zero_length_clientid: true,
            auto_id_prefix: "auto-".to_string(),
            clientid_prefixes: String::new(),
            check_retain_source: false,
            bridge_outboxes: Vec::new(),
            upgrade_outgoing_qos: false,
            max_inflight_bytes: 0,
            retain_available: true,
            max_qos: QoS::ExactlyOnce,
            track_durable: false,
            ack_after_sync: false,
            listeners: vec![ListenerPolicy::default()],
        }
    }
}
