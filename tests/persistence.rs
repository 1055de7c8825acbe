//! Durable state across restarts of the real binary, driven by a real client library
//! (`rumqttc`): a clean stop, and `SIGKILL` under QoS 1 load in both durability modes.
//!
//! - **Clean stop** (`SIGTERM`): everything comes back: retained messages, an offline
//!   session's queue, and messages that were in flight to a connected subscriber (sent
//!   again, with their packet ids, after the restart); the retained will of a client
//!   connected at the stop is published and kept.
//! - **`SIGKILL` with `persistence_sync true`**: every QoS 1 PUBLISH the broker
//!   acknowledged is delivered after the restart; none twice.
//! - **`SIGKILL` with `autosave_interval 1`**: what is lost is at most about the last
//!   interval's messages; the test measures and prints the window.
//!
//! A process killed with `SIGKILL` loses what it had not handed to the kernel; power cuts
//! (which also lose what the kernel had not written) are simulated in the store's unit
//! tests (`src/store/tests.rs`).
//!
//! Waits are bounded; the end of a redelivered queue is proved by a marker message
//! published after the subscriber reconnects, which the broker queues behind it.

mod common;

use common::*;
use nix::sys::signal::Signal;
use rumqttc::{Event, LastWill, Outgoing, Packet, QoS};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A broker's configuration and store directory, removed on drop.
struct Site {
    dir: PathBuf,
    config: PathBuf,
}

impl Site {
    /// A site whose configuration turns persistence on, plus `extra` lines.
    fn new(tag: &str, extra: &str) -> Site {
        let dir = shared_temp_dir(&format!("persist-{tag}"));
        let config = dir.join("sol.conf");
        std::fs::write(
            &config,
            format!(
                "listener 0 127.0.0.1\nallow_anonymous true\npersistence true\n\
                 persistence_location {}\n{extra}",
                dir.join("data").display()
            ),
        )
        .expect("write the config");
        Site { dir, config }
    }

    /// Starts the broker; waits until it listens.
    fn start(&self) -> (SolProcess, SocketAddr) {
        let mut sol = SolProcess::start(&self.config);
        let addr = sol.tcp_addr();
        (sol, addr)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Subscribes a persistent session `id` to `filter` at QoS 1 and leaves, so that what
/// matches is queued for it.
fn park_subscriber(addr: SocketAddr, id: &str, filter: &str) {
    let sub = client(addr, id, false);
    sub.connack();
    sub.client
        .subscribe(filter, QoS::AtLeastOnce)
        .expect("subscribe");
    sub.suback();
    sub.client.disconnect().expect("disconnect");
    sub.ended();
}

/// Reconnects the persistent session `id` and collects what it is sent up to the marker
/// `load/end`, which another client publishes once it is connected. Payloads are
/// sequence numbers; returns them in arrival order, and whether the session was present.
fn drain_session(addr: SocketAddr, id: &str) -> (bool, Vec<u32>) {
    let sub = client(addr, id, false);
    let present = sub.connack();
    let marker = client(addr, "marker", true);
    marker.connack();
    marker
        .client
        .publish("load/end", QoS::AtLeastOnce, false, "end")
        .expect("publish");
    marker.puback();
    let mut got = Vec::new();
    loop {
        let p = sub.publish();
        if p.topic == "load/end" {
            return (present, got);
        }
        got.push(seq_of(&p.payload));
    }
}

fn seq_of(payload: &[u8]) -> u32 {
    std::str::from_utf8(payload)
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("a sequence number")
}

/// The retained value of `topic` as a new subscriber sees it.
fn retained(addr: SocketAddr, topic: &str) -> Option<Vec<u8>> {
    let c = client(addr, "reader", true);
    c.connack();
    c.client
        .subscribe(topic, QoS::AtLeastOnce)
        .expect("subscribe");
    c.suback();
    // A retained message comes before the SUBACK's effects end; a marker proves none
    // comes: publish a non-retained message to the same topic and see which arrives.
    c.client
        .publish(topic, QoS::AtLeastOnce, false, "marker")
        .expect("publish");
    let p = c.publish();
    (p.retain).then(|| p.payload.to_vec())
}

/// What a publisher learnt: the sequence numbers the broker acknowledged, with when.
#[derive(Default)]
struct Acked {
    /// `load/...` messages acknowledged, by sequence number.
    load: BTreeMap<u32, Instant>,
    /// The highest `state/last` value acknowledged (a retained message).
    state: Option<u32>,
}

/// Publishes QoS 1 messages `load/N` (payload `N`) as fast as the broker takes them, and
/// every tenth time the retained `state/last` (payload `N`), until `stop` says so after
/// an acknowledgement (it then kills the broker, say) or the connection fails.
fn publish_until(addr: SocketAddr, mut stop: impl FnMut(&Acked) -> bool) -> Acked {
    let publ = client_with(addr, "publisher", true, |o| {
        o.set_inflight(50);
    });
    publ.connack();
    let mut acked = Acked::default();
    // Packet ids in the order publishes were sent, then what each one carried.
    let mut sent: Vec<(bool, u32)> = Vec::new();
    let mut next_sent = 0usize;
    let mut by_pkid: HashMap<u16, (bool, u32)> = HashMap::new();
    let mut seq = 0u32;
    let mut stopped = false;
    loop {
        let mut sent_one = false;
        if !stopped {
            let state = seq % 10 == 9;
            let (topic, retain) = if state {
                ("state/last".to_string(), true)
            } else {
                (format!("load/{}", seq % 7), false)
            };
            if publ
                .client
                .try_publish(topic, QoS::AtLeastOnce, retain, seq.to_string())
                .is_ok()
            {
                sent.push((state, seq));
                seq += 1;
                sent_one = true;
            }
        }
        // Take what happened so far; wait for something once nothing more can be sent
        // (the client's queue is full, or the broker is gone).
        let event = if sent_one {
            match publ.events.try_recv() {
                Ok(e) => e,
                Err(_) => continue,
            }
        } else {
            match publ.events.recv_timeout(TIMEOUT) {
                Ok(e) => e,
                Err(_) if stopped => return acked,
                Err(e) => panic!("publisher stalled: {e}"),
            }
        };
        match event {
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                by_pkid.insert(pkid, sent[next_sent]);
                next_sent += 1;
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                let (state, n) = by_pkid.remove(&ack.pkid).expect("a PUBACK for a PUBLISH");
                if state {
                    acked.state = acked.state.max(Some(n));
                } else {
                    acked.load.insert(n, Instant::now());
                }
                if !stopped && stop(&acked) {
                    stopped = true;
                }
            }
            Ok(_) => {}
            Err(_) => return acked,
        }
    }
}

#[test]
fn a_clean_stop_keeps_retained_messages_queues_and_messages_in_flight() {
    let site = Site::new("clean", "autosave_interval 3600\n");
    let (mut sol, addr) = site.start();
    park_subscriber(addr, "offline", "load/#");
    // A connected subscriber that does not acknowledge: its messages stay in flight.
    let holder = client_with(addr, "holder", false, |o| {
        o.set_manual_acks(true);
    });
    holder.connack();
    holder
        .client
        .subscribe("load/#", QoS::AtLeastOnce)
        .expect("subscribe");
    holder.suback();
    // A device with a retained will, connected when the broker stops.
    let device = client_with(addr, "device", true, |o| {
        o.set_last_will(LastWill::new(
            "device/status",
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
    });
    device.connack();
    let publ = client(addr, "publisher", true);
    publ.connack();
    for n in 0..300u32 {
        publ.client
            .publish(
                format!("load/{}", n % 5),
                QoS::AtLeastOnce,
                false,
                n.to_string(),
            )
            .expect("publish");
        publ.puback();
    }
    for k in 0..20 {
        publ.client
            .publish(
                format!("state/{k}"),
                QoS::AtLeastOnce,
                true,
                format!("v{k}"),
            )
            .expect("publish");
        publ.puback();
    }
    // The holder got its window's worth, unacknowledged.
    let in_flight: Vec<u32> = (0..20).map(|_| seq_of(&holder.publish().payload)).collect();
    assert_eq!(in_flight, (0..20).collect::<Vec<_>>());

    assert!(sol.signal_and_wait(Signal::SIGTERM).success());
    let (_sol, addr) = site.start();
    let (present, got) = drain_session(addr, "offline");
    assert!(present, "the session survived the restart");
    assert_eq!(
        got,
        (0..300).collect::<Vec<_>>(),
        "the whole queue, in order"
    );
    for k in [0, 7, 19] {
        assert_eq!(
            retained(addr, &format!("state/{k}")),
            Some(format!("v{k}").into_bytes())
        );
    }
    assert_eq!(
        retained(addr, "device/status"),
        Some(b"offline".to_vec()),
        "the will of a client connected at the stop is published and kept"
    );
    // The holder's unacknowledged messages come again, marked as re-sent, then the rest.
    let holder = client(addr, "holder", false);
    assert!(holder.connack());
    let first = holder.publish();
    assert!(first.dup, "an in-flight message is re-sent with DUP set");
    assert_eq!(seq_of(&first.payload), 0);
    let mut seen = vec![0];
    while seen.len() < 300 {
        seen.push(seq_of(&holder.publish().payload));
    }
    assert_eq!(seen, (0..300).collect::<Vec<_>>());
}

#[test]
fn sigkill_with_persistence_sync_loses_nothing_acknowledged() {
    let site = Site::new("sync", "persistence_sync true\n");
    let (mut sol, addr) = site.start();
    park_subscriber(addr, "offline", "load/#");
    let mut killed_at = None;
    let acked = publish_until(addr, |acked| {
        if acked.load.len() >= 400 {
            killed_at = Some(Instant::now());
            sol.signal_and_wait(Signal::SIGKILL);
            true
        } else {
            false
        }
    });
    assert!(killed_at.is_some(), "the broker was killed under load");
    let (_sol, addr) = site.start();
    let (present, got) = drain_session(addr, "offline");
    assert!(present);
    let unique: BTreeSet<u32> = got.iter().copied().collect();
    assert_eq!(unique.len(), got.len(), "no message delivered twice");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "in order");
    let lost: Vec<u32> = acked
        .load
        .keys()
        .copied()
        .filter(|n| !unique.contains(n))
        .collect();
    assert!(lost.is_empty(), "acknowledged, then lost: {lost:?}");
    let state = retained(addr, "state/last").map(|p| seq_of(&p));
    assert!(
        state >= acked.state,
        "the retained value acknowledged last ({:?}) or a later one is kept, found {state:?}",
        acked.state
    );
}

#[test]
fn sigkill_in_interval_mode_loses_at_most_about_one_interval() {
    // Queues large enough for the whole run: what is missing is then the store's loss,
    // not messages the broker dropped at max_queued_messages.
    let site = Site::new(
        "interval",
        "autosave_interval 1\nmax_queued_messages 1000000\nmax_queued_bytes 1024M\n\
         max_queued_memory 1024M\n",
    );
    let (mut sol, addr) = site.start();
    park_subscriber(addr, "offline", "load/#");
    let started = Instant::now();
    let mut killed_at = None;
    let acked = publish_until(addr, |_| {
        if started.elapsed() >= Duration::from_millis(2500) {
            killed_at = Some(Instant::now());
            sol.signal_and_wait(Signal::SIGKILL);
            true
        } else {
            false
        }
    });
    let killed_at = killed_at.expect("killed under load");
    let (_sol, addr) = site.start();
    let (_, got) = drain_session(addr, "offline");
    let unique: BTreeSet<u32> = got.iter().copied().collect();
    assert_eq!(unique.len(), got.len(), "no message delivered twice");
    let lost: Vec<(u32, Instant)> = acked
        .load
        .iter()
        .map(|(n, at)| (*n, *at))
        .filter(|(n, _)| !unique.contains(n))
        .collect();
    let window = lost
        .iter()
        .map(|(_, at)| killed_at.duration_since(*at))
        .max()
        .unwrap_or_default();
    println!(
        "interval mode (autosave_interval 1), SIGKILL: {} of {} acknowledged messages lost, \
         acknowledged up to {} ms before the kill",
        lost.len(),
        acked.load.len(),
        window.as_millis()
    );
    assert!(acked.load.len() > 100, "the load ran");
    // One interval, plus the turn that saves and the write: generous for a loaded machine.
    assert!(
        window <= Duration::from_millis(1000 + 1500),
        "lost messages acknowledged {window:?} before the kill"
    );
}

/// `$SYS/broker/store/...` shows the store at work: the compaction that writes a fresh
/// file at start-up, then a save once a retained message changed.
#[test]
fn sys_topics_show_the_store_at_work() {
    let site = Site::new("sys", "");
    let server = start(|c| {
        c.persistence = sol::config::Persistence {
            enabled: true,
            location: Some(site.dir.join("data")),
            autosave_interval: 1,
            ..sol::config::Persistence::default()
        };
        c.limits.sys_interval = Duration::from_secs(1);
    });
    let mut compactions = sys_watcher(server.tcp(), "w1", "$SYS/broker/store/compactions");
    wait_for_sys(&mut compactions, "1");
    let mut syncs = sys_watcher(server.tcp(), "w2", "$SYS/broker/store/syncs");
    wait_for_sys(&mut syncs, "1");
    let mut errors = sys_watcher(server.tcp(), "w3", "$SYS/broker/store/errors");
    wait_for_sys(&mut errors, "0");
    let mut publisher = handshake(server.tcp(), "p");
    send(&mut publisher, &publish("kept", b"v", 1, Some(1), true));
    assert_eq!(read_packet(&mut publisher), ack(0x40, 1));
    wait_for_sys(&mut syncs, "2");
    assert!(
        std::fs::metadata(site.dir.join("data/sol.db"))
            .expect("the store file")
            .len()
            > 0
    );
}
