//! Micro-benchmarks of the MQTT codec: decoding and encoding single packets, and the
//! framing loop the reactor runs over a read buffer holding many packets.
//!
//! Every packet is built once, before measuring, with the codec's own encoders, and
//! checked to decode to what was encoded: a benchmark that silently measured an error
//! path would hide a regression instead of showing one. How to run, and how to compare
//! against a saved baseline: `benches/README.md`.

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sol::codec::{
    decode, decode_packet, encode_subscribe, Connect, FixedHeader, Packet, PerSubscriber,
    Properties, ProtocolVersion, Publish, PublishHeader, QoS, SharedParts, SubscriptionOptions,
    Will,
};

/// The version every benchmark packet is written and read in.
const V311: ProtocolVersion = ProtocolVersion::V311;
use std::hint::black_box;

/// Topic of the benchmark PUBLISH packets: five levels, as a sensor reading would have.
const TOPIC: &str = "site/3/device/42/temperature";
/// Packet identifier of the QoS 1 PUBLISH, its PUBACK and the SUBSCRIBE.
const PACKET_ID: u16 = 42;
/// Payload sizes measured: a small sensor reading, and a larger blob.
const PAYLOAD_SIZES: [usize; 2] = [64, 4096];
/// Filters of the benchmark SUBSCRIBE: literal, `+`, `#`, and a `$SYS` one.
const FILTERS: [(&str, QoS); 5] = [
    ("site/3/device/42/temperature", QoS::AtLeastOnce),
    ("site/+/device/+/humidity", QoS::AtMostOnce),
    ("site/3/alarms/#", QoS::AtLeastOnce),
    ("commands/device/42", QoS::ExactlyOnce),
    ("$SYS/broker/clients/connected", QoS::AtMostOnce),
];
/// Size of the framing benchmark's buffer: the reactor's read scratch is 64 KiB.
const FRAMING_BUFFER: usize = 64 * 1024;

/// The payload bytes of a benchmark PUBLISH (not all zero, so nothing special-cases them).
fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// A CONNECT as an IoT client sends it: client id, credentials and a retained will.
fn connect_packet() -> Packet<'static> {
    Packet::Connect(Connect {
        version: V311,
        bridge: false,
        clean_session: false,
        keep_alive: 60,
        properties: Properties::NONE,
        client_id: "sol-bench-device-0042",
        will: Some(Will {
            topic: "site/3/device/42/status",
            properties: Properties::NONE,
            payload: b"offline",
            qos: QoS::AtLeastOnce,
            retain: true,
        }),
        username: Some("device-0042"),
        password: Some(b"correct horse battery staple"),
    })
}

/// A PUBLISH of `payload` on [`TOPIC`] at `qos` (QoS 1 gets [`PACKET_ID`]).
fn publish_packet(qos: QoS, payload: &[u8]) -> Packet<'_> {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic: TOPIC,
        packet_id: (qos != QoS::AtMostOnce).then_some(PACKET_ID),
        properties: Properties::NONE,
        payload,
    })
}

/// The encoded SUBSCRIBE with [`FILTERS`].
fn subscribe_bytes() -> Vec<u8> {
    let mut out = Vec::new();
    encode_subscribe(V311, PACKET_ID, Properties::NONE, &FILTERS, &mut out)
        .expect("the benchmark filters are small");
    let decoded = decode(&out, V311);
    let requested = FILTERS.map(|(f, q)| (f, SubscriptionOptions::from(q)));
    assert!(
        matches!(decoded, Ok(Packet::Subscribe(s)) if s.filters().eq(requested)),
        "round trip: {decoded:?}"
    );
    out
}

/// Encodes `packet`, checking that it decodes back to itself.
fn encoded(packet: &Packet<'_>) -> Vec<u8> {
    let bytes = packet.to_vec(V311).expect("benchmark packets are small");
    assert_eq!(decode(&bytes, V311).as_ref(), Ok(packet), "round trip");
    bytes
}

fn qos_name(qos: QoS) -> &'static str {
    match qos {
        QoS::AtMostOnce => "qos0",
        QoS::AtLeastOnce => "qos1",
        QoS::ExactlyOnce => "qos2",
    }
}

/// `decode` of one whole packet (framing and decoding; the reactor frames once and calls
/// `decode_packet`, measured in `bench_framing`).
fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    let mut case = |name: BenchmarkId, bytes: Vec<u8>| {
        group.bench_function(name, |b| b.iter(|| decode(black_box(&bytes), V311)));
    };
    case(
        BenchmarkId::from_parameter("connect"),
        encoded(&connect_packet()),
    );
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
        for size in PAYLOAD_SIZES {
            let payload = payload(size);
            let bytes = encoded(&publish_packet(qos, &payload));
            case(
                BenchmarkId::new(format!("publish_{}", qos_name(qos)), size),
                bytes,
            );
        }
    }
    case(
        BenchmarkId::from_parameter("subscribe_5_filters"),
        subscribe_bytes(),
    );
    case(
        BenchmarkId::from_parameter("puback"),
        encoded(&Packet::puback(PACKET_ID)),
    );
    group.finish();
}

/// Encoding the same packets into a reused buffer, plus the per-subscriber PUBLISH fixed
/// header that fan-out writes instead of a whole packet.
fn bench_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    let mut out = vec![0u8; 8 * 1024];
    let mut case = |name: BenchmarkId, packet: Packet<'_>| {
        encoded(&packet); // checks the round trip
        group.bench_function(name, |b| {
            b.iter(|| black_box(&packet).encode(V311, black_box(&mut out)))
        });
    };
    case(BenchmarkId::from_parameter("connect"), connect_packet());
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
        for size in PAYLOAD_SIZES {
            let payload = payload(size);
            let name = BenchmarkId::new(format!("publish_{}", qos_name(qos)), size);
            case(name, publish_packet(qos, &payload));
        }
    }
    case(
        BenchmarkId::from_parameter("puback"),
        Packet::puback(PACKET_ID),
    );

    // SUBSCRIBE has no public constructor: clients build it with `encode_subscribe`,
    // which appends to a Vec (cleared here, so it does not reallocate).
    let mut sub = Vec::with_capacity(256);
    encode_subscribe(V311, PACKET_ID, Properties::NONE, &FILTERS, &mut sub)
        .expect("the benchmark filters are small");
    assert_eq!(sub, subscribe_bytes());
    group.bench_function("subscribe_5_filters", |b| {
        b.iter(|| {
            sub.clear();
            encode_subscribe(
                V311,
                black_box(PACKET_ID),
                Properties::NONE,
                black_box(&FILTERS),
                &mut sub,
            )
        })
    });

    // Fan-out: the broker writes only this header per subscriber (the shared topic and
    // payload follow through writev). The header of the 64 B QoS 1 PUBLISH above.
    let publish = encoded(&publish_packet(QoS::AtLeastOnce, &payload(64)));
    let shared = SharedParts {
        topic_field: 2 + TOPIC.len(),
        properties: 0,
        payload: 64,
    };
    let header = |id| {
        PublishHeader::new(
            V311,
            false,
            QoS::AtLeastOnce,
            false,
            Some(id),
            shared,
            &PerSubscriber::default(),
        )
    };
    let h = header(PACKET_ID).expect("small");
    assert_eq!(h.fixed_header(), &publish[..h.fixed_header().len()]);
    group.bench_function("publish_header", |b| {
        b.iter(|| header(black_box(PACKET_ID)))
    });
    group.finish();
}

/// The reactor's framing loop over one 64 KiB read of small packets (QoS 0 PUBLISH of
/// 64 B): `FixedHeader::parse`, slice the packet, step on; once without and once with
/// decoding each packet from the header framing parsed (`decode_packet`, as the broker
/// does). Reported per packet.
fn bench_framing(c: &mut Criterion) {
    let payload = payload(64);
    let packet = encoded(&publish_packet(QoS::AtMostOnce, &payload));
    let count = FRAMING_BUFFER / packet.len();
    let buffer = packet.repeat(count);

    /// Frames every packet in `buf`, handing each to `each`; returns how many there were.
    fn frame_all(buf: &[u8], mut each: impl FnMut(&FixedHeader, &[u8])) -> usize {
        let mut rest = buf;
        let mut n = 0;
        while let Ok(Some(header)) = FixedHeader::parse(rest) {
            let len = header.packet_len();
            if rest.len() < len {
                break;
            }
            each(&header, &rest[..len]);
            rest = &rest[len..];
            n += 1;
        }
        n
    }
    assert_eq!(frame_all(&buffer, |_, _| {}), count, "every packet frames");

    let mut group = c.benchmark_group("framing");
    group.throughput(Throughput::Elements(count as u64));
    group.bench_function(BenchmarkId::new("fixed_header", "64KiB_publish_64B"), |b| {
        b.iter(|| {
            frame_all(black_box(&buffer), |_, frame| {
                black_box(frame);
            })
        })
    });
    group.bench_function(
        BenchmarkId::new("fixed_header_and_decode", "64KiB_publish_64B"),
        |b| {
            b.iter(|| {
                frame_all(black_box(&buffer), |header, frame| {
                    let body = &frame[header.header_len..];
                    let _ = black_box(decode_packet(header, body, V311));
                })
            })
        },
    );
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = bench_decode, bench_encode, bench_framing
}
criterion_main!(benches);
