//! Bridges in tests: a bridge's configuration built in code, and the waits and
//! sequences the bridge tests share (`tests/bridge.rs`, `tests/bridge_cluster.rs`).

use super::{client, Running, TestClient};
use rumqttc::{Packet, QoS};
use sol::config::{
    Bind, BridgeAddress, BridgeConfig, BridgeProtocol, Config, Direction, Origin, RestartTimeout,
    TopicMapping,
};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

/// A bridge `name` to `upstream` with `topics` as (pattern, direction, QoS, local prefix,
/// remote prefix), speaking `protocol`, with short restart waits.
pub fn bridge(
    name: &str,
    upstream: &[SocketAddr],
    topics: &[(&str, Direction, u8, &str, &str)],
    protocol: BridgeProtocol,
) -> BridgeConfig {
    let qos = |q: u8| sol::codec::QoS::from_bits(q).expect("QoS 0-2");
    let mut b = BridgeConfig::new(
        name.into(),
        Origin {
            file: "test".into(),
            line: 1,
        },
    );
    b.addresses = upstream
        .iter()
        .map(|a| BridgeAddress {
            host: a.ip().to_string(),
            port: a.port(),
        })
        .collect();
    b.topics = topics
        .iter()
        .map(|&(pattern, direction, q, local, remote)| TopicMapping {
            pattern: pattern.into(),
            direction,
            qos: qos(q),
            local_prefix: local.into(),
            remote_prefix: remote.into(),
            line: 2,
        })
        .collect();
    b.remote_clientid = format!("gw.{name}");
    b.local_clientid = format!("local.gw.{name}");
    b.restart = RestartTimeout::Backoff {
        base: Duration::from_millis(100),
        cap: Duration::from_millis(500),
    };
    b.protocol = protocol;
    b
}

/// Subscribes `c` to `filter` at `qos` and waits for the SUBACK.
pub fn subscribe(c: &TestClient, filter: &str, qos: QoS) {
    c.client.subscribe(filter, qos).expect("subscribe");
    c.suback();
}

/// A clean-session client `id` of `addr`, subscribed to `filter` at `qos`.
pub fn subscribed(addr: SocketAddr, id: &str, filter: &str, qos: QoS) -> TestClient {
    let c = client(addr, id, true);
    c.connack();
    subscribe(&c, filter, qos);
    c
}

/// Waits until bridge `name` of the broker at `addr` says it is up (its retained state
/// `1`), through a client of its own.
pub fn wait_up(addr: SocketAddr, name: &str) {
    let watcher = client(addr, &format!("watch-{name}"), true);
    watcher.connack();
    let topic = format!("$SYS/broker/connection/{name}/state");
    subscribe(&watcher, &topic, QoS::AtMostOnce);
    watcher.wait_for("the bridge's state 1", |p| match p {
        Packet::Publish(p) if p.topic == topic && &p.payload[..] == b"1" => Some(()),
        _ => None,
    });
}

/// The next PUBLISH `c` receives: topic, payload, QoS.
pub fn next(c: &TestClient) -> (String, Vec<u8>, QoS) {
    let p = c.publish();
    (p.topic, p.payload.to_vec(), p.qos)
}

/// A loopback address with nothing listening on it (yet), held for the test that asked.
///
/// A port picked by binding and closing a probe is free only for a moment: with the tests
/// running side by side, another test's outgoing connection (its ephemeral port) or
/// `bind(0)` may take it before the upstream starts, or while it is stopped for an outage,
/// and the upstream then cannot listen again (CI run 10 failed so). Here a socket stays
/// bound to the port with `SO_REUSEADDR` and never listens: the kernel hands the port to
/// nothing else, a connection to it is refused like one to any closed port, and a server
/// that sets `SO_REUSEADDR` itself (Sol and Mosquitto do) listens on it whenever the test
/// starts one.
pub struct Reserved {
    /// The address: 127.0.0.1 and the reserved port.
    pub addr: SocketAddr,
    /// The bound socket that holds the port.
    _held: OwnedFd,
}

/// Reserves a loopback port for a server the test starts (and restarts) later.
pub fn reserve_addr() -> Reserved {
    use nix::sys::socket::{
        bind, getsockname, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType,
        SockaddrIn,
    };
    let held = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    setsockopt(&held, sockopt::ReuseAddr, &true).expect("SO_REUSEADDR");
    bind(held.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, 0)).expect("bind");
    let bound: SockaddrIn = getsockname(held.as_raw_fd()).expect("getsockname");
    Reserved {
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, bound.port())),
        _held: held,
    }
}

/// Starts a server listening on `addr` only (a [`reserve_addr`] address: its port on
/// 127.0.0.1, no IPv6 listener, whose port nothing reserved), after `configure`.
pub fn start_on(addr: SocketAddr, configure: impl FnOnce(&mut Config)) -> Running {
    super::start(|c| {
        c.listeners
            .retain(|l| l.bind == Bind::Host(addr.ip().to_string()));
        c.listeners.iter_mut().for_each(|l| l.port = addr.port());
        configure(c);
    })
}

/// Waits until the retained `$SYS` value `topic` of the broker at `addr` is `value`.
pub fn wait_value(addr: SocketAddr, topic: &str, value: &str) {
    let watcher = subscribed(addr, &format!("w-{topic}-{value}"), topic, QoS::AtMostOnce);
    watcher.wait_for(&format!("{topic} = {value}"), |p| match p {
        Packet::Publish(p) if p.topic == topic && &p.payload[..] == value.as_bytes() => Some(()),
        _ => None,
    });
}

/// Publishes QoS 1 messages `data/x` with payloads `range` (big-endian u32), each
/// acknowledged.
pub fn publish_seq(c: &TestClient, range: std::ops::Range<u32>) {
    for i in range {
        c.client
            .publish("data/x", QoS::AtLeastOnce, false, i.to_be_bytes().to_vec())
            .expect("publish");
        c.puback();
    }
}

/// The next `n` payloads `c` receives, as sequence numbers.
pub fn receive_seq(c: &TestClient, n: usize) -> Vec<u32> {
    (0..n)
        .map(|_| u32::from_be_bytes(next(c).1.try_into().expect("4 bytes")))
        .collect()
}
