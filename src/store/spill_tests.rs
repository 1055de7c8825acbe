//! A bridge's outbox beyond its window in RAM: the messages wait on disk only (the
//! model lets go of them once written), come back in order as the window drains, survive
//! a restart that way, and a full outbox drops its oldest from disk too.

use super::disk::sim::SimDisk;
use super::*;
use crate::broker::{
    BridgeLocal, BridgeOutbox, Broker, CloseReason, Effect, Limits, WINDOW_BYTES, WINDOW_MESSAGES,
};
use crate::codec::ProtocolVersion::{V311, V5};
use crate::codec::{self, Connect, FixedHeader, Packet, Properties, Publish, QoS};
use std::sync::mpsc::Receiver;

const OUTBOX_ID: &str = "local.gw.b1";
/// The publisher's connection slot.
const PUBLISHER: usize = 0;
/// The uplink's connection slot.
const UPLINK: usize = 9;

fn outbox(max_messages: usize, drop_oldest: bool) -> BridgeOutbox {
    BridgeOutbox::for_test(max_messages, drop_oldest)
}

/// A broker with bridge 0's outbox (`o`, subscribed to `L/#` at QoS 1) restored from
/// the store on `disk`, whose writer thread reports on the receiver.
fn bridged(disk: &SimDisk, o: BridgeOutbox) -> (Store, Broker, Receiver<()>) {
    bridged_with(disk, o, true, COMPACT_OFTEN)
}

/// `compact_min` for stores that compact often (spilled bodies copied while the outbox
/// drains).
const COMPACT_OFTEN: u64 = 16 * 1024;

/// [`bridged`], saving every turn (`persistence_sync`) or on the interval.
fn bridged_with(
    disk: &SimDisk,
    o: BridgeOutbox,
    sync: bool,
    compact_min: u64,
) -> (Store, Broker, Receiver<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let wake = Box::new(move || {
        let _ = tx.send(());
    });
    let path = PathBuf::from("/sim/sol.db");
    // A save every turn and compactions often: spilled bodies are written at once and
    // copied while the outbox drains.
    let settings = StoreSettings {
        compact_min,
        sync_acks: sync,
        ..StoreSettings::at(path)
    };
    let (mut store, opened) = Store::open(settings, disk.clone(), Some(wake)).expect("opens");
    let now = Instant::now();
    let mut broker = Broker::new(
        Limits {
            track_durable: true,
            sys_interval: Duration::ZERO,
            bridge_outboxes: vec![(OUTBOX_ID.into(), o)],
            ..Limits::default()
        },
        now,
    );
    store.restore(opened, &mut broker, now);
    let filters = [("L/#".to_string(), QoS::AtLeastOnce)];
    let local = BridgeLocal {
        client_id: OUTBOX_ID,
        username: None,
        clean: false,
        outbox: o,
        filters: &filters,
    };
    broker.bridge_session(0, &local, now);
    turn(&mut store, &mut broker);
    (store, broker, rx)
}

/// The end of a reactor turn: the core's changes to the store, its answers back.
fn turn(store: &mut Store, broker: &mut Broker) {
    let now = Instant::now();
    loop {
        while let Some(e) = broker.poll_effect() {
            match e {
                Effect::Durable(d) => store.record(d),
                Effect::Close { conn, reason } => broker.closed(conn, reason, now),
                Effect::PauseRead(_) | Effect::ResumeRead(_) => {}
            }
        }
        let refills = store.take_refills(broker, now);
        if refills.is_empty() {
            break;
        }
        for (id, entries) in refills {
            broker.bridge_refill(&id, entries, now);
        }
    }
    store.turn(broker, now);
}

fn feed(broker: &mut Broker, conn: usize, packet: &Packet<'_>, version: codec::ProtocolVersion) {
    let bytes = packet.to_vec(version).expect("small");
    let h = FixedHeader::parse(&bytes).expect("valid").expect("whole");
    broker.receive(conn, &h, &bytes[h.header_len..], Instant::now());
}

/// A client publishes messages `range` (payload: the number, big-endian) on `L/t` at QoS
/// 1, one reactor turn each.
fn publish(store: &mut Store, broker: &mut Broker, range: std::ops::Range<u32>) {
    publish_sized(store, broker, range, 200);
}

/// [`publish`] with payloads of `size` bytes (at least 4).
fn publish_sized(store: &mut Store, broker: &mut Broker, range: std::ops::Range<u32>, size: usize) {
    broker.accepted(PUBLISHER, 0, Instant::now());
    let connect = Connect {
        version: V311,
        bridge: false,
        clean_session: true,
        keep_alive: 60,
        properties: Properties::NONE,
        client_id: "sensor",
        will: None,
        username: None,
        password: None,
    };
    feed(broker, PUBLISHER, &Packet::Connect(connect), V311);
    for i in range {
        // 4 bytes of number and padding: a few saves' worth of spilled messages.
        let mut payload = vec![0u8; size];
        payload[..4].copy_from_slice(&i.to_be_bytes());
        let p = Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: "L/t",
            packet_id: Some(1),
            properties: Properties::NONE,
            payload: &payload,
        };
        feed(broker, PUBLISHER, &Packet::Publish(p), V311);
        let _ = broker.take_output(PUBLISHER, Instant::now());
        turn(store, broker);
    }
    broker.closed(PUBLISHER, CloseReason::PeerClosed, Instant::now());
    turn(store, broker);
}

/// Messages in the outbox's queue in RAM (and in flight).
fn in_ram(broker: &Broker) -> usize {
    broker.session_entries(OUTBOX_ID).len()
}

/// Attaches the uplink and acknowledges what it is sent until `n` messages came (the
/// rest stays in flight), waiting for the store's reads; the payloads in order.
fn drain(store: &mut Store, broker: &mut Broker, rx: &Receiver<()>, n: usize) -> Vec<u32> {
    broker.bridge_attach(UPLINK, 0, 20, u32::MAX, Instant::now());
    let mut seen = Vec::new();
    while seen.len() < n {
        turn(store, broker);
        let mut bytes = Vec::new();
        while let Some(chunk) = broker.take_output(UPLINK, Instant::now()) {
            bytes.extend(chunk);
        }
        if bytes.is_empty() {
            rx.recv_timeout(Duration::from_secs(20))
                .expect("the store reads the outbox's messages back");
            continue;
        }
        let mut rest = &bytes[..];
        while let Ok(Some(h)) = FixedHeader::parse(rest) {
            let (frame, tail) = rest.split_at(h.packet_len());
            rest = tail;
            if seen.len() == n {
                // Beyond what the test waits for: left in flight, unacknowledged.
                break;
            }
            if let Ok(Packet::Publish(p)) = codec::decode(frame, V5) {
                let number: [u8; 4] = p.payload[..4].try_into().expect("4 bytes");
                seen.push(u32::from_be_bytes(number));
                let id = p.packet_id.expect("QoS 1");
                feed(broker, UPLINK, &Packet::puback(id), V5);
            }
        }
    }
    seen
}

#[test]
fn an_outbox_beyond_its_window_waits_on_disk_and_drains_in_order() {
    let disk = SimDisk::default();
    let (mut store, mut broker, rx) = bridged(&disk, outbox(10_000, true));
    let n = 3 * WINDOW_MESSAGES as u32;
    publish(&mut store, &mut broker, 0..n);
    assert_eq!(broker.bridge_counts(0).queued, n as usize, "all counted");
    assert_eq!(in_ram(&broker), WINDOW_MESSAGES, "the rest only on disk");
    assert_eq!(store.model.spilled_in_memory(), 0, "written, and let go of");
    let seen = drain(&mut store, &mut broker, &rx, n as usize);
    assert_eq!(seen, (0..n).collect::<Vec<_>>(), "all, once, in order");
    assert_eq!(broker.bridge_counts(0).queued, 0);
    let gen = store.turn(&broker, Instant::now());
    while store.synced() < gen {
        rx.recv_timeout(Duration::from_secs(20))
            .expect("the writer syncs");
    }
    assert!(
        store.stats().compactions >= 3,
        "read back across compactions"
    );
    assert!(store.stop(&broker, Duration::from_secs(10)));
}

#[test]
fn an_outbox_on_disk_survives_a_restart_and_still_drains_in_order() {
    let disk = SimDisk::default();
    let n = 3 * WINDOW_MESSAGES as u32 + 7;
    {
        let (mut store, mut broker, _rx) = bridged(&disk, outbox(10_000, true));
        publish(&mut store, &mut broker, 0..n);
        assert!(store.stop(&broker, Duration::from_secs(10)));
    }
    let (mut store, mut broker, rx) = bridged(&disk, outbox(10_000, true));
    assert_eq!(broker.bridge_counts(0).queued, n as usize, "all restored");
    assert_eq!(
        in_ram(&broker),
        WINDOW_MESSAGES,
        "the window in RAM, the rest on disk"
    );
    // Half drained, then another restart: what was acknowledged stays gone.
    let first = drain(&mut store, &mut broker, &rx, WINDOW_MESSAGES);
    assert_eq!(first, (0..WINDOW_MESSAGES as u32).collect::<Vec<_>>());
    broker.closed(UPLINK, CloseReason::PeerClosed, Instant::now());
    turn(&mut store, &mut broker);
    assert!(store.stop(&broker, Duration::from_secs(10)));
    drop(rx);
    let (mut store, mut broker, rx) = bridged(&disk, outbox(10_000, true));
    let counts = broker.bridge_counts(0);
    let left = counts.queued + counts.inflight;
    // In flight when the uplink went (at most its window of 20) come again: QoS 1.
    assert!(
        left >= (n as usize - WINDOW_MESSAGES) && left <= n as usize - WINDOW_MESSAGES + 20,
        "{left} left of {n}"
    );
    let rest = drain(&mut store, &mut broker, &rx, left);
    let from = n - left as u32;
    assert_eq!(rest, (from..n).collect::<Vec<_>>(), "the rest, in order");
    assert!(store.stop(&broker, Duration::from_secs(10)));
}

#[test]
fn a_full_outbox_drops_its_oldest_messages_from_disk_too() {
    let disk = SimDisk::default();
    let cap = 2 * WINDOW_MESSAGES;
    let (mut store, mut broker, rx) = bridged(&disk, outbox(cap, true));
    let n = (cap + WINDOW_MESSAGES + 10) as u32;
    publish(&mut store, &mut broker, 0..n);
    let counts = broker.bridge_counts(0);
    assert_eq!(
        (counts.queued, counts.dropped),
        (cap, u64::from(n) - cap as u64)
    );
    let seen = drain(&mut store, &mut broker, &rx, cap);
    assert_eq!(
        seen,
        (n - cap as u32..n).collect::<Vec<_>>(),
        "the newest, in order"
    );
    assert!(store.stop(&broker, Duration::from_secs(10)));
}

#[test]
fn a_full_outbox_refusing_new_messages_keeps_the_oldest_on_disk() {
    let disk = SimDisk::default();
    let cap = 2 * WINDOW_MESSAGES;
    let (mut store, mut broker, rx) = bridged(&disk, outbox(cap, false));
    let n = (cap + 10) as u32;
    publish(&mut store, &mut broker, 0..n);
    assert_eq!(broker.bridge_counts(0).dropped, 10);
    let seen = drain(&mut store, &mut broker, &rx, cap);
    assert_eq!(seen, (0..cap as u32).collect::<Vec<_>>());
    assert!(store.stop(&broker, Duration::from_secs(10)));
}

#[test]
fn spilled_messages_are_written_in_batches_whatever_the_save_interval() {
    let disk = SimDisk::default();
    // Saves every 5 minutes: the spilled messages may not wait that long in memory.
    let (mut store, mut broker, rx) =
        bridged_with(&disk, outbox(10_000, true), false, COMPACT_OFTEN);
    let n = 4 * WINDOW_MESSAGES as u32;
    publish(&mut store, &mut broker, 0..n);
    let held = store.model.spilled_in_memory();
    assert!(
        held > 0 && held * 200 < SPILL_BATCH,
        "held only until a batch is worth writing ({held} messages)"
    );
    let seen = drain(&mut store, &mut broker, &rx, n as usize);
    assert_eq!(seen, (0..n).collect::<Vec<_>>());
    assert!(store.stop(&broker, Duration::from_secs(10)));
}

#[test]
fn a_power_cut_keeps_every_spilled_message_that_was_synced() {
    let disk = SimDisk::default();
    let n = 2 * WINDOW_MESSAGES as u32 + 3;
    {
        let (mut store, mut broker, rx) = bridged(&disk, outbox(10_000, true));
        publish(&mut store, &mut broker, 0..n);
        let gen = store.turn(&broker, Instant::now());
        while store.synced() < gen {
            rx.recv_timeout(Duration::from_secs(20))
                .expect("the writer syncs");
        }
        // The power goes: no clean stop.
        disk.power_cut(0);
    }
    disk.restart();
    let (mut store, mut broker, rx) = bridged(&disk, outbox(10_000, true));
    assert_eq!(broker.bridge_counts(0).queued, n as usize, "all restored");
    let seen = drain(&mut store, &mut broker, &rx, n as usize);
    assert_eq!(seen, (0..n).collect::<Vec<_>>());
    assert!(store.stop(&broker, Duration::from_secs(10)));
}

#[test]
fn a_compaction_copies_an_outbox_on_disk_in_one_run() {
    let disk = SimDisk::default();
    let (mut store, mut broker, _rx) = bridged(&disk, outbox(10_000, true));
    publish(&mut store, &mut broker, 0..3 * WINDOW_MESSAGES as u32);
    // Saved a message at a time: the first rewrite copies body by body and puts the
    // bodies side by side; the next copies them as one run, not one piece per message.
    let _ = store.model.compaction(&broker, 1, false);
    let plan = store.model.compaction(&broker, 2, false);
    let copies = plan
        .pieces
        .iter()
        .filter(|p| matches!(p, super::model::Piece::Copy { .. }))
        .count();
    assert_eq!(copies, 1, "{} pieces", plan.pieces.len());
}

#[test]
fn large_messages_fill_the_window_by_its_bytes() {
    let disk = SimDisk::default();
    let (mut store, mut broker, rx) = bridged(&disk, outbox(10_000, true));
    let size = 4096;
    publish_sized(&mut store, &mut broker, 0..200, size);
    let held = in_ram(&broker);
    assert!(
        held > 1 && held * size <= WINDOW_BYTES,
        "{held} messages of {size} B in RAM"
    );
    assert_eq!(broker.bridge_counts(0).queued, 200);
    let seen = drain(&mut store, &mut broker, &rx, 200);
    assert_eq!(seen, (0..200).collect::<Vec<_>>());
    assert!(store.stop(&broker, Duration::from_secs(10)));
}

#[test]
fn messages_the_disk_cannot_give_back_are_dropped_counted_and_the_outbox_goes_on() {
    let disk = SimDisk::default();
    // No compaction: it copies bodies, and while reads fail the writer retries it (as
    // it retries any write) before the outbox's reads behind it.
    let (mut store, mut broker, rx) = bridged_with(&disk, outbox(10_000, true), true, u64::MAX);
    let n = 3 * WINDOW_MESSAGES as u32;
    publish(&mut store, &mut broker, 0..n);
    // Every spilled message on disk first, none still in memory to be answered from
    // (the last save may still be on the writer thread).
    let gen = store.turn(&broker, Instant::now());
    while store.synced() < gen {
        rx.recv_timeout(Duration::from_secs(20))
            .expect("the writer syncs");
    }
    turn(&mut store, &mut broker);
    assert_eq!(store.model.spilled_in_memory(), 0, "all on disk");
    disk.set_failing_reads(true);
    // The window in RAM still goes; what is asked back from disk fails and is dropped.
    let seen = drain(&mut store, &mut broker, &rx, WINDOW_MESSAGES);
    assert_eq!(seen, (0..WINDOW_MESSAGES as u32).collect::<Vec<_>>());
    loop {
        turn(&mut store, &mut broker);
        if broker.bridge_counts(0).queued == 0 {
            break;
        }
        rx.recv_timeout(Duration::from_secs(20))
            .expect("the store answers every request");
    }
    let counts = broker.bridge_counts(0);
    assert_eq!(
        counts.dropped,
        u64::from(n) - WINDOW_MESSAGES as u64,
        "all counted"
    );
    // The disk works again: the outbox carries new messages.
    disk.set_failing_reads(false);
    publish(&mut store, &mut broker, n..n + 3);
    let seen = drain(&mut store, &mut broker, &rx, 3);
    assert_eq!(seen, vec![n, n + 1, n + 2]);
    assert!(store.stop(&broker, Duration::from_secs(10)));
}
