//! The store against a real broker core, on the simulated disk: restarts, net-change
//! batches, compaction, and power cuts at random points (in the manner of SQLite's crash
//! tests): after every cut, loading finds a consistent state that holds everything
//! synced before the cut and nothing corrupt.

use super::disk::sim::SimDisk;
use super::disk::Disk;
use super::load::{self, Loaded};
use super::model::{Model, Save};
use super::writer::{Job, Writer};
use super::*;
use crate::broker::{Broker, CloseReason, Effect, Limits};
use crate::codec::{
    self, encode_subscribe, property, Connect, FixedHeader, Packet, Properties, Property,
    ProtocolVersion, ProtocolVersion::V311, ProtocolVersion::V5, Publish, QoS, SubscriptionOptions,
};
use std::collections::BTreeMap;

/// Where the tests' store lives on the simulated disk.
fn store_path() -> PathBuf {
    PathBuf::from("/sim/sol.db")
}

/// A broker, a model, a writer on a simulated disk, driven packet by packet.
struct Rig {
    broker: Broker,
    now: Instant,
    model: Model,
    writer: Writer<SimDisk>,
    gen: u64,
    clock: u64,
    /// Open connections and their client ids.
    open: BTreeMap<usize, String>,
    /// A save compacts instead once the file is this long and half dead (as the store's
    /// `compact_min`); `u64::MAX`: saves only append.
    compact_min: u64,
}

impl Rig {
    fn new(disk: SimDisk) -> Rig {
        let now = Instant::now();
        let broker = Broker::new(
            Limits {
                track_durable: true,
                sys_interval: Duration::ZERO,
                max_inflight_messages: 3,
                ..Limits::default()
            },
            now,
        );
        let mut rig = Rig {
            broker,
            now,
            model: Model::new(),
            writer: Writer::for_test(disk, store_path()),
            gen: 0,
            clock: 0,
            open: BTreeMap::new(),
            compact_min: u64::MAX,
        };
        rig.compact(false);
        rig
    }

    /// Carries out the core's effects: durable records to the model, closes.
    fn effects(&mut self) {
        while let Some(e) = self.broker.poll_effect() {
            match e {
                Effect::Durable(d) => self.model.record(d, self.clock),
                Effect::Close { conn, reason } => {
                    self.open.remove(&conn);
                    self.broker.closed(conn, reason, self.now);
                }
                Effect::PauseRead(_) | Effect::ResumeRead(_) => {}
            }
        }
    }

    fn send(&mut self, conn: usize, packet: &Packet<'_>) {
        let bytes = packet.to_vec(version_of(conn)).expect("small packets");
        self.send_bytes(conn, &bytes);
    }

    fn send_bytes(&mut self, conn: usize, bytes: &[u8]) {
        let h = FixedHeader::parse(bytes).expect("valid").expect("whole");
        self.broker
            .receive(conn, &h, &bytes[h.header_len..], self.now);
        self.effects();
    }

    /// Everything the client on `conn` received, decoded.
    fn received(&mut self, conn: usize) -> Vec<Vec<u8>> {
        let mut bytes = Vec::new();
        while let Some(chunk) = self.broker.take_output(conn, self.now) {
            self.effects();
            bytes.extend(chunk);
        }
        let mut out = Vec::new();
        let mut rest = &bytes[..];
        while let Ok(Some(h)) = FixedHeader::parse(rest) {
            let (p, r) = rest.split_at(h.packet_len());
            out.push(p.to_vec());
            rest = r;
        }
        out
    }

    fn connect(&mut self, conn: usize, id: &str, clean: bool) {
        self.broker.accepted(conn, 0, self.now);
        // The MQTT 5.0 client keeps its session for ten minutes.
        let expiry = props(&[Property::U32(property::SESSION_EXPIRY_INTERVAL, 600)]);
        let version = version_of(conn);
        self.send(
            conn,
            &Packet::Connect(Connect {
                version,
                bridge: false,
                clean_session: clean,
                keep_alive: 60,
                properties: if version == V5 {
                    Properties::from_bytes(&expiry)
                } else {
                    Properties::NONE
                },
                client_id: id,
                will: None,
                username: Some("u"),
                password: None,
            }),
        );
        self.open.insert(conn, id.to_owned());
        self.received(conn);
    }

    fn subscribe(&mut self, conn: usize, filter: &str, qos: QoS) {
        let mut bytes = Vec::new();
        // The MQTT 5.0 client names its subscriptions and keeps retain flags (No Local
        // only where it is allowed: not on a shared subscription).
        let id = props(&[Property::VarInt(
            property::SUBSCRIPTION_IDENTIFIER,
            filter.len() as u32,
        )]);
        let options = SubscriptionOptions {
            no_local: !filter.starts_with('$'),
            retain_as_published: true,
            ..SubscriptionOptions::from(qos)
        };
        let version = version_of(conn);
        encode_subscribe(
            version,
            1,
            Properties::from_bytes(&id),
            &[(filter, options)],
            &mut bytes,
        )
        .expect("small");
        self.send_bytes(conn, &bytes);
    }

    fn publish(
        &mut self,
        conn: usize,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        id: u16,
    ) {
        self.send(
            conn,
            &Packet::Publish(Publish {
                dup: false,
                qos,
                retain,
                topic,
                packet_id: (qos != QoS::AtMostOnce).then_some(id),
                // The MQTT 5.0 client's messages expire in an hour.
                properties: Properties::from_bytes(&props(&[Property::U32(
                    property::MESSAGE_EXPIRY_INTERVAL,
                    3600,
                )])),
                payload,
            }),
        );
    }

    /// Reads what `conn` received and acknowledges the deliveries as a client would
    /// (only some, when `some` is set: an inflight window stays open).
    fn read_and_ack(&mut self, conn: usize, some: bool) {
        for p in self.received(conn) {
            let Ok(packet) = codec::decode(&p, version_of(conn)) else {
                continue;
            };
            match packet {
                Packet::Publish(publish) => {
                    if some && publish.payload.first().is_some_and(|b| b % 3 == 0) {
                        continue;
                    }
                    match (publish.qos, publish.packet_id) {
                        (QoS::AtLeastOnce, Some(id)) => self.send(conn, &Packet::puback(id)),
                        (QoS::ExactlyOnce, Some(id)) => self.send(conn, &Packet::pubrec(id)),
                        _ => {}
                    }
                }
                Packet::Pubrel(a) => self.send(conn, &Packet::pubcomp(a.packet_id)),
                Packet::Pubrec(a) => self.send(conn, &Packet::pubrel(a.packet_id)),
                _ => {}
            }
        }
    }

    fn drop_conn(&mut self, conn: usize) {
        if self.open.remove(&conn).is_some() {
            self.broker.closed(conn, CloseReason::PeerClosed, self.now);
            self.effects();
        }
    }

    /// A save as the store makes it ([`Model::save`]): the net changes as one batch, or a
    /// compacted file in its place, synced. False if the disk gave up.
    fn save(&mut self) -> bool {
        self.clock += 1;
        let Some(save) = self.model.save(&self.broker, self.clock, self.compact_min) else {
            return true;
        };
        self.gen += 1;
        let gen = self.gen;
        self.writer.handle(vec![match save {
            Save::Append { bytes, at } => Job::Append { bytes, at, gen },
            Save::Rewrite(plan) => Job::Compact {
                source: None,
                plan,
                gen,
            },
        }]);
        self.writer.status().synced() == self.gen
    }

    /// A compaction (`from_memory`: bodies encoded from memory, not copied).
    fn compact(&mut self, from_memory: bool) -> bool {
        self.clock += 1;
        let plan = self.model.compaction(&self.broker, self.clock, from_memory);
        self.gen += 1;
        self.writer.handle(vec![Job::Compact {
            source: None,
            plan,
            gen: self.gen,
        }]);
        self.writer.status().synced() == self.gen
    }
}

/// A broker-independent picture of durable state, to compare the core with a loaded file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Picture {
    /// topic -> (payload, QoS).
    retained: BTreeMap<String, (Vec<u8>, QoS)>,
    /// client id -> session.
    sessions: BTreeMap<String, SessionPicture>,
}

/// (topic, payload and whether it expires, or none past PUBREC; QoS; retain; packet id).
type EntryPicture = (Option<(String, Vec<u8>, bool)>, QoS, bool, u16);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct SessionPicture {
    username: Option<String>,
    expiry: u32,
    /// (filter, options byte, subscription identifier).
    subscriptions: Vec<(String, u8, u32)>,
    /// (topic and payload or none past PUBREC, QoS, retain, packet id).
    entries: Vec<EntryPicture>,
    pubrel_ids: Vec<u16>,
}

fn picture_of_broker(b: &Broker) -> Picture {
    let mut p = Picture::default();
    for (m, qos, _) in b.durable_retained() {
        p.retained
            .insert(m.topic().to_owned(), (m.payload().to_vec(), *qos));
    }
    for id in b.persistent_sessions() {
        let facts = b.session_facts(&id).expect("persistent");
        let mut subscriptions: Vec<(String, u8, u32)> = facts
            .subscriptions
            .iter()
            .map(|s| (s.filter.clone(), s.options, s.subscription_id))
            .collect();
        subscriptions.sort();
        let mut pubrel_ids = facts.pubrel_ids.clone();
        pubrel_ids.sort_unstable();
        let entries = b
            .session_entries(&id)
            .into_iter()
            .map(|e| {
                (
                    e.message.map(|m| {
                        let expires = m.expires().is_some();
                        (m.topic().to_owned(), m.payload().to_vec(), expires)
                    }),
                    e.qos,
                    e.retain,
                    e.packet_id.unwrap_or(0),
                )
            })
            .collect();
        p.sessions.insert(
            id,
            SessionPicture {
                username: facts.username,
                expiry: facts.expiry,
                subscriptions,
                entries,
                pubrel_ids,
            },
        );
    }
    p
}

fn picture_of_file(l: &Loaded) -> Picture {
    let mut p = Picture::default();
    for (topic, (body, qos, _)) in &l.retained {
        let (_, _, payload) = l.body(*body).expect("retained bodies are loaded");
        p.retained.insert(topic.clone(), (payload.to_vec(), *qos));
    }
    for s in l.sessions.values() {
        let mut subscriptions: Vec<(String, u8, u32)> = s
            .subscriptions
            .iter()
            .map(|(f, o)| {
                let id = s.subscription_ids.iter().find(|(g, _)| g == f);
                (f.clone(), *o, id.map_or(0, |(_, id)| *id))
            })
            .collect();
        subscriptions.sort();
        let mut pubrel_ids = s.pubrel_ids.clone();
        pubrel_ids.sort_unstable();
        let entries = s
            .in_order()
            .into_iter()
            .map(|e| {
                let body = (e.body != 0).then(|| {
                    let (t, _, pl) = l.body(e.body).expect("entry bodies are loaded");
                    let expires = l.bodies[&e.body].expires_ms != 0;
                    (t.to_owned(), pl.to_vec(), expires)
                });
                (
                    body,
                    e.qos,
                    e.flags & format::ENTRY_RETAIN != 0,
                    e.packet_id,
                )
            })
            .collect();
        p.sessions.insert(
            s.client_id.clone(),
            SessionPicture {
                username: s.username.clone(),
                expiry: s.expiry,
                subscriptions,
                entries,
                pubrel_ids,
            },
        );
    }
    p
}

fn load_sim(disk: &SimDisk) -> Loaded {
    let bytes = disk.read(&store_path()).expect("readable").expect("exists");
    load::load(bytes).expect("our own format")
}

/// A small deterministic random number generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The version connection `conn` of the rig speaks: connection 3 MQTT 5.0.
fn version_of(conn: usize) -> ProtocolVersion {
    if conn == 3 {
        V5
    } else {
        V311
    }
}

/// Encoded properties.
fn props(list: &[Property<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in list {
        p.write(&mut out).expect("small");
    }
    out
}

const TOPICS: [&str; 4] = ["home/a", "home/b", "home/c/d", "other"];
const FILTERS: [&str; 5] = ["home/#", "home/+", "other", "#", "$share/g/home/#"];

/// One random step of clients talking to the broker.
fn step(rig: &mut Rig, rng: &mut Rng) {
    let conn = rng.below(4) as usize;
    let qos = QoS::from_bits(rng.below(3) as u8).expect("0..=2");
    match rng.below(10) {
        0 => {
            if !rig.open.contains_key(&conn) {
                let clean = rng.below(4) == 0;
                rig.connect(conn, &format!("c{conn}"), clean);
            }
        }
        1 => {
            if rig.open.contains_key(&conn) {
                rig.subscribe(conn, FILTERS[rng.below(5) as usize], qos);
            }
        }
        2..=5 => {
            if rig.open.contains_key(&conn) {
                let topic = TOPICS[rng.below(4) as usize];
                let payload = [rng.below(256) as u8; 3];
                let retain = rng.below(3) == 0;
                let empty = retain && rng.below(5) == 0;
                let id = 1 + rng.below(500) as u16;
                let payload: &[u8] = if empty { &[] } else { &payload };
                rig.publish(conn, topic, payload, qos, retain, id);
                if qos == QoS::ExactlyOnce && rng.below(2) == 0 {
                    rig.send(conn, &Packet::pubrel(id));
                }
            }
        }
        6 | 7 => {
            if rig.open.contains_key(&conn) {
                rig.read_and_ack(conn, rng.below(2) == 0);
            }
        }
        8 => rig.drop_conn(conn),
        _ => {
            if rig.open.contains_key(&conn) {
                let payload = [rng.below(256) as u8; 2];
                rig.publish(conn, "home/a", &payload, QoS::AtMostOnce, false, 0);
            }
        }
    }
}

#[test]
fn a_saved_state_loads_back_whole() {
    let disk = SimDisk::default();
    let mut rig = Rig::new(disk.clone());
    let mut rng = Rng(7);
    for i in 0..400 {
        step(&mut rig, &mut rng);
        if i % 25 == 0 {
            assert!(rig.save());
            assert_eq!(
                picture_of_file(&load_sim(&disk)),
                picture_of_broker(&rig.broker)
            );
        }
    }
    assert!(rig.save());
    let loaded = load_sim(&disk);
    assert!(!loaded.report.damaged() && loaded.report.torn_bytes == 0);
    assert_eq!(
        loaded.report.dangling, 0,
        "every record refers to something"
    );
    assert_eq!(picture_of_file(&loaded), picture_of_broker(&rig.broker));
}

#[test]
fn compaction_keeps_the_state_and_drops_the_rest() {
    let disk = SimDisk::default();
    let mut rig = Rig::new(disk.clone());
    let mut rng = Rng(11);
    for i in 0..600 {
        step(&mut rig, &mut rng);
        if i % 10 == 0 {
            assert!(rig.save());
        }
    }
    assert!(rig.save());
    let before = load_sim(&disk);
    let grown = before.bytes.len();
    assert!(rig.compact(false));
    let after = load_sim(&disk);
    assert_eq!(picture_of_file(&after), picture_of_file(&before));
    assert_eq!(picture_of_file(&after), picture_of_broker(&rig.broker));
    assert!(
        after.bytes.len() < grown,
        "{} bytes after, {grown} before",
        after.bytes.len()
    );
    assert_eq!(rig.model.dead(), 0);
    // The model describes the new file: later saves still load back right.
    for _ in 0..100 {
        step(&mut rig, &mut rng);
    }
    assert!(rig.save());
    assert!(rig.compact(true), "a rewrite from memory too");
    assert_eq!(
        picture_of_file(&load_sim(&disk)),
        picture_of_broker(&rig.broker)
    );
}

#[test]
fn messages_queued_and_acknowledged_between_saves_are_never_written() {
    let disk = SimDisk::default();
    let mut rig = Rig::new(disk.clone());
    rig.connect(0, "sub", false);
    rig.subscribe(0, "t", QoS::AtLeastOnce);
    rig.received(0);
    rig.connect(1, "pub", true);
    assert!(rig.save());
    let written = disk.written();
    for i in 0..200u16 {
        rig.publish(1, "t", &[1; 100], QoS::AtLeastOnce, false, i + 1);
        rig.read_and_ack(0, false);
    }
    rig.received(1);
    assert!(rig.save());
    let batch = disk.written() - written;
    assert!(
        batch < 100,
        "200 messages of 100 B delivered and acknowledged between saves wrote {batch} bytes"
    );
}

#[test]
fn a_retained_topic_updated_many_times_between_saves_is_written_once() {
    let disk = SimDisk::default();
    let mut rig = Rig::new(disk.clone());
    rig.connect(0, "sensor", true);
    assert!(rig.save());
    let written = disk.written();
    for i in 0..100u8 {
        rig.publish(0, "home/t", &[i; 200], QoS::AtMostOnce, true, 0);
    }
    assert!(rig.save());
    let batch = disk.written() - written;
    assert!(batch < 400, "100 updates of one topic wrote {batch} bytes");
    assert_eq!(
        picture_of_file(&load_sim(&disk)).retained["home/t"].0,
        vec![99; 200]
    );
}

/// When a save finds the file half dead, it writes the compacted file instead of its batch
/// (which the compacted file holds anyway): fewer bytes, the same state.
#[test]
fn a_save_that_compacts_skips_its_batch() {
    let (plain, rewriting) = (SimDisk::default(), SimDisk::default());
    let mut a = Rig::new(plain.clone());
    let mut b = Rig::new(rewriting.clone());
    b.compact_min = 0;
    let (mut ra, mut rb) = (Rng(21), Rng(21));
    for i in 0..600 {
        step(&mut a, &mut ra);
        step(&mut b, &mut rb);
        if i % 10 == 0 {
            assert!(a.save());
            if a.model.wants_compaction(0) {
                assert!(a.compact(false));
            }
            assert!(b.save());
            assert_eq!(
                a.model.dead(),
                b.model.dead(),
                "both compacted at the same saves"
            );
            assert_eq!(
                picture_of_file(&load_sim(&rewriting)),
                picture_of_broker(&b.broker)
            );
        }
    }
    assert_eq!(picture_of_broker(&a.broker), picture_of_broker(&b.broker));
    let (wa, wb) = (a.writer.status().counters(), b.writer.status().counters());
    assert!(wb.compactions > 0);
    assert!(
        wb.bytes_written < wa.bytes_written,
        "{} bytes written with rewrites in place of batches, {} with both",
        wb.bytes_written,
        wa.bytes_written
    );
}

/// Power cuts at random points of random workloads: thousands of them. After each, the
/// file loads without damage, and what it holds is the state of a save at or after the
/// last one the writer reported synced: nothing synced is lost, nothing half-written
/// shows.
#[test]
fn power_cuts_at_random_points_lose_nothing_synced() {
    let mut rng = Rng(0x5eed_1234);
    let mut cuts = 0;
    for _ in 0..3000 {
        let disk = SimDisk::default();
        let mut rig = Rig::new(disk.clone());
        if rng.below(2) == 0 {
            rig.compact_min = 0; // saves that compact instead of appending, too
        }
        let mut saved: Vec<(u64, Picture)> = vec![(rig.gen, picture_of_broker(&rig.broker))];
        let mut synced = rig.gen;
        disk.cut_after(1 + rng.below(60), rng.next() as usize);
        for i in 0..300 {
            step(&mut rig, &mut rng);
            if i % 7 == 0 {
                let ok = if rng.below(8) == 0 {
                    rig.save() && rig.compact(rng.below(2) == 0)
                } else {
                    rig.save()
                };
                saved.push((rig.gen, picture_of_broker(&rig.broker)));
                if ok {
                    synced = rig.gen;
                }
            }
            if disk.is_dead() {
                break;
            }
        }
        if !disk.is_dead() {
            continue;
        }
        cuts += 1;
        disk.restart();
        let loaded = load_sim(&disk);
        assert!(
            !loaded.report.damaged(),
            "a power cut is not damage: {:?}",
            loaded.report
        );
        let found = picture_of_file(&loaded);
        assert!(
            saved
                .iter()
                .filter(|(gen, _)| *gen >= synced)
                .any(|(_, p)| *p == found),
            "after a cut, the file holds a state saved at or after batch {synced}"
        );
    }
    assert!(cuts > 2000, "only {cuts} cuts happened");
}

#[test]
fn a_damaged_file_is_moved_aside_and_its_intact_records_restored() {
    let disk = SimDisk::default();
    let mut rig = Rig::new(disk.clone());
    rig.connect(0, "keep", false);
    rig.subscribe(0, "a/#", QoS::AtLeastOnce);
    for i in 0..20u8 {
        rig.publish(0, &format!("r/{i}"), &[i; 50], QoS::AtMostOnce, true, 0);
    }
    assert!(rig.save());
    let mut bytes = disk.contents(&store_path()).expect("written");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    disk.set_contents(&store_path(), bytes);
    let (mut store, opened) =
        Store::open(StoreSettings::at(store_path()), disk.clone(), None).expect("opens");
    assert!(opened.loaded.report.damaged());
    let aside = opened.source.clone().expect("moved aside");
    assert!(aside.to_string_lossy().ends_with(".damaged-1"), "{aside:?}");
    let mut restored = Broker::new(Limits::default(), Instant::now());
    store.restore(opened, &mut restored, Instant::now());
    assert!(
        restored.retained_count() >= 18,
        "the records around the damage are kept: {}",
        restored.retained_count()
    );
    assert!(restored.persistent_sessions().contains(&"keep".to_string()));
    assert!(store.stop(&restored, Duration::from_secs(5)));
    assert!(disk.exists(&aside), "never deleted");
    let clean = load_sim(&disk);
    assert!(!clean.report.damaged(), "a clean file replaced it");
    assert_eq!(picture_of_file(&clean), picture_of_broker(&restored));
}

/// Random truncations and bit flips: the store always opens, keeps every record the
/// damage did not touch, moves a damaged file aside, and writes a clean file that holds
/// exactly what was restored.
#[test]
fn random_truncations_and_bit_flips_keep_every_intact_record() {
    // A file of 40 retained topics (a body and a retained-set record each) and a
    // session, written as several batches.
    let disk = SimDisk::default();
    let mut rig = Rig::new(disk.clone());
    rig.connect(0, "keep", false);
    rig.subscribe(0, "a/#", QoS::AtLeastOnce);
    for i in 0..40u8 {
        rig.publish(0, &format!("r/{i}"), &[i; 30], QoS::AtMostOnce, true, 0);
        if i % 10 == 9 {
            assert!(rig.save());
        }
    }
    let original = disk.contents(&store_path()).expect("written");
    let whole = picture_of_broker(&rig.broker);
    // The last record is the last batch's commit: damage there is a torn tail.
    let last_commit = original.len() - (format::RECORD_OVERHEAD + 1 + 8);
    let mut rng = Rng(0xc0ff_ee00);
    for round in 0..400 {
        let mut bytes = original.clone();
        let flips = if round % 4 == 0 {
            bytes.truncate(format::HEADER_LEN + rng.below((bytes.len() - 16) as u64) as usize);
            0
        } else {
            let flips = 1 + rng.below(3) as usize;
            for _ in 0..flips {
                let at = format::HEADER_LEN + rng.below((last_commit - 16) as u64) as usize;
                bytes[at] ^= 1 << rng.below(8);
            }
            flips
        };
        let disk = SimDisk::default();
        disk.set_contents(&store_path(), bytes);
        let (mut store, opened) =
            Store::open(StoreSettings::at(store_path()), disk.clone(), None).expect("opens");
        let damaged = opened.loaded.report.damaged();
        assert_eq!(
            damaged,
            flips > 0,
            "round {round}: {:?}",
            opened.loaded.report
        );
        let mut restored = Broker::new(
            Limits {
                track_durable: true,
                ..Limits::default()
            },
            Instant::now(),
        );
        store.restore(opened, &mut restored, Instant::now());
        let found = picture_of_broker(&restored);
        if flips > 0 {
            // One damaged record loses at most one retained topic (its body or its
            // retained-set record) or the session's record.
            assert!(
                found.retained.len() + flips >= whole.retained.len(),
                "round {round}: {} of {} retained kept after {flips} flip(s)",
                found.retained.len(),
                whole.retained.len()
            );
            assert!(
                disk.exists(&PathBuf::from("/sim/sol.db.damaged-1")),
                "moved aside"
            );
        }
        for (topic, value) in &found.retained {
            assert_eq!(
                whole.retained.get(topic),
                Some(value),
                "round {round}: nothing corrupt"
            );
        }
        assert!(store.stop(&restored, Duration::from_secs(5)));
        let clean = load_sim(&disk);
        assert!(!clean.report.damaged() && clean.report.torn_bytes == 0);
        assert_eq!(picture_of_file(&clean), found, "round {round}");
    }
}

/// Another program's file under the store's name (a Mosquitto database, say) is moved
/// aside untouched, and Sol starts empty rather than guess at its bytes.
#[test]
fn another_programs_file_is_moved_aside_not_read() {
    let disk = SimDisk::default();
    let mut foreign = b"\x00\xb5\x00mosquitto db".to_vec();
    let mut rng = Rng(99);
    foreign.extend((0..200_000).map(|_| rng.next() as u8));
    disk.set_contents(&store_path(), foreign.clone());
    let (store, opened) =
        Store::open(StoreSettings::at(store_path()), disk.clone(), None).expect("opens");
    assert!(opened.source.is_none(), "nothing is read from it");
    let aside = PathBuf::from("/sim/sol.db.damaged-1");
    assert_eq!(
        disk.contents(&aside),
        Some(foreign),
        "moved aside untouched"
    );
    let mut broker = Broker::new(Limits::default(), Instant::now());
    let mut store = store;
    store.restore(opened, &mut broker, Instant::now());
    assert!(store.stop(&broker, Duration::from_secs(5)));
    assert!(
        !load_sim(&disk).report.damaged(),
        "a fresh store replaced it"
    );
}

/// Two brokers on one store would corrupt it: the second is refused until the first
/// stops. On the real file system, which also maps the file to load it.
#[test]
fn a_second_broker_on_the_same_store_is_refused() {
    use super::disk::{FileBytes, RealDisk};
    let dir = std::env::temp_dir().join(format!("sol-store-lock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let settings = StoreSettings::at(dir.join("state").join("sol.db"));
    let now = Instant::now();
    let mut broker = Broker::new(
        Limits {
            track_durable: true,
            ..Limits::default()
        },
        now,
    );
    let (mut first, opened) = Store::open(settings.clone(), RealDisk, None).expect("opens");
    first.restore(opened, &mut broker, now);
    publish_retained(&mut first, &mut broker, "kept", now);
    let refused = Store::open(settings.clone(), RealDisk, None)
        .err()
        .expect("refused");
    assert!(
        refused.to_string().contains("in use by another process"),
        "{refused}"
    );
    assert!(first.stop(&broker, Duration::from_secs(10)));
    let (second, opened) = Store::open(settings, RealDisk, None).expect("free again");
    assert!(matches!(opened.loaded.bytes, FileBytes::Mapped { .. }));
    let mut restored = Broker::new(Limits::default(), now);
    let mut second = second;
    second.restore(opened, &mut restored, now);
    assert_eq!(restored.retained_count(), 1);
    assert!(second.stop(&restored, Duration::from_secs(10)));
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// A store on `disk` whose writer thread reports each status change on the returned
/// channel, and a broker restored from it.
fn threaded_store(disk: &SimDisk) -> (Store, Broker, std::sync::mpsc::Receiver<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let wake = Box::new(move || {
        let _ = tx.send(());
    });
    let (mut store, opened) =
        Store::open(StoreSettings::at(store_path()), disk.clone(), Some(wake)).expect("opens");
    let now = Instant::now();
    let mut broker = Broker::new(
        Limits {
            track_durable: true,
            sys_interval: Duration::ZERO,
            ..Limits::default()
        },
        now,
    );
    store.restore(opened, &mut broker, now);
    (store, broker, rx)
}

/// Blocks until `done` holds, woken by the writer thread's status changes.
fn wait_for(rx: &std::sync::mpsc::Receiver<()>, mut done: impl FnMut() -> bool) {
    while !done() {
        rx.recv_timeout(Duration::from_secs(20))
            .expect("the writer reports a status change");
    }
}

/// A client connects, publishes a retained message on `topic` and goes, in one reactor
/// turn at `now`; the changes go to the store.
fn publish_retained(store: &mut Store, broker: &mut Broker, topic: &str, now: Instant) {
    let m = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: true,
        topic,
        packet_id: None,
        properties: Properties::NONE,
        payload: b"v",
    })
    .to_vec(V311)
    .expect("small");
    broker.accepted(0, 0, now);
    let c = Packet::Connect(Connect {
        version: V311,
        bridge: false,
        clean_session: true,
        keep_alive: 60,
        properties: Properties::NONE,
        client_id: "p",
        will: None,
        username: None,
        password: None,
    })
    .to_vec(V311)
    .expect("small");
    for bytes in [c, m] {
        let h = FixedHeader::parse(&bytes).expect("valid").expect("whole");
        broker.receive(0, &h, &bytes[h.header_len..], now);
    }
    broker.closed(0, CloseReason::PeerClosed, now);
    while let Some(e) = broker.poll_effect() {
        if let Effect::Durable(d) = e {
            store.record(d);
        }
    }
    // The end of the reactor turn: the save interval starts.
    store.turn(broker, now);
}

#[test]
fn a_full_disk_postpones_saves_and_loses_nothing_once_it_has_room() {
    let disk = SimDisk::default();
    let (mut store, mut broker, rx) = threaded_store(&disk);
    let now = Instant::now();
    // Let the initial compaction finish, then fill the disk.
    wait_for(&rx, || store.synced() >= 1);
    disk.set_space(Some(10));
    publish_retained(&mut store, &mut broker, "a", now);
    store.turn(&broker, now + Duration::from_secs(301));
    wait_for(&rx, || store.stats().errors > 0);
    assert!(store.failing(), "the failure shows");
    assert_eq!(
        store.next_deadline(),
        None,
        "no save falls due while the disk fails: the loop sleeps until the writer wakes it"
    );
    // More changes while it fails: kept in memory, not handed to a failing disk.
    publish_retained(&mut store, &mut broker, "b", now);
    let gen = store.turn(&broker, now + Duration::from_secs(700));
    assert!(store.stats().pending > 0, "held back while the disk fails");
    disk.set_space(None);
    wait_for(&rx, || !store.failing());
    assert!(
        store.synced() >= gen - 1,
        "the failed save went through once there was room"
    );
    assert!(
        store.stop(&broker, Duration::from_secs(10)),
        "the rest is written at the stop"
    );
    let loaded = load_sim(&disk);
    assert!(!loaded.report.damaged());
    let found = picture_of_file(&loaded);
    assert!(found.retained.contains_key("a") && found.retained.contains_key("b"));
}

/// A stop waits for the disk only as long as it is told (Sol's is 30 s, under systemd's
/// 40 s stop timeout): a disk that never syncs again costs the last changes, reported as
/// lost, not a broker that never exits.
#[test]
fn a_stop_gives_up_on_a_disk_that_never_syncs() {
    let disk = SimDisk::default();
    let (mut store, mut broker, rx) = threaded_store(&disk);
    let now = Instant::now();
    wait_for(&rx, || store.synced() >= 1);
    disk.set_failing_sync(true);
    publish_retained(&mut store, &mut broker, "lost", now);
    store.turn(&broker, now);
    let started = Instant::now();
    assert!(
        !store.stop(&broker, Duration::from_millis(300)),
        "a stop whose changes never reached the disk says so"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the stop did not wait for the disk past its limit"
    );
    // Written but never synced: a power cut now takes it, as the log line says.
    disk.power_cut(0);
    disk.restart();
    assert!(!picture_of_file(&load_sim(&disk))
        .retained
        .contains_key("lost"));
}

#[test]
fn a_failing_sync_is_retried_and_reported() {
    let disk = SimDisk::default();
    let (mut store, mut broker, rx) = threaded_store(&disk);
    let now = Instant::now();
    wait_for(&rx, || store.synced() >= 1);
    disk.set_failing_sync(true);
    publish_retained(&mut store, &mut broker, "a", now);
    let gen = store.turn(&broker, now + Duration::from_secs(301));
    wait_for(&rx, || store.failing());
    assert!(
        store.synced() < gen,
        "not reported durable while syncs fail"
    );
    disk.set_failing_sync(false);
    wait_for(&rx, || store.synced() >= gen);
    assert!(!store.failing());
    assert!(store.stop(&broker, Duration::from_secs(10)));
    assert!(picture_of_file(&load_sim(&disk)).retained.contains_key("a"));
}

#[test]
fn a_retained_message_keeps_its_publisher_through_saves_and_compaction() {
    let disk = SimDisk::default();
    let mut rig = Rig::new(disk.clone());
    let limits = Limits {
        check_retain_source: true,
        sys_interval: Duration::ZERO,
        ..Limits::default()
    };
    rig.broker.reconfigure(limits, rig.now);
    rig.connect(0, "sensor", true);
    rig.publish(0, "home/t", b"21", QoS::AtMostOnce, true, 1);
    // The rig's clients log in as "u".
    let source = Some(crate::broker::RetainSource {
        client_id: "sensor".into(),
        username: Some("u".into()),
    });
    assert!(rig.save());
    assert_eq!(load_sim(&disk).retained["home/t"].2, source, "appended");
    assert!(rig.compact(true));
    assert_eq!(load_sim(&disk).retained["home/t"].2, source, "compacted");
    // A record without a source (what an older Sol wrote) loads as unchecked.
    rig.broker.reconfigure(Limits::default(), rig.now);
    rig.publish(0, "home/u", b"22", QoS::AtMostOnce, true, 2);
    assert!(rig.save());
    assert_eq!(load_sim(&disk).retained["home/u"].2, None);
}
