//! Bridges to upstream brokers (Mosquitto's `connection` blocks): what a bridge is
//! besides its socket. Each bridge is a client of one upstream at a time, and a local
//! session of this broker's core (its outbox, see `broker::bridge`), so routing, ACLs
//! and `$SYS` stay in the core.
//!
//! | file | owns |
//! |---|---|
//! | `mapping.rs` | `topic` lines: filters on both sides, renaming topics |
//! | `uplink.rs` | one connection's MQTT client side, sans I/O: CONNECT, subscriptions, translating packets both ways, keep-alive |
//! | `backoff.rs` | `restart_timeout`: constant or jittered waits |
//! | `mod.rs` | [`Bridge`]: a bridge's configuration, addresses, failover and counters |
//!
//! The reactor (`net::bridges`) opens sockets, resolves names off the reactor thread
//! and drives these types; nothing here does I/O.

pub mod backoff;
pub mod mapping;
pub mod uplink;

use crate::broker::{BridgeLocal, BridgeOutbox};
use crate::codec::QoS;
use crate::config::{BridgeAddress, BridgeConfig, OutboxPolicy, StartType};
use backoff::Backoff;
use mapping::Mappings;
use std::time::Duration;
use uplink::ConnectShape;

/// One configured bridge.
#[derive(Debug)]
pub struct Bridge {
    /// Its configuration.
    pub config: BridgeConfig,
    /// Its `topic` lines.
    pub mappings: Mappings,
    /// The local filters of its outbox, in Subscription Identifier order.
    local_filters: Vec<(String, QoS)>,
    /// Waits between attempts.
    backoff: Backoff,
    /// The address tried last (or connected to), index into `config.addresses`.
    address: usize,
    /// Attempts in a row that failed since the last success or the last full round.
    failures_this_round: usize,
    /// `start_type once` failed: never again.
    given_up: bool,
    /// How its CONNECTs are made: as configured, then as upstreams' refusals taught.
    shape: ConnectShape,
    /// Counters over the bridge's life.
    pub counts: BridgeTotals,
}

/// A bridge's counters, published under `$SYS/broker/connection/NAME/`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BridgeTotals {
    /// Connections made.
    pub connects: u64,
    /// Messages sent upstream.
    pub sent: u64,
    /// Of those, sent again after a reconnect.
    pub resent: u64,
    /// Messages received from upstream.
    pub received: u64,
    /// Messages not sent: larger than the upstream accepts, or on no mapping.
    pub unsendable: u64,
}

impl Bridge {
    /// Bridge `config`; `seed` spreads its back-off from other brokers'.
    pub fn new(config: BridgeConfig, seed: u64) -> Bridge {
        let mappings = Mappings::new(&config.topics);
        let local_filters = mappings.local_filters();
        let backoff = Backoff::new(config.restart, seed);
        let shape = ConnectShape::configured(&config);
        Bridge {
            config,
            mappings,
            local_filters,
            backoff,
            address: 0,
            failures_this_round: 0,
            given_up: false,
            shape,
            counts: BridgeTotals::default(),
        }
    }

    /// Its local side, for the core.
    pub fn local(&self) -> BridgeLocal<'_> {
        let o = &self.config.outbox;
        BridgeLocal {
            client_id: &self.config.local_clientid,
            username: self.config.local_username.as_deref(),
            clean: self.config.local_cleansession,
            outbox: BridgeOutbox {
                max_messages: o.max_messages,
                max_bytes: o.max_bytes,
                drop_oldest: o.policy == OutboxPolicy::DropOldest,
                queue_qos0: o.queue_qos0,
            },
            filters: &self.local_filters,
        }
    }

    /// The address to connect to now.
    pub fn address(&self) -> &BridgeAddress {
        &self.config.addresses[self.address]
    }

    /// Whether it connects at start (`automatic`, `once`) rather than when its outbox
    /// fills (`lazy`).
    pub fn starts_at_once(&self) -> bool {
        self.config.start_type != StartType::Lazy
    }

    /// How its next CONNECT is made.
    pub fn connect_shape(&self) -> ConnectShape {
        self.shape
    }

    /// An upstream refused its CONNECT for something it can leave out
    /// ([`uplink::Uplink::reshaped`]): from now on it connects as `shape`, as Mosquitto's bridge
    /// does, and may try again at once, at the same address.
    pub fn reshape(&mut self, shape: ConnectShape) {
        self.shape = shape;
    }

    /// The connection succeeded: the next failure waits from the base.
    pub fn connected(&mut self) {
        self.backoff.reset();
        self.failures_this_round = 0;
        self.counts.connects += 1;
    }

    /// An attempt failed or the connection was lost: the next address is tried (after
    /// the last, the first: the main one), at once while the round of addresses is not
    /// done, else after the back-off. `None`: not again (`start_type once`).
    /// With `round_robin false` the reactor also probes the main address while
    /// connected to another ([`Bridge::probes_main`]) and moves back when it answers.
    pub fn failed(&mut self) -> Option<Duration> {
        if self.config.start_type == StartType::Once {
            self.given_up = true;
            return None;
        }
        let n = self.config.addresses.len();
        self.failures_this_round += 1;
        self.address = (self.address + 1) % n;
        if self.failures_this_round < n {
            return Some(Duration::ZERO);
        }
        self.failures_this_round = 0;
        Some(self.backoff.next_wait())
    }

    /// Whether, connected now, it should check from time to time that the main (first)
    /// address answers again, to move back to it (`round_robin false`, as Mosquitto).
    pub fn probes_main(&self) -> bool {
        !self.config.round_robin && self.address != 0
    }

    /// The main address answers again: the next attempt goes to it, at once.
    pub fn back_to_main(&mut self) {
        self.address = 0;
        self.failures_this_round = 0;
    }

    /// The main (first) address.
    pub fn main_address(&self) -> &BridgeAddress {
        &self.config.addresses[0]
    }

    /// Whether `start_type once` gave up.
    pub fn given_up(&self) -> bool {
        self.given_up
    }
}

#[cfg(test)]
mod tests;
