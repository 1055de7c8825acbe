//! A site that outgrew one gateway: Sol bridged to a clustered upstream, two aedes nodes
//! sharing one Redis (`tests/bridge/cluster/`, `common::AedesCluster`). The node the
//! bridge is connected to is killed under a steady QoS 1 stream; the bridge fails over
//! to the other node, resumes its session there, and every message arrives (QoS 1 allows
//! duplicates, and the cluster does not keep order across a failover:
//! `tests/bridge/cluster/README.md`).
//!
//! Stock aedes acknowledges a QoS 1 PUBLISH before it routes it, so a node killed in
//! between loses a message it acknowledged (about one run in four here lost the message
//! in flight at the kill): no client can recover that. The nodes here run with
//! `--ack-after-routing`, which acknowledges after the message went through Redis, so
//! the test measures the bridge.

mod common;

use common::bridge::*;
use common::{client, AedesCluster};
use rumqttc::QoS;
use sol::config::{BridgeProtocol, Direction};
use std::collections::BTreeSet;
use std::time::Duration;

/// Messages in the stream, and the one after which the node is killed.
const MESSAGES: u32 = 1000;
const KILL_AFTER: u32 = 300;

#[test]
fn the_bridge_fails_over_to_the_other_node_under_a_qos1_stream_and_loses_nothing() {
    let mut cluster = AedesCluster::start_with("bridge-failover", 2, &["--ack-after-routing"]);
    let central = client(cluster.addr(1), "central", true);
    central.connack();
    // Its SUBACK comes once node 1 listens in Redis: what any node routes reaches it.
    subscribe(&central, "site1/#", QoS::AtLeastOnce);

    let topics = [("data/#", Direction::Out, 1, "", "site1/")];
    let local = common::start(|c| {
        let mut b = bridge("b1", &cluster.addrs(), &topics, BridgeProtocol::V311);
        // aedes closes a client that publishes under $SYS (Mosquitto allows the bridge
        // state topic): a bridge to aedes publishes its state here only.
        b.notifications_local_only = true;
        c.bridges.push(b);
    });
    let here = local.tcp();
    wait_up(here, "b1");

    let device = client(here, "device", true);
    device.connack();
    let mut got = Vec::new();
    // About 1,000 messages/s: one every millisecond, each acknowledged by Sol.
    for i in 0..MESSAGES {
        publish_seq(&device, i..i + 1);
        if i == KILL_AFTER {
            cluster.kill(0);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let expected: BTreeSet<u32> = (0..MESSAGES).collect();
    let mut unique = BTreeSet::new();
    while unique.len() < expected.len() {
        match central.events.recv_timeout(common::TIMEOUT) {
            Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))) => {
                assert_eq!(p.topic, "site1/data/x");
                let n = u32::from_be_bytes(p.payload[..].try_into().expect("4 bytes"));
                got.push(n);
                unique.insert(n);
            }
            Ok(_) => {}
            Err(_) => {
                let missing: Vec<u32> = expected.difference(&unique).copied().collect();
                panic!(
                    "{} of {MESSAGES} arrived ({} deliveries); missing: {missing:?}",
                    unique.len(),
                    got.len()
                );
            }
        }
    }
    assert_eq!(unique, expected, "every message arrived");
    println!(
        "failover: {} messages, {} deliveries ({} duplicates)",
        MESSAGES,
        got.len(),
        got.len() - unique.len()
    );
}
