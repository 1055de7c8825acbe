//! The `sol-load` binary against a Sol broker running in this process: the capabilities the
//! scaling and soak runs rely on (background subscriptions that match nothing, persistent
//! sessions coming back, retained messages to churning clients, a rate-limited storm, TLS
//! and WebSocket connections, subscribers on another broker) do what they claim, judged from the generator's JSON line.

// The broker side of the root crate's test harness (a `sol::net::Server` on a thread).
#[path = "../../../tests/common/server.rs"]
mod common;
// Throw-away certificates and a TLS listener's config lines (tests/tls/make-certs.sh).
#[path = "../../../tests/tls/fixtures.rs"]
#[allow(dead_code)] // the rustls client configuration is for the broker's own tests
mod tls_fixtures;

use sol::config::ListenerProtocol;
use std::collections::HashMap;
use std::process::Command;

/// Runs `sol-load` with `args` against `port`; returns its JSON line as key -> raw value
/// and its stderr.
fn run(port: u16, args: &[&str]) -> (HashMap<String, String>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sol-load"))
        .args(args)
        .args(["-p", &port.to_string()])
        .output()
        .expect("sol-load runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "sol-load {args:?} failed: {stderr}");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    // The JSON line holds numbers and plain strings only (see `Json` in main.rs).
    let json = stdout
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .split(',')
        .map(|kv| {
            let (k, v) = kv.split_once(':').expect("key:value");
            (
                k.trim_matches('"').to_string(),
                v.trim_matches('"').to_string(),
            )
        })
        .collect();
    (json, stderr)
}

/// [`run`] for a run that must go cleanly: `ready` first, no connection errors.
fn sol_load(port: u16, args: &[&str]) -> HashMap<String, String> {
    let (json, stderr) = run(port, args);
    assert!(stderr.starts_with("ready "), "{stderr}");
    assert_eq!(num(&json, "errors"), 0.0, "{stderr}");
    json
}

fn num(j: &HashMap<String, String>, key: &str) -> f64 {
    j.get(key)
        .unwrap_or_else(|| panic!("{key} missing from {j:?}"))
        .parse()
        .expect("a number")
}

/// Asserts that a run lost nothing: each of `subscribers` received every message sent.
fn assert_all_delivered(j: &HashMap<String, String>, subscribers: f64) {
    assert_eq!(num(j, "lost"), 0.0, "{j:?}");
    assert_eq!(num(j, "received"), subscribers * num(j, "sent"), "{j:?}");
}

#[test]
fn background_subscriptions_change_no_delivery() {
    let sol = common::start(|_| {});
    let j = sol_load(
        sol.tcp().port(),
        &[
            "fan-in",
            "--publishers",
            "4",
            "--rate",
            "2000",
            "--duration",
            "1",
            "--topic-levels",
            "5",
            "--background-connections",
            "20",
            "--background-subscriptions",
            "3000",
        ],
    );
    assert!(num(&j, "sent") > 1000.0, "{j:?}");
    assert_eq!(num(&j, "lost"), 0.0, "{j:?}");
    assert_eq!(num(&j, "received"), num(&j, "sent"));
    assert_eq!(num(&j, "other_received"), 0.0, "{j:?}");
    // 20 background + 1 subscriber + 4 publishers connected.
    assert_eq!(num(&j, "connects"), 25.0);
}

#[test]
fn the_broker_refusing_background_subscriptions_fails_the_run() {
    let sol = common::start(|c| c.limits.max_subscriptions = 100);
    let (j, stderr) = run(
        sol.tcp().port(),
        &[
            "fan-out",
            "--subscribers",
            "2",
            "--duration",
            "0.5",
            "--background-connections",
            "2",
            "--background-subscriptions",
            "500",
        ],
    );
    assert!(stderr.contains("SUBACK refused"), "{stderr}");
    assert!(num(&j, "errors") >= 1.0, "{j:?}");
}

#[test]
fn persistent_sessions_come_back_to_their_queued_messages() {
    let sol = common::start(|_| {});
    let j = sol_load(
        sol.tcp().port(),
        &[
            "sessions",
            "--subscribers",
            "4",
            "--rate",
            "300",
            "--online",
            "0.3",
            "--offline",
            "0.2",
            "--duration",
            "2",
        ],
    );
    assert_eq!(num(&j, "qos"), 1.0);
    // Each subscriber left and came back several times, yet lost nothing.
    assert!(num(&j, "connects") >= 4.0 * 3.0 + 1.0, "{j:?}");
    assert!(num(&j, "sent") > 300.0, "{j:?}");
    assert_eq!(num(&j, "lost"), 0.0, "{j:?}");
}

/// A fan-in whose publishers use `edge` and whose subscriber uses `--sub-port upstream`.
fn split_fan_in(edge: u16, upstream: u16) -> HashMap<String, String> {
    let upstream = upstream.to_string();
    let args = [
        "fan-in",
        "--publishers",
        "2",
        "--qos",
        "1",
        "--rate",
        "500",
        "--duration",
        "1",
        "--drain",
        "3",
        "--sub-port",
        &upstream,
    ];
    sol_load(edge, &args)
}

#[test]
fn subscribers_on_sub_port_get_what_a_bridge_carries_there() {
    let upstream = common::start(|_| {});
    let up = upstream.tcp().port();
    // Without a bridge nothing crosses: the subscriber is not on the publishers' broker.
    let island = common::start(|_| {});
    let j = split_fan_in(island.tcp().port(), up);
    assert_eq!(num(&j, "sub_port"), f64::from(up));
    assert!(num(&j, "sent") > 0.0, "{j:?}");
    assert_eq!(num(&j, "received"), 0.0, "{j:?}");
    // Bridged to the upstream, every message arrives there.
    let text = format!("connection up\naddress 127.0.0.1:{up}\ntopic bench/# out 1\n");
    let bridges = sol::config::Config::parse(&text, "test.conf")
        .expect("a bridge block")
        .bridges;
    let edge = common::start(move |c| c.bridges = bridges);
    let j = split_fan_in(edge.tcp().port(), up);
    assert!(num(&j, "sent") > 0.0, "{j:?}");
    assert_all_delivered(&j, 1.0);
}

#[test]
fn sub_port_does_not_go_with_websockets() {
    let stderr = refused(&["fan-in", "-p", "1", "--sub-port", "2", "--websocket"]);
    assert!(stderr.contains("--sub-port"), "{stderr}");
}

#[test]
fn storm_clients_subscribe_to_retained_messages_at_the_asked_rate() {
    let sol = common::start(|_| {});
    let port = sol.tcp().port();
    let root = "retained/test";
    let publish = sol_load(
        port,
        &[
            "fan-in",
            "--publishers",
            "3",
            "--rate",
            "100",
            "--duration",
            "0.3",
            "--retain",
            "--topic-root",
            root,
        ],
    );
    assert_eq!(num(&publish, "retain"), 1.0);
    assert!(num(&publish, "sent") >= 3.0);
    let storm = sol_load(
        port,
        &[
            "storm",
            "--rate",
            "100",
            "--duration",
            "1",
            "--subscribe",
            "--topic-root",
            root,
        ],
    );
    let connects = num(&storm, "connects");
    assert!((50.0..=150.0).contains(&connects), "{storm:?}");
    assert!(num(&storm, "other_received") > 0.0, "{storm:?}");
}

/// A one-second fan-in of 4 publishers at `qos` and `rate` (0: flood), with `extra`
/// arguments; it must go cleanly.
fn fan_in(port: u16, qos: &str, rate: &str, extra: &[&str]) -> HashMap<String, String> {
    let mut args = vec![
        "fan-in",
        "--publishers",
        "4",
        "--qos",
        qos,
        "--rate",
        rate,
        "--duration",
        "1",
    ];
    args.extend_from_slice(extra);
    sol_load(port, &args)
}

#[test]
fn single_writes_send_each_message_in_its_own_write_and_lose_none() {
    let sol = common::start(|_| {});
    let port = sol.tcp().port();
    // Paced QoS 0 with Nagle on, then a QoS 1 flood: each PUBLISH is one write (plus each
    // publisher's CONNECT and DISCONNECT), and every message arrives, stamped.
    for (qos, rate, nodelay) in [("0", "2000", "off"), ("1", "0", "on")] {
        let j = fan_in(
            port,
            qos,
            rate,
            &["--write-mode", "single", "--nodelay", nodelay],
        );
        assert_eq!(j["write_mode"], "single", "{j:?}");
        assert_eq!(j["nodelay"], nodelay, "{j:?}");
        assert!(num(&j, "sent") >= 1000.0, "{j:?}");
        assert!(num(&j, "pub_writes") >= num(&j, "sent") + 8.0, "{j:?}");
        assert_all_delivered(&j, 1.0);
        if rate != "0" {
            assert_eq!(num(&j, "lat_samples"), num(&j, "received"), "{j:?}");
        }
    }
    // The default: batches of many messages per write.
    let batch = sol_load(port, &["fan-in", "--publishers", "4", "--duration", "0.5"]);
    assert_eq!(batch["write_mode"], "batch", "{batch:?}");
    assert_eq!(batch["nodelay"], "on", "{batch:?}");
    assert!(
        num(&batch, "pub_writes") * 10.0 < num(&batch, "sent"),
        "{batch:?}"
    );
}

#[test]
fn write_mode_and_nodelay_take_only_their_values() {
    assert!(refused(&["fan-in", "-p", "1", "--write-mode", "each"]).contains("batch or single"));
    assert!(refused(&["fan-in", "-p", "1", "--nodelay", "yes"]).contains("on or off"));
}

#[test]
fn tls_fan_in_delivers_every_message() {
    let dir = tls_fixtures::certs("sol-load");
    let sol = tls_fixtures::start_file(&dir, &tls_fixtures::tls_listener(&dir, ""));
    let port = sol.tcp().port();
    let ca = dir.join("ca.crt");
    let ca = ca.to_str().expect("a UTF-8 temporary path");
    // Paced QoS 0, then a QoS 1 flood (publishers blocked on the window and the socket).
    for (qos, rate) in [("0", "4000"), ("1", "0")] {
        let j = fan_in(port, qos, rate, &["--tls-ca", ca]);
        assert!(j["tls"].starts_with("TLSv1_3"), "{j:?}");
        assert!(num(&j, "sent") >= 2000.0, "{j:?}");
        assert_eq!(num(&j, "lost"), 0.0, "{j:?}");
        assert_eq!(num(&j, "received"), num(&j, "sent"), "{j:?}");
        assert_eq!(num(&j, "connects"), 5.0, "{j:?}");
    }
    // A broker whose certificate the CA does not vouch for: every connection fails, and
    // the run still ends on time.
    let other = dir.join("other-ca.crt");
    let (j, stderr) = run(
        port,
        &[
            "fan-in",
            "--publishers",
            "2",
            "--duration",
            "0.2",
            "--tls-ca",
            other.to_str().expect("a UTF-8 temporary path"),
        ],
    );
    assert_eq!(num(&j, "errors"), 3.0, "{stderr}");
    assert_eq!(j["tls"], "none");
}

#[test]
fn mqtt5_runs_count_and_time_every_message() {
    let sol = common::start(|_| {});
    let port = sol.tcp().port();
    // Paced QoS 0 fan-in with properties (latency from the payload after them), then a
    // QoS 1 flood fan-out with an empty property section.
    let paced = sol_load(
        port,
        &[
            "fan-in",
            "--protocol",
            "5",
            "--publishers",
            "4",
            "--rate",
            "2000",
            "--duration",
            "1",
            "--user-property",
            "k=v",
            "--message-expiry",
            "60",
        ],
    );
    assert_eq!(paced["protocol"], "5.0", "{paced:?}");
    assert!(num(&paced, "publish_properties_bytes") > 0.0, "{paced:?}");
    assert!(num(&paced, "sent") > 1000.0, "{paced:?}");
    assert_eq!(num(&paced, "lost"), 0.0, "{paced:?}");
    assert_eq!(num(&paced, "received"), num(&paced, "sent"));
    assert_eq!(num(&paced, "lat_samples"), num(&paced, "received"));
    // Stamps read from the wrong offset would give absurd latencies.
    assert!(num(&paced, "lat_max_us") < 5e6, "{paced:?}");
    let flood = sol_load(
        port,
        &[
            "fan-out",
            "--protocol",
            "5",
            "--subscribers",
            "4",
            "--qos",
            "1",
            "--duration",
            "1",
        ],
    );
    assert!(num(&flood, "sent") > 1000.0, "{flood:?}");
    assert_eq!(num(&flood, "acked"), num(&flood, "sent"), "{flood:?}");
    assert_eq!(num(&flood, "refused"), 0.0, "{flood:?}");
    assert_eq!(num(&flood, "lost"), 0.0, "{flood:?}");
    assert_eq!(num(&flood, "received"), 4.0 * num(&flood, "sent"));
    // Persistent MQTT 5.0 sessions (Session Expiry Interval) keep their messages.
    let sessions = sol_load(
        port,
        &[
            "sessions",
            "--protocol",
            "5",
            "--subscribers",
            "3",
            "--rate",
            "300",
            "--online",
            "0.3",
            "--offline",
            "0.2",
            "--duration",
            "1.5",
        ],
    );
    assert!(
        num(&sessions, "connects") >= 3.0 * 2.0 + 1.0,
        "{sessions:?}"
    );
    assert_eq!(num(&sessions, "lost"), 0.0, "{sessions:?}");
}

/// Runs `sol-load` with `args`, which it must refuse before connecting; its stderr.
fn refused(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sol-load"))
        .args(args)
        .output()
        .expect("sol-load runs");
    assert!(!out.status.success(), "{args:?} accepted");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn properties_need_mqtt5() {
    let stderr = refused(&["fan-in", "-p", "1", "--user-property", "k=v"]);
    assert!(stderr.contains("--protocol 5"), "{stderr}");
}

#[test]
fn websocket_runs_deliver_every_message() {
    // Sol's loopback listeners (IPv4 and IPv6) speak MQTT over WebSockets only.
    let sol = common::start(|c| {
        for listener in &mut c.listeners {
            listener.protocol = ListenerProtocol::WebSockets;
        }
    });
    let port = sol.tcp().port();
    // Paced QoS 0 fan-in, then a QoS 1 flood fan-out: frames of whole 64 KiB batches out,
    // the broker's frames split anywhere by the reads in.
    let paced = sol_load(
        port,
        &[
            "fan-in",
            "--websocket",
            "--publishers",
            "4",
            "--rate",
            "4000",
            "--duration",
            "1",
        ],
    );
    assert_eq!(paced["websocket"], "/mqtt", "{paced:?}");
    assert!(num(&paced, "sent") >= 2000.0, "{paced:?}");
    assert_all_delivered(&paced, 1.0);
    assert_eq!(num(&paced, "connects"), 5.0, "{paced:?}");
    let flood = sol_load(
        port,
        &[
            "fan-out",
            "--websocket",
            "--ws-path",
            "/",
            "--subscribers",
            "4",
            "--qos",
            "1",
            "--duration",
            "1",
        ],
    );
    assert_eq!(flood["websocket"], "/", "{flood:?}");
    assert!(num(&flood, "sent") > 1000.0, "{flood:?}");
    assert_eq!(num(&flood, "acked"), num(&flood, "sent"), "{flood:?}");
    assert_all_delivered(&flood, 4.0);
    // Each storm cycle ends with the broker's Close, which sol-load echoes.
    let storm = sol_load(
        port,
        &["storm", "--websocket", "--rate", "100", "--duration", "0.5"],
    );
    assert!(num(&storm, "connects") >= 25.0, "{storm:?}");
}

#[test]
fn websocket_over_tls_delivers_every_message() {
    let dir = tls_fixtures::certs("sol-load-wss");
    let sol = tls_fixtures::start_file(
        &dir,
        &tls_fixtures::tls_listener(&dir, "protocol websockets\n"),
    );
    let ca = dir.join("ca.crt");
    let j = sol_load(
        sol.tcp().port(),
        &[
            "fan-in",
            "--websocket",
            "--tls-ca",
            ca.to_str().expect("a UTF-8 temporary path"),
            "--publishers",
            "4",
            "--qos",
            "1",
            "--duration",
            "1",
        ],
    );
    assert!(j["tls"].starts_with("TLSv1_3"), "{j:?}");
    assert_eq!(j["websocket"], "/mqtt", "{j:?}");
    assert!(num(&j, "sent") >= 1000.0, "{j:?}");
    assert_all_delivered(&j, 1.0);
}

#[test]
fn a_websocket_client_on_a_plain_mqtt_port_fails_its_connections() {
    // The upgrade request is not MQTT: Sol closes each connection, and the run ends on time.
    let sol = common::start(|_| {});
    let (j, stderr) = run(
        sol.tcp().port(),
        &[
            "fan-in",
            "--websocket",
            "--publishers",
            "2",
            "--duration",
            "0.2",
        ],
    );
    assert_eq!(num(&j, "errors"), 3.0, "{stderr}");
    assert_eq!(num(&j, "connects"), 0.0, "{stderr}");
}

#[test]
fn ws_path_needs_websocket_and_an_absolute_path() {
    let stderr = refused(&["fan-in", "-p", "1", "--ws-path", "/mqtt"]);
    assert!(stderr.contains("--websocket"), "{stderr}");
    let stderr = refused(&["fan-in", "-p", "1", "--websocket", "--ws-path", "mqtt"]);
    assert!(stderr.contains("absolute path"), "{stderr}");
}
