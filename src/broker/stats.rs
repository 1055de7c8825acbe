//! Counters behind `$SYS/broker/...`, in Mosquitto's names.
//!
//! Plain `u64` fields, not atomics: the core is single-threaded (and 32-bit MIPS has no
//! 64-bit atomics).

/// Broker-wide counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets of any type received (`$SYS/broker/messages/received`).
    pub messages_received: u64,
    /// Packets of any type queued for sending (`$SYS/broker/messages/sent`).
    pub messages_sent: u64,
    /// PUBLISH packets received (`$SYS/broker/publish/messages/received`).
    pub publish_received: u64,
    /// PUBLISH packets queued for sending (`$SYS/broker/publish/messages/sent`).
    pub publish_sent: u64,
    /// Messages dropped under a cap, for any reason (`$SYS/broker/publish/messages/dropped`).
    pub publish_dropped: u64,
    /// Bytes read from clients (`$SYS/broker/bytes/received`).
    pub bytes_received: u64,
    /// Bytes written to clients (`$SYS/broker/bytes/sent`).
    pub bytes_sent: u64,
    /// Most clients connected at once (`$SYS/broker/clients/maximum`).
    pub clients_maximum: u64,
    /// Offline sessions removed by `persistent_client_expiration` (`$SYS/broker/clients/expired`).
    pub clients_expired: u64,
    /// Times a publisher was paused for a full subscriber queue (`$SYS/broker/sol/publishers/stalled`).
    pub publisher_stalls: u64,
    /// Subscribers disconnected by `slow_consumer_timeout` (`$SYS/broker/sol/clients/slow`).
    pub slow_consumers: u64,
    /// Connections closed for a protocol violation (`$SYS/broker/sol/clients/protocol_errors`).
    pub protocol_errors: u64,
    /// CONNECTs refused for a wrong username or password (`$SYS/broker/sol/clients/auth_failures`).
    pub auth_failures: u64,
    /// PUBLISHes, subscriptions and deliveries the ACL refused (`$SYS/broker/sol/acl/denied`).
    pub acl_denied: u64,
}

/// What the durable store reports, published under `$SYS/broker/store/` when
/// persistence is on (the store runs outside the core and hands these in).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Bytes written to the store file (batches and compactions).
    pub bytes_written: u64,
    /// Syncs to disk.
    pub syncs: u64,
    /// Compactions (rewrites of the file with only its live state).
    pub compactions: u64,
    /// Failed writes, syncs and renames (each retried).
    pub errors: u64,
    /// Seconds since the last sync; `None` before the first.
    pub last_sync_age_s: Option<u64>,
    /// Records dropped when the store was loaded (damaged, expired, over the caps).
    pub load_dropped: u64,
    /// Changes not saved yet.
    pub pending: u64,
}
