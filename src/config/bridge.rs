//! A bridge to an upstream broker as the configuration describes it: Mosquitto's
//! `connection` block (`address`, `topic`, `remote_clientid`, `restart_timeout`, ...) and
//! Sol's outbox keys, checked and with their defaults applied.
//!
//! The rules of the keys live in `parse/bridge.rs`; the bridge itself (`crate::bridge`)
//! and the reactor read these types. This file must not touch sockets: addresses are
//! kept as written and resolved by the bridge when it connects.

use super::Origin;
use crate::codec::QoS;
use std::time::Duration;

/// Most `connection` blocks one configuration may hold: each bridge takes a connection
/// slot of the core and a token of the reactor.
pub const MAX_BRIDGES: usize = 64;

/// The port of an `address` without one (Mosquitto's default).
pub const DEFAULT_BRIDGE_PORT: u16 = 1883;

/// One `connection NAME` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeConfig {
    /// `connection NAME`: names the bridge in logs, `$SYS` and `sol check`.
    pub name: String,
    /// Where the `connection` line is, for errors found later (a bridge that cannot start).
    pub at: Origin,
    /// `address`/`addresses`: the upstream brokers, tried in order; never empty.
    pub addresses: Vec<BridgeAddress>,
    /// `round_robin`: all addresses are equals (stay on the one that works); `false`
    /// (default): the first is the main one, and the bridge returns to it.
    pub round_robin: bool,
    /// `topic` lines, in file order; never empty.
    pub topics: Vec<TopicMapping>,
    /// `remote_clientid` (or the old `clientid`); default `HOSTNAME.NAME`, as Mosquitto.
    pub remote_clientid: String,
    /// `local_clientid`; default `local.` + `remote_clientid`. The bridge's session in
    /// this broker (its outbox) is kept under this id.
    pub local_clientid: String,
    /// `remote_username` (or `username`).
    pub remote_username: Option<String>,
    /// `remote_password` (or `password`); only with a user name.
    pub remote_password: Option<String>,
    /// `local_username`: the user name the local side's ACL checks use.
    pub local_username: Option<String>,
    /// `cleansession` (default `false`): the upstream session is kept across connections.
    pub cleansession: bool,
    /// `local_cleansession` (default: `cleansession`): `false` keeps the local session,
    /// and so the outbox, across connections and restarts.
    pub local_cleansession: bool,
    /// `keepalive_interval` in seconds (default 60, at least 5).
    pub keepalive: u16,
    /// `restart_timeout`: how long to wait before connecting again.
    pub restart: RestartTimeout,
    /// `start_type` (default automatic).
    pub start_type: StartType,
    /// `idle_timeout` (lazy bridges; default 60 s).
    pub idle_timeout: Duration,
    /// `threshold` (lazy bridges: queued messages that start it; default 10).
    pub threshold: u32,
    /// `notifications` (default `true`): publish the bridge's state, retained, as `1` or
    /// `0` (with a will upstream).
    pub notifications: bool,
    /// `notification_topic`; default `$SYS/broker/connection/<remote_clientid>/state`.
    pub notification_topic: Option<String>,
    /// `notifications_local_only`: publish the state locally only.
    pub notifications_local_only: bool,
    /// `try_private` (default `true`): tell a 3.x upstream this is a bridge (protocol
    /// level with bit 0x80), so that it does not echo messages back.
    pub try_private: bool,
    /// `bridge_protocol_version` (default `mqttv311`).
    pub protocol: BridgeProtocol,
    /// `bridge_attempt_unsubscribe` (default `true`): unsubscribe upstream from `out`
    /// topics, in case they were `in` topics of an earlier configuration.
    pub attempt_unsubscribe: bool,
    /// `bridge_outgoing_retain` (default `true`): `false` clears the retain flag of every
    /// message sent upstream.
    pub outgoing_retain: bool,
    /// `bridge_max_packet_size`: largest packet sent upstream; 0 = no limit (default).
    /// A larger message is not sent, and counted as dropped.
    pub max_packet_size: u32,
    /// `bridge_receive_maximum` (MQTT 5.0 upstreams; default 0: the inflight window).
    pub receive_maximum: u16,
    /// `bridge_session_expiry_interval` (MQTT 5.0 upstreams, with `cleansession false`);
    /// `None`: the session never expires.
    pub session_expiry: Option<u32>,
    /// `bridge_bind_address`: the local address the connection is made from.
    pub bind_address: Option<std::net::IpAddr>,
    /// TLS to the upstream, when `bridge_cafile` or `bridge_capath` is given.
    pub tls: Option<crate::tls::UpstreamTls>,
    /// Sol's outbox keys: how much waits for the upstream, and what happens when full.
    pub outbox: OutboxLimits,
}

impl BridgeConfig {
    /// A bridge named `name` (its `connection` line `at`) with Mosquitto's defaults, and
    /// Sol's outbox defaults: no address and no topic yet, and the client ids and
    /// `local_cleansession` still empty, to be derived once the whole block is read.
    pub fn new(name: String, at: Origin) -> BridgeConfig {
        BridgeConfig {
            name,
            at,
            addresses: Vec::new(),
            round_robin: false,
            topics: Vec::new(),
            remote_clientid: String::new(),
            local_clientid: String::new(),
            remote_username: None,
            remote_password: None,
            local_username: None,
            cleansession: false,
            local_cleansession: false,
            keepalive: 60,
            restart: RestartTimeout::Backoff {
                base: Duration::from_secs(5),
                cap: Duration::from_secs(30),
            },
            start_type: StartType::Automatic,
            idle_timeout: Duration::from_secs(60),
            threshold: 10,
            notifications: true,
            notification_topic: None,
            notifications_local_only: false,
            try_private: true,
            protocol: BridgeProtocol::V311,
            attempt_unsubscribe: true,
            outgoing_retain: true,
            max_packet_size: 0,
            receive_maximum: 0,
            session_expiry: None,
            bind_address: None,
            tls: None,
            outbox: OutboxLimits::default(),
        }
    }
}

/// One upstream address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeAddress {
    /// Host name or IP address, as written (resolved by the bridge, never by `config`).
    pub host: String,
    /// TCP port (default [`DEFAULT_BRIDGE_PORT`]).
    pub port: u16,
}

/// `host:port`, an IPv6 address in brackets (`[::1]:1883`), as `sol check` and the log
/// show an upstream.
impl std::fmt::Display for BridgeAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.host.contains(':') {
            true => write!(f, "[{}]:{}", self.host, self.port),
            false => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

/// Which way a `topic` line forwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Local messages go upstream (the default).
    Out,
    /// Upstream messages come in.
    In,
    /// Both ways.
    Both,
}

/// One `topic PATTERN [out|in|both] [QOS] [LOCAL_PREFIX REMOTE_PREFIX]` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicMapping {
    /// The pattern (a filter; may be empty when both prefixes are given: one topic
    /// remapped to another).
    pub pattern: String,
    /// Which way it forwards.
    pub direction: Direction,
    /// The QoS of the subscriptions made for it (default 0).
    pub qos: QoS,
    /// Prefix on the local side (`""` written as `""`).
    pub local_prefix: String,
    /// Prefix on the remote side.
    pub remote_prefix: String,
    /// The line of the `topic` line, for `sol check`'s warnings. It is in the file of the
    /// bridge's `connection` line ([`BridgeConfig::at`]): as in Mosquitto, a `connection`
    /// block ends with its file.
    pub line: usize,
}

impl TopicMapping {
    /// The filter subscribed to on the local side: local prefix + pattern.
    pub fn local_filter(&self) -> String {
        format!("{}{}", self.local_prefix, self.pattern)
    }

    /// The filter subscribed to on the remote side: remote prefix + pattern.
    pub fn remote_filter(&self) -> String {
        format!("{}{}", self.remote_prefix, self.pattern)
    }
}

/// `restart_timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartTimeout {
    /// `restart_timeout N`: always wait N.
    Constant(Duration),
    /// `restart_timeout BASE CAP` (default 5 30): "decorrelated jitter" back-off from
    /// `base` up to `cap`.
    Backoff {
        /// First wait, and the least.
        base: Duration,
        /// Longest wait.
        cap: Duration,
    },
}

/// `start_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartType {
    /// Connect at start and after every failure (default).
    Automatic,
    /// Connect when `threshold` messages are queued; disconnect after `idle_timeout`.
    Lazy,
    /// Connect at start; never again after a failure.
    Once,
}

/// `bridge_protocol_version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BridgeProtocol {
    /// `mqttv31`.
    V31,
    /// `mqttv311` (default).
    V311,
    /// `mqttv50`.
    V5,
}

/// What to do with a message for a full outbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutboxPolicy {
    /// Drop the oldest queued message to make room (default: fresh data wins).
    DropOldest,
    /// Drop the new message (what is queued keeps its place).
    RefuseNew,
}

/// Sol's outbox keys of a bridge (`bridge_outbox_messages`, `bridge_outbox_bytes`,
/// `bridge_outbox_policy`, `bridge_outbox_qos0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboxLimits {
    /// Most messages waiting for the upstream (default 10,000).
    pub max_messages: usize,
    /// Most payload bytes waiting (default 4 MiB).
    pub max_bytes: usize,
    /// What happens to a message for a full outbox.
    pub policy: OutboxPolicy,
    /// QoS 0 messages wait too (default `false`: while the upstream is down they are
    /// dropped, and counted).
    pub queue_qos0: bool,
}

impl Default for OutboxLimits {
    fn default() -> OutboxLimits {
        OutboxLimits {
            max_messages: 10_000,
            max_bytes: 4 << 20,
            policy: OutboxPolicy::DropOldest,
            queue_qos0: false,
        }
    }
}
