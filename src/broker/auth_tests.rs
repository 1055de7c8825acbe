//! The password file and ACL as the core enforces them: CONNECT, PUBLISH, SUBSCRIBE,
//! deliveries (live and retained) and wills. Packet by packet through the test harness.

use super::harness::*;
use super::*;
use crate::auth::acl::Acl;
use crate::auth::password::{hash_password, PasswordFile};
use std::num::NonZeroU32;

const Q0: QoS = QoS::AtMostOnce;
const Q1: QoS = QoS::AtLeastOnce;

/// CONNECT as `user` with `password`.
fn login(id: &str, user: &'static str, password: &'static [u8]) -> Packet<'static> {
    let Packet::Connect(mut c) = connect(id, true, 60, None) else {
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
fn will_to_a_topic_the_client_may_not_write_is_refused() {
    let mut h = secured(Some(ACL));
    let Packet::Connect(mut c) = connect("b", true, 60, will("alerts", Q0, false)) else {
        unreachable!()
    };
    c.username = Some("bob");
    c.password = Some(b"builder");
    assert_eq!(h.open_with(0, Packet::Connect(c)), connack(false, 5));
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
