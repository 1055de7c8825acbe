//! The ACL file over real sockets: PUBLISH to a topic the client may not write is
//! acknowledged and dropped [MQTT-3.3.5-2], SUBSCRIBE to a filter that can match nothing
//! readable gets 0x80 [MQTT-3.9.3-2], every delivery (live or retained) is checked, and
//! SIGHUP replaces the file, keeping the old one when the new one is bad.

mod common;

use common::*;
use sol::auth::password::{hash_password, PasswordFile};
use std::net::{SocketAddr, TcpStream};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

/// Anonymous clients read `public/#`; alice reads and writes `home/#` except
/// `home/secret/#` and writes `public/#`; bob writes `home/#`; every client has its own
/// `clients/<client id>/#`.
const ACL: &str = "\
topic read public/#

user alice
topic readwrite home/#
topic deny home/secret/#
topic readwrite public/#

user bob
topic write home/#

pattern readwrite clients/%c/#
";

/// A fresh directory with a password file (alice: one, bob: two), `acl` and a config
/// naming both.
fn setup(tag: &str, acl: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("sol-acl-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut users = PasswordFile::default();
    let iterations = NonZeroU32::new(1).expect("non-zero");
    for (user, password) in [("alice", b"one"), ("bob", b"two")] {
        users.set(user, hash_password(password, iterations).expect("hash"));
    }
    std::fs::write(dir.join("passwd"), users.to_string()).expect("password file");
    std::fs::write(dir.join("acl"), acl).expect("acl file");
    let conf = dir.join("sol.conf");
    std::fs::write(
        &conf,
        format!(
            "listener 0 127.0.0.1\nallow_anonymous true\npassword_file {d}/passwd\n\
             acl_file {d}/acl\n",
            d = dir.display()
        ),
    )
    .expect("config");
    (dir, conf)
}

fn start_conf(conf: &Path) -> Running {
    start_with(sol::config::Config::load(conf).expect("valid config"))
}

/// A client logged in as `user`.
fn user(addr: SocketAddr, client_id: &str, user: &str, password: &str) -> TcpStream {
    let mut s = tcp(addr);
    send(&mut s, &login(client_id, user, password));
    assert_eq!(read_packet(&mut s), CONNACK_OK);
    s
}

/// SUBSCRIBE to `filter` at QoS 0; the granted QoS or 0x80.
fn sub(s: &mut TcpStream, id: u16, filter: &str) -> u8 {
    send(s, &subscribe(id, filter, 0));
    let ack = read_packet(s);
    assert_eq!(ack[..4], suback(id, 0)[..4], "SUBACK {id}");
    ack[4]
}

/// PUBLISH at QoS 1, waiting for its PUBACK (sent whether or not the ACL let it through).
fn pub1(s: &mut TcpStream, id: u16, topic: &str, payload: &[u8], retain: bool) {
    send(s, &publish(topic, payload, 1, Some(id), retain));
    assert_eq!(read_packet(s), ack(0x40, id), "PUBACK {id} for {topic}");
}

/// The topic of the next PUBLISH `s` receives.
fn next_topic(s: &mut TcpStream) -> String {
    parse_publish(&read_packet(s)).topic
}

#[test]
fn acl_file_decides_what_each_client_publishes_and_receives() {
    let (dir, conf) = setup("rules", ACL);
    let server = start_conf(&conf);
    let addr = server.tcp();
    let mut bob = user(addr, "b1", "bob", "two");
    // Retained before anyone subscribes: one readable by alice, one behind her deny rule.
    pub1(&mut bob, 1, "home/secret/code", b"1234", true);
    pub1(&mut bob, 2, "home/lights", b"on", true);
    // bob may not write public/#: acknowledged, dropped, never retained.
    pub1(&mut bob, 3, "public/forged", b"x", true);

    let mut alice = user(addr, "a1", "alice", "one");
    assert_eq!(sub(&mut alice, 1, "home/#"), 0);
    // The retained deliveries are checked too: only home/lights arrives.
    assert_eq!(next_topic(&mut alice), "home/lights");
    assert_eq!(sub(&mut alice, 2, "secret/#"), 0x80, "nothing readable");
    assert_eq!(sub(&mut alice, 3, "clients/a1/#"), 0, "the %c pattern");
    assert_eq!(sub(&mut alice, 4, "clients/b1/#"), 0x80, "another client's");
    // The SUBACK above went out after any retained message of `home/#`: none was held back.
    // Live: the denied topic first; if it were delivered it would arrive first.
    pub1(&mut bob, 4, "home/secret/new", b"2", false);
    pub1(&mut bob, 5, "home/door", b"open", false);
    assert_eq!(next_topic(&mut alice), "home/door");

    let mut anon = handshake(addr, "anon");
    assert_eq!(sub(&mut anon, 1, "home/#"), 0x80);
    assert_eq!(sub(&mut anon, 2, "#"), 0, "public/# is readable under #");
    // No retained public/forged (bob's publish was dropped). Anonymous may not write:
    // dropped, and alice's later publish is the first thing anon receives.
    pub1(&mut anon, 3, "public/anon", b"x", false);
    pub1(&mut alice, 5, "public/news", b"hello", false);
    assert_eq!(next_topic(&mut anon), "public/news");
    // The `#` subscription does not leak home topics to anon either.
    pub1(&mut bob, 6, "home/kitchen", b"warm", false);
    assert_eq!(next_topic(&mut alice), "home/kitchen");
    pub1(&mut alice, 6, "public/after", b"", false);
    assert_eq!(next_topic(&mut anon), "public/after");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sighup_reloads_the_acl_file_and_keeps_it_when_the_new_one_is_bad() {
    let (dir, conf) = setup("reload", ACL);
    let server = start_conf(&conf);
    let addr = server.tcp();
    let mut alice = user(addr, "a1", "alice", "one");
    let mut anon = handshake(addr, "anon");
    assert_eq!(sub(&mut anon, 1, "public/#"), 0);
    pub1(&mut alice, 1, "public/1", b"", false);
    assert_eq!(next_topic(&mut anon), "public/1");
    // The reload is carried out when the reactor wakes, before it reads the PINGREQ sent
    // after it: one round trip orders the two.
    let reload = |s: &mut TcpStream| {
        server.handle.reload();
        send(s, &PINGREQ);
        assert_eq!(read_packet(s), PINGRESP);
    };

    // New file: anonymous clients read and write `news/#` instead of reading `public/#`.
    let acl = ACL.replacen("topic read public/#\n", "topic readwrite news/#\n", 1);
    std::fs::write(dir.join("acl"), &acl).expect("new acl");
    reload(&mut anon);
    // The existing subscription is checked at each delivery against the new file.
    pub1(&mut alice, 2, "public/2", b"", false);
    assert_eq!(sub(&mut anon, 2, "public/#"), 0x80, "no longer readable");
    assert_eq!(sub(&mut anon, 3, "news/#"), 0);
    let mut writer = handshake(addr, "writer");
    pub1(&mut writer, 1, "news/1", b"", false);
    assert_eq!(
        next_topic(&mut anon),
        "news/1",
        "public/2 was not delivered"
    );
    // The clients stay connected through the reload.
    send(&mut alice, &PINGREQ);
    assert_eq!(read_packet(&mut alice), PINGRESP);

    // A bad file: logged, and the rules in force stay.
    std::fs::write(dir.join("acl"), "topic sometimes news/#\n").expect("bad acl");
    reload(&mut anon);
    assert_eq!(sub(&mut anon, 5, "public/#"), 0x80, "still the second file");
    pub1(&mut writer, 2, "news/2", b"", false);
    assert_eq!(next_topic(&mut anon), "news/2");
    let _ = std::fs::remove_dir_all(&dir);
}
