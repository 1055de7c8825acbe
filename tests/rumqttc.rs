//! The broker against a real client library (`rumqttc`, MQTT 3.1.1): wildcard
//! subscriptions at every QoS, retained messages, wills and persistent sessions.
//!
//! Each `rumqttc` connection is driven on its own thread that forwards events to a
//! channel, so waits are `recv_timeout`s. Steps whose order matters across connections
//! use a raw socket where the server's own answer proves the order (a SUBACK, a closed
//! socket after DISCONNECT).
//!
//! The same client over TLS, with client certificates, a wrong CA and a revoked
//! certificate: `tests/rumqttc/tls.rs`.

mod common;
#[cfg(feature = "tls")]
#[path = "rumqttc/tls.rs"]
mod tls;
#[cfg(feature = "tls")]
#[path = "tls/fixtures.rs"]
mod tls_fixtures;

use common::*;
use rumqttc::{LastWill, QoS};
use std::io::Write;

#[test]
fn wildcard_subscription_receives_qos_0_1_2() {
    let server = start(|_| {});
    let sub = client(server.tcp(), "sub", true);
    assert!(!sub.connack());
    sub.client
        .subscribe("a/+/c", QoS::ExactlyOnce)
        .expect("subscribe");
    sub.suback();

    let publ = client(server.tcp(), "pub", true);
    publ.connack();
    for (qos, payload) in [
        (QoS::AtMostOnce, "q0"),
        (QoS::AtLeastOnce, "q1"),
        (QoS::ExactlyOnce, "q2"),
    ] {
        publ.client
            .publish("a/b/c", qos, false, payload)
            .expect("publish");
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => publ.puback(),
            QoS::ExactlyOnce => publ.pubcomp(),
        }
        let got = sub.publish();
        assert_eq!(got.topic, "a/b/c");
        assert_eq!(&got.payload[..], payload.as_bytes());
        assert_eq!(got.qos, qos);
    }
    // Not matched by the filter: never delivered; a later match proves the order.
    publ.client
        .publish("a/b/d", QoS::AtLeastOnce, false, "no")
        .expect("publish");
    publ.puback();
    publ.client
        .publish("a/x/c", QoS::AtLeastOnce, false, "yes")
        .expect("publish");
    assert_eq!(&sub.publish().payload[..], b"yes");
}

#[test]
fn retained_message_reaches_a_later_subscriber() {
    let server = start(|_| {});
    let publ = client(server.tcp(), "retainer", true);
    publ.connack();
    publ.client
        .publish("r/1", QoS::AtLeastOnce, true, "kept")
        .expect("publish");
    publ.puback();

    let sub = client(server.tcp(), "late", true);
    sub.connack();
    sub.client
        .subscribe("r/#", QoS::AtLeastOnce)
        .expect("subscribe");
    let got = sub.publish();
    assert_eq!(
        (got.topic.as_str(), &got.payload[..]),
        ("r/1", &b"kept"[..])
    );
    assert!(
        got.retain,
        "a retained message is sent with RETAIN set [MQTT-3.3.1-8]"
    );
}

#[test]
fn will_published_when_socket_dropped_without_disconnect() {
    let server = start(|_| {});
    let sub = client(server.tcp(), "watcher", true);
    sub.connack();
    sub.client
        .subscribe("w/t", QoS::AtLeastOnce)
        .expect("subscribe");
    sub.suback();

    let mut doomed = tcp(server.tcp());
    doomed
        .write_all(&connect_full(
            4,
            "doomed",
            60,
            true,
            Some(("w/t", b"gone", 1, false)),
        ))
        .expect("write");
    assert_eq!(read_packet(&mut doomed), CONNACK_OK);
    drop(doomed); // no DISCONNECT

    let got = sub.publish();
    assert_eq!(
        (got.topic.as_str(), &got.payload[..]),
        ("w/t", &b"gone"[..])
    );
    assert_eq!(got.qos, QoS::AtLeastOnce);
}

#[test]
fn will_not_published_after_disconnect() {
    let server = start(|_| {});
    let sub = client(server.tcp(), "watcher2", true);
    sub.connack();
    sub.client
        .subscribe("w/#", QoS::AtLeastOnce)
        .expect("subscribe");
    sub.suback();

    let will = LastWill::new("w/quiet", "gone", QoS::AtLeastOnce, false);
    let polite = client_with(server.tcp(), "polite", true, |o| {
        o.set_last_will(will);
    });
    polite.connack();
    polite.client.disconnect().expect("disconnect");
    polite.ended();

    // Something published after must be the first thing the watcher sees.
    let marker = client(server.tcp(), "marker", true);
    marker.connack();
    marker
        .client
        .publish("w/marker", QoS::AtLeastOnce, false, "m")
        .expect("publish");
    let got = sub.publish();
    assert_eq!(
        got.topic, "w/marker",
        "no will after DISCONNECT [MQTT-3.1.2-10]"
    );
}

#[test]
fn persistent_session_receives_messages_published_while_offline() {
    let server = start(|_| {});
    // First session over a raw socket: the server closing it after DISCONNECT proves the
    // session is offline before anything is published.
    let mut first = tcp(server.tcp());
    first
        .write_all(&connect("persist", 60, false))
        .expect("write");
    assert_eq!(read_packet(&mut first), CONNACK_OK);
    first.write_all(&subscribe(1, "p/t", 1)).expect("write");
    assert_eq!(read_packet(&mut first), suback(1, 1));
    first.write_all(&DISCONNECT).expect("write");
    assert!(expect_closed(&mut first).is_empty());

    let publ = client(server.tcp(), "offline-pub", true);
    publ.connack();
    publ.client
        .publish("p/t", QoS::AtLeastOnce, false, "while away")
        .expect("publish");
    publ.puback();

    let back = client(server.tcp(), "persist", false);
    assert!(back.connack(), "session present [MQTT-3.2.2-2]");
    let got = back.publish();
    assert_eq!(
        (got.topic.as_str(), &got.payload[..]),
        ("p/t", &b"while away"[..])
    );
    assert_eq!(got.qos, QoS::AtLeastOnce);
}
