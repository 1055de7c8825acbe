//! Mosquitto's per-listener and per-client rules, packet by packet: `mount_point`,
//! `use_username_as_clientid`, a listener's own `max_qos`, `clientid_prefixes`,
//! `check_retain_source`, `upgrade_outgoing_qos` and `max_inflight_bytes`.

use super::*;
use crate::auth::acl::Acl;

/// Listener 0 plain, listener 1 mounted at `mp/`.
fn mounted() -> Harness {
    let mut listeners = vec![ListenerPolicy::default(); 2];
    listeners[1].clients.mount_point = Some("mp/".into());
    Harness::with(Limits {
        listeners,
        ..Limits::default()
    })
}

/// Connects `id` on `listener` (clean session, no will).
fn open_on(h: &mut Harness, conn: ConnId, listener: usize, packet: Packet<'static>) -> Seen {
    h.broker.accepted(conn, listener, h.now);
    h.send(conn, packet);
    h.take(conn).remove(0)
}

/// A CONNECT of `id` as `user` (no password: the harness has no password file).
fn as_user(id: &str, user: Option<&'static str>) -> Packet<'static> {
    let Packet::Connect(mut c) = connect(id, true, 60, None) else {
        unreachable!("connect builds a CONNECT")
    };
    c.username = user;
    Packet::Connect(c)
}

/// What `conn` received since the last look: (topic, payload) of each PUBLISH.
fn topics(h: &mut Harness, conn: ConnId) -> Vec<(String, Vec<u8>)> {
    h.take(conn)
        .into_iter()
        .filter_map(|s| match s {
            Seen::Publish { topic, payload, .. } => Some((topic, payload)),
            _ => None,
        })
        .collect()
}

fn subscribe_on(h: &mut Harness, conn: ConnId, filters: &[(&str, QoS)]) {
    h.send(conn, subscribe(1, filters));
    h.take(conn);
}

fn pair(topic: &str, payload: &[u8]) -> (String, Vec<u8>) {
    (topic.to_string(), payload.to_vec())
}

#[test]
fn a_mount_point_prefixes_what_comes_in_and_strips_what_goes_out() {
    let mut h = mounted();
    assert_eq!(
        open_on(&mut h, 0, 0, connect("plain", true, 60, None)),
        connack(false, 0)
    );
    assert_eq!(
        open_on(&mut h, 1, 1, connect("inside", true, 60, None)),
        connack(false, 0)
    );
    subscribe_on(&mut h, 0, &[("#", Q0)]);
    subscribe_on(&mut h, 1, &[("#", Q0)]);
    h.send(1, publish("t", b"in", Q0, false, None));
    assert_eq!(
        topics(&mut h, 0),
        [pair("mp/t", b"in")],
        "others see it mounted"
    );
    assert_eq!(
        topics(&mut h, 1),
        [pair("t", b"in")],
        "its own clients see it bare"
    );
    h.send(0, publish("mp/a/b", b"x", Q0, false, None));
    h.send(0, publish("elsewhere", b"y", Q0, false, None));
    assert_eq!(
        topics(&mut h, 1),
        [pair("a/b", b"x")],
        "nothing outside the mount"
    );
    // UNSUBSCRIBE names the client's own filter too.
    h.send(1, unsubscribe(2, &["#"]));
    h.take(1);
    h.send(0, publish("mp/t", b"z", Q0, false, None));
    assert!(topics(&mut h, 1).is_empty());
}

#[test]
fn a_mounted_client_sees_sys_and_retained_messages_only_below_its_mount_point() {
    let mut h = mounted();
    open_on(&mut h, 0, 0, connect("plain", true, 60, None));
    h.send(0, publish("mp/r", b"kept", Q0, true, None));
    h.send(0, publish("r", b"outside", Q0, true, None));
    open_on(&mut h, 1, 1, connect("inside", true, 60, None));
    h.send(1, subscribe(1, &[("r", Q0), ("$SYS/#", Q0)]));
    let seen = h.take(1);
    assert_eq!(seen[0], Seen::Suback(1, vec![0, 0]));
    assert_eq!(seen[1..], [pub_seen("r", b"kept", Q0, true, None)]);
    // `$SYS/#` became `mp/$SYS/#`: the broker's own `$SYS` topics never match it.
    assert!(h.broker.tree.find("mp/$SYS/#").is_some());
}

#[test]
fn a_mounted_will_and_shared_subscription_stay_below_the_mount_point() {
    let mut h = mounted();
    open_on(&mut h, 0, 0, connect("plain", true, 60, None));
    subscribe_on(&mut h, 0, &[("#", Q0)]);
    // `$share/g/t` joins group g on `mp/t` (Mosquitto 2.0 would make it a plain filter).
    open_on(&mut h, 1, 1, connect("s1", true, 60, None));
    open_on(&mut h, 2, 1, connect("s2", true, 60, None));
    subscribe_on(&mut h, 1, &[("$share/g/t", Q0)]);
    subscribe_on(&mut h, 2, &[("$share/g/t", Q0)]);
    h.send(0, publish("mp/t", b"one", Q0, false, None));
    h.take(0);
    let mut got = topics(&mut h, 1);
    got.extend(topics(&mut h, 2));
    assert_eq!(
        got,
        [pair("t", b"one")],
        "one member of the group, unmounted"
    );
    // The will of a client of the mounted listener is published mounted.
    open_on(
        &mut h,
        3,
        1,
        connect("dying", true, 60, will("w", Q0, false)),
    );
    h.broker.closed(3, CloseReason::SocketError, h.now);
    h.effects();
    assert_eq!(topics(&mut h, 0), [pair("mp/w", b"gone")]);
}

#[test]
fn the_acl_sees_the_mounted_topic() {
    let mut h = mounted();
    h.broker.set_auth(Auth {
        passwords: None,
        acl: Some(Acl::parse("topic readwrite mp/#\n", 256, 32).expect("valid ACL")),
    });
    open_on(&mut h, 0, 1, connect("inside", true, 60, None));
    h.send(0, subscribe(1, &[("a", Q0)]));
    assert_eq!(h.take(0), [Seen::Suback(1, vec![0])], "mp/a is readable");
    h.send(0, publish("a", b"ok", Q0, false, None));
    assert_eq!(topics(&mut h, 0), [pair("a", b"ok")]);
    assert_eq!(h.broker.stats().acl_denied, 0);
}

#[test]
fn the_user_name_replaces_the_client_id_and_one_user_takes_itself_over() {
    let mut listeners = vec![ListenerPolicy::default(); 2];
    listeners[1].clients.use_username_as_clientid = true;
    let mut h = Harness::with(Limits {
        listeners,
        ..Limits::default()
    });
    assert_eq!(
        open_on(&mut h, 0, 1, as_user("first", Some("alice"))),
        connack(false, 0)
    );
    assert_eq!(h.broker.client_id_of(0), Some("alice"));
    assert_eq!(
        open_on(&mut h, 1, 1, as_user("second", Some("alice"))),
        connack(false, 0)
    );
    assert_eq!(h.is_closed(0), Some(CloseReason::TakenOver));
    // Without a user name: not authorised (CONNACK 5), as Mosquitto answers.
    assert_eq!(open_on(&mut h, 2, 1, as_user("x", None)), connack(false, 5));
    // Only on its listener.
    assert_eq!(
        open_on(&mut h, 3, 0, as_user("own", Some("alice"))),
        connack(false, 0)
    );
    assert_eq!(h.broker.client_id_of(3), Some("own"));
    // A user name too long for a client id: identifier rejected (CONNACK 2).
    h.broker.limits.max_client_id_length = 4;
    let refused = open_on(&mut h, 4, 1, as_user("x", Some("alice")));
    assert_eq!(refused, connack(false, 2));
}

#[test]
fn only_ids_with_the_clientid_prefix_connect_generated_ones_included() {
    let limits = |auto: &str| Limits {
        clientid_prefixes: "sec-".into(),
        auto_id_prefix: auto.into(),
        ..Limits::default()
    };
    let mut h = Harness::with(limits("auto-"));
    assert_eq!(h.open(0, "sec-1", true), connack(false, 0));
    assert_eq!(h.open(1, "other", true), connack(false, 5));
    assert_eq!(h.is_closed(1), Some(CloseReason::ConnectRefused));
    assert_eq!(
        h.open(2, "", true),
        connack(false, 5),
        "auto-... lacks the prefix"
    );
    let mut h = Harness::with(limits("sec-auto-"));
    assert_eq!(h.open(0, "", true), connack(false, 0));
}

/// A broker where alice may write `t/#` and bob read it, with `check_retain_source`.
fn retain_source(check: bool) -> Harness {
    let mut h = Harness::with(Limits {
        check_retain_source: check,
        ..Limits::default()
    });
    let acl = "user alice\ntopic readwrite t/#\nuser bob\ntopic read t/#\n";
    h.broker.set_auth(Auth {
        passwords: None,
        acl: Some(Acl::parse(acl, 256, 32).expect("valid ACL")),
    });
    h
}

#[test]
fn a_retained_message_is_withheld_once_its_publisher_lost_the_right_to_write_it() {
    for check in [true, false] {
        let mut h = retain_source(check);
        open_on(&mut h, 0, 0, as_user("pub", Some("alice")));
        h.send(0, publish("t/1", b"v", Q0, true, None));
        // The reload takes alice's write right away.
        let acl = "user alice\ntopic read t/#\nuser bob\ntopic read t/#\n";
        h.broker.set_auth(Auth {
            passwords: None,
            acl: Some(Acl::parse(acl, 256, 32).expect("valid ACL")),
        });
        open_on(&mut h, 1, 0, as_user("sub", Some("bob")));
        h.send(1, subscribe(2, &[("t/#", Q0)]));
        let retained = topics(&mut h, 1);
        if check {
            assert!(retained.is_empty(), "withheld under check_retain_source");
        } else {
            assert_eq!(retained, [pair("t/1", b"v")]);
        }
    }
}

#[test]
fn a_retained_message_remembers_its_publisher_for_the_store() {
    let mut h = Harness::with(Limits {
        check_retain_source: true,
        track_durable: true,
        ..Limits::default()
    });
    open_on(&mut h, 0, 0, as_user("pub", Some("alice")));
    h.send(0, publish("t/1", b"v", Q0, true, None));
    let source = h.durable.iter().find_map(|d| match d {
        Durable::RetainedSet { source, .. } => Some(source.clone()),
        _ => None,
    });
    let expected = RetainSource {
        client_id: "pub".into(),
        username: Some("alice".into()),
    };
    assert_eq!(source, Some(Some(std::rc::Rc::new(expected))));
}

#[test]
fn upgrade_outgoing_qos_delivers_at_the_subscription_qos() {
    for upgrade in [false, true] {
        let mut h = Harness::with(Limits {
            upgrade_outgoing_qos: upgrade,
            ..Limits::default()
        });
        h.subscriber(0, "s", &[("t", Q2)]);
        h.open(1, "p", true);
        h.send(1, publish("t", b"m", Q0, false, None));
        let expected = if upgrade {
            pub_seen("t", b"m", Q2, false, Some(1))
        } else {
            pub_seen("t", b"m", Q0, false, None)
        };
        assert_eq!(h.take(0), [expected]);
    }
}

#[test]
fn max_inflight_bytes_holds_the_next_message_until_the_window_has_room() {
    let mut h = Harness::with(Limits {
        max_inflight_bytes: 20,
        ..Limits::default()
    });
    h.subscriber(0, "s", &[("t", Q1)]);
    h.open(1, "p", true);
    // Each message is 3 + 30 bytes: one always goes, the next waits for its PUBACK.
    for id in 1..=2 {
        h.send(1, publish("t", &[b'x'; 30], Q1, false, Some(id)));
    }
    h.take(1);
    assert_eq!(h.take(0), [pub_seen("t", &[b'x'; 30], Q1, false, Some(1))]);
    h.send(0, Packet::puback(1));
    assert_eq!(h.take(0), [pub_seen("t", &[b'x'; 30], Q1, false, Some(2))]);
}

#[test]
fn a_listener_s_own_max_qos_overrides_the_global_one() {
    let mut listeners = vec![ListenerPolicy::default(); 2];
    listeners[1].clients.max_qos = Some(Q0);
    let mut h = Harness::with(Limits {
        listeners,
        max_qos: Q1,
        ..Limits::default()
    });
    open_on(&mut h, 0, 0, connect("a", true, 60, None));
    open_on(&mut h, 1, 1, connect("b", true, 60, None));
    h.send(0, subscribe(1, &[("t", Q2)]));
    h.send(1, subscribe(1, &[("t", Q2)]));
    assert_eq!(h.take(0), [Seen::Suback(1, vec![1])]);
    assert_eq!(h.take(1), [Seen::Suback(1, vec![0])]);
    h.send(1, publish("t", b"m", Q1, false, Some(5)));
    assert_eq!(h.is_closed(1), Some(CloseReason::ProtocolError));
}
