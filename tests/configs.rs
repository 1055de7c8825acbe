//! Sol on the configuration files Mosquitto users already have (`tests/configs/`):
//! Debian's stock file with a `conf.d` drop-in, the Home Assistant add-on's file, an
//! OpenWrt gateway's file, this machine's `/etc/mosquitto/mosquitto.conf`, and every key
//! of Mosquitto 2.0's example file.
//!
//! Each file is copied into a temporary directory with its ports (held free for the
//! test: [`reserve_port`]) and paths rewritten, checked with `sol check -c`, run with `sol -c`
//! and, for every MQTT listener, driven with real clients (rumqttc, `mosquitto_pub` and
//! `mosquitto_sub`). The temporary directory is open to every user: started as root,
//! Sol drops to its configured user (or `nobody`), and must still write the store and
//! remove its pid file there. The tests add `log_dest stderr` (in a drop-in, or at the
//! end) to read the broker's log.
//! WebSocket listeners (ws:// and wss://) are driven with paho-mqtt's WebSocket transport
//! (`tests/ws/paho_ws_roundtrip.py`).

#![cfg(feature = "tls")]

mod common;
#[allow(dead_code)] // only its certificates are used here
#[path = "tls/fixtures.rs"]
mod tls_fixtures;

use common::*;
use rumqttc::QoS;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A file of `tests/configs/`.
fn repo_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/configs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `text` with each `(from, to)` replaced, every `from` required to occur.
fn rewrite(text: &str, pairs: &[(&str, String)]) -> String {
    let mut out = text.to_string();
    for (from, to) in pairs {
        assert!(out.contains(from), "{from:?} is not in the file");
        out = out.replace(from, to);
    }
    out
}

/// A temporary directory every user may write (the broker drops root), removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("sol-configs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let dir = TempDir(dir);
        dir.open(".");
        dir
    }

    /// `self/rel`, a directory created open to every user.
    fn open(&self, rel: &str) -> PathBuf {
        let dir = self.0.join(rel);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        dir
    }

    /// `self/rel` as text.
    fn path(&self, rel: &str) -> String {
        self.0.join(rel).display().to_string()
    }

    /// `self/passwd` with `users` (name, password), made by `mosquitto_passwd`, and
    /// `self/acl` with `acl`.
    fn users(&self, users: &[(&str, &str)], acl: &str) {
        mosquitto_passwd(&self.0.join("passwd"), users);
        self.write("acl", acl);
    }

    /// Writes `self/rel`, readable by every user.
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.0.join(rel);
        std::fs::write(&path, text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `sol check -c FILE`.
fn sol_check(file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sol"))
        .args(["check", "-c"])
        .arg(file)
        .output()
        .expect("run sol check")
}

/// `sol check -c FILE`, which must succeed; what it printed.
fn check_ok(file: &Path) -> String {
    let out = sol_check(file);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "sol check -c {} failed:\n{}{stdout}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A password file `path` with `users` (name, password), made by `mosquitto_passwd`.
fn mosquitto_passwd(path: &Path, users: &[(&str, &str)]) {
    for (i, (user, password)) in users.iter().enumerate() {
        let mut c = Command::new("mosquitto_passwd");
        if i == 0 {
            c.arg("-c");
        }
        let status = c
            .arg("-b")
            .arg(path)
            .args([user, password])
            .status()
            .expect("mosquitto_passwd (Debian package mosquitto)");
        assert!(status.success(), "mosquitto_passwd failed");
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
}

/// `mosquitto_pub`/`mosquitto_sub` (`tool`) for 127.0.0.1:`port` with `args`, killed
/// after 10 s by `timeout`; it must succeed. Its standard output.
fn mosquitto_tool(tool: &str, port: u16, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .args(["10", tool, "-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} (Debian package mosquitto-clients): {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A retained message published with `mosquitto_pub` and read back with
/// `mosquitto_sub`, over 127.0.0.1:`port` with `auth` (`-u USER -P PASSWORD`, TLS
/// options).
fn retained_round_trip(port: u16, auth: &[&str], topic: &str, payload: &str) {
    let mut publish = vec!["-t", topic, "-m", payload, "-r", "-q", "1"];
    publish.extend_from_slice(auth);
    mosquitto_tool("mosquitto_pub", port, &publish);
    let mut subscribe = vec!["-t", topic, "-C", "1", "-W", "10"];
    subscribe.extend_from_slice(auth);
    let got = mosquitto_tool("mosquitto_sub", port, &subscribe);
    assert_eq!(got.trim_end(), payload, "retained message on port {port}");
}

/// A rumqttc client `id` logged in as `user`/`password` on 127.0.0.1:`port`, connected.
fn login(port: u16, id: &str, user: &str, password: &str) -> TestClient {
    let addr = ([127, 0, 0, 1], port).into();
    let c = client_with(addr, id, true, |o| {
        o.set_credentials(user, password);
    });
    c.connack();
    c
}

/// rumqttc `sub` receives what `mosquitto_pub` (with `auth`) publishes to `topic`.
fn publish_reaches(port: u16, auth: &[&str], sub: &TestClient, topic: &str, payload: &str) {
    sub.client
        .subscribe(topic, QoS::AtLeastOnce)
        .expect("subscribe");
    sub.suback();
    let mut publish = vec!["-t", topic, "-m", payload, "-q", "1"];
    publish.extend_from_slice(auth);
    mosquitto_tool("mosquitto_pub", port, &publish);
    let got = sub.publish();
    assert_eq!(
        (got.topic.as_str(), &got.payload[..]),
        (topic, payload.as_bytes())
    );
}

/// Waits until the broker listens on every port of `ports`.
fn wait_listening(sol: &mut SolProcess, ports: &[u16]) {
    for port in ports {
        sol.expect_line(&format!(":{port}"));
    }
}

#[test]
fn debian_stock_file_with_a_conf_d_drop_in() {
    let t = TempDir::new("debian");
    let held = reserve_port();
    let port = held.port;
    t.open("run");
    t.open("lib");
    t.open("log");
    let conf_d = t.open("conf.d");
    let main = t.write(
        "mosquitto.conf",
        &(rewrite(
            &repo_file("debian/mosquitto.conf"),
            &[
                ("/run/mosquitto/mosquitto.pid", t.path("run/mosquitto.pid")),
                ("/var/lib/mosquitto/", t.path("lib/")),
                (
                    "/var/log/mosquitto/mosquitto.log",
                    t.path("log/mosquitto.log"),
                ),
                ("/etc/mosquitto/conf.d", conf_d.display().to_string()),
            ],
        )),
    );
    t.write("conf.d/README", &repo_file("debian/conf.d/README"));
    t.write(
        "conf.d/local.conf",
        &rewrite(
            &repo_file("debian/conf.d/local.conf"),
            &[
                ("listener 1883", format!("listener {port}")),
                ("/etc/mosquitto/passwd", t.path("passwd")),
                ("/etc/mosquitto/acl", t.path("acl")),
            ],
        ),
    );
    t.write("conf.d/zz-test.conf", "log_dest stderr\n");
    t.users(
        &[("alice", "wonder"), ("bob", "builder")],
        "user alice\ntopic readwrite #\n\nuser bob\ntopic write sensors/bob/#\n",
    );

    let report = check_ok(&main);
    for expected in [
        format!("*:{port}, anonymous refused"),
        format!("Persistence: on, store file {}", t.path("lib/sol.db")),
        format!("Pid file: {}", t.path("run/mosquitto.pid")),
    ] {
        assert!(report.contains(&expected), "{expected:?} in:\n{report}");
    }

    let mut sol = SolProcess::start(&main);
    wait_listening(&mut sol, &[port]);
    let pid_file = t.0.join("run/mosquitto.pid");
    let pid = std::fs::read_to_string(&pid_file).expect("pid file written");
    assert_eq!(pid, format!("{}\n", sol.child.id()));

    retained_round_trip(
        port,
        &["-u", "alice", "-P", "wonder"],
        "home/hello",
        "debian",
    );
    let alice = login(port, "alice-rumqttc", "alice", "wonder");
    // bob may write only below sensors/bob/: his first message is dropped by the ACL.
    alice
        .client
        .subscribe("sensors/#", QoS::AtLeastOnce)
        .expect("subscribe");
    alice.suback();
    let bob = ["-u", "bob", "-P", "builder", "-q", "1"];
    let mut denied = vec!["-t", "sensors/alice/x", "-m", "denied"];
    denied.extend_from_slice(&bob);
    mosquitto_tool("mosquitto_pub", port, &denied);
    let mut allowed = vec!["-t", "sensors/bob/t", "-m", "allowed"];
    allowed.extend_from_slice(&bob);
    mosquitto_tool("mosquitto_pub", port, &allowed);
    let got = alice.publish();
    assert_eq!(
        (got.topic.as_str(), &got.payload[..]),
        ("sensors/bob/t", &b"allowed"[..])
    );
    let status = sol.signal_and_wait(nix::sys::signal::Signal::SIGTERM);
    assert!(status.success(), "clean exit: {status:?}");
    assert!(!pid_file.exists(), "pid file removed at a clean exit");
    assert!(
        t.0.join("lib/sol.db").exists(),
        "store written under the new user"
    );
}

/// The Home Assistant file in `t`: ports 1883, 1884, 8883, 8884 replaced by `ports`,
/// certificates from `certs`, the add-on's directories under `t`.
fn home_assistant(t: &TempDir, ports: [u16; 4], certs: &Path) -> String {
    let d = certs.display();
    let mut pairs = vec![
        ("/data/", t.path("data/")),
        ("/etc/mosquitto/pw", t.path("passwd")),
        ("/etc/mosquitto/acl", t.path("acl")),
        ("/share/mosquitto", t.path("share")),
        ("cafile /ssl/fullchain.pem", format!("cafile {d}/ca.crt")),
        (
            "certfile /ssl/fullchain.pem",
            format!("certfile {d}/server.crt"),
        ),
        ("/ssl/privkey.pem", format!("{d}/server.key")),
    ];
    for (from, to) in [
        "listener 1883",
        "listener 1884",
        "listener 8883",
        "listener 8884",
    ]
    .iter()
    .zip(ports)
    {
        pairs.push((from, format!("listener {to}")));
    }
    t.open("data");
    t.open("share");
    t.write("share/zz-test.conf", "log_dest stderr\n");
    t.users(
        &[("homeassistant", "discovery"), ("addons", "service")],
        "user homeassistant\ntopic readwrite #\n\nuser addons\ntopic readwrite #\n",
    );
    rewrite(&repo_file("home-assistant/mosquitto.conf"), &pairs)
}

/// paho-mqtt over WebSockets on `port`: a QoS 1 message to `topic` comes back.
fn paho_over_websockets(port: u16, topic: &str, args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ws/paho_ws_roundtrip.py");
    let out = Command::new("timeout")
        .args(["60", &paho_python(), script, &port.to_string(), topic])
        .args(args)
        .output()
        .expect("run paho");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "paho over WebSockets on {port}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn home_assistant_add_on_file() {
    let t = TempDir::new("ha");
    let certs = tls_fixtures::certs("configs-ha");
    let held = [
        reserve_port(),
        reserve_port(),
        reserve_port(),
        reserve_port(),
    ];
    let ports = held.each_ref().map(|r| r.port);
    let text = home_assistant(&t, ports, &certs);
    let main = t.write("mosquitto.conf", &text);

    let report = check_ok(&main);
    let [mqtt, ws, mqtts, wss] = ports;
    for expected in [
        format!("*:{mqtt}, anonymous refused"),
        format!("*:{ws}, WebSockets, anonymous refused"),
        format!("*:{mqtts}, TLS 1.2+, anonymous refused"),
        format!("*:{wss}, WebSockets, TLS 1.2+, anonymous refused"),
        "auth_plugin_deny_special_chars: accepted, but it guards plugins".to_string(),
    ] {
        assert!(report.contains(&expected), "{expected:?} in:\n{report}");
    }
    assert!(!report.contains("would not start"), "{report}");

    let mut sol = SolProcess::start(&main);
    wait_listening(&mut sol, &[mqtt, ws, mqtts, wss]);
    let ha = login(mqtt, "home-assistant", "homeassistant", "discovery");
    publish_reaches(
        mqtt,
        &["-u", "addons", "-P", "service"],
        &ha,
        "homeassistant/sensor/x/config",
        "{}",
    );
    let cafile = certs.join("ca.crt").display().to_string();
    let tls = ["-u", "addons", "-P", "service", "--cafile", &cafile];
    retained_round_trip(mqtts, &tls, "homeassistant/status", "online");
    publish_reaches(mqtts, &tls, &ha, "zigbee2mqtt/lamp", "on");
    // The add-on's WebSocket listeners, as the Home Assistant frontend and browser
    // dashboards use them: plain and over TLS, with the add-on's users.
    let login = ["--user", "addons", "--password", "service"];
    paho_over_websockets(ws, "dashboard/ws", &login);
    let cafile_arg = [
        "--user",
        "addons",
        "--password",
        "service",
        "--cafile",
        &cafile,
    ];
    paho_over_websockets(wss, "dashboard/wss", &cafile_arg);
    let _ = std::fs::remove_dir_all(&certs);
}

#[test]
fn openwrt_gateway_file_with_tls_passwords_and_acls() {
    let t = TempDir::new("openwrt");
    let certs = tls_fixtures::certs("configs-openwrt");
    let held = [reserve_port(), reserve_port()];
    let [plain, tls] = held.each_ref().map(|r| r.port);
    let d = certs.display();
    t.open("store");
    let text = rewrite(
        &repo_file("openwrt/mosquitto.conf"),
        &[
            ("/var/run/mosquitto.pid", t.path("mosquitto.pid")),
            ("/tmp/mosquitto/", t.path("store/")),
            ("/etc/mosquitto/passwd", t.path("passwd")),
            ("/etc/mosquitto/acl", t.path("acl")),
            (
                "listener 1883 127.0.0.1",
                format!("listener {plain} 127.0.0.1"),
            ),
            ("listener 8883", format!("listener {tls}")),
            // The LAN bridge of a router is loopback here.
            ("bind_interface br-lan", "bind_interface lo".to_string()),
            ("/etc/mosquitto/certs/server.crt", format!("{d}/server.crt")),
            ("/etc/mosquitto/certs/server.key", format!("{d}/server.key")),
            ("/etc/mosquitto/certs/ca.crt", format!("{d}/ca.crt")),
            (
                "/etc/mosquitto/certs/dhparam.pem",
                format!("{d}/dhparam.pem"),
            ),
        ],
    );
    let main = t.write("mosquitto.conf", &format!("{text}log_dest stderr\n"));
    t.users(
        &[("gateway", "g4t3w4y"), ("sensor1", "s3ns0r")],
        "user gateway\ntopic readwrite #\n\nuser sensor1\ntopic write sensors/sensor1/#\n\
         topic read config/sensor1\n",
    );

    let report = check_ok(&main);
    for expected in [
        format!("127.0.0.1:{plain}, anonymous refused"),
        format!("*:{tls} (ipv4) on interface lo, TLS 1.2+, anonymous refused"),
        "memory_limit 64.0 MiB: the ceiling fits".to_string(),
        "ciphers: skipped DHE-RSA-AES128-GCM-SHA256, DHE-RSA-AES256-GCM-SHA384".to_string(),
        "dhparamfile: accepted, but not used: rustls has no DHE cipher suites".to_string(),
    ] {
        assert!(report.contains(&expected), "{expected:?} in:\n{report}");
    }

    let mut sol = SolProcess::start(&main);
    wait_listening(&mut sol, &[plain, tls]);
    assert_eq!(
        std::fs::read_to_string(t.0.join("mosquitto.pid")).expect("pid file"),
        format!("{}\n", sol.child.id())
    );
    let gateway = login(plain, "gateway", "gateway", "g4t3w4y");
    let cafile = certs.join("ca.crt").display().to_string();
    let sensor = ["-u", "sensor1", "-P", "s3ns0r", "--cafile", &cafile];
    publish_reaches(tls, &sensor, &gateway, "sensors/sensor1/temp", "21.5");
    // The sensor may read its configuration, which the gateway retains for it.
    mosquitto_tool(
        "mosquitto_pub",
        plain,
        &[
            "-u",
            "gateway",
            "-P",
            "g4t3w4y",
            "-t",
            "config/sensor1",
            "-m",
            "60",
            "-r",
        ],
    );
    let mut read = vec!["-t", "config/sensor1", "-C", "1", "-W", "10"];
    read.extend_from_slice(&sensor);
    assert_eq!(mosquitto_tool("mosquitto_sub", tls, &read).trim_end(), "60");
    // A wrong password is refused over TLS as over TCP.
    let out = Command::new("timeout")
        .args([
            "10",
            "mosquitto_pub",
            "-h",
            "127.0.0.1",
            "-p",
            &tls.to_string(),
        ])
        .args([
            "-u", "sensor1", "-P", "wrong", "--cafile", &cafile, "-t", "x", "-m", "y",
        ])
        .output()
        .expect("mosquitto_pub");
    assert!(!out.status.success(), "a wrong password must be refused");
    let status = sol.signal_and_wait(nix::sys::signal::Signal::SIGTERM);
    assert!(status.success(), "clean exit: {status:?}");
    let _ = std::fs::remove_dir_all(&certs);
}

#[test]
fn sighup_reads_the_drop_ins_again() {
    let t = TempDir::new("reload");
    let held = reserve_port();
    let port = held.port;
    t.open("conf.d");
    t.write("conf.d/10-access.conf", "allow_anonymous false\n");
    let main = t.write(
        "mosquitto.conf",
        &format!(
            "listener {port} 127.0.0.1\nlog_dest stderr\nuser root\ninclude_dir {}\n",
            t.path("conf.d")
        ),
    );
    let mut sol = SolProcess::start(&main);
    wait_listening(&mut sol, &[port]);
    let addr = ([127, 0, 0, 1], port).into();
    let anonymous = |id: &str| {
        let mut s = tcp(addr);
        send(&mut s, &connect(id, 60, true));
        read_packet(&mut s)
    };
    // CONNACK 5: not authorised.
    assert_eq!(anonymous("before"), [0x20, 0x02, 0x00, 0x05]);
    t.write("conf.d/10-access.conf", "allow_anonymous true\n");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(sol.child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");
    sol.expect_line("configuration reloaded");
    assert_eq!(anonymous("after"), CONNACK_OK);
    // A broken drop-in is reported at its line, and the running configuration kept.
    t.write("conf.d/20-broken.conf", "max_keepalive soon\n");
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP");
    sol.expect_line(&format!(
        "{}:1: max_keepalive: expected an integer, found 'soon'",
        t.path("conf.d/20-broken.conf")
    ));
    sol.expect_line("not reloaded, the running configuration is kept");
    assert_eq!(anonymous("kept"), CONNACK_OK);
}

#[test]
fn this_machines_mosquitto_conf_checks() {
    let real = Path::new("/etc/mosquitto/mosquitto.conf");
    let Ok(text) = std::fs::read_to_string(real) else {
        // No Mosquitto installed here: the repository's copy of Debian's file stands in
        // (debian_stock_file_with_a_conf_d_drop_in).
        return;
    };
    let t = TempDir::new("machine");
    let copy = t.write("mosquitto.conf", &text);
    let report = check_ok(&copy);
    assert!(report.contains(": OK"), "{report}");
}

/// Where a key of the example file goes in the generated file.
#[derive(Clone, Copy, PartialEq)]
enum Scope {
    /// Before the first listener.
    Global,
    /// After the plain MQTT listener.
    Mqtt,
    /// After the TLS listener.
    Tls,
    /// After the WebSocket listener.
    WebSockets,
}

/// Every non-bridge key of Mosquitto 2.0's example file with a plausible value (`{T}`:
/// the temporary directory, `{C}`: the certificates) and where it goes.
const VALUES: &[(&str, Scope, &str)] = &[
    ("per_listener_settings", Scope::Global, "false"),
    ("allow_anonymous", Scope::Global, "false"),
    ("allow_zero_length_clientid", Scope::Global, "true"),
    ("auto_id_prefix", Scope::Global, "auto-"),
    ("password_file", Scope::Global, "{T}/passwd"),
    ("acl_file", Scope::Global, "{T}/acl"),
    ("psk_file", Scope::Global, "{T}/psk"),
    ("auth_plugin", Scope::Global, "/usr/lib/go-auth.so"),
    ("autosave_interval", Scope::Global, "1800"),
    ("autosave_on_changes", Scope::Global, "false"),
    ("persistence", Scope::Global, "true"),
    ("persistence_file", Scope::Global, "mosquitto.db"),
    ("persistence_location", Scope::Global, "{T}/"),
    ("persistent_client_expiration", Scope::Global, "2w"),
    ("pid_file", Scope::Global, "{T}/mosquitto.pid"),
    ("user", Scope::Global, "root"),
    ("include_dir", Scope::Global, "{T}/conf.d"),
    ("log_dest", Scope::Global, "stderr"),
    ("log_facility", Scope::Global, "5"),
    ("log_timestamp", Scope::Global, "true"),
    ("log_timestamp_format", Scope::Global, "%Y-%m-%dT%H:%M:%S"),
    ("log_type", Scope::Global, "information"),
    ("connection_messages", Scope::Global, "true"),
    ("websockets_log_level", Scope::Global, "0"),
    ("websockets_headers_size", Scope::Global, "4096"),
    ("check_retain_source", Scope::Global, "true"),
    ("clientid_prefixes", Scope::Global, "sensor-"),
    ("max_inflight_bytes", Scope::Global, "0"),
    ("max_inflight_messages", Scope::Global, "20"),
    ("max_keepalive", Scope::Global, "65535"),
    ("max_packet_size", Scope::Global, "0"),
    ("max_queued_bytes", Scope::Global, "0"),
    ("max_queued_messages", Scope::Global, "1000"),
    ("memory_limit", Scope::Global, "0"),
    ("message_size_limit", Scope::Global, "0"),
    ("queue_qos0_messages", Scope::Global, "false"),
    ("retain_available", Scope::Global, "true"),
    ("set_tcp_nodelay", Scope::Global, "false"),
    ("sys_interval", Scope::Global, "10"),
    ("upgrade_outgoing_qos", Scope::Global, "false"),
    ("max_connections", Scope::Global, "-1"),
    ("max_qos", Scope::Global, "2"),
    ("bind_interface", Scope::Mqtt, "lo"),
    ("socket_domain", Scope::Mqtt, "ipv4"),
    ("mount_point", Scope::Mqtt, "site1/"),
    ("use_username_as_clientid", Scope::Mqtt, "false"),
    ("certfile", Scope::Tls, "{C}/server.crt"),
    ("keyfile", Scope::Tls, "{C}/server.key"),
    ("cafile", Scope::Tls, "{C}/ca.crt"),
    ("capath", Scope::Tls, "{C}"),
    ("crlfile", Scope::Tls, "{C}/ca.crl"),
    ("require_certificate", Scope::Tls, "true"),
    ("use_identity_as_username", Scope::Tls, "true"),
    ("ciphers", Scope::Tls, "HIGH:!aNULL:!MD5"),
    ("ciphers_tls1.3", Scope::Tls, "TLS_AES_256_GCM_SHA384"),
    ("dhparamfile", Scope::Tls, "{C}/dhparam.pem"),
    ("psk_hint", Scope::Tls, "gateway"),
    ("http_dir", Scope::WebSockets, "{T}/www"),
];

/// The distinct keys of a Mosquitto example file, each with whether it is a bridge key
/// (found only in the file's "Bridges" section, which `config::parse::bridge`'s tests
/// parse, uncommented, with a bridge's values). A
/// setting is written `#key value` (prose is `# text`), or uncommented.
fn example_keys(text: &str) -> Vec<(String, bool)> {
    let mut keys: Vec<(String, bool)> = Vec::new();
    let mut bridges = false;
    for line in text.lines() {
        match line {
            "# Bridges" => bridges = true,
            "# External config files" => bridges = false,
            _ => {}
        }
        let setting = line.strip_prefix('#').unwrap_or(line);
        let Some(key) = setting.split([' ', '\t']).next() else {
            continue;
        };
        let is_key = key.starts_with(|c: char| c.is_ascii_lowercase())
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.".contains(c));
        if !is_key {
            continue;
        }
        match keys.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 &= bridges,
            None => keys.push((key.to_string(), bridges)),
        }
    }
    keys
}

#[test]
fn at_most_three_keys_of_mosquittos_example_file_are_refused() {
    let keys = example_keys(&repo_file("mosquitto-2.0-example.conf"));
    // `listener` and `protocol` shape the generated file.
    let structural = ["listener", "protocol"];
    let missing: Vec<&String> = keys
        .iter()
        .filter(|(k, bridge)| !bridge && !structural.contains(&k.as_str()))
        .map(|(k, _)| k)
        .filter(|k| !VALUES.iter().any(|(v, _, _)| v == k))
        .collect();
    assert!(missing.is_empty(), "give these keys a value: {missing:?}");
    let bridge_keys = keys.iter().filter(|(_, bridge)| *bridge).count();
    assert_eq!(
        (keys.len(), bridge_keys),
        (90, 30),
        "the example file's keys: {keys:?}"
    );

    let t = TempDir::new("example");
    let certs = tls_fixtures::certs("configs-example");
    t.open("conf.d");
    t.open("www");
    t.users(&[("alice", "wonder")], "topic read $SYS/#\n");
    t.write("psk", "gateway:deadbeef\n");
    let value = |v: &str| {
        v.replace("{T}", &t.0.display().to_string())
            .replace("{C}", &certs.display().to_string())
    };
    let mut text = String::new();
    let mut lines: Vec<(usize, &str)> = Vec::new();
    let held = [reserve_port(), reserve_port(), reserve_port()];
    let [mqtt, tls, ws] = held.each_ref().map(|r| r.port);
    let sections = [
        (Scope::Global, String::new()),
        (Scope::Mqtt, format!("listener {mqtt}\nprotocol mqtt\n")),
        (Scope::Tls, format!("listener {tls}\n")),
        (
            Scope::WebSockets,
            format!("listener {ws}\nprotocol websockets\n"),
        ),
    ];
    for (scope, head) in &sections {
        text.push_str(head);
        for (key, _, v) in VALUES.iter().filter(|(_, s, _)| s == scope) {
            let line = format!("{key} {}", value(v));
            text.push_str(&line);
            text.push('\n');
            lines.push((text.lines().count(), key));
        }
    }
    let file = t.write("mosquitto.conf", &text);
    let out = sol_check(&file);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut refused = Vec::new();
    for error in stderr.lines() {
        let prefix = format!("{}:", file.display());
        let rest = error
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{error}"));
        let (line, message) = rest.split_once(": ").expect("file:line: message");
        let line: usize = line.parse().expect("a line number");
        let key = lines
            .iter()
            .find(|(l, _)| *l == line)
            .map(|(_, k)| *k)
            .unwrap_or_else(|| panic!("an error not about a key: {error}"));
        // A refusal says why and what to do instead, beyond naming the key.
        assert!(
            message.starts_with(&format!("{key}: not supported: ")) && message.len() > 120,
            "a refusal without an explanation: {error}"
        );
        refused.push(key);
    }
    eprintln!("refused: {refused:?}");
    assert!(
        refused.len() <= 3,
        "more than three keys of the example file refused: {refused:?}\n{stderr}"
    );
    assert_eq!(refused, ["psk_file", "auth_plugin", "psk_hint"]);

    // Without the refused lines the same file is valid.
    let accepted: String = text
        .lines()
        .filter(|l| !refused.iter().any(|k| l.starts_with(&format!("{k} "))))
        .map(|l| format!("{l}\n"))
        .collect();
    let report = check_ok(&t.write("accepted.conf", &accepted));
    assert!(report.contains("WebSockets"), "{report}");
    let _ = std::fs::remove_dir_all(&certs);
}
