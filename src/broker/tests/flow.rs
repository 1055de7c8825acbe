//! Inflight windows, queues, flow control for full queues, slow consumers and the outbox.

use super::*;

#[test]
fn inflight_window_limits_unacknowledged_messages() {
    let mut h = Harness::with(Limits {
        max_inflight_messages: 2,
        ..Limits::default()
    });
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.take(0);
    for i in 1..=4u16 {
        h.send(1, publish("t", &[i as u8], Q1, false, Some(i)));
    }
    let got = h.take(0);
    assert_eq!(got.len(), 2, "{got:?}");
    h.send(0, Packet::puback(1));
    assert_eq!(h.take(0), vec![pub_seen("t", &[3], Q1, false, Some(3))]);
}

#[test]
fn messages_keep_their_order_mqtt_4_6_0_5() {
    let mut h = Harness::with(Limits {
        max_inflight_messages: 3,
        ..Limits::default()
    });
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.take(0);
    for i in 0..200u16 {
        h.send(
            1,
            publish(
                "t",
                &i.to_be_bytes(),
                if i % 3 == 0 { Q0 } else { Q1 },
                false,
                (i % 3 != 0).then_some(i + 1),
            ),
        );
    }
    let mut payloads = Vec::new();
    loop {
        let got = h.take(0);
        if got.is_empty() {
            break;
        }
        for s in got {
            if let Seen::Publish { payload, id, .. } = s {
                payloads.push(u16::from_be_bytes([payload[0], payload[1]]));
                if let Some(id) = id {
                    h.send(0, Packet::puback(id));
                }
            }
        }
    }
    assert_eq!(payloads, (0..200).collect::<Vec<_>>());
}

#[test]
fn offline_queue_cap_drops_new_messages_and_counts_them() {
    let mut h = Harness::with(Limits {
        max_queued_messages: 2,
        ..Limits::default()
    });
    h.open(0, "p", false);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    h.open(1, "pub", true);
    for i in 1..=5u16 {
        h.send(1, publish("t", &[i as u8], Q1, false, Some(i)));
    }
    assert_eq!(h.broker.stats().publish_dropped, 3);
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect("p", false, 60, None));
    let got = h.take(0);
    assert_eq!(
        got[1..],
        [
            pub_seen("t", &[1], Q1, false, Some(1)),
            pub_seen("t", &[2], Q1, false, Some(2))
        ],
        "oldest kept"
    );
}

#[test]
fn full_queue_pauses_the_publisher_and_loses_no_qos1_message() {
    let limits = Limits {
        max_inflight_messages: 1,
        max_queued_messages: 2,
        ..Limits::default()
    };
    let mut h = Harness::with(limits);
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.take(0);
    // 1 in flight, 2 queued; the 4th overflows the cap and pauses the publisher.
    for i in 1..=4u16 {
        h.send(1, publish("t", &[i as u8], Q1, false, Some(i)));
    }
    assert_eq!(h.paused, vec![1]);
    assert!(h.broker.is_paused(1));
    assert_eq!(h.broker.stats().publish_dropped, 0);
    // The subscriber drains: the publisher is released.
    let mut got = Vec::new();
    while got.len() < 4 {
        for s in h.take(0) {
            if let Seen::Publish {
                id: Some(id),
                payload,
                ..
            } = s
            {
                got.push(payload[0]);
                h.send(0, Packet::puback(id));
            }
        }
    }
    assert_eq!(got, [1, 2, 3, 4]);
    assert!(h.paused.is_empty(), "publisher resumed");
    assert_eq!(h.broker.stats().publisher_stalls, 1);
}

/// Opens subscriber 0 (QoS 1 on `t`, window 1, a queue of 8) and publisher 1 with
/// `max_publisher_stall` of `stall`, then has the publisher send 10 QoS 1 messages: 1 in
/// flight, 8 queued, the 10th over the cap, which stalls the publisher. Returns the
/// harness and the packet id of the message in flight.
fn one_subscriber_flooded(stall: Duration) -> (Harness, u16) {
    let mut h = Harness::with(Limits {
        max_inflight_messages: 1,
        max_queued_messages: 8,
        max_publisher_stall: stall,
        ..Limits::default()
    });
    h.subscriber(0, "sub", &[("t", Q1)]);
    h.open(1, "pub", true);
    for i in 1..=10u16 {
        h.send(1, publish("t", &[i as u8], Q1, false, Some(i)));
    }
    assert_eq!(h.paused, vec![1], "the 10th message stalls the publisher");
    let id = in_flight(&mut h);
    (h, id)
}

/// The packet id of the one QoS 1 message the subscriber (connection 0) was just sent.
fn in_flight(h: &mut Harness) -> u16 {
    match h.take(0).as_slice() {
        [Seen::Publish { id: Some(id), .. }] => *id,
        other => panic!("expected one QoS 1 delivery, got {other:?}"),
    }
}

#[test]
fn a_stalled_publisher_is_read_again_once_the_queue_has_drained_to_half() {
    let (mut h, mut id) = one_subscriber_flooded(Duration::from_secs(10));
    // Each acknowledgment moves one message into flight: 9 queued, then 8, 7, 6, 5.
    for queued in (5..=8).rev() {
        h.send(0, Packet::puback(id));
        id = in_flight(&mut h);
        assert_eq!(
            h.paused,
            vec![1],
            "{queued} queued: not drained to half yet"
        );
    }
    h.send(0, Packet::puback(id));
    assert!(h.paused.is_empty(), "4 queued: half the cap free, released");
    assert_eq!(
        h.broker.stats().publisher_stalls,
        1,
        "one stall, not one per slot"
    );
    assert_eq!(h.broker.stats().publish_dropped, 0);
}

#[test]
fn a_slowly_draining_subscriber_holds_its_publishers_without_their_stalls_running_out() {
    let (mut h, mut id) = one_subscriber_flooded(Duration::from_secs(2));
    // Half of max_publisher_stall on, the subscriber acknowledges one: 8 queued, full.
    h.advance(Duration::from_secs(1));
    h.send(0, Packet::puback(id));
    id = in_flight(&mut h);
    assert_eq!(h.paused, vec![1], "no room yet");
    // The next frees a slot: the aged stall ends with room, long before the low-water mark.
    h.send(0, Packet::puback(id));
    assert!(
        h.paused.is_empty(),
        "released with room once half the stall has passed"
    );
    // The publisher goes on; the queue is full again and it is held again, nothing dropped.
    h.send(1, publish("t", b"x", Q1, false, Some(11)));
    h.send(1, publish("t", b"y", Q1, false, Some(12)));
    assert_eq!(h.paused, vec![1]);
    assert_eq!(h.broker.stats().publish_dropped, 0);
    assert_eq!(h.broker.stats().publisher_stalls, 2);
}

#[test]
fn unwritten_frames_count_the_output_queued_since_the_writable_list_ran_dry() {
    // The reactor writes after a read once this reaches WRITE_AFTER_FRAMES.
    let mut h = Harness::new();
    h.subscriber(0, "sub", &[("t", Q1)]);
    h.open(1, "pub", true);
    assert!(
        h.broker.unwritten_frames() > 0,
        "the CONNACKs and the SUBACK"
    );
    while h.broker.poll_writable().is_some() {}
    assert_eq!(h.broker.unwritten_frames(), 0, "drained");
    for i in 0..3u8 {
        h.send(1, publish("t", &[i], Q0, false, None));
    }
    assert_eq!(h.broker.unwritten_frames(), 3, "three deliveries");
    h.send(1, publish("t", b"q", Q1, false, Some(1)));
    assert_eq!(h.broker.unwritten_frames(), 5, "a delivery and a PUBACK");
    assert!(h.broker.poll_writable().is_some());
    assert_eq!(h.broker.unwritten_frames(), 5, "until the list runs dry");
    while h.broker.poll_writable().is_some() {}
    assert_eq!(h.broker.unwritten_frames(), 0);
}

#[test]
fn stall_longer_than_max_publisher_stall_releases_publisher_and_drops_for_that_subscriber() {
    let limits = Limits {
        max_inflight_messages: 1,
        max_queued_messages: 1,
        max_publisher_stall: Duration::from_secs(2),
        ..Limits::default()
    };
    let mut h = Harness::with(limits);
    h.open(0, "stuck", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.take(0);
    for i in 1..=3u16 {
        h.send(1, publish("t", &[i as u8], Q1, false, Some(i)));
    }
    assert_eq!(h.paused, vec![1]);
    assert_eq!(
        h.broker.next_deadline(),
        Some(h.now + Duration::from_secs(2))
    );
    h.advance(Duration::from_secs(2));
    assert!(h.paused.is_empty(), "released after max_publisher_stall");
    h.send(1, publish("t", b"late", Q1, false, Some(9)));
    assert_eq!(
        h.broker.stats().publish_dropped,
        1,
        "overflow for the stuck subscriber is now dropped"
    );
    assert!(h.paused.is_empty(), "and the publisher is not paused again");
}

#[test]
fn qos0_to_a_full_queue_is_dropped_and_counted() {
    let limits = Limits {
        max_queued_messages: 1,
        ..Limits::default()
    };
    let mut h = Harness::with(limits);
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q0)]));
    h.take(0);
    // The outbox takes a batch; the queue holds one more; the rest is dropped.
    for i in 0..(OUTBOX_BATCH + 5) {
        h.send(1, publish("t", &[i as u8], Q0, false, None));
    }
    assert_eq!(h.broker.stats().publish_dropped, 4);
    assert!(h.paused.is_empty(), "QoS 0 never pauses a publisher");
}

/// A QoS 0 message goes straight into the outbox only when nothing waits in the
/// session's queue (`Broker::deliver_now`): behind a QoS 1 message the inflight window
/// holds back, or behind a full outbox, it keeps its place.
#[test]
fn qos0_never_overtakes_what_waits_in_the_queue() {
    let mut h = Harness::with(Limits {
        max_inflight_messages: 1,
        ..Limits::default()
    });
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.take(0);
    h.send(1, publish("t", &[1], Q1, false, Some(1)));
    h.send(1, publish("t", &[2], Q1, false, Some(2)));
    h.send(1, publish("t", &[3], Q0, false, None));
    assert_eq!(h.take(0), vec![pub_seen("t", &[1], Q1, false, Some(1))]);
    h.send(0, Packet::puback(1));
    assert_eq!(
        h.take(0),
        vec![
            pub_seen("t", &[2], Q1, false, Some(2)),
            pub_seen("t", &[3], Q0, false, None)
        ]
    );
    h.send(0, Packet::puback(2));
    // More than the outbox takes at once, none of it written yet: the rest queues.
    let burst = OUTBOX_BATCH + 3;
    for i in 0..burst {
        h.send(1, publish("t", &[i as u8], Q0, false, None));
    }
    let order: Vec<u8> = h
        .take(0)
        .into_iter()
        .map(|s| match s {
            Seen::Publish { payload, .. } => payload[0],
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(order, (0..burst).map(|i| i as u8).collect::<Vec<_>>());
}

#[test]
fn outbox_memory_is_returned_once_a_burst_is_written() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q0)]));
    h.take(0);
    for i in 0..(2 * OUTBOX_BATCH) {
        h.send(1, publish("t", &[i as u8], Q0, false, None));
    }
    assert_eq!(
        h.take(0).len(),
        2 * OUTBOX_BATCH,
        "the whole burst is delivered"
    );
    let outbox = &h.broker.conn(0).expect("connected").outbox;
    assert!(outbox.is_empty());
    assert!(
        outbox.capacity() <= output::OUTBOX_KEEP,
        "an idle subscriber keeps at most {} frames of outbox, not {}",
        output::OUTBOX_KEEP,
        outbox.capacity()
    );
}

#[test]
fn stalled_socket_is_disconnected_after_slow_consumer_timeout() {
    let limits = Limits {
        slow_consumer_timeout: Duration::from_secs(30),
        ..Limits::default()
    };
    let mut h = Harness::with(limits);
    h.open(0, "sub", false);
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q1)]));
    h.take(0);
    h.send(1, publish("t", b"x", Q1, false, Some(1)));
    h.take(1);
    // Partial progress postpones the timeout: the socket takes one byte.
    h.advance(Duration::from_secs(20));
    let mut wire = {
        let mut iov = [IoSlice::new(&[]); 1];
        assert_eq!(h.broker.fill_iovecs(0, &mut iov), 1);
        vec![iov[0][0]]
    };
    h.broker.written(0, 1, h.now);
    h.advance(Duration::from_secs(20));
    assert_eq!(h.is_closed(0), None);
    h.advance(Duration::from_secs(10));
    assert_eq!(h.is_closed(0), Some(CloseReason::SlowConsumer));
    assert_eq!(h.broker.stats().slow_consumers, 1);
    // The rest of the frame goes out with the close.
    wire.extend(h.take_bytes(0));
    assert_eq!(parse(&wire), vec![pub_seen("t", b"x", Q1, false, Some(1))]);
    // Its persistent session keeps the unacknowledged message.
    h.broker.accepted(0, 0, h.now);
    h.send(0, connect("sub", false, 60, None));
    assert!(h.take(0).contains(&Seen::Publish {
        topic: "t".into(),
        payload: b"x".to_vec(),
        qos: Q1,
        dup: true,
        retain: false,
        id: Some(1)
    }));
}

#[test]
fn a_second_stall_after_a_drained_outbox_gets_its_own_slow_consumer_timeout() {
    // No keep-alive: the slow-consumer deadline is the connection's only timer, armed
    // when an empty outbox gets a frame (`arm_slow_consumer_timer`).
    let limits = Limits {
        slow_consumer_timeout: Duration::from_secs(30),
        ..Limits::default()
    };
    let mut h = Harness::with(limits);
    h.open_with(0, connect("sub", true, 0, None));
    h.open(1, "pub", true);
    h.send(0, subscribe(1, &[("t", Q0)]));
    h.take(0);
    h.send(1, publish("t", b"x", Q0, false, None));
    h.advance(Duration::from_secs(1));
    assert_eq!(h.take(0).len(), 1, "the first message is written");
    // 28 s later a second message is not taken: its timeout counts from now, not from
    // the first message's (whose timer fires at 30 s and finds it young).
    h.advance(Duration::from_secs(28));
    h.send(1, publish("t", b"y", Q0, false, None));
    h.advance(Duration::from_secs(29));
    assert_eq!(h.is_closed(0), None);
    h.advance(Duration::from_secs(2));
    assert_eq!(h.is_closed(0), Some(CloseReason::SlowConsumer));
}

#[test]
fn partial_writes_resume_mid_frame() {
    let mut h = Harness::new();
    h.open(0, "sub", true);
    h.send(0, subscribe(1, &[("t", Q0)]));
    h.take(0);
    h.send(0, publish("t", b"payload", Q0, false, None));
    let mut wire = Vec::new();
    loop {
        let mut iov = [IoSlice::new(&[]); 8];
        let n = h.broker.fill_iovecs(0, &mut iov);
        if n == 0 {
            break;
        }
        let first = iov[0].to_vec();
        wire.push(first[0]);
        h.broker.written(0, 1, h.now);
    }
    assert_eq!(
        wire,
        [0x30, 10, 0, 1, b't', b'p', b'a', b'y', b'l', b'o', b'a', b'd']
    );
}

#[test]
fn client_that_does_not_read_its_acks_is_paused() {
    let mut h = Harness::new();
    h.open(0, "flooder", true);
    for i in 0..=OUTBOX_HIGH_WATER as u16 {
        h.broker
            .handle(0, publish("t", b"x", Q1, false, Some(i + 1)), h.now);
    }
    h.effects();
    assert_eq!(h.paused, vec![0]);
    h.take(0);
    assert!(h.paused.is_empty());
}

#[test]
fn max_queued_memory_caps_all_queues_together() {
    let limits = Limits {
        max_queued_memory: 100,
        max_inflight_messages: 1,
        ..Limits::default()
    };
    let mut h = Harness::with(limits);
    for (conn, id) in [(0, "a"), (1, "b")] {
        h.open(conn, id, false);
        h.send(conn, subscribe(1, &[("t", Q1)]));
        h.take(conn);
    }
    h.open(2, "pub", true);
    // Each message is 1 + 2 + 27 = 30 bytes; two sessions hold two copies of each.
    for i in 1..=3u16 {
        h.send(2, publish("t", &[0; 27], Q1, false, Some(i)));
    }
    assert_eq!(h.broker.sessions.held_bytes(), 90);
    assert_eq!(
        h.broker.stats().publish_dropped,
        3,
        "the sixth copy and beyond are refused"
    );
    // Acknowledging frees memory for new messages.
    for conn in [0, 1] {
        for s in h.take(conn) {
            if let Seen::Publish { id: Some(id), .. } = s {
                h.send(conn, Packet::puback(id));
            }
        }
    }
    assert!(h.broker.sessions.held_bytes() < 90);
    h.broker.closed(0, CloseReason::PeerClosed, h.now);
    h.broker.closed(1, CloseReason::PeerClosed, h.now);
    h.effects();
}
