//! A Mosquitto bridge into Sol: Debian's `mosquitto` with a `connection` to a `sol`
//! process (`topic # both 1 edge/ site/edge/`, `try_private true`), for each
//! `bridge_protocol_version`. Real clients (rumqttc) on both brokers check that QoS 1
//! messages cross both ways with the prefixes mapped, that retained messages stay retained
//! on the other side, and that nothing loops: a message arrives exactly once on each side.
//!
//! Exactly once is checked without sleeping. A message X published on side A is followed,
//! once both sides saw it, by a marker published on B, then (once both saw that) by one on
//! A. A copy of X sent back by B (a loop) would travel B to A ahead of the first marker, and
//! sent on again by A, A to B ahead of the second: each subscriber reads until the second
//! marker and must have seen X, the first marker and the second once each.
//!
//! The bridge is up once its state `1` reaches Sol on `$SYS/broker/connection/#`
//! (retained, as a late subscriber sees) and Mosquitto logs the SUBACK of its
//! subscription on Sol (sent after the state, on the same connection). Sol logs the
//! connection as a bridge's for 3.1 and 3.1.1 (the marker in the protocol level); a 5.0
//! bridge has no marker and asks for No Local and Retain As Published itself.

mod common;

use common::*;
use rumqttc::QoS;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The bridge's client id on Sol, and its state topic there.
const BRIDGE_ID: &str = "edge.to-sol";
const STATE: &str = "$SYS/broker/connection/edge.to-sol/state";

/// Most messages one subscriber may receive while a check reads it: a loop would send
/// copies without end.
const MOST_MESSAGES: usize = 16;

/// One broker's clients on the bridged topics: `prefix` + a suffix is what the other
/// broker calls `edge/` + suffix.
struct Side {
    name: &'static str,
    addr: SocketAddr,
    prefix: &'static str,
    publisher: TestClient,
    subscriber: TestClient,
}

/// A message as a subscriber received it: topic, payload, QoS, RETAIN.
type Got = (String, String, QoS, bool);

impl Side {
    /// Clients of `addr`: a publisher, and a subscriber to `prefix#` at QoS 1.
    fn new(name: &'static str, addr: SocketAddr, prefix: &'static str) -> Side {
        let publisher = connected(addr, &format!("{name}-pub"));
        let subscriber = subscribed(addr, &format!("{name}-sub"), &format!("{prefix}#"));
        Side {
            name,
            addr,
            prefix,
            publisher,
            subscriber,
        }
    }

    /// Publishes `payload` at QoS 1 on `prefix` + `suffix`.
    fn publish(&self, suffix: &str, payload: &str, retain: bool) {
        let topic = format!("{}{suffix}", self.prefix);
        self.publisher
            .client
            .publish(topic, QoS::AtLeastOnce, retain, payload.as_bytes().to_vec())
            .expect("publish");
    }

    /// Reads the subscriber into `got` up to a message on `prefix` + `suffix`.
    fn read_until(&self, suffix: &str, got: &mut Vec<Got>) {
        let topic = format!("{}{suffix}", self.prefix);
        loop {
            assert!(
                got.len() < MOST_MESSAGES,
                "{}: no {topic} among {got:?}",
                self.name
            );
            let p = self.subscriber.publish();
            let payload = String::from_utf8_lossy(&p.payload).into_owned();
            got.push((p.topic.clone(), payload, p.qos, p.retain));
            if p.topic == topic {
                return;
            }
        }
    }

    /// What the subscriber receives for `suffix` when it is sent `payload` normally:
    /// QoS 1, RETAIN clear [MQTT-3.3.1-9].
    fn delivered(&self, suffix: &str, payload: &str) -> Got {
        let topic = format!("{}{suffix}", self.prefix);
        (topic, payload.into(), QoS::AtLeastOnce, false)
    }
}

/// A connected rumqttc client (MQTT 3.1.1, clean session).
fn connected(addr: SocketAddr, id: &str) -> TestClient {
    let c = client(addr, id, true);
    c.connack();
    c
}

/// A client subscribed to `filter` at QoS 1.
fn subscribed(addr: SocketAddr, id: &str, filter: &str) -> TestClient {
    let c = connected(addr, id);
    c.client
        .subscribe(filter, QoS::AtLeastOnce)
        .expect("subscribe");
    c.suback();
    c
}

/// Publishes `payload` on `suffix` from side `a`, and checks it reaches both sides exactly
/// once (see the module comment); every message is QoS 1 with RETAIN clear, as normal
/// deliveries are.
fn exactly_once(a: &Side, b: &Side, suffix: &str, payload: &str, retain: bool) {
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    a.publish(suffix, payload, retain);
    a.read_until(suffix, &mut got_a);
    b.read_until(suffix, &mut got_b);
    let first = format!("marker/{suffix}/1");
    b.publish(&first, "m1", false);
    a.read_until(&first, &mut got_a);
    b.read_until(&first, &mut got_b);
    let second = format!("marker/{suffix}/2");
    a.publish(&second, "m2", false);
    a.read_until(&second, &mut got_a);
    b.read_until(&second, &mut got_b);
    for (side, got) in [(a, got_a), (b, got_b)] {
        let expected = [
            side.delivered(suffix, payload),
            side.delivered(&first, "m1"),
            side.delivered(&second, "m2"),
        ];
        assert_eq!(got, expected, "{}: each exactly once", side.name);
    }
}

/// A `sol` process listening on a free loopback port, its address and its directory.
fn sol_process(tag: &str) -> (SolProcess, SocketAddr, PathBuf) {
    let dir = std::env::temp_dir().join(format!("sol-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("sol.conf");
    std::fs::write(&file, "listener 0 127.0.0.1\nallow_anonymous true\n").expect("config");
    let mut sol = SolProcess::start(&file);
    let addr = sol.tcp_addr();
    (sol, addr, dir)
}

/// Sol, and a Mosquitto bridging into it with `bridge_protocol_version protocol`; checks
/// the bridge's state on Sol, then messages both ways.
fn bridge_into_sol(protocol: &str) {
    let (mut sol_broker, sol_addr, dir) = sol_process(&format!("bridge-inbound-{protocol}"));
    let watcher = subscribed(sol_addr, "watcher", "$SYS/broker/connection/#");
    let mut mosquitto = Mosquitto::start(
        protocol,
        &format!(
            "connection to-sol\naddress {sol_addr}\ntopic # both 1 edge/ site/edge/\n\
             try_private true\nbridge_protocol_version {protocol}\n\
             remote_clientid {BRIDGE_ID}\ncleansession true\n"
        ),
    );

    // Ready: its state on Sol, then the SUBACK of its subscription there.
    let up = watcher.publish();
    assert_eq!((up.topic.as_str(), &up.payload[..]), (STATE, &b"1"[..]));
    mosquitto.expect_line(&format!("Received SUBACK from local.{BRIDGE_ID}"));
    let connected = sol_broker.expect_line(&format!("client {BRIDGE_ID} connected"));
    // Only 3.1 and 3.1.1 carry the bridge marker; a 5.0 bridge asks for the options.
    assert_eq!(
        connected.contains(", bridge"),
        protocol != "mqttv50",
        "{connected}"
    );
    let late = subscribed(sol_addr, "late-watcher", "$SYS/broker/connection/+/state");
    let kept = late.publish();
    assert_eq!(
        (kept.topic.as_str(), &kept.payload[..], kept.retain),
        (STATE, &b"1"[..], true),
        "the state is retained on Sol"
    );

    let sol = Side::new("sol", sol_addr, "site/edge/");
    let edge = Side::new("mosquitto", mosquitto.addr, "edge/");
    exactly_once(&sol, &edge, "from/sol", "s1", false);
    exactly_once(&edge, &sol, "from/mosquitto", "e1", false);
    exactly_once(&sol, &edge, "retained/sol", "rs", true);
    exactly_once(&edge, &sol, "retained/mosquitto", "rm", true);

    // Both retained messages are retained on both brokers.
    for side in [&sol, &edge] {
        let filter = format!("{}retained/#", side.prefix);
        let late = subscribed(side.addr, &format!("{}-late", side.name), &filter);
        let mut got = [late.publish(), late.publish()].map(|p| {
            (
                p.topic,
                String::from_utf8_lossy(&p.payload).into_owned(),
                p.retain,
            )
        });
        got.sort();
        let prefix = side.prefix;
        assert_eq!(
            got,
            [
                (format!("{prefix}retained/mosquitto"), "rm".into(), true),
                (format!("{prefix}retained/sol"), "rs".into(), true),
            ],
            "{}: retained on both sides",
            side.name
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_mosquitto_bridge_with_mqtt_3_1_1_and_try_private() {
    bridge_into_sol("mqttv311");
}

#[test]
fn a_mosquitto_bridge_with_mqtt_3_1_and_try_private() {
    bridge_into_sol("mqttv31");
}

#[test]
fn a_mosquitto_bridge_with_mqtt_5_0() {
    bridge_into_sol("mqttv50");
}
