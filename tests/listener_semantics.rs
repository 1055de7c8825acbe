//! Mosquitto's per-listener and per-client keys on the real binary, with real clients
//! (`mosquitto_pub` and `mosquitto_sub` in MQTT 3.1.1 and 5.0) and hand-written packets
//! as the oracle: `mount_point`, `use_username_as_clientid`, `clientid_prefixes`,
//! `check_retain_source` (across an ACL reload), `upgrade_outgoing_qos` and
//! `max_inflight_bytes`.
//!
//! That something was *not* sent is proved by order, never by waiting: the broker writes
//! a connection's packets in order, so a PINGRESP (or a later message) read before the
//! packet in question means it was held back or dropped.

mod common;

use common::*;
use nix::sys::signal::Signal;
use sol::auth::password::{hash_password, PasswordFile};
use std::net::{SocketAddr, TcpStream};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::{Command, Output};

/// A running `sol -c` with its configuration directory (removed on drop) and the
/// address of each listener, in file order.
struct Site {
    dir: PathBuf,
    sol: SolProcess,
    addrs: Vec<SocketAddr>,
}

impl Site {
    /// Starts the binary on `config` (with `{dir}` replaced by the site's directory)
    /// and waits for its `listeners` listeners.
    fn start(tag: &str, config: &str, listeners: usize) -> Site {
        Site::start_with(tag, config, &[], listeners)
    }

    /// As [`Site::start`], with `files` (name, content) written in the directory first.
    fn start_with(tag: &str, config: &str, files: &[(&str, String)], listeners: usize) -> Site {
        let dir = std::env::temp_dir().join(format!("sol-listener-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        for (name, content) in files {
            std::fs::write(dir.join(name), content).expect("file");
        }
        let path = dir.join("sol.conf");
        let text = config.replace("{dir}", &dir.display().to_string());
        std::fs::write(&path, text).expect("config");
        let mut sol = SolProcess::start(&path);
        let addrs = (0..listeners).map(|_| sol.tcp_addr()).collect();
        Site { dir, sol, addrs }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `mosquitto_pub` or `mosquitto_sub` against `addr` with `args`.
fn mosquitto(tool: &str, addr: SocketAddr, args: &[&str]) -> Output {
    Command::new(tool)
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {tool} (Debian's mosquitto-clients): {e}"))
}

/// Publishes with `mosquitto_pub`, which must succeed.
fn pub_ok(addr: SocketAddr, args: &[&str]) {
    let out = mosquitto("mosquitto_pub", addr, args);
    assert!(out.status.success(), "mosquitto_pub {args:?}: {out:?}");
}

/// The lines `mosquitto_sub -v -C count` printed (bounded by its own `-W` timeout).
fn sub_lines(addr: SocketAddr, count: usize, args: &[&str]) -> Vec<String> {
    let count = count.to_string();
    let mut all = vec!["-v", "-C", &count, "-W", "10"];
    all.extend_from_slice(args);
    let out = mosquitto("mosquitto_sub", addr, &all);
    assert!(out.status.success(), "mosquitto_sub {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A connected raw client subscribed to `filter` at `qos`.
fn subscriber(addr: SocketAddr, id: &str, filter: &str, qos: u8) -> TcpStream {
    let mut s = handshake(addr, id);
    send(&mut s, &subscribe(1, filter, qos));
    assert_eq!(read_packet(&mut s), suback(1, qos));
    s
}

/// The next packet on `s`, which must be a PUBLISH.
fn next_publish(s: &mut TcpStream) -> Received {
    parse_publish(&read_packet(s))
}

/// Topic and payload of the next PUBLISH on `s`.
fn next_message(s: &mut TcpStream) -> (String, String) {
    let p = next_publish(s);
    (p.topic, String::from_utf8_lossy(&p.payload).into_owned())
}

fn message(topic: &str, payload: &str) -> (String, String) {
    (topic.to_string(), payload.to_string())
}

/// Checks that nothing is pending for `s`: a PINGREQ is answered first.
fn nothing_pending(s: &mut TcpStream) {
    send(s, &PINGREQ);
    assert_eq!(read_packet(s), PINGRESP, "a packet was pending");
}

#[test]
fn a_mount_point_isolates_its_listener_for_mqtt_3_1_1_and_5_clients() {
    let site = Site::start(
        "mount",
        "allow_anonymous true\nlistener 0 127.0.0.1\nlistener 0 127.0.0.1\nmount_point site/\n",
        2,
    );
    let (plain, mounted) = (site.addrs[0], site.addrs[1]);
    let mut outside = subscriber(plain, "outside", "#", 0);
    let mut inside = subscriber(mounted, "inside", "#", 0);

    // A 5.0 client of the mounted listener: everyone else sees its topic mounted.
    pub_ok(mounted, &["-V", "mqttv5", "-t", "t", "-m", "v5"]);
    assert_eq!(next_message(&mut outside), message("site/t", "v5"));
    assert_eq!(next_message(&mut inside), message("t", "v5"));

    // Nothing outside the mount point reaches its clients.
    pub_ok(plain, &["-V", "mqttv311", "-t", "elsewhere", "-m", "no"]);
    pub_ok(plain, &["-V", "mqttv311", "-t", "site/x", "-m", "yes"]);
    assert_eq!(next_message(&mut inside), message("x", "yes"));
    assert_eq!(next_message(&mut outside), message("elsewhere", "no"));
    assert_eq!(next_message(&mut outside), message("site/x", "yes"));

    // Retained messages, to 3.1.1 and 5.0 subscribers of the mounted listener.
    pub_ok(plain, &["-t", "site/r", "-r", "-m", "kept"]);
    assert_eq!(next_message(&mut inside), message("r", "kept"));
    for version in ["mqttv311", "mqttv5"] {
        let lines = sub_lines(mounted, 1, &["-V", version, "-t", "r"]);
        assert_eq!(lines, ["r kept"], "{version}");
    }
    // `$SYS/#` is `site/$SYS/#` there: the broker's `$SYS` topics (retained, sent at
    // once to a plain subscriber) never reach it, a client's own `$SYS/x` does.
    let sys = sub_lines(plain, 1, &["-t", "$SYS/broker/version"]);
    assert!(sys[0].starts_with("$SYS/broker/version sol"), "{sys:?}");
    let mut sys_inside = subscriber(mounted, "sys", "$SYS/#", 0);
    nothing_pending(&mut sys_inside);
    pub_ok(mounted, &["-t", "$SYS/x", "-m", "mine"]);
    assert_eq!(next_message(&mut sys_inside), message("$SYS/x", "mine"));
    assert_eq!(next_message(&mut outside), message("site/r", "kept"));
    assert_eq!(next_message(&mut outside), message("site/$SYS/x", "mine"));

    // A will left on the mounted listener is published mounted.
    let mut dying = tcp(mounted);
    send(
        &mut dying,
        &connect_full(4, "dying", 60, true, Some(("w", b"gone", 0, false))),
    );
    assert_eq!(read_packet(&mut dying), CONNACK_OK);
    drop(dying);
    assert_eq!(next_message(&mut outside), message("site/w", "gone"));
    assert_eq!(next_message(&mut inside), message("$SYS/x", "mine"));
    assert_eq!(next_message(&mut inside), message("w", "gone"));
}

#[test]
fn the_user_name_is_the_client_id_and_a_client_without_one_is_not_authorised() {
    let mut site = Site::start(
        "username-id",
        "allow_anonymous true\nlistener 0 127.0.0.1\nuse_username_as_clientid true\n",
        1,
    );
    let addr = site.addrs[0];
    let mut first = tcp(addr);
    send(&mut first, &login("phone", "alice", "x"));
    assert_eq!(read_packet(&mut first), CONNACK_OK);
    site.sol.expect_line("client alice connected");
    // The same user from another device takes the session over.
    let mut second = tcp(addr);
    send(&mut second, &login("laptop", "alice", "x"));
    assert_eq!(read_packet(&mut second), CONNACK_OK);
    expect_closed(&mut first);
    // No user name: refused as not authorised, in 3.1.1 and 5.0.
    for version in ["mqttv311", "mqttv5"] {
        let out = mosquitto(
            "mosquitto_pub",
            addr,
            &["-V", version, "-t", "t", "-m", "x"],
        );
        let said = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(
            !out.status.success() && said.contains("not authori"),
            "{version}: {said}"
        );
    }
}

#[test]
fn only_client_ids_with_the_prefix_connect() {
    let site = Site::start(
        "prefixes",
        "allow_anonymous true\nlistener 0 127.0.0.1\nclientid_prefixes sec-\n",
        1,
    );
    let addr = site.addrs[0];
    pub_ok(addr, &["-i", "sec-1", "-t", "t", "-m", "x"]);
    for version in ["mqttv311", "mqttv5"] {
        let out = mosquitto(
            "mosquitto_pub",
            addr,
            &["-V", version, "-i", "other", "-t", "t", "-m", "x"],
        );
        let said = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(
            !out.status.success() && said.contains("not authori"),
            "{version}: {said}"
        );
    }
    // A generated id starts with auto_id_prefix ("auto-"), not "sec-": refused (0x05).
    let mut s = tcp(addr);
    send(&mut s, &connect("", 60, true));
    assert_eq!(read_packet(&mut s), [0x20, 0x02, 0x00, 0x05]);
}

#[test]
fn a_retained_message_is_withheld_after_a_reload_takes_its_publisher_s_right_away() {
    let acl = |alice: &str| {
        format!(
            "user alice\ntopic {alice} t/#\nuser carol\ntopic readwrite t/#\n\
             user bob\ntopic read t/#\n"
        )
    };
    let mut users = PasswordFile::default();
    let one = NonZeroU32::new(1).expect("non-zero");
    for user in ["alice", "bob", "carol"] {
        users.set(user, hash_password(b"pw", one).expect("hash"));
    }
    let mut site = Site::start_with(
        "retain-source",
        "listener 0 127.0.0.1\nallow_anonymous false\npassword_file {dir}/passwd\n\
         acl_file {dir}/acl\ncheck_retain_source true\n",
        &[("passwd", users.to_string()), ("acl", acl("readwrite"))],
        1,
    );
    let addr = site.addrs[0];
    let login = |user: &'static str| ["-u", user, "-P", "pw", "-V", "mqttv5"];
    pub_ok(
        addr,
        &[&login("alice")[..], &["-t", "t/1", "-r", "-m", "a"]].concat(),
    );
    let bob = [&login("bob")[..], &["-t", "t/#"]].concat();
    assert_eq!(sub_lines(addr, 1, &bob), ["t/1 a"], "alice may write t/1");
    // The reload takes alice's right to write t/# away.
    std::fs::write(site.dir.join("acl"), acl("read")).expect("acl");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(site.sol.child.id()).expect("pid"));
    nix::sys::signal::kill(pid, Signal::SIGHUP).expect("SIGHUP");
    site.sol.expect_line("configuration reloaded");
    pub_ok(
        addr,
        &[&login("carol")[..], &["-t", "t/2", "-r", "-m", "c"]].concat(),
    );
    // Retained messages go out in topic order: t/2 first means t/1 was withheld.
    assert_eq!(sub_lines(addr, 1, &bob), ["t/2 c"]);
}

#[test]
fn upgrade_outgoing_qos_sends_at_the_subscription_s_qos() {
    let site = Site::start(
        "upgrade",
        "allow_anonymous true\nlistener 0 127.0.0.1\nupgrade_outgoing_qos true\n",
        1,
    );
    let addr = site.addrs[0];
    let mut s = subscriber(addr, "s", "t", 2);
    pub_ok(addr, &["-q", "0", "-t", "t", "-m", "x"]);
    let p = next_publish(&mut s);
    assert_eq!(
        (p.qos, p.topic.as_str(), p.payload.as_slice()),
        (2, "t", &b"x"[..])
    );
    // The 5.0 client of mosquitto_sub sees QoS 1 for a QoS 0 message too.
    pub_ok(addr, &["-t", "r", "-r", "-m", "kept"]);
    let lines = sub_lines(
        addr,
        1,
        &["-V", "mqttv5", "-q", "1", "-t", "r", "-F", "%q %t %p"],
    );
    assert_eq!(lines, ["1 r kept"]);
}

#[test]
fn max_inflight_bytes_sends_the_next_message_once_the_window_has_room() {
    let site = Site::start(
        "inflight-bytes",
        "allow_anonymous true\nlistener 0 127.0.0.1\nmax_inflight_bytes 20\n",
        1,
    );
    let addr = site.addrs[0];
    let mut s = subscriber(addr, "s", "t", 1);
    let payload = "x".repeat(30);
    // QoS 1: mosquitto_pub ends once the broker has routed (and acknowledged) it.
    pub_ok(addr, &["-q", "1", "-t", "t", "-m", &payload]);
    pub_ok(addr, &["-q", "1", "-t", "t", "-m", &payload]);
    let first = next_publish(&mut s);
    assert_eq!(first.payload.len(), 30, "one message always fits");
    nothing_pending(&mut s);
    send(&mut s, &ack(0x40, first.packet_id.expect("QoS 1")));
    let second = next_publish(&mut s);
    assert_eq!((second.qos, second.payload.len()), (1, 30));
}
