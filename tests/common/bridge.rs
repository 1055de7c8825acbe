//! Bridges in tests: a bridge's configuration built in code, and the waits and
//! sequences the bridge tests share (`tests/bridge.rs`, `tests/bridge_cluster.rs`).

use super::{client, Running, TestClient};
use rumqttc::{Packet, QoS};
use sol::config::{
    Bind, BridgeAddress, BridgeConfig, BridgeProtocol, Config, Direction, Origin, RestartTimeout,
    TopicMapping,
};
use std::net::SocketAddr;
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

/// Starts a server listening on `addr` only (a [`super::reserve_addr`] address: its port on
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
