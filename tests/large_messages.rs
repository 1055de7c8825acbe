//! Large messages with the default caps, end to end through a real client (`rumqttc`):
//! 10 MiB at QoS 0, 1 and 2, retained, queued for an offline persistent session; several
//! large publishers at once beyond the large-message allowance (the later ones wait, none
//! fails); a packet over `max_packet_size` logged with its size; and the broker's peak
//! RSS bounded by the allowance `sol check` prints, not by what was sent through it.

mod common;

use common::*;
use rumqttc::{MqttOptions, QoS};
use std::time::Instant;

/// A camera snapshot or a firmware image.
const TEN_MIB: usize = 10 << 20;

/// `len` bytes that differ from message to message.
fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// rumqttc's own packet cap (10 KiB by default) raised for both directions.
fn big_packets(options: &mut MqttOptions) {
    options.set_max_packet_size(16 << 20, 16 << 20);
}

/// `sol` started as a process with `config` (a listener on a free port is added), its
/// TCP address, and the directory of its files (removed by the caller).
fn sol_process(tag: &str, config: &str) -> (SolProcess, std::net::SocketAddr, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("sol-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("sol.conf");
    std::fs::write(
        &file,
        format!("listener 0 127.0.0.1\nallow_anonymous true\n{config}"),
    )
    .expect("config");
    let mut sol = SolProcess::start(&file);
    let addr = sol.tcp_addr();
    (sol, addr, dir)
}

/// A connected client of `addr` allowed large packets.
fn big_client_of(addr: std::net::SocketAddr, id: &str, clean: bool) -> TestClient {
    let c = client_with(addr, id, clean, big_packets);
    c.connack();
    c
}

/// A connected client allowed large packets.
fn big_client(server: &Running, id: &str, clean: bool) -> TestClient {
    big_client_of(server.tcp(), id, clean)
}

/// A client of `addr` subscribed to `filter` at `qos`.
fn subscriber(
    addr: std::net::SocketAddr,
    id: &str,
    clean: bool,
    filter: &str,
    qos: QoS,
) -> TestClient {
    let c = big_client_of(addr, id, clean);
    c.client.subscribe(filter, qos).expect("subscribe");
    c.suback();
    c
}

/// `client` publishes `body` on `topic` at QoS 1 and has it acknowledged.
fn publish_q1(client: &TestClient, topic: &str, retain: bool, body: Vec<u8>) {
    client
        .client
        .publish(topic, QoS::AtLeastOnce, retain, body)
        .expect("publish");
    client.puback();
}

/// Connected publishers `camera0..n`.
fn cameras(addr: std::net::SocketAddr, n: usize) -> Vec<TestClient> {
    (0..n)
        .map(|i| big_client_of(addr, &format!("camera{i}"), true))
        .collect()
}

/// Camera `i` publishes `bodies[i]` on `cam/i` at QoS 1.
fn publish_all(cameras: &[TestClient], bodies: &[Vec<u8>]) {
    for (i, camera) in cameras.iter().enumerate() {
        camera
            .client
            .publish(
                format!("cam/{i}"),
                QoS::AtLeastOnce,
                false,
                bodies[i].clone(),
            )
            .expect("publish");
    }
}

#[test]
fn ten_mib_passes_at_every_qos_with_the_default_caps() {
    let server = start(|_| {});
    let sub = subscriber(server.tcp(), "viewer", true, "cam/#", QoS::ExactlyOnce);
    let camera = big_client(&server, "camera", true);
    for (seed, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let body = payload(TEN_MIB, seed as u8);
        camera
            .client
            .publish("cam/front", qos, false, body.clone())
            .expect("publish");
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => camera.puback(),
            QoS::ExactlyOnce => camera.pubcomp(),
        }
        let got = sub.publish();
        assert_eq!((got.topic.as_str(), got.qos), ("cam/front", qos));
        assert!(got.payload == body, "10 MiB at {qos:?} arrives intact");
    }
}

#[test]
fn a_retained_ten_mib_message_is_kept_and_sent_to_new_subscribers() {
    let server = start(|_| {});
    let camera = big_client(&server, "camera", true);
    let body = payload(TEN_MIB, 7);
    publish_q1(&camera, "cam/snapshot", true, body.clone());
    let late = subscriber(server.tcp(), "late", true, "cam/snapshot", QoS::AtLeastOnce);
    let got = late.publish();
    assert!(got.retain, "sent as retained");
    assert!(got.payload == body);
}

#[test]
fn a_persistent_session_queues_a_ten_mib_message_while_offline() {
    let server = start(|_| {});
    let sub = subscriber(
        server.tcp(),
        "offline-viewer",
        false,
        "fw/image",
        QoS::AtLeastOnce,
    );
    sub.client.disconnect().expect("disconnect");
    sub.ended();

    let publisher = big_client(&server, "updater", true);
    let body = payload(TEN_MIB, 3);
    publish_q1(&publisher, "fw/image", false, body.clone());
    // Larger than max_queued_bytes (1 MiB): it may still enter the empty queue.
    let back = client_with(server.tcp(), "offline-viewer", false, big_packets);
    assert!(back.connack(), "session present");
    let got = back.publish();
    assert_eq!(got.topic, "fw/image");
    assert!(got.payload == body);
}

#[test]
fn large_publishers_at_once_all_get_through() {
    // Four 4 MiB messages at once against a 12 MiB allowance: whichever does not fit
    // waits until the subscriber has taken an earlier one.
    let server = start(|_| {});
    let sub = subscriber(server.tcp(), "viewer", true, "cam/+", QoS::AtLeastOnce);
    let cameras = cameras(server.tcp(), 4);
    let bodies: Vec<Vec<u8>> = (0..4).map(|i| payload(4 << 20, i as u8)).collect();
    publish_all(&cameras, &bodies);
    let mut got = Vec::new();
    for _ in 0..4 {
        let p = sub.publish();
        let i: usize = p.topic["cam/".len()..].parse().expect("cam/N");
        assert!(p.payload == bodies[i], "cam/{i} intact");
        got.push(i);
    }
    got.sort_unstable();
    assert_eq!(got, [0, 1, 2, 3]);
    for camera in &cameras {
        camera.puback();
    }
}

#[test]
fn a_large_publisher_waits_while_the_allowance_is_held_then_completes() {
    let (mut sol, addr, dir) = sol_process("wait", "large_message_memory 8M\nlog_type all\n");
    // A subscriber that holds its QoS 1 messages unacknowledged: their bodies stay in
    // its inflight window, so the allowance stays in use.
    let mut viewer = handshake(addr, "viewer");
    send(&mut viewer, &subscribe(1, "cam/+", 1));
    assert_eq!(read_packet(&mut viewer), suback(1, 1));
    let cameras = cameras(addr, 3);
    let bodies: Vec<Vec<u8>> = (0..3).map(|i| payload(3 << 20, i as u8)).collect();
    publish_all(&cameras, &bodies);
    // Two 3 MiB bodies fit in 8 MiB, the third does not: it waits, it is not refused.
    let first = parse_publish(&read_packet(&mut viewer));
    let second = parse_publish(&read_packet(&mut viewer));
    sol.expect_line("waits for the large-message allowance");
    // Acknowledging the first frees its body: the third is read and delivered.
    send(&mut viewer, &ack(0x40, first.packet_id.expect("QoS 1")));
    let third = parse_publish(&read_packet(&mut viewer));
    let mut got = [first, second, third];
    got.sort_by(|a, b| a.topic.cmp(&b.topic));
    for (i, p) in got.iter().enumerate() {
        assert_eq!(p.topic, format!("cam/{i}"));
        assert!(p.payload == bodies[i], "cam/{i} intact");
    }
    for camera in &cameras {
        camera.puback();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Peak resident memory of process `pid` (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib * 1024
}

#[test]
fn peak_rss_is_bounded_by_the_allowance_not_by_what_passes() {
    let (sol, addr, dir) = sol_process("rss", "large_message_memory 8M\n");
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_sol"))
        .args(["check", "-c"])
        .arg(dir.join("sol.conf"))
        .output()
        .expect("sol check");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        report.contains("large messages") && report.contains("8.0 MiB"),
        "sol check prints the allowance:\n{report}"
    );
    let pid = sol.child.id();
    let before = peak_rss(pid);
    let sub = subscriber(addr, "viewer", true, "cam/+", QoS::AtLeastOnce);
    // 48 MiB through the broker, 3 MiB at a time from four publishers at once.
    let cameras = cameras(addr, 4);
    let started = Instant::now();
    let per_camera = 4;
    for round in 0..per_camera {
        for (i, camera) in cameras.iter().enumerate() {
            camera
                .client
                .publish(
                    format!("cam/{i}"),
                    QoS::AtLeastOnce,
                    false,
                    payload(3 << 20, round as u8),
                )
                .expect("publish");
        }
    }
    for _ in 0..per_camera * cameras.len() {
        let p = sub.publish();
        assert_eq!(p.payload.len(), 3 << 20);
    }
    let grown = peak_rss(pid).saturating_sub(before);
    eprintln!("peak RSS grew {grown} bytes");
    assert!(
        grown < (8 << 20) + (6 << 20),
        "peak RSS grew {grown} bytes passing {} MiB with an 8 MiB allowance ({:?})",
        per_camera * cameras.len() * 3,
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_packet_over_max_packet_size_is_logged_with_its_size_and_the_limit() {
    let (mut sol, addr, dir) = sol_process("toolarge", "max_packet_size 100000\n");
    let mut raw = handshake(addr, "big");
    send(
        &mut raw,
        &publish("t", &payload(200_000, 1), 0, None, false),
    );
    expect_closed(&mut raw);
    let line = sol.expect_line("larger than max_packet_size");
    assert!(
        line.contains("client big: packet of 200") && line.contains("max_packet_size 100000"),
        "{line}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_retained_snapshot_as_large_as_the_allowance_can_be_replaced() {
    // The default allowance (12 MiB) holds one 10 MiB body; its replacement needs 10 MiB
    // more. After max_publisher_stall the old retained body is dropped for it.
    let (mut sol, addr, dir) = sol_process("replace", "max_publisher_stall 0.2\n");
    let camera = big_client_of(addr, "camera", true);
    for seed in [1, 2] {
        publish_q1(&camera, "cam/snapshot", true, payload(TEN_MIB, seed));
    }
    sol.expect_line("1 large retained message(s)");
    let late = subscriber(addr, "late", true, "cam/snapshot", QoS::AtLeastOnce);
    let got = late.publish();
    assert!(
        got.retain && got.payload == payload(TEN_MIB, 2),
        "the new snapshot"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_waiting_publisher_gets_room_from_offline_queues_after_max_publisher_stall() {
    let (mut sol, addr, dir) = sol_process(
        "reclaim",
        "large_message_memory 8M\nmax_publisher_stall 0.2\n",
    );
    // An offline persistent session that will hold what it is sent.
    let away = subscriber(addr, "away", false, "fw/#", QoS::AtLeastOnce);
    away.client.disconnect().expect("disconnect");
    away.ended();
    let updater = big_client_of(addr, "updater", true);
    for seed in 0..3 {
        // The third does not fit beside the two queued ones: it waits, then the oldest
        // queued one is dropped for it.
        publish_q1(&updater, "fw/image", false, payload(3 << 20, seed));
    }
    sol.expect_line("dropped 1 large message(s) queued for offline sessions");
    let back = client_with(addr, "away", false, big_packets);
    assert!(back.connack(), "session present");
    let seeds: Vec<u8> = (0..2).map(|_| back.publish().payload[0]).collect();
    assert_eq!(
        seeds,
        [payload(1, 1)[0], payload(1, 2)[0]],
        "the newest two are kept"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
