//! MQTT 5.0 over real sockets with a real client library (`rumqttc::v5`): request/response
//! properties, message expiry, topic aliases, shared subscriptions, Subscription
//! Identifiers and No Local, flow control, 3.1.1 and 5.0 clients side by side, session
//! expiry and delayed wills.
//!
//! As in `tests/rumqttc.rs`, each connection is driven on its own thread that forwards
//! its events to a channel, so every wait is a bounded `recv_timeout`. Where a test must
//! show that something did *not* arrive, a later message whose order is guaranteed (the
//! same connection, or a timer that cannot fire before the one under test) arrives
//! first instead of a sleep.

mod common;

use common::{start, TIMEOUT};
use rumqttc::v5::mqttbytes::v5::{
    ConnAck, Filter, LastWill, LastWillProperties, Packet, PubAck, PubAckReason, Publish,
    PublishProperties, SubAck, SubscribeProperties, SubscribeReasonCode,
};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{Client, ConnectionError, Event, MqttOptions};
use rumqttc::Outgoing;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// An MQTT 5.0 client whose connection is driven on a thread; its events arrive on
/// `events`.
struct V5Client {
    /// Sends requests.
    client: Client,
    /// Every event of the connection, until it fails or is killed.
    events: Receiver<Result<Event, ConnectionError>>,
    /// Set by [`V5Client::kill`]: the driving thread drops the connection (closes the
    /// socket without DISCONNECT) at its next event.
    kill: Arc<AtomicBool>,
    /// Incoming packets received while waiting for another kind, in order: a PUBLISH
    /// that arrives before the PUBACK being waited for is not lost.
    backlog: RefCell<VecDeque<Packet>>,
}

/// A v5 client `id` of `addr` (clean start, no session expiry unless `configure` says
/// otherwise).
fn v5(addr: SocketAddr, id: &str, configure: impl FnOnce(&mut MqttOptions)) -> V5Client {
    let mut options = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    options.set_keep_alive(Duration::from_secs(30));
    configure(&mut options);
    let (client, mut connection) = Client::new(options, 16);
    let (tx, events) = mpsc::channel();
    let kill = Arc::new(AtomicBool::new(false));
    let killed = Arc::clone(&kill);
    thread::spawn(move || {
        // recv (not iter): stop at the first error instead of reconnecting.
        while let Ok(event) = connection.recv() {
            let failed = event.is_err();
            if killed.load(Ordering::SeqCst) || tx.send(event).is_err() || failed {
                break;
            }
        }
        // The socket is closed before the channel says the connection is over.
        drop(connection);
        drop(tx);
    });
    V5Client {
        client,
        events,
        kill,
        backlog: RefCell::default(),
    }
}

/// A v5 client as [`v5`], connected: its CONNACK.
fn connected(
    addr: SocketAddr,
    id: &str,
    configure: impl FnOnce(&mut MqttOptions),
) -> (V5Client, ConnAck) {
    let c = v5(addr, id, configure);
    let connack = c.connack();
    (c, connack)
}

impl V5Client {
    /// The next event (bounded by [`TIMEOUT`]), past the backlog of [`V5Client::wait_for`];
    /// panics if the connection failed.
    fn next_event(&self, what: &str) -> Event {
        match self.events.recv_timeout(TIMEOUT) {
            Ok(Ok(event)) => event,
            Ok(Err(e)) => panic!("connection failed while waiting for {what}: {e}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }

    /// Waits (bounded) for the first incoming packet `pick` accepts; the others are kept,
    /// in order, for later waits.
    fn wait_for<T>(&self, what: &str, mut pick: impl FnMut(&Packet) -> Option<T>) -> T {
        {
            let mut backlog = self.backlog.borrow_mut();
            if let Some((i, found)) = backlog
                .iter()
                .enumerate()
                .find_map(|(i, p)| pick(p).map(|found| (i, found)))
            {
                backlog.remove(i);
                return found;
            }
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Ok(Event::Incoming(p))) => match pick(&p) {
                    Some(found) => return found,
                    None => self.backlog.borrow_mut().push_back(p),
                },
                Ok(Ok(Event::Outgoing(_))) => {}
                Ok(Err(e)) => panic!("connection failed while waiting for {what}: {e}"),
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }

    fn connack(&self) -> ConnAck {
        self.wait_for("CONNACK", |p| match p {
            Packet::ConnAck(c) => Some(c.clone()),
            _ => None,
        })
    }

    fn suback(&self) -> SubAck {
        self.wait_for("SUBACK", |p| match p {
            Packet::SubAck(s) => Some(s.clone()),
            _ => None,
        })
    }

    fn puback(&self) -> PubAck {
        self.wait_for("PUBACK", |p| match p {
            Packet::PubAck(a) => Some(a.clone()),
            _ => None,
        })
    }

    fn publish(&self) -> Publish {
        self.wait_for("PUBLISH", |p| match p {
            Packet::Publish(p) => Some(p.clone()),
            _ => None,
        })
    }

    /// Subscribes to `filter` and waits for a SUBACK granting `qos`.
    fn subscribe(&self, filter: Filter, properties: Option<SubscribeProperties>) {
        let qos = filter.qos;
        let name = filter.path.clone();
        match properties {
            Some(p) => self.client.subscribe_many_with_properties([filter], p),
            None => self.client.subscribe_many([filter]),
        }
        .expect("subscribe");
        let suback = self.suback();
        assert_eq!(
            suback.return_codes,
            [SubscribeReasonCode::Success(qos)],
            "SUBACK for {name}"
        );
    }

    /// Publishes (QoS 1) and waits for a successful PUBACK.
    fn publish_acked(&self, topic: &str, retain: bool, payload: &str, props: PublishProperties) {
        self.client
            .publish_with_properties(topic, QoS::AtLeastOnce, retain, payload.to_owned(), props)
            .expect("publish");
        let ack = self.puback();
        assert!(
            matches!(
                ack.reason,
                PubAckReason::Success | PubAckReason::NoMatchingSubscribers
            ),
            "PUBACK for {topic}: {:?}",
            ack.reason
        );
    }

    /// Waits (bounded) until the connection is over.
    fn ended(&self) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Ok(_)) => {}
                Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => panic!("connection did not end"),
            }
        }
    }

    /// Ends the connection abruptly: the socket is closed without DISCONNECT. Returns once
    /// it is closed.
    fn kill(&self) {
        self.kill.store(true, Ordering::SeqCst);
        // Any event wakes the driving thread; this QoS 0 PUBLISH makes one (no test
        // subscribes to its topic). It fails if the thread already stopped: fine.
        let _ = self
            .client
            .publish("sol-test/kill", QoS::AtMostOnce, false, "");
        self.ended();
    }
}

/// A subscription filter with the default options.
fn filter(path: &str, qos: QoS) -> Filter {
    Filter::new(path, qos)
}

/// Subscription properties with identifier `id`.
fn sub_id(id: usize) -> SubscribeProperties {
    SubscribeProperties {
        id: Some(id),
        user_properties: Vec::new(),
    }
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("UTF-8")
}

fn user_props(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A will on `topic` with Will Delay Interval `delay`.
fn delayed_will(topic: &str, payload: &str, delay: u32) -> LastWill {
    LastWill::new(
        topic,
        payload,
        QoS::AtLeastOnce,
        false,
        Some(LastWillProperties {
            delay_interval: Some(delay),
            payload_format_indicator: None,
            message_expiry_interval: None,
            content_type: Some("text/plain".into()),
            response_topic: None,
            correlation_data: None,
            user_properties: user_props(&[("why", "gone")]),
        }),
    )
}

#[test]
fn request_response_properties_reach_responder_and_requester_intact() {
    let server = start(|_| {});
    let addr = server.tcp();
    let (responder, _) = connected(addr, "responder", |_| {});
    responder.subscribe(filter("rr/req", QoS::AtLeastOnce), None);
    let (requester, _) = connected(addr, "requester", |_| {});
    requester.subscribe(filter("rr/resp/requester", QoS::AtLeastOnce), None);

    let correlation = [0u8, 1, 0xff, b'c', b'7'];
    // Repeated names in order: the server keeps the order [MQTT-3.3.2-18 of 5.0].
    let request_props = user_props(&[("trace", "a"), ("trace", "b"), ("lang", "en")]);
    requester.publish_acked(
        "rr/req",
        false,
        "what time is it",
        PublishProperties {
            payload_format_indicator: Some(1),
            response_topic: Some("rr/resp/requester".into()),
            correlation_data: Some(correlation.to_vec().into()),
            user_properties: request_props.clone(),
            content_type: Some("text/plain; charset=utf-8".into()),
            ..Default::default()
        },
    );

    let request = responder.publish();
    assert_eq!(text(&request.topic), "rr/req");
    assert_eq!(text(&request.payload), "what time is it");
    let props = request.properties.expect("the request's properties");
    assert_eq!(props.response_topic.as_deref(), Some("rr/resp/requester"));
    assert_eq!(props.correlation_data.as_deref(), Some(&correlation[..]));
    assert_eq!(props.user_properties, request_props);
    assert_eq!(
        props.content_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(props.payload_format_indicator, Some(1));
    assert_eq!(props.topic_alias, None);
    assert!(props.subscription_identifiers.is_empty());

    // The responder answers on the Response Topic with the same Correlation Data.
    let response_topic = props.response_topic.expect("response topic");
    responder.publish_acked(
        &response_topic,
        false,
        "noon",
        PublishProperties {
            correlation_data: props.correlation_data.clone(),
            user_properties: user_props(&[("status", "ok")]),
            content_type: Some("text/plain".into()),
            ..Default::default()
        },
    );
    let response = requester.publish();
    assert_eq!(text(&response.topic), "rr/resp/requester");
    assert_eq!(text(&response.payload), "noon");
    let props = response.properties.expect("the response's properties");
    assert_eq!(props.correlation_data.as_deref(), Some(&correlation[..]));
    assert_eq!(props.user_properties, user_props(&[("status", "ok")]));
    assert_eq!(props.content_type.as_deref(), Some("text/plain"));
    assert_eq!(props.response_topic, None);
}

#[test]
fn expired_retained_message_is_no_longer_delivered() {
    let server = start(|_| {});
    let addr = server.tcp();
    let (sub, _) = connected(addr, "exp-sub", |_| {});
    sub.subscribe(filter("exp/t", QoS::AtLeastOnce), None);
    let (publ, _) = connected(addr, "exp-pub", |_| {});

    let published = Instant::now();
    publ.publish_acked(
        "exp/t",
        true,
        "short-lived",
        PublishProperties {
            message_expiry_interval: Some(1),
            ..Default::default()
        },
    );
    // Delivered at once: the expiry it carries is what is left, never more than sent
    // [MQTT-3.3.2-6 of 5.0].
    let live = sub.publish();
    assert_eq!(text(&live.payload), "short-lived");
    let expiry = live
        .properties
        .and_then(|p| p.message_expiry_interval)
        .expect("a Message Expiry Interval");
    assert!(expiry <= 1, "expiry {expiry} > 1 sent");

    // Re-subscribe until the retained copy no longer comes. Each round publishes a
    // marker on the same topic after the SUBACK: the retained copy, if any, is sent
    // before it on this connection.
    let deadline = published + TIMEOUT;
    let mut rounds = 0u32;
    let mut retained_copies = 0u32;
    loop {
        assert!(
            Instant::now() < deadline,
            "retained message still delivered after {TIMEOUT:?} (expiry 1 s)"
        );
        rounds += 1;
        sub.subscribe(filter("exp/t", QoS::AtLeastOnce), None);
        let marker = format!("marker {rounds}");
        sub.publish_acked("exp/t", false, &marker, PublishProperties::default());
        let mut got_retained = false;
        loop {
            let p = sub.publish();
            if text(&p.payload) == marker {
                break;
            }
            assert_eq!(text(&p.payload), "short-lived");
            assert!(p.retain, "a retained copy has RETAIN set");
            let expiry = p
                .properties
                .and_then(|p| p.message_expiry_interval)
                .expect("a retained copy keeps its Message Expiry Interval");
            assert!(expiry <= 1, "retained copy's expiry {expiry} > 1 sent");
            got_retained = true;
        }
        if !got_retained {
            break;
        }
        retained_copies += 1;
    }
    // Gone only once it has expired, not before [MQTT-3.3.2-5 of 5.0].
    let gone_after = published.elapsed();
    assert!(
        gone_after >= Duration::from_secs(1),
        "retained message gone after {gone_after:?}, before its 1 s expiry \
         ({retained_copies} retained copies in {rounds} rounds)"
    );
}

#[test]
fn topic_alias_is_resolved_for_subscribers() {
    let server = start(|_| {});
    let addr = server.tcp();
    let (sub, _) = connected(addr, "alias-sub", |_| {});
    sub.subscribe(filter("ta/#", QoS::AtLeastOnce), None);
    let (publ, connack) = connected(addr, "alias-pub", |_| {});
    let max = connack
        .properties
        .as_ref()
        .and_then(|p| p.topic_alias_max)
        .unwrap_or(0);
    assert!(max >= 2, "CONNACK Topic Alias Maximum {max}");

    let alias = |n: u16| PublishProperties {
        topic_alias: Some(n),
        ..Default::default()
    };
    // Set alias 1, then use it with an empty topic; alias 2 likewise; then alias 1 is
    // re-mapped to another topic [MQTT-3.3.2.3.4 of 5.0].
    for (topic, n, payload, expected) in [
        ("ta/one", 1, "set 1", "ta/one"),
        ("", 1, "use 1", "ta/one"),
        ("ta/two", 2, "set 2", "ta/two"),
        ("", 1, "use 1 again", "ta/one"),
        ("", 2, "use 2", "ta/two"),
        ("ta/three", 1, "remap 1", "ta/three"),
        ("", 1, "use remapped 1", "ta/three"),
    ] {
        publ.publish_acked(topic, false, payload, alias(n));
        let got = sub.publish();
        assert_eq!(text(&got.payload), payload);
        assert_eq!(text(&got.topic), expected, "topic of {payload:?}");
        // The subscriber declared no Topic Alias Maximum: it gets none.
        let got_alias = got.properties.and_then(|p| p.topic_alias);
        assert_eq!(got_alias, None, "alias sent to {payload:?}'s subscriber");
    }
}

#[test]
fn shared_subscription_delivers_each_message_to_one_member() {
    const N: usize = 20;
    let server = start(|_| {});
    let addr = server.tcp();
    let members: Vec<V5Client> = ["member-a", "member-b"]
        .into_iter()
        .map(|id| {
            let (m, _) = connected(addr, id, |_| {});
            m.subscribe(filter("$share/g/sh/t", QoS::AtLeastOnce), None);
            // An ordinary subscription: the end-of-test marker reaches every member.
            m.subscribe(filter("sh/end", QoS::AtLeastOnce), None);
            m
        })
        .collect();
    let (publ, _) = connected(addr, "shared-pub", |_| {});
    for i in 0..N {
        publ.publish_acked("sh/t", false, &i.to_string(), PublishProperties::default());
    }
    // Every message was routed before this one: any copy is queued before it.
    publ.publish_acked("sh/end", false, "end", PublishProperties::default());

    let mut seen = Vec::new();
    let mut per_member = Vec::new();
    for m in &members {
        let mut count = 0;
        loop {
            let p = m.publish();
            if text(&p.topic) == "sh/end" {
                break;
            }
            assert_eq!(text(&p.topic), "sh/t");
            seen.push(text(&p.payload).parse::<usize>().expect("a number"));
            count += 1;
        }
        per_member.push(count);
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..N).collect::<Vec<_>>(),
        "each message once in the group (per member: {per_member:?})"
    );
    assert!(
        per_member.iter().all(|&n| n > 0),
        "both members get messages: {per_member:?}"
    );
}

#[test]
fn no_local_and_subscription_identifier() {
    let server = start(|_| {});
    let addr = server.tcp();
    let (local, _) = connected(addr, "no-local", |_| {});
    let mut own = filter("nl/t", QoS::AtLeastOnce);
    own.nolocal = true;
    local.subscribe(own, Some(sub_id(7)));
    let (other, _) = connected(addr, "with-id", |_| {});
    other.subscribe(filter("nl/#", QoS::AtLeastOnce), Some(sub_id(42)));

    local.publish_acked("nl/t", false, "from local", PublishProperties::default());
    let got = other.publish();
    assert_eq!(text(&got.payload), "from local");
    let ids = got.properties.map(|p| p.subscription_identifiers);
    assert_eq!(
        ids,
        Some(vec![42]),
        "the matching subscription's identifier [MQTT-3.3.4-3 of 5.0]"
    );

    // The other client's message is the first the no-local subscriber gets: its own was
    // not sent back to it [MQTT-3.8.3-3 of 5.0].
    other.publish_acked("nl/t", false, "from other", PublishProperties::default());
    let got = local.publish();
    assert_eq!(text(&got.payload), "from other", "own message sent back");
    let ids = got.properties.map(|p| p.subscription_identifiers);
    assert_eq!(ids, Some(vec![7]));
    // The publisher's own subscription (no No Local) gets it too, with its identifier.
    let got = other.publish();
    assert_eq!(text(&got.payload), "from other");
    assert_eq!(
        got.properties.map(|p| p.subscription_identifiers),
        Some(vec![42])
    );
}

#[test]
fn receive_maximum_is_announced_and_respected() {
    const RECEIVE_MAXIMUM: u16 = 3;
    const N: usize = 30;
    let server = start(|c| c.limits.max_inflight_incoming = RECEIVE_MAXIMUM.into());
    let addr = server.tcp();
    let (sub, _) = connected(addr, "flow-sub", |_| {});
    sub.subscribe(filter("fc/#", QoS::ExactlyOnce), None);
    let (publ, connack) = connected(addr, "flow-pub", |_| {});
    let announced = connack.properties.as_ref().and_then(|p| p.receive_max);
    assert_eq!(announced, Some(RECEIVE_MAXIMUM), "CONNACK Receive Maximum");

    // N QoS 1 then N QoS 2 messages, without waiting: the client holds back what would
    // exceed the Receive Maximum; the broker accepts every one.
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        for i in 0..N {
            publ.client
                .publish("fc/t", qos, false, format!("{qos:?} {i}"))
                .expect("publish");
        }
        let mut inflight = 0usize;
        let mut most = 0usize;
        let mut done = 0;
        while done < N {
            match publ.next_event("PUBACK or PUBCOMP") {
                Event::Outgoing(Outgoing::Publish(id)) if id != 0 => {
                    inflight += 1;
                    most = most.max(inflight);
                }
                Event::Incoming(Packet::PubAck(a)) => {
                    assert_eq!(a.reason, PubAckReason::Success);
                    inflight -= 1;
                    done += 1;
                }
                Event::Incoming(Packet::PubComp(_)) => {
                    inflight -= 1;
                    done += 1;
                }
                Event::Incoming(Packet::Disconnect(d)) => panic!("disconnected: {d:?}"),
                _ => {}
            }
        }
        assert!(
            most <= usize::from(RECEIVE_MAXIMUM),
            "{most} in flight with Receive Maximum {RECEIVE_MAXIMUM}"
        );
        for i in 0..N {
            let p = sub.publish();
            assert_eq!(text(&p.payload), format!("{qos:?} {i}"), "in order");
            assert_eq!(p.qos, qos);
        }
    }
}

#[test]
fn mqtt_3_1_1_and_5_0_clients_exchange_messages() {
    let server = start(|_| {});
    let addr = server.tcp();
    let old = common::client(addr, "v4-sub", true);
    old.connack();
    old.client
        .subscribe("mix/#", rumqttc::QoS::AtLeastOnce)
        .expect("subscribe");
    old.suback();
    let (new, _) = connected(addr, "v5-sub", |_| {});
    new.subscribe(filter("mix/#", QoS::AtLeastOnce), None);

    // A 5.0 publication with properties: the 3.1.1 subscriber gets topic, payload, QoS.
    let (publ5, _) = connected(addr, "v5-pub", |_| {});
    publ5.publish_acked(
        "mix/from5",
        false,
        "hello 3.1.1",
        PublishProperties {
            user_properties: user_props(&[("k", "v")]),
            content_type: Some("text/plain".into()),
            ..Default::default()
        },
    );
    let got = old.publish();
    assert_eq!(
        (got.topic.as_str(), &got.payload[..], got.qos),
        ("mix/from5", &b"hello 3.1.1"[..], rumqttc::QoS::AtLeastOnce)
    );
    let got = new.publish();
    assert_eq!(text(&got.topic), "mix/from5");

    // A 3.1.1 publication: the 5.0 subscriber gets it, with no properties invented.
    let publ4 = common::client(addr, "v4-pub", true);
    publ4.connack();
    publ4
        .client
        .publish("mix/from4", rumqttc::QoS::AtLeastOnce, false, "hello 5.0")
        .expect("publish");
    publ4.puback();
    let got = new.publish();
    assert_eq!(
        (text(&got.topic), text(&got.payload), got.qos),
        ("mix/from4", "hello 5.0", QoS::AtLeastOnce)
    );
    let props = got.properties.unwrap_or_default();
    assert!(props.user_properties.is_empty(), "{props:?}");
    assert_eq!(props.content_type, None);
    assert_eq!(props.message_expiry_interval, None);
    assert_eq!(text(&old.publish().payload), "hello 5.0");
}

#[test]
fn session_expiry_keeps_session_and_queued_messages() {
    let server = start(|_| {});
    let addr = server.tcp();
    let persistent = |o: &mut MqttOptions| {
        o.set_clean_start(false);
        o.set_session_expiry_interval(Some(60));
    };
    let (first, connack) = connected(addr, "expiring", |o| {
        o.set_clean_start(true);
        o.set_session_expiry_interval(Some(60));
    });
    assert!(!connack.session_present);
    first.subscribe(filter("se/t", QoS::AtLeastOnce), None);
    first.client.disconnect().expect("disconnect");
    // The broker closed the socket: the DISCONNECT was handled before anything below.
    first.ended();

    let (publ, _) = connected(addr, "se-pub", |_| {});
    for i in 0..3 {
        publ.publish_acked(
            "se/t",
            false,
            &format!("away {i}"),
            PublishProperties::default(),
        );
    }

    let (back, connack) = connected(addr, "expiring", persistent);
    assert!(
        connack.session_present,
        "session present [MQTT-3.2.2-2 of 5.0]"
    );
    for i in 0..3 {
        let p = back.publish();
        assert_eq!(
            (text(&p.topic), text(&p.payload), p.qos),
            ("se/t", format!("away {i}").as_str(), QoS::AtLeastOnce)
        );
    }
}

#[test]
fn delayed_will_is_published_after_its_delay() {
    let server = start(|_| {});
    let addr = server.tcp();
    let (watcher, _) = connected(addr, "wd-watcher", |_| {});
    watcher.subscribe(filter("wd/#", QoS::AtLeastOnce), None);

    let (doomed, _) = connected(addr, "wd-doomed", |o| {
        // A session that outlives the delay: else the will goes when the session ends.
        o.set_session_expiry_interval(Some(60));
        o.set_last_will(delayed_will("wd/will", "gone", 1));
    });
    let killed = Instant::now();
    doomed.kill();

    let will = watcher.publish();
    let after = killed.elapsed();
    assert_eq!(
        (text(&will.topic), text(&will.payload)),
        ("wd/will", "gone")
    );
    assert_eq!(will.qos, QoS::AtLeastOnce);
    assert!(
        after >= Duration::from_secs(1),
        "will published {after:?} after the socket closed, Will Delay Interval 1 s"
    );
    let props = will.properties.expect("the will's properties");
    assert_eq!(props.content_type.as_deref(), Some("text/plain"));
    assert_eq!(props.user_properties, user_props(&[("why", "gone")]));
}

#[test]
fn delayed_will_is_not_published_when_client_reconnects_in_time() {
    const DELAY: u32 = 3;
    let server = start(|_| {});
    let addr = server.tcp();
    let (watcher, _) = connected(addr, "wr-watcher", |_| {});
    watcher.subscribe(filter("wr/#", QoS::AtLeastOnce), None);
    let with_will = |topic: &'static str| {
        move |o: &mut MqttOptions| {
            o.set_clean_start(false);
            o.set_session_expiry_interval(Some(60));
            o.set_last_will(delayed_will(topic, "gone", DELAY));
        }
    };
    let (doomed, _) = connected(addr, "wr-doomed", with_will("wr/will"));
    let (reference, _) = connected(addr, "wr-reference", with_will("wr/reference"));

    doomed.kill();
    let (back, connack) = connected(addr, "wr-doomed", |o| {
        o.set_clean_start(false);
        o.set_session_expiry_interval(Some(60));
    });
    assert!(connack.session_present, "the session was resumed");
    // Closed after the doomed client's connection was gone (its session was resumed
    // since), with the same delay: its will cannot come before the doomed one's would.
    reference.kill();

    let first = watcher.publish();
    assert_eq!(
        text(&first.topic),
        "wr/reference",
        "the will of a client that came back within the delay was published \
         [MQTT-3.1.3-9 of 5.0]"
    );
    // Anything the reference will's timer let out is queued before this marker.
    back.publish_acked("wr/marker", false, "m", PublishProperties::default());
    let next = watcher.publish();
    assert_eq!(
        text(&next.topic),
        "wr/marker",
        "the will of a client that came back within the delay was published"
    );
}
