//! The password file and ACL as the core enforces them: CONNECT, PUBLISH, SUBSCRIBE,
//! deliveries (live and retained) and wills, and a client certificate's common name as
//! the user name (`use_identity_as_username`). Packet by packet through the test harness.

use super::harness::*;
use super::*;
use crate::auth::acl::Acl;
use crate::auth::password::{hash_password, PasswordFile};
use crate::x509::CommonNameError;
use std::num::NonZeroU32;

const Q0: QoS = QoS::AtMostOnce;
const Q1: QoS = QoS::AtLeastOnce;

/// CONNECT (clean session) as `user` with `password`.
fn login(id: &str, user: &'static str, password: &'static [u8]) -> Packet<'static> {
    login_session(id, true, user, password)
}

/// CONNECT as `user` with `password`, with or without a clean session.
fn login_session(
    id: &str,
    clean: bool,
    user: &'static str,
    password: &'static [u8],
) -> Packet<'static> {
    let Packet::Connect(mut c) = connect(id, clean, 60, None) else {
        unreachable!("connect builds a CONNECT")
    };
    c.username = Some(user);
    c.password = Some(password);
    Packet::Connect(c)
}

fn passwords() -> PasswordFile {
    let mut file = PasswordFile::default();
    let one = NonZeroU32::new(1).expect("non-zero");
    file.set("alice", hash_password(b"wonderland", one).expect("hash"));
    file.set("bob", hash_password(b"builder", one).expect("hash"));
    file
}

/// A harness where anonymous clients are refused and `acl` (if any) is in force.
fn secured(acl: Option<&str>) -> Harness {
    let mut limits = Limits::default();
    for l in &mut limits.listeners {
        l.allow_anonymous = false;
    }
    let mut h = Harness::with(limits);
    h.broker.set_auth(Auth {
        passwords: Some(passwords()),
        acl: acl.map(|text| Acl::parse(text, 256, 32).expect("valid ACL")),
    });
    h
}

#[test]
fn right_password_connects_wrong_or_unknown_is_refused_and_counted() {
    let mut h = secured(None);
    assert_eq!(
        h.open_with(0, login("a", "alice", b"wonderland")),
        connack(false, 0)
    );
    assert_eq!(
        h.open_with(1, login("b", "alice", b"wonder")),
        connack(false, 5)
    );
    assert_eq!(h.is_closed(1), Some(CloseReason::AuthFailed));
    assert_eq!(
        h.open_with(2, login("c", "mallory", b"wonderland")),
        connack(false, 5)
    );
    assert_eq!(h.is_closed(2), Some(CloseReason::AuthFailed));
    assert_eq!(
        h.open(3, "anon", true),
        connack(false, 5),
        "anonymous refused"
    );
    assert_eq!(h.broker.stats().auth_failures, 2);
}

#[test]
fn user_names_are_capped_by_max_username_length() {
    // The session keeps the user name for the ACL: its length is a memory cap.
    let mut h = Harness::with(Limits {
        max_username_length: 5,
        ..Limits::default()
    });
    assert_eq!(h.open_with(0, login("a", "alice", b"x")), connack(false, 0));
    // 4: "the data in the user name or password is malformed" [MQTT-3.2.2-6].
    assert_eq!(
        h.open_with(1, login("b", "alice2", b"x")),
        connack(false, 4)
    );
    assert!(h.is_closed(1).is_some());
    assert_eq!(h.broker.stats().auth_failures, 0, "not a failed login");
}

#[test]
fn without_a_password_file_any_username_is_accepted() {
    let mut h = Harness::new();
    assert_eq!(
        h.open_with(0, login("a", "whoever", b"x")),
        connack(false, 0)
    );
}

const ACL: &str = "\
user alice
topic readwrite home/#
topic deny home/secret/#
user bob
topic write home/kitchen/temp
topic read alerts
";

#[test]
fn publish_the_acl_denies_is_acknowledged_but_not_delivered() {
    let mut h = secured(Some(ACL));
    h.open_with(0, login("a", "alice", b"wonderland"));
    h.send(0, subscribe(1, &[("home/#", Q1)]));
    h.take(0);
    h.open_with(1, login("b", "bob", b"builder"));
    h.send(1, publish("home/hall/light", b"on", Q1, false, Some(7)));
    assert_eq!(
        h.take(1),
        vec![Seen::Puback(7)],
        "acknowledged so it is not re-sent"
    );
    assert!(h.take(0).is_empty(), "bob may not write home/hall/light");
    h.send(1, publish("home/kitchen/temp", b"21", Q0, false, None));
    assert_eq!(
        h.take(0),
        vec![pub_seen("home/kitchen/temp", b"21", Q0, false, None)]
    );
    assert_eq!(h.broker.stats().acl_denied, 1);
}

#[test]
fn subscribe_to_nothing_readable_gets_0x80() {
    let mut h = secured(Some(ACL));
    h.open_with(0, login("b", "bob", b"builder"));
    h.send(
        0,
        subscribe(1, &[("alerts", Q0), ("home/#", Q0), ("home/secret/x", Q0)]),
    );
    assert_eq!(h.take(0), vec![Seen::Suback(1, vec![0, 0x80, 0x80])]);
}

#[test]
fn wildcard_subscription_never_delivers_a_denied_topic_live_or_retained() {
    let mut h = secured(Some(ACL));
    h.open_with(0, login("a1", "alice", b"wonderland"));
    h.send(0, publish("home/secret/code", b"1234", Q0, true, None));
    h.send(0, publish("home/hall", b"warm", Q0, true, None));
    h.open_with(1, login("a2", "alice", b"wonderland"));
    h.send(1, subscribe(1, &[("home/#", Q0)]));
    // Retained: only what alice may read... and she may not read home/secret (denied),
    // which also means she could not publish it: nothing was retained there.
    assert_eq!(
        h.take(1),
        vec![
            Seen::Suback(1, vec![0]),
            pub_seen("home/hall", b"warm", Q0, true, None)
        ]
    );
    // A topic a subscriber may not read, published by someone who may write it.
    let acl = format!("{ACL}user carol\ntopic write home/#\n");
    h.broker.set_auth(Auth {
        passwords: Some({
            let mut p = passwords();
            p.set(
                "carol",
                hash_password(b"c", NonZeroU32::new(1).unwrap()).unwrap(),
            );
            p
        }),
        acl: Some(Acl::parse(&acl, 256, 32).expect("valid")),
    });
    h.open_with(2, login("c", "carol", b"c"));
    h.send(2, publish("home/secret/code", b"5678", Q0, true, None));
    h.send(2, publish("home/hall", b"cold", Q0, false, None));
    assert_eq!(
        h.take(1),
        vec![pub_seen("home/hall", b"cold", Q0, false, None)]
    );
    // The retained secret exists now, but a new wildcard subscriber of alice's gets
    // only the hall. home/+/code is granted (home/kitchen/code would be readable) and
    // still does not deliver home/secret/code.
    h.open_with(3, login("a3", "alice", b"wonderland"));
    h.send(3, subscribe(1, &[("home/+/code", Q0), ("home/#", Q0)]));
    assert_eq!(
        h.take(3),
        vec![
            Seen::Suback(1, vec![0, 0]),
            pub_seen("home/hall", b"warm", Q0, true, None)
        ]
    );
}

#[test]
fn whole_filter_grants_are_decided_again_on_reload_and_on_a_new_user_name() {
    let acl = "user alice\ntopic readwrite home/#\nuser bob\ntopic write home/#\n";
    let mut h = secured(Some(acl));
    // Two persistent sessions of alice's: home/# is granted whole (no check per delivery).
    for conn in [0, 1] {
        h.open_with(
            conn,
            login_session(&format!("s{conn}"), false, "alice", b"wonderland"),
        );
        h.send(conn, subscribe(1, &[("home/#", Q0)]));
        h.take(conn);
    }
    h.open_with(9, login("b", "bob", b"builder"));
    h.send(9, publish("home/a", b"1", Q0, false, None));
    assert_eq!(h.take(0), vec![pub_seen("home/a", b"1", Q0, false, None)]);
    assert_eq!(h.take(1), vec![pub_seen("home/a", b"1", Q0, false, None)]);
    // Session s1 resumed by bob, who may read nothing: its subscription is kept but
    // delivers nothing to him.
    h.broker.closed(1, CloseReason::PeerClosed, h.now);
    assert_eq!(
        h.open_with(2, login_session("s1", false, "bob", b"builder")),
        connack(true, 0)
    );
    h.send(9, publish("home/b", b"2", Q0, false, None));
    assert!(h.take(2).is_empty(), "bob may not read home/b");
    assert_eq!(h.take(0), vec![pub_seen("home/b", b"2", Q0, false, None)]);
    // Reload: alice may no longer read home/secret/#; her grant is no longer whole.
    let stricter = format!("{acl}user alice\ntopic deny home/secret/#\n");
    h.broker.set_auth(Auth {
        passwords: Some(passwords()),
        acl: Some(Acl::parse(&stricter, 256, 32).expect("valid")),
    });
    h.send(9, publish("home/secret/x", b"3", Q0, false, None));
    h.send(9, publish("home/c", b"4", Q0, false, None));
    assert_eq!(h.take(0), vec![pub_seen("home/c", b"4", Q0, false, None)]);
}

#[test]
fn will_to_a_topic_the_client_may_not_write_is_refused() {
    let mut h = secured(Some(ACL));
    let Packet::Connect(mut c) = connect("b", true, 60, will("alerts", Q0, false)) else {
        unreachable!()
    };
    c.username = Some("bob");
    c.password = Some(b"builder");
    assert_eq!(h.open_with(0, Packet::Connect(c)), connack(false, 5));
}

// ----- use_identity_as_username ------------------------------------------------------

/// Listener 0 checks passwords; listener 1 takes the client certificate's common name as
/// the user name. Both refuse anonymous clients. alice may do anything, sensor-7 only
/// `sensors/7/#`.
fn with_identity_listener() -> Harness {
    let limits = Limits {
        listeners: vec![
            ListenerPolicy {
                allow_anonymous: false,
                use_identity_as_username: false,
                ..ListenerPolicy::default()
            },
            ListenerPolicy {
                allow_anonymous: false,
                use_identity_as_username: true,
                ..ListenerPolicy::default()
            },
        ],
        ..Limits::default()
    };
    let mut h = Harness::with(limits);
    h.broker.set_auth(Auth {
        passwords: Some(passwords()),
        acl: Some(
            Acl::parse(
                "user alice\ntopic readwrite #\nuser sensor-7\ntopic readwrite sensors/7/#\n",
                256,
                32,
            )
            .expect("valid ACL"),
        ),
    });
    h
}

/// Accepts `conn` on `listener`, reports its certificate's common name (unless `None`:
/// no report) as the reactor does after the handshake, and sends `packet`.
fn open_with_certificate(
    h: &mut Harness,
    conn: ConnId,
    listener: usize,
    common_name: Option<Result<&str, CommonNameError>>,
    packet: Packet<'_>,
) -> Seen {
    h.broker.accepted(conn, listener, h.now);
    if let Some(cn) = common_name {
        h.broker.client_certificate(conn, cn);
    }
    h.send(conn, packet);
    let out = h.take(conn);
    assert_eq!(out.len(), 1, "only a CONNACK: {out:?}");
    out[0].clone()
}

#[test]
fn identity_is_the_acl_user_name_and_connect_credentials_are_ignored() {
    let mut h = with_identity_listener();
    h.open_with(0, login("watcher", "alice", b"wonderland"));
    h.send(0, subscribe(1, &[("#", Q0)]));
    h.take(0);
    // alice's name with a wrong password: the password file is not consulted, and the
    // client is sensor-7, not alice.
    let seen = open_with_certificate(
        &mut h,
        1,
        1,
        Some(Ok("sensor-7")),
        login("s7", "alice", b"wrong"),
    );
    assert_eq!(seen, connack(false, 0));
    assert_eq!(h.broker.stats().auth_failures, 0);
    h.send(1, subscribe(1, &[("sensors/7/#", Q0), ("other/#", Q0)]));
    assert_eq!(h.take(1), vec![Seen::Suback(1, vec![0, 0x80])]);
    h.send(1, publish("other/x", b"no", Q1, false, Some(3)));
    assert_eq!(h.take(1), vec![Seen::Puback(3)]);
    h.send(1, publish("sensors/7/temp", b"21", Q0, false, None));
    assert_eq!(
        h.take(0),
        vec![pub_seen("sensors/7/temp", b"21", Q0, false, None)],
        "only the topic sensor-7 may write reaches alice"
    );
    assert_eq!(
        h.take(1),
        vec![pub_seen("sensors/7/temp", b"21", Q0, false, None)]
    );
    assert_eq!(
        h.broker.stats().acl_denied,
        2,
        "the SUBSCRIBE to other/# and the PUBLISH"
    );
    assert!(h.broker.identities.is_empty(), "taken at CONNECT");
}

#[test]
fn identity_is_not_anonymous_and_needs_no_password_entry() {
    let mut h = with_identity_listener();
    // No user name in CONNECT, on a listener that refuses anonymous clients; sensor-7 has
    // no entry in the password file.
    let seen = open_with_certificate(
        &mut h,
        0,
        1,
        Some(Ok("sensor-7")),
        connect("s7", true, 60, None),
    );
    assert_eq!(seen, connack(false, 0));
    h.send(0, publish("sensors/7/a", b"1", Q1, false, Some(1)));
    assert_eq!(h.take(0), vec![Seen::Puback(1)]);
    assert_eq!(h.broker.stats().acl_denied, 0, "written as sensor-7");
}

#[test]
fn certificate_without_a_usable_common_name_is_refused_and_counted() {
    let mut h = with_identity_listener();
    let too_long = "x".repeat(h.broker.limits().max_username_length + 1);
    let refused: [Option<Result<&str, CommonNameError>>; 4] = [
        Some(Err(CommonNameError::Missing)),
        Some(Err(CommonNameError::NulCharacter)),
        Some(Ok(&too_long)),
        // Nothing reported (no certificate): fail closed.
        None,
    ];
    for (conn, cn) in refused.into_iter().enumerate() {
        let seen = open_with_certificate(&mut h, conn, 1, cn, login("c", "alice", b"wonderland"));
        // 4 "bad user name or password", as Mosquitto answers.
        assert_eq!(seen, connack(false, 4), "connection {conn}");
        assert_eq!(h.is_closed(conn), Some(CloseReason::AuthFailed));
    }
    assert_eq!(h.broker.stats().auth_failures, 4);
    assert!(h.broker.identities.is_empty());
}

#[test]
fn identity_counts_only_on_its_listener_and_not_after_close() {
    let mut h = with_identity_listener();
    // Listener 0 checks passwords whatever the certificate says.
    let seen = open_with_certificate(
        &mut h,
        0,
        0,
        Some(Ok("sensor-7")),
        login("a", "alice", b"wrong"),
    );
    assert_eq!(seen, connack(false, 5));
    assert!(h.broker.identities.is_empty(), "not kept for listener 0");
    // A name reported for a connection that closes before CONNECT is dropped with it,
    // and the next connection in the slot does not inherit it.
    h.broker.accepted(1, 1, h.now);
    h.broker.client_certificate(1, Ok("sensor-7"));
    h.broker.closed(1, CloseReason::PeerClosed, h.now);
    h.effects();
    assert!(h.broker.identities.is_empty());
    let seen = open_with_certificate(&mut h, 1, 1, None, connect("s", true, 60, None));
    assert_eq!(seen, connack(false, 4));
}

#[test]
fn will_is_checked_again_when_published_after_a_reload() {
    let mut h = secured(Some(ACL));
    h.open_with(0, login("watch", "alice", b"wonderland"));
    h.send(0, subscribe(1, &[("home/#", Q0)]));
    h.take(0);
    let reader = Acl::parse("user alice\ntopic read home/#\n", 256, 32).expect("valid");
    for (reloaded, delivered) in [(false, 1), (true, 0)] {
        let Packet::Connect(mut c) = connect("a", true, 60, will("home/status", Q0, false)) else {
            unreachable!("connect builds a CONNECT")
        };
        c.username = Some("alice");
        c.password = Some(b"wonderland");
        assert_eq!(h.open_with(1, Packet::Connect(c)), connack(false, 0));
        if reloaded {
            // The reload leaves alice reading home/# but no longer writing it.
            h.broker.set_auth(Auth {
                passwords: Some(passwords()),
                acl: Some(reader.clone()),
            });
        }
        h.broker.closed(1, CloseReason::PeerClosed, h.now);
        assert_eq!(h.take(0).len(), delivered, "reloaded: {reloaded}");
    }
    assert_eq!(h.broker.stats().acl_denied, 1);
}

#[test]
fn a_will_is_checked_again_as_the_certificate_name_not_the_connect_user_name() {
    let mut h = with_identity_listener();
    h.open_with(0, login("watcher", "alice", b"wonderland"));
    h.send(0, subscribe(1, &[("#", Q0)]));
    h.take(0);
    // sensor-7 may write its will topic at CONNECT; the CONNECT claims to be alice.
    let Packet::Connect(mut c) = connect("s7", true, 60, will("sensors/7/status", Q0, false))
    else {
        unreachable!("connect builds a CONNECT")
    };
    c.username = Some("alice");
    c.password = Some(b"wonderland");
    let seen = open_with_certificate(&mut h, 1, 1, Some(Ok("sensor-7")), Packet::Connect(c));
    assert_eq!(seen, connack(false, 0));
    // A reload takes sensor-7's write right away (alice keeps hers): the will, judged as
    // sensor-7, is dropped.
    h.broker.set_auth(Auth {
        passwords: Some(passwords()),
        acl: Some(
            Acl::parse(
                "user alice\ntopic readwrite #\nuser sensor-7\ntopic read sensors/7/#\n",
                256,
                32,
            )
            .expect("valid ACL"),
        ),
    });
    h.broker.closed(1, CloseReason::PeerClosed, h.now);
    assert!(
        h.take(0).is_empty(),
        "the will of sensor-7 was not published"
    );
}
