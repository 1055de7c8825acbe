//! PUBLISH routing, SUBSCRIBE and UNSUBSCRIBE, retained messages and `$SYS`.

use super::*;

#[test]
fn qos0_publish_reaches_subscriber_without_retain_flag_mqtt_3_3_1_9() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(7, &[("a/+", Q0)]));
    assert_eq!(h.take(0), vec![Seen::Suback(7, vec![0])]);
    h.send(1, publish("a/b", b"hi", Q0, false, None));
    assert_eq!(h.take(0), vec![pub_seen("a/b", b"hi", Q0, false, None)]);
    assert_eq!(h.take(1), vec![], "QoS 0 is not acknowledged");
}

#[test]
fn qos1_publish_is_acknowledged_and_delivered_at_granted_qos_mqtt_4_3_2_2_mqtt_3_8_4_6() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q0)]));
    h.take(0);
    h.send(1, publish("t", b"x", Q1, false, Some(9)));
    assert_eq!(h.take(1), vec![Seen::Puback(9)]);
    assert_eq!(
        h.take(0),
        vec![pub_seen("t", b"x", Q0, false, None)],
        "downgraded to the granted QoS 0"
    );
}

#[test]
fn qos2_inbound_is_exactly_once_mqtt_4_3_3_2() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q2)]));
    h.take(0);
    h.send(1, publish("t", b"x", Q2, false, Some(5)));
    assert_eq!(h.take(1), vec![Seen::Pubrec(5)]);
    // The publisher re-sends before PUBREL: acknowledged again, not delivered again.
    h.send(1, publish("t", b"x", Q2, false, Some(5)));
    assert_eq!(h.take(1), vec![Seen::Pubrec(5)]);
    h.send(1, Packet::pubrel(5));
    assert_eq!(h.take(1), vec![Seen::Pubcomp(5)]);
    let got = h.take(0);
    assert_eq!(got.len(), 1, "delivered once: {got:?}");
    // After PUBCOMP the id is free: a new message with id 5 is a new message.
    h.send(1, publish("t", b"y", Q2, false, Some(5)));
    assert_eq!(h.take(1), vec![Seen::Pubrec(5)]);
    assert_eq!(h.take(0).len(), 1);
}

#[test]
fn qos2_outbound_flow_pubrec_pubrel_pubcomp_mqtt_4_3_3_1() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q2)]));
    h.take(0);
    h.send(1, publish("t", b"x", Q2, false, Some(1)));
    let got = h.take(0);
    let Some(Seen::Publish {
        id: Some(id),
        qos: Q2,
        ..
    }) = got.first().cloned()
    else {
        panic!("{got:?}")
    };
    h.send(0, Packet::pubrec(id));
    assert_eq!(h.take(0), vec![Seen::Pubrel(id)]);
    h.send(0, Packet::pubcomp(id));
    assert!(h
        .broker
        .sessions
        .get(0)
        .is_some_and(|s| s.inflight_len() == 0));
}

#[test]
fn unknown_pubrel_still_gets_pubcomp_mqtt_4_3_3_2() {
    let mut h = Harness::new();
    h.open(0, "a", true);
    h.send(0, Packet::pubrel(44));
    assert_eq!(h.take(0), vec![Seen::Pubcomp(44)]);
}

#[test]
fn overlapping_subscriptions_deliver_once_at_highest_qos() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("a/#", Q0), ("a/+", Q1), ("a/b", Q0)]));
    assert_eq!(h.take(0), vec![Seen::Suback(1, vec![0, 1, 0])]);
    h.send(1, publish("a/b", b"x", Q2, false, Some(3)));
    let got = h.take(0);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(matches!(got[0], Seen::Publish { qos: Q1, .. }));
}

#[test]
fn invalid_filter_gets_0x80_without_dropping_the_others_mqtt_4_7_1_2() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.send(0, subscribe(2, &[("a/#/b", Q1), ("ok", Q1), ("x+", Q0)]));
    assert_eq!(h.take(0), vec![Seen::Suback(2, vec![0x80, 1, 0x80])]);
    assert_eq!(h.broker.subscription_count(), 1);
}

#[test]
fn subscription_caps_refuse_with_0x80() {
    let mut h = Harness::with(Limits {
        max_subscriptions_per_client: 2,
        ..Limits::default()
    });
    h.open(0, "sub", true);
    h.send(
        0,
        subscribe(2, &[("a", Q1), ("b", Q1), ("c", Q0), ("a", Q0)]),
    );
    assert_eq!(
        h.take(0),
        vec![Seen::Suback(2, vec![1, 1, 0x80, 0])],
        "re-subscribing an existing filter is not a new one"
    );
}

#[test]
fn suback_with_more_than_64_filters() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    let names: Vec<String> = (0..100).map(|i| format!("t/{i}")).collect();
    let filters: Vec<(&str, QoS)> = names.iter().map(|n| (n.as_str(), Q1)).collect();
    h.send(0, subscribe(3, &filters));
    assert_eq!(h.take(0), vec![Seen::Suback(3, vec![1; 100])]);
}

#[test]
fn dollar_topics_are_not_matched_by_leading_wildcards_mqtt_4_7_2_1() {
    let mut h = Harness::with_sys(Limits {
        sys_interval: Duration::from_secs(10),
        ..Limits::default()
    });
    h.open(0, "all", true);
    h.open(1, "sys", true);
    h.send(0, subscribe(1, &[("#", Q0)]));
    h.send(1, subscribe(1, &[("$SYS/broker/clients/connected", Q0)]));
    h.take(0);
    h.take(1);
    h.advance(Duration::from_secs(10));
    assert_eq!(h.take(0), vec![]);
    let got = h.take(1);
    assert_eq!(
        got,
        vec![pub_seen(
            "$SYS/broker/clients/connected",
            b"2",
            Q0,
            false,
            None
        )]
    );
}

#[test]
fn sys_topics_are_retained_and_only_changes_are_republished() {
    let mut h = Harness::with_sys(Limits {
        sys_interval: Duration::from_secs(10),
        ..Limits::default()
    });
    h.advance(Duration::ZERO);
    h.open(0, "late", true);
    h.send(0, subscribe(1, &[("$SYS/broker/version", Q0)]));
    let got = h.take(0);
    assert!(
        got.contains(&pub_seen(
            "$SYS/broker/version",
            format!("sol version {}", env!("CARGO_PKG_VERSION")).as_bytes(),
            Q0,
            true,
            None
        )),
        "{got:?}"
    );
    h.advance(Duration::from_secs(10));
    assert_eq!(h.take(0), vec![], "version unchanged: not published again");
    h.send(0, subscribe(2, &[("$SYS/broker/uptime", Q0)]));
    h.take(0);
    h.advance(Duration::from_secs(10));
    assert_eq!(
        h.take(0),
        vec![pub_seen(
            "$SYS/broker/uptime",
            b"20 seconds",
            Q0,
            false,
            None
        )]
    );
}

#[test]
fn clients_cannot_publish_to_sys() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.send(0, subscribe(1, &[("$SYS/#", Q0)]));
    h.take(0);
    h.send(
        0,
        publish("$SYS/broker/uptime", b"0 seconds", Q1, true, Some(1)),
    );
    assert_eq!(h.take(0), vec![Seen::Puback(1)]);
    assert_eq!(h.broker.stats().publish_dropped, 1);
}

#[test]
fn retained_message_is_sent_on_subscribe_with_retain_set_mqtt_3_3_1_6() {
    let mut h = Harness::new();
    h.open(1, "pub", true);
    h.send(1, publish("r/1", b"old", Q1, true, Some(1)));
    h.send(1, publish("r/1", b"new", Q1, true, Some(2)));
    h.send(1, publish("r/2", b"two", Q0, true, None));
    h.open(0, "sub", true);
    h.send(0, subscribe(1, &[("r/+", Q1)]));
    assert_eq!(
        h.take(0),
        vec![
            Seen::Suback(1, vec![1]),
            pub_seen("r/1", b"new", Q1, true, Some(1)),
            pub_seen("r/2", b"two", Q0, true, None)
        ]
    );
    // Re-subscribing re-sends the retained messages [MQTT-3.8.4-3].
    h.send(0, Packet::puback(1));
    h.send(0, subscribe(2, &[("r/1", Q0)]));
    assert_eq!(
        h.take(0),
        vec![
            Seen::Suback(2, vec![0]),
            pub_seen("r/1", b"new", Q0, true, None)
        ]
    );
}

#[test]
fn zero_length_retained_publish_clears_and_is_delivered_mqtt_3_3_1_10_mqtt_3_3_1_12() {
    let mut h = Harness::new();
    h.open(1, "pub", true);
    h.send(1, publish("r", b"v", Q0, true, None));
    h.open(0, "sub", true);
    h.send(0, subscribe(1, &[("r", Q0)]));
    assert_eq!(h.take(0).len(), 2);
    h.send(1, publish("r", b"", Q0, true, None));
    assert_eq!(h.take(0), vec![pub_seen("r", b"", Q0, false, None)]);
    h.send(0, subscribe(2, &[("r", Q0)]));
    assert_eq!(
        h.take(0),
        vec![Seen::Suback(2, vec![0])],
        "nothing retained any more"
    );
    assert_eq!(h.broker.retained_count(), 0);
}

#[test]
fn retained_caps_are_counted_drops() {
    let mut h = Harness::with(Limits {
        max_retained_messages: 1,
        ..Limits::default()
    });
    h.open(1, "pub", true);
    h.send(1, publish("a", b"1", Q0, true, None));
    h.send(1, publish("b", b"1", Q0, true, None));
    assert_eq!(h.broker.retained_count(), 1);
    assert_eq!(h.broker.stats().publish_dropped, 1);
}

#[test]
fn unsubscribe_stops_delivery_and_is_always_acknowledged_mqtt_3_10_4_4_mqtt_3_10_4_5() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q0)]));
    h.send(0, unsubscribe(2, &["t", "never-subscribed"]));
    assert_eq!(h.take(0), vec![Seen::Suback(1, vec![0]), Seen::Unsuback(2)]);
    h.send(1, publish("t", b"x", Q0, false, None));
    assert_eq!(h.take(0), vec![]);
    assert_eq!(h.broker.subscription_count(), 0);
}

#[test]
fn message_size_limit_drops_but_acknowledges() {
    let mut h = Harness::with(Limits {
        message_size_limit: 4,
        ..Limits::default()
    });
    h.open(0, "sub", true);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.take(0);
    h.send(0, publish("t", b"12345", Q1, false, Some(8)));
    assert_eq!(h.take(0), vec![Seen::Puback(8)]);
    assert_eq!(h.broker.stats().publish_dropped, 1);
}

#[test]
fn retained_publish_disconnects_when_retain_is_unavailable() {
    let mut h = Harness::with(Limits {
        retain_available: false,
        ..Limits::default()
    });
    h.open(0, "a", true);
    h.send(0, publish("t", b"x", Q0, false, None));
    assert_eq!(h.is_closed(0), None);
    h.send(0, publish("t", b"x", Q0, true, None));
    assert_eq!(h.is_closed(0), Some(CloseReason::ProtocolError));
    assert_eq!(h.broker.retained_count(), 0);
}

#[test]
fn wills_obey_the_same_rules_as_publish() {
    let mut h = Harness::with(Limits {
        message_size_limit: 3,
        ..Limits::default()
    });
    for (conn, topic) in [(0, "$SYS/broker/uptime"), (1, "ok")] {
        h.broker.accepted(conn, 0, h.now);
        h.broker
            .handle(conn, connect("c", true, 60, will(topic, Q0, true)), h.now);
        assert_eq!(
            h.take(conn),
            vec![Seen::Connack {
                present: false,
                code: 5
            }],
            "{topic}"
        );
    }
}
