//! Tests of the bridge keys: a whole Mosquitto block, the defaults, addresses, topic
//! mappings, every error with its exact text, the loop warnings and the bridge's TLS.

use super::super::tests::{errors, ok};
use super::*;
use crate::config::{BridgeConfig, Origin, OutboxLimits};

/// A valid bridge of three lines; tests add a fourth.
const BASE: &str = "connection b\naddress h\ntopic #\n";

/// The error of `BASE` followed by `line` (line 4).
fn error_of(line: &str) -> String {
    errors(&format!("{BASE}{line}\n"))
}

/// The warnings of a valid configuration, one string each.
fn warnings(text: &str) -> Vec<String> {
    ok(text).warnings.iter().map(ToString::to_string).collect()
}

/// This machine's name, as the default client id starts with it.
fn hostname() -> String {
    let host = nix::unistd::gethostname().expect("hostname");
    host.into_string().expect("UTF-8 hostname")
}

fn mapping(
    pattern: &str,
    direction: Direction,
    qos: QoS,
    prefixes: (&str, &str),
    line: usize,
) -> TopicMapping {
    TopicMapping {
        pattern: pattern.into(),
        direction,
        qos,
        local_prefix: prefixes.0.into(),
        remote_prefix: prefixes.1.into(),
        line,
    }
}

fn at(line: usize) -> Origin {
    Origin {
        file: "sol.conf".into(),
        line,
    }
}

#[test]
fn a_whole_mosquitto_block_parses_to_its_bridge() {
    let config = ok("\
listener 1883
connection cloud
address mqtt.example.com:8883 10.0.0.2
round_robin true
topic sensors/# out 1 site/ gw1/
topic cmd/# IN 2 \"\" gw1/
topic \"\" both 0 status/local gw1/status
remote_clientid gw1
local_clientid gw1-local
remote_username gw
remote_password secret
local_username bridge
local_password ignored
cleansession true
local_cleansession false
keepalive_interval 30
restart_timeout 10
start_type lazy
idle_timeout 120
threshold 5
notifications false
notification_topic gw/state
notifications_local_only true
try_private false
bridge_protocol_version mqttv50
bridge_attempt_unsubscribe false
bridge_outgoing_retain false
bridge_max_packet_size 64k
bridge_receive_maximum 20
bridge_session_expiry_interval 3600
bridge_bind_address 192.168.1.10
bridge_outbox_messages 500
bridge_outbox_bytes 1M
bridge_outbox_policy refuse_new
bridge_outbox_qos0 true
bridge_max_topic_alias 10
bridge_require_ocsp false
");
    let expected = BridgeConfig {
        addresses: vec![
            BridgeAddress {
                host: "mqtt.example.com".into(),
                port: 8883,
            },
            BridgeAddress {
                host: "10.0.0.2".into(),
                port: 1883,
            },
        ],
        round_robin: true,
        topics: vec![
            mapping(
                "sensors/#",
                Direction::Out,
                QoS::AtLeastOnce,
                ("site/", "gw1/"),
                5,
            ),
            mapping("cmd/#", Direction::In, QoS::ExactlyOnce, ("", "gw1/"), 6),
            mapping(
                "",
                Direction::Both,
                QoS::AtMostOnce,
                ("status/local", "gw1/status"),
                7,
            ),
        ],
        remote_clientid: "gw1".into(),
        local_clientid: "gw1-local".into(),
        remote_username: Some("gw".into()),
        remote_password: Some("secret".into()),
        local_username: Some("bridge".into()),
        cleansession: true,
        local_cleansession: false,
        keepalive: 30,
        restart: RestartTimeout::Constant(Duration::from_secs(10)),
        start_type: StartType::Lazy,
        idle_timeout: Duration::from_secs(120),
        threshold: 5,
        notifications: false,
        notification_topic: Some("gw/state".into()),
        notifications_local_only: true,
        try_private: false,
        protocol: BridgeProtocol::V5,
        attempt_unsubscribe: false,
        outgoing_retain: false,
        max_packet_size: 65536,
        receive_maximum: 20,
        session_expiry: Some(3600),
        bind_address: Some("192.168.1.10".parse().expect("ip")),
        tls: None,
        outbox: OutboxLimits {
            max_messages: 500,
            max_bytes: 1 << 20,
            policy: OutboxPolicy::RefuseNew,
            queue_qos0: true,
        },
        ..BridgeConfig::new("cloud".into(), at(2))
    };
    assert_eq!(config.bridges, [expected]);
    assert_eq!(config.listeners.len(), 1);
    let t = &config.bridges[0].topics;
    assert_eq!(
        (t[0].local_filter(), t[0].remote_filter()),
        ("site/sensors/#".into(), "gw1/sensors/#".into())
    );
    assert_eq!(
        (t[1].local_filter(), t[1].remote_filter()),
        ("cmd/#".into(), "gw1/cmd/#".into())
    );
    assert_eq!(
        (t[2].local_filter(), t[2].remote_filter()),
        ("status/local".into(), "gw1/status".into())
    );
    let w = warnings("connection b\naddress h\ntopic #\nlocal_password x\n");
    assert_eq!(w, [format!("sol.conf:4: {LOCAL_PASSWORD}")]);
}

#[test]
fn defaults_follow_mosquitto() {
    let config = ok(BASE);
    let host = hostname();
    let expected = BridgeConfig {
        addresses: vec![BridgeAddress {
            host: "h".into(),
            port: DEFAULT_BRIDGE_PORT,
        }],
        topics: vec![mapping("#", Direction::Out, QoS::AtMostOnce, ("", ""), 3)],
        remote_clientid: format!("{host}.b"),
        local_clientid: format!("local.{host}.b"),
        ..BridgeConfig::new("b".into(), at(1))
    };
    assert_eq!(config.bridges, [expected]);
    let b = &config.bridges[0];
    assert_eq!(
        b.restart,
        RestartTimeout::Backoff {
            base: Duration::from_secs(5),
            cap: Duration::from_secs(30)
        }
    );
    assert_eq!(
        (b.keepalive, b.threshold, b.idle_timeout),
        (60, 10, Duration::from_secs(60))
    );
    assert!(b.notifications && b.try_private && b.attempt_unsubscribe && b.outgoing_retain);
    assert_eq!(b.protocol, BridgeProtocol::V311);
    assert_eq!(b.outbox, OutboxLimits::default());
    // The local id follows a remote id given after it.
    let b = &ok(&format!("{BASE}remote_clientid up\n")).bridges[0];
    assert_eq!(
        (b.remote_clientid.as_str(), b.local_clientid.as_str()),
        ("up", "local.up")
    );
}

#[test]
fn local_cleansession_defaults_to_cleansession_whatever_the_order() {
    let clean = |text: &str| {
        let b = &ok(text).bridges[0];
        (b.cleansession, b.local_cleansession)
    };
    assert_eq!(clean(BASE), (false, false));
    assert_eq!(clean(&format!("{BASE}cleansession true\n")), (true, true));
    assert_eq!(
        clean("connection b\nlocal_cleansession false\naddress h\ntopic #\ncleansession true\n"),
        (true, false)
    );
    assert_eq!(
        clean(&format!("{BASE}local_cleansession true\n")),
        (false, true)
    );
}

#[test]
fn addresses_take_ports_and_ipv6_as_mosquitto_does() {
    let config =
        ok("connection b\naddress [::1]:8883 ::1:1884 [fe80::1] h:1 fe80::2%eth0:5\ntopic #\n");
    let got: Vec<(&str, u16)> = config.bridges[0]
        .addresses
        .iter()
        .map(|a| (a.host.as_str(), a.port))
        .collect();
    assert_eq!(
        got,
        [
            ("::1", 8883),
            ("::1", 1884),
            ("fe80::1", 1883),
            ("h", 1),
            ("fe80::2%eth0", 5)
        ]
    );
    let ipv6 = "an IPv6 address needs its port: write [ADDRESS]:PORT, or ADDRESS:PORT as \
                Mosquitto does";
    for (address, why) in [
        ("fe80::1", ipv6.to_string()),
        ("::1", ipv6.into()),
        ("[h]:1883", ipv6.into()),
        ("[::1", "expected [IPV6]:PORT".into()),
        ("[::1]1883", "expected [IPV6]:PORT".into()),
        (":1883", "no host".into()),
        ("h:0", "port: '0' is out of range (1 to 65535)".into()),
        ("h:x", "port: expected an integer, found 'x'".into()),
    ] {
        assert_eq!(
            errors(&format!("connection b\naddress ok {address}\ntopic #\n")),
            format!("sol.conf:2: address: '{address}': {why}")
        );
    }
    assert_eq!(
        error_of("addresses h2"),
        "sol.conf:4: addresses: the bridge's addresses are already given at line 2; list \
         them all on one line"
    );
    assert_eq!(
        errors("connection b\naddress\ntopic #\n"),
        "sol.conf:2: address: missing value"
    );
}

#[test]
fn topic_lines_read_patterns_prefixes_and_comments() {
    let topics = |lines: &str| {
        ok(&format!("connection b\naddress h\n{lines}")).bridges[0]
            .topics
            .clone()
    };
    // `#` as the pattern is a filter; after it, a comment.
    assert_eq!(
        topics("topic # # everything\ntopic a/+ both 2 # comment\n"),
        [
            mapping("#", Direction::Out, QoS::AtMostOnce, ("", ""), 3),
            mapping("a/+", Direction::Both, QoS::ExactlyOnce, ("", ""), 4),
        ]
    );
    // Mosquitto's table: a pattern with either prefix empty, and one topic remapped.
    assert_eq!(
        topics("topic p in 0 L/ \"\"\ntopic p out 1 \"\" R/\ntopic \"\" out 0 local remote\ntopic x out 0 L/\n"),
        [
            mapping("p", Direction::In, QoS::AtMostOnce, ("L/", ""), 3),
            mapping("p", Direction::Out, QoS::AtLeastOnce, ("", "R/"), 4),
            mapping("", Direction::Out, QoS::AtMostOnce, ("local", "remote"), 5),
            mapping("x", Direction::Out, QoS::AtMostOnce, ("L/", ""), 6),
        ]
    );
    // The same line twice is kept once, as in Mosquitto.
    assert_eq!(
        warnings(&format!("{BASE}topic # out 0\n")),
        ["sol.conf:4: topic: the same mapping as line 3; ignored, as Mosquitto does"]
    );
    assert_eq!(ok(&format!("{BASE}topic #\n")).bridges[0].topics.len(), 1);
}

#[test]
fn topic_errors_say_what_is_wrong() {
    let empty = "an empty pattern (\"\") maps one topic to another: it needs both a local and \
                 a remote prefix";
    for (line, why) in [
        ("topic", "missing value".to_string()),
        (
            "topic a/# sideways",
            "expected out, in or both after the pattern, found 'sideways'".into(),
        ),
        ("topic a/# in 3", "QoS: '3' is out of range (0 to 2)".into()),
        (
            "topic a/# in 1 l/# r/",
            "the local prefix 'l/#' may not contain the wildcards + or #".into(),
        ),
        (
            "topic a/# in 1 l/ r/+",
            "the remote prefix 'r/+' may not contain the wildcards + or #".into(),
        ),
        ("topic \"\" in 1 \"\" r/", empty.into()),
        ("topic \"\" in 1 l/", empty.into()),
        ("topic \"\"", empty.into()),
        (
            "topic a/b in 0 x/ y/ z",
            "unexpected extra argument 'z'".into(),
        ),
        (
            "topic a#",
            "the local filter 'a#' is not valid: '#' must be the last level, alone \
             [MQTT-4.7.1-2]"
                .into(),
        ),
        (
            "topic a+ out 0 l/ r/",
            "the local filter 'l/a+' is not valid: '+' must fill a whole level [MQTT-4.7.1-3]"
                .into(),
        ),
    ] {
        assert_eq!(
            error_of(line),
            format!("sol.conf:4: topic: {why}"),
            "{line}"
        );
    }
    // The local filter within the topic caps; the remote one has the upstream's.
    assert_eq!(
        errors("max_topic_levels 2\nconnection b\naddress h\ntopic a/b/c\n"),
        "sol.conf:4: topic: the local filter 'a/b/c' is not valid: more levels than \
         max_topic_levels"
    );
    ok("max_topic_levels 2\nconnection b\naddress h\ntopic c in 0 a/ x/y/z/\n");
}

#[test]
fn every_bad_value_is_an_error_at_its_line() {
    for (line, why) in [
        (
            "keepalive_interval 4",
            "keepalive_interval: '4' is out of range (5 to 65535)",
        ),
        (
            "restart_timeout 0",
            "restart_timeout: '0' is out of range (1 to 86400)",
        ),
        (
            "restart_timeout 30 10",
            "restart_timeout: the cap (10 s) is lower than the base (30 s)",
        ),
        (
            "restart_timeout 1 2 3",
            "restart_timeout: expected one number of seconds (a constant wait) or two, BASE \
             CAP (a back-off from BASE up to CAP)",
        ),
        (
            "start_type manual",
            "start_type: expected automatic, lazy or once, found 'manual'",
        ),
        (
            "bridge_protocol_version mqttv5",
            "bridge_protocol_version: expected mqttv31, mqttv311 or mqttv50, found 'mqttv5'",
        ),
        (
            "bridge_outbox_policy drop_newest",
            "bridge_outbox_policy: expected drop_oldest or refuse_new, found 'drop_newest'",
        ),
        (
            "bridge_bind_address eth0",
            "bridge_bind_address: expected an IP address of this machine, found 'eth0'",
        ),
        (
            "notification_topic a/#",
            "notification_topic: 'a/#' is not a topic name: it may not contain the wildcards \
             + or #",
        ),
        (
            "bridge_outbox_bytes 0",
            "bridge_outbox_bytes: '0' is out of range (at least 1)",
        ),
        (
            "bridge_outbox_messages 0",
            "bridge_outbox_messages: '0' is out of range (at least 1)",
        ),
        (
            "bridge_receive_maximum 0",
            "bridge_receive_maximum: '0' is out of range (1 to 65535)",
        ),
        (
            "idle_timeout 0",
            "idle_timeout: '0' is out of range (1 to 86400)",
        ),
        ("threshold 0", "threshold: '0' is out of range (at least 1)"),
        (
            "bridge_session_expiry_interval -1",
            "bridge_session_expiry_interval: '-1' is out of range (at least 0)",
        ),
        (
            "bridge_max_packet_size 1G",
            "bridge_max_packet_size: expected a size in bytes (an integer, optionally \
             followed by k or M), found '1G'",
        ),
        (
            "round_robin yes",
            "round_robin: expected true or false, found 'yes'",
        ),
        ("remote_clientid", "remote_clientid: missing value"),
        (
            "password secret",
            "remote_password: needs remote_username too (an MQTT 3.1.1 CONNECT carries no \
             password without a user name [MQTT-3.1.2-22])",
        ),
    ] {
        assert_eq!(error_of(line), format!("sol.conf:4: {why}"), "{line}");
    }
    assert!(error_of("bridge_require_ocsp true")
        .starts_with("sol.conf:4: bridge_require_ocsp true: not supported: rustls"));
}

#[test]
fn refused_bridge_keys_say_why() {
    for key in [
        "bridge_identity",
        "bridge_psk",
        "bridge_ciphers",
        "bridge_ciphers_tls1.3",
        "bridge_tcp_keepalive",
        "bridge_tcp_user_timeout",
        "bridge_reload_type",
    ] {
        let e = error_of(&format!("{key} x"));
        assert!(
            e.starts_with(&format!("sol.conf:4: {key}: not supported: ")),
            "{e}"
        );
        assert!(e.len() > 140, "a reason and what to do instead: {e}");
    }
    assert_eq!(
        warnings(&format!("{BASE}bridge_max_topic_alias 10\n")),
        [
            "sol.conf:4: bridge_max_topic_alias: accepted, but a maximum: Sol's bridge sends \
          its upstream no topic aliases, which MQTT 5.0 allows"
        ]
    );
}

#[test]
fn bridge_keys_need_a_connection_line() {
    assert_eq!(
        errors("topic #\naddress h\nlistener 1883\n"),
        "sol.conf:1: topic: applies to a bridge; put it after a 'connection' line\n\
         sol.conf:2: address: applies to a bridge; put it after a 'connection' line"
    );
    // A listener inside a block opens a listener; bridge keys after it stay the bridge's.
    let config = ok("connection b\nlistener 1883\naddress h\ntopic #\nsocket_domain ipv4\n");
    assert_eq!(config.bridges[0].addresses[0].host, "h");
    assert_eq!(config.listeners[0].port, 1883);
    assert_eq!(
        errors("connection\n"),
        "sol.conf:1: connection: missing value"
    );
}

#[test]
fn each_bridge_needs_an_address_and_a_topic() {
    assert_eq!(
        errors("connection b\nlisten 1\n"),
        "sol.conf:1: connection b: no 'address' line: a bridge needs its upstream's \
         HOST[:PORT]\n\
         sol.conf:1: connection b: no 'topic' line: a bridge forwards only the topics its \
         topic lines name\n\
         sol.conf:2: unknown option 'listen'"
    );
}

#[test]
fn names_and_local_client_ids_are_unique() {
    assert_eq!(
        errors(&format!("{BASE}{BASE}")),
        "sol.conf:4: connection b: a bridge of that name is at line 1"
    );
    assert_eq!(
        errors(&format!(
            "{BASE}local_clientid x\nconnection c\naddress h\ntopic #\nlocal_clientid x\n"
        )),
        "sol.conf:5: connection c: its local_clientid 'x' is also the one of bridge 'b' \
         (line 1); set local_clientid (or remote_clientid) so that they differ"
    );
    let many: String = (0..=MAX_BRIDGES)
        .map(|n| format!("connection b{n}\naddress h\ntopic #\n"))
        .collect();
    assert_eq!(
        errors(&many),
        format!(
            "sol.conf:{}: connection b{MAX_BRIDGES}: more than {MAX_BRIDGES} bridges",
            3 * MAX_BRIDGES + 1
        )
    );
    let most: String = many
        .lines()
        .take(3 * MAX_BRIDGES)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(ok(&most).bridges.len(), MAX_BRIDGES);
}

#[test]
fn a_both_topic_echoed_by_a_3_x_upstream_is_a_loop_warning() {
    let text = "connection b\naddress h\ntry_private false\ntopic a/# both\n";
    assert_eq!(
        warnings(text),
        [
            "sol.conf:4: topic: messages may loop: bridge 'b' sends messages upstream on 'a/#' \
          (line 4) and subscribes there to 'a/#', which matches them; with try_private false \
          an MQTT 3.x upstream cannot tell the bridge from a client and sends them back. Set \
          try_private true (the default)"
        ]
    );
    // An `in` topic whose remote filter covers an `out` topic's, on an MQTT 3.1 upstream.
    let text = "connection b\naddress h\ntry_private false\nbridge_protocol_version mqttv31\n\
                topic up/x out 0 \"\" r/\ntopic # in 0 \"\" r/\n";
    let w = warnings(text);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with(
            "sol.conf:6: topic: messages may loop: bridge 'b' sends messages upstream on \
             'r/up/x' (line 5) and subscribes there to 'r/#', which matches them"
        ),
        "{w:?}"
    );
    // try_private (the default) or MQTT 5.0, or disjoint remote filters: no warning.
    assert!(warnings("connection b\naddress h\ntopic a/# both\n").is_empty());
    let v5 = "connection b\naddress h\ntry_private false\nbridge_protocol_version mqttv50\n\
              topic a/# both\n";
    assert!(warnings(v5).is_empty());
    assert!(
        warnings("connection b\naddress h\ntry_private false\ntopic a/# in\ntopic b/# out\n")
            .is_empty()
    );
}

#[test]
fn what_one_bridge_brings_in_and_another_sends_out_is_a_loop_warning() {
    let text = "connection a\naddress h\ntopic x/# in\nconnection b\naddress k\ntopic x/+ out\n";
    assert_eq!(
        warnings(text),
        [
            "sol.conf:3: topic: messages may loop: what bridge 'a' brings in on 'x/#' is sent \
          upstream by bridge 'b' (its topic 'x/+', line 6); if the upstream of 'b' passes \
          them back to the upstream of 'a' (the same broker, or brokers bridged together), \
          they circle for ever"
        ]
    );
    // Local filters that share no topic, `$SYS` apart from `#`, or both `in`: none.
    for text in [
        "connection a\naddress h\ntopic x/# in\nconnection b\naddress k\ntopic y/# out\n",
        "connection a\naddress h\ntopic $SYS/# in\nconnection b\naddress k\ntopic # out\n",
        "connection a\naddress h\ntopic x/# in\nconnection b\naddress k\ntopic x/# in\n",
    ] {
        assert!(warnings(text).is_empty(), "{text}");
    }
}

#[cfg(feature = "tls")]
#[test]
fn tls_keys_need_a_ca_and_files_are_checked_at_their_line() {
    assert_eq!(
        error_of("bridge_insecure true"),
        "sol.conf:4: bridge_insecure: applies to a bridge with TLS, which needs bridge_cafile \
         or bridge_capath (the CAs the upstream's certificate must chain to)"
    );
    assert_eq!(
        errors(&format!(
            "{BASE}bridge_cafile /nonexistent/ca.crt\nbridge_certfile /nonexistent/c.crt\n"
        )),
        "sol.conf:5: bridge_certfile: needs bridge_keyfile too"
    );
    let e = errors(&format!(
        "{BASE}bridge_alpn mqtt\nbridge_cafile /nonexistent/ca.crt\n"
    ));
    assert!(
        e.starts_with("sol.conf:5: bridge_cafile: /nonexistent/ca.crt: "),
        "{e}"
    );
    assert_eq!(
        error_of("bridge_tls_version tlsv1.1"),
        "sol.conf:4: bridge_tls_version: expected tlsv1.2 or tlsv1.3, found 'tlsv1.1'"
    );

    let dir = crate::tls::test_certs("bridge-conf");
    let text = format!(
        "{BASE}bridge_cafile {d}/ca.crt\nbridge_certfile {d}/client.crt\n\
         bridge_keyfile {d}/client.key\nbridge_insecure true\nbridge_alpn mqtt\n\
         bridge_tls_version tlsv1.3\n",
        d = dir.display()
    );
    let tls = ok(&text).bridges[0].tls.clone().expect("TLS");
    assert_eq!(
        tls.settings,
        UpstreamTlsSettings {
            cafile: Some(dir.join("ca.crt")),
            capath: None,
            certfile: Some(dir.join("client.crt")),
            keyfile: Some(dir.join("client.key")),
            insecure: true,
            alpn: Some("mqtt".into()),
            min_version: TlsVersion::Tls13,
        }
    );
    assert_eq!(tls.client.alpn_protocols, [b"mqtt".to_vec()]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(not(feature = "tls"))]
#[test]
fn without_tls_the_bridge_tls_keys_are_refused() {
    assert_eq!(
        error_of("bridge_cafile /etc/ssl/ca.crt"),
        "sol.conf:4: bridge_cafile: this build of Sol has no TLS (built without the 'tls' \
         feature)"
    );
}

/// Mosquitto's example file's bridge section, uncommented, with values where it gives
/// none: it parses, but for the two TLS-PSK keys.
#[cfg(feature = "tls")]
#[test]
fn mosquittos_example_bridge_section_parses() {
    let example = include_str!("../../../../tests/configs/mosquitto-2.0-example.conf");
    let section = example
        .split("\n# Bridges\n")
        .nth(1)
        .and_then(|s| s.split("\n# External config files\n").next())
        .expect("the example's bridge section");
    let dir = crate::tls::test_certs("bridge-example");
    let d = dir.display();
    let values = [
        ("connection", "example".to_string()),
        ("address", "127.0.0.1:1884 [::1]:1885".into()),
        ("topic", "sensors/# both 1 local/ remote/".into()),
        ("bridge_bind_address", "127.0.0.1".into()),
        ("local_clientid", "local.example".into()),
        (
            "notification_topic",
            "$SYS/broker/connection/example/state".into(),
        ),
        ("remote_clientid", "example".into()),
        ("remote_password", "secret".into()),
        ("remote_username", "gateway".into()),
        ("bridge_cafile", format!("{d}/ca.crt")),
        ("bridge_capath", format!("{d}")),
        ("bridge_alpn", "mqtt".into()),
        ("bridge_certfile", format!("{d}/client.crt")),
        ("bridge_keyfile", format!("{d}/client.key")),
        ("bridge_identity", "gateway".into()),
        ("bridge_psk", "deadbeef".into()),
    ];
    let mut text = String::new();
    for line in section.lines() {
        let Some(setting) = line.strip_prefix('#') else {
            continue;
        };
        let key = setting.split(' ').next().unwrap_or_default();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            continue;
        }
        match values.iter().find(|(k, _)| *k == key) {
            Some((_, value)) => text.push_str(&format!("{key} {value}\n")),
            None => text.push_str(&format!("{setting}\n")),
        }
    }
    assert_eq!(text.lines().count(), 30, "{text}");
    let e = errors(&text);
    let refused: Vec<&str> = e
        .lines()
        .map(|l| l.split(": ").nth(1).unwrap_or_default())
        .collect();
    assert_eq!(refused, ["bridge_identity", "bridge_psk"], "{e}");
    let accepted: String = text
        .lines()
        .filter(|l| !l.starts_with("bridge_identity") && !l.starts_with("bridge_psk"))
        .map(|l| format!("{l}\n"))
        .collect();
    let config = ok(&accepted);
    let b = &config.bridges[0];
    assert_eq!((b.name.as_str(), b.addresses.len()), ("example", 2));
    assert!(b.tls.is_some());
    let _ = std::fs::remove_dir_all(&dir);
}
