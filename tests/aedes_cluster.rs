//! The clustered upstream of the bridge tests on its own, without Sol: two aedes nodes
//! sharing one Redis ([`common::AedesCluster`], `tests/bridge/cluster/`), driven with
//! rumqttc. These prove the harness before the bridge's failover tests rely on it: a
//! publish on one node reaches a subscriber on the other, and a persistent session whose
//! node was killed resumes on the other node with the QoS 1 messages queued meanwhile.
//! The failover under a steady stream, with MQTT.js: `tests/bridge/cluster/selftest.mjs`
//! (CI); what the cluster guarantees: `tests/bridge/cluster/README.md`.

mod common;

use common::*;
use rumqttc::QoS;

/// Publishes QoS 1 `payloads` to `topic` through `addr`, each acknowledged.
fn publish_all(addr: std::net::SocketAddr, topic: &str, payloads: &[&str]) {
    let publisher = client(addr, "publisher", true);
    publisher.connack();
    for payload in payloads {
        publisher
            .client
            .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes())
            .expect("publish");
        publisher.puback();
    }
}

/// The distinct payloads `session` receives until it has `n` of them, sorted. QoS 1
/// across nodes promises delivery, not order between the queue and live messages, and
/// allows a message to come twice (aedes may replay a queued message that was already on
/// its way when the session resumed), so a repeat of a payload already seen is skipped.
fn receive(session: &TestClient, n: usize) -> Vec<String> {
    let mut got: Vec<String> = Vec::new();
    while got.len() < n {
        let payload = String::from_utf8_lossy(&session.publish().payload).into_owned();
        if !got.contains(&payload) {
            got.push(payload);
        }
    }
    got.sort();
    got
}

#[test]
fn a_publish_on_one_node_reaches_a_subscriber_on_the_other() {
    let cluster = AedesCluster::start("route", 2);
    let subscriber = client(cluster.addr(1), "subscriber", true);
    subscriber.connack();
    subscriber
        .client
        .subscribe("site/+/temp", QoS::AtLeastOnce)
        .expect("subscribe");
    // The SUBACK comes once node 2 subscribed in Redis: node 1's publishes reach it.
    subscriber.suback();

    publish_all(cluster.addr(0), "site/a/temp", &["21.5"]);
    let message = subscriber.publish();
    assert_eq!(message.topic, "site/a/temp");
    assert_eq!(&message.payload[..], b"21.5");
    assert_eq!(message.qos, QoS::AtLeastOnce);
}

#[test]
fn a_session_resumes_on_another_node_after_its_node_is_killed() {
    let mut cluster = AedesCluster::start("resume", 2);
    let session = client(cluster.addr(0), "bridge", false);
    assert!(!session.connack(), "a new session");
    session
        .client
        .subscribe("site/#", QoS::AtLeastOnce)
        .expect("subscribe");
    session.suback();
    cluster.wait_subscription(1, "bridge", "site/#");

    cluster.kill(0);
    drop(session);
    // Published while the session has no connection: node 2 queues them in Redis.
    publish_all(cluster.addr(1), "site/up", &["m1", "m2", "m3"]);

    let resumed = client(cluster.addr(1), "bridge", false);
    assert!(resumed.connack(), "node 2 has the session made on node 1");
    assert_eq!(receive(&resumed, 3), ["m1", "m2", "m3"]);
    // Its subscription came along too: a new publish arrives live.
    // A late repeat of a queued message may still come first (at least once).
    publish_all(cluster.addr(1), "site/up", &["m4"]);
    loop {
        let payload = String::from_utf8_lossy(&resumed.publish().payload).into_owned();
        if payload == "m4" {
            break;
        }
        assert!(
            ["m1", "m2", "m3"].contains(&payload.as_str()),
            "only a repeat of a queued message may come before m4, got {payload}"
        );
    }
}
