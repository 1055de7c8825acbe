//! Tests of the parser: every key, every error kind with its exact text, listener scoping
//! and the anonymous-access defaults.

use super::super::*;
use crate::log::{LogConfig, LogDestinations, LogTypes};
use std::time::Duration;

pub(super) fn ok(text: &str) -> Config {
    match Config::parse(text, "sol.conf") {
        Ok(config) => config,
        Err(errors) => panic!("unexpected errors:\n{errors}"),
    }
}

pub(super) fn errors(text: &str) -> String {
    match Config::parse(text, "sol.conf") {
        Ok(config) => panic!("expected errors, parsed {config:?}"),
        Err(errors) => errors.to_string(),
    }
}

#[test]
fn empty_file_gives_the_embedded_defaults() {
    assert_eq!(ok(""), Config::embedded_defaults());
    assert_eq!(
        ok("# only a comment\n\n   \n\t# indented comment\n"),
        Config::embedded_defaults()
    );
}

#[test]
fn every_general_key_is_parsed() {
    let config = ok("\
max_connections 50
max_inflight_messages 5
max_queued_messages 100
max_queued_bytes 64k
queue_qos0_messages true
message_size_limit 1000
max_packet_size 2048
max_keepalive 300
sys_interval 0
persistent_client_expiration 2h
allow_zero_length_clientid false
auto_id_prefix gen-
retain_available false
max_qos 1
max_topic_alias 10
user nobody
set_tcp_nodelay true
allow_duplicate_messages false
retry_interval 20
");
    let l = &config.limits;
    assert_eq!(l.max_connections, 50);
    assert!(!config.max_connections_auto);
    assert_eq!(l.max_inflight_messages, 5);
    assert_eq!(l.max_queued_messages, 100);
    assert_eq!(l.max_queued_bytes, 65536);
    assert!(l.queue_qos0_messages);
    assert_eq!(l.message_size_limit, 1000);
    assert_eq!(l.max_packet_size, 2048);
    assert_eq!(l.max_keepalive, 300);
    assert_eq!(l.sys_interval, Duration::ZERO);
    assert_eq!(
        l.persistent_client_expiration,
        Some(Duration::from_secs(7200))
    );
    assert!(!l.allow_zero_length_clientid);
    assert_eq!(l.auto_id_prefix, "gen-");
    assert!(!l.retain_available);
    assert_eq!(l.max_qos, crate::codec::QoS::AtLeastOnce);
    assert_eq!(l.max_topic_alias, 10);
    assert_eq!(config.user.as_deref(), Some("nobody"));
}

#[test]
fn every_sol_key_is_parsed() {
    let config = ok("\
connect_timeout 5
slow_consumer_timeout 12.5
max_publisher_stall 0.5
max_inflight_incoming 10
max_subscriptions_per_client 7
max_subscriptions 70
max_topic_length 200
max_topic_levels 8
max_client_id_length 64
max_retained_messages 30
max_retained_bytes 1M
max_offline_sessions 0
buffer_block_size 2k
max_buffer_memory 2M
large_message_memory 20M
");
    let l = &config.limits;
    assert_eq!(l.connect_timeout, Duration::from_secs(5));
    assert_eq!(l.slow_consumer_timeout, Duration::from_millis(12_500));
    assert_eq!(l.max_publisher_stall, Duration::from_millis(500));
    assert_eq!(l.max_inflight_incoming, 10);
    assert_eq!(l.max_subscriptions_per_client, 7);
    assert_eq!(l.max_subscriptions, 70);
    assert_eq!(l.max_topic_length, 200);
    assert_eq!(l.max_topic_levels, 8);
    assert_eq!(l.max_client_id_length, 64);
    assert_eq!(l.max_retained_messages, 30);
    assert_eq!(l.max_retained_bytes, 1 << 20);
    assert_eq!(l.max_offline_sessions, 0);
    assert_eq!(config.memory.block_size, 2048);
    assert_eq!(config.memory.max_buffer_memory, 2 << 20);
    assert_eq!(l.large_message_memory, 20 << 20);
}

#[test]
fn logging_keys_follow_mosquitto() {
    let config = ok(
        "log_dest syslog\nlog_dest stdout\nlog_type error\nlog_type subscribe\n\
                     log_timestamp false\nconnection_messages false\n",
    );
    assert_eq!(
        config.log.dest,
        LogDestinations {
            syslog: true,
            stdout: true,
            ..LogDestinations::default()
        }
    );
    assert_eq!(
        config.log.types,
        LogTypes {
            error: true,
            subscribe: true,
            ..LogTypes::NONE
        }
    );
    assert!(!config.log.timestamp);
    assert!(!config.log.connection_messages);

    assert_eq!(ok("").log, LogConfig::default());
    assert_eq!(ok("log_type all\n").log.types, LogTypes::ALL);
    assert_eq!(
        ok("log_type all\nlog_type none\nlog_type debug\n")
            .log
            .types,
        LogTypes {
            debug: true,
            ..LogTypes::NONE
        }
    );
    let none = ok("log_dest stderr\nlog_dest topic\nlog_dest file /tmp/x\nlog_dest none\n");
    assert_eq!(none.log.dest, LogDestinations::default());
}

#[test]
fn log_destinations_file_and_topic_add_up() {
    let config =
        ok("log_dest file /var/log/mosquitto/mosquitto.log\nlog_dest topic\nlog_dest stderr\n");
    assert_eq!(
        config.log.dest,
        LogDestinations {
            stderr: true,
            topic: true,
            file: Some("/var/log/mosquitto/mosquitto.log".into()),
            ..LogDestinations::default()
        }
    );
    // The rest of the line is the path.
    let spaced = ok("log_dest file /data/my logs/sol.log # rotated daily\n");
    assert_eq!(spaced.log.dest.file, Some("/data/my logs/sol.log".into()));
    assert!(
        !spaced.log.dest.stderr,
        "the first log_dest replaces the default"
    );
}

#[test]
fn log_format_facility_and_websockets_keys_are_read() {
    let config = ok("log_timestamp_format %Y-%m-%d %H:%M:%S\nlog_facility 5\n\
                     log_type websockets\nwebsockets_log_level 255\n");
    assert_eq!(
        config.log.timestamp_format.as_deref(),
        Some("%Y-%m-%d %H:%M:%S")
    );
    assert_eq!(config.log.facility, Some(5));
    assert_eq!(
        config.log.types,
        LogTypes {
            websockets: true,
            ..LogTypes::NONE
        }
    );
    assert_eq!(config.log.websockets_log_level, 255);
    assert_eq!(ok("log_facility 0\n").log.facility, Some(0));
    assert_eq!(ok("").log.facility, None);
}

#[test]
fn bad_logging_values_are_errors_with_their_line() {
    let cases = [
        ("log_dest", "sol.conf:1: log_dest: missing value"),
        ("log_dest file", "sol.conf:1: log_dest: 'file' needs a path, as in: log_dest file /var/log/sol.log"),
        ("log_dest file /a\nlog_dest file /b", "sol.conf:2: log_dest: only one file destination may be configured (already /a)"),
        ("log_dest topic extra", "sol.conf:1: log_dest: unexpected extra argument 'extra'"),
        ("log_dest dlt", "sol.conf:1: log_dest: 'dlt' (automotive Diagnostic Log and Trace) is not supported; use syslog, file, stdout, stderr or topic"),
        ("log_timestamp_format", "sol.conf:1: log_timestamp_format: missing value (a strftime format such as %Y-%m-%dT%H:%M:%S)"),
        ("log_facility 8", "sol.conf:1: log_facility: '8' is out of range (0 to 7)"),
        ("log_facility local5", "sol.conf:1: log_facility: expected an integer, found 'local5'"),
        ("websockets_log_level -1", "sol.conf:1: websockets_log_level: '-1' is out of range (0 to 2147483647)"),
        ("log_type internal", "sol.conf:1: log_type: expected error, warning, notice, information, debug, subscribe, unsubscribe, websockets, all or none, found 'internal'"),
    ];
    for (text, expected) in cases {
        assert_eq!(errors(text), expected, "{text}");
    }
}

#[test]
fn mosquitto_zero_values_map_to_sol_caps() {
    let config = ok("max_inflight_messages 0\nmax_queued_messages 0\nmax_packet_size 0\n");
    assert_eq!(config.limits.max_inflight_messages, 65535);
    assert_eq!(config.limits.max_queued_messages, usize::MAX);
    // "No limit" on the packet size is bounded by the large-message allowance.
    assert_eq!(
        config.limits.max_packet_size,
        config.limits.large_message_memory
    );
    let config = ok("max_packet_size 0\nmax_buffer_memory 1024M\n");
    assert_eq!(config.limits.max_packet_size, PROTOCOL_MAX_PACKET_SIZE);
    assert!(ok("max_connections -1\n").max_connections_auto);
}

#[test]
fn trailing_comments_crlf_and_tabs_are_accepted() {
    let config = ok("max_keepalive\t60 # one minute\r\nlistener 1883 # all interfaces\r\n");
    assert_eq!(config.limits.max_keepalive, 60);
    assert_eq!(config.listeners[0].bind, Bind::Any);
}

#[test]
fn unknown_key_is_reported_with_its_line() {
    assert_eq!(
        errors("\n\nmax_keepalive 60\nmax_kepalive 60\n"),
        "sol.conf:4: unknown option 'max_kepalive'"
    );
}

#[test]
fn password_and_acl_files_are_kept_and_global() {
    let config = ok("password_file /etc/sol/passwd\nacl_file /etc/sol/acl\nlistener 1883\n");
    assert_eq!(
        config.security,
        SecurityFiles {
            password_file: Some("/etc/sol/passwd".into()),
            acl_file: Some("/etc/sol/acl".into()),
            password_file_at: Some(Origin {
                file: "sol.conf".into(),
                line: 1
            }),
            acl_file_at: Some(Origin {
                file: "sol.conf".into(),
                line: 2
            }),
        }
    );
    assert_eq!(
        errors("per_listener_settings true\nlistener 1883\npassword_file /etc/pw\n"),
        "sol.conf:3: password_file: Sol does not support it per listener yet; set it before \
         the first 'listener' line"
    );
}

#[test]
fn unsupported_mosquitto_keys_are_named() {
    assert_eq!(
        errors("listener 1883\nallow_anonymous false\n\n\n\n\nmaximum_qos 1\n"),
        "sol.conf:7: 'maximum_qos' is a Mosquitto option that Sol does not support yet"
    );
    // Bridges are supported: their keys need a `connection` line (parse/bridge.rs).
    assert_eq!(
        errors("address h:1883\n"),
        "sol.conf:1: address: applies to a bridge; put it after a 'connection' line"
    );
}

#[test]
fn mosquitto_keys_that_describe_sol_are_accepted() {
    // Debian's and Home Assistant's mosquitto.conf contain these.
    let config = ok("persistence false\nlistener 1883\nprotocol mqtt\npersistence 0\n");
    assert_eq!(config, ok("listener 1883\n"));
    // A WebSocket listener needs a listener to apply to.
    assert_eq!(
        errors("protocol websockets"),
        "sol.conf:1: protocol: applies to a listener; put it after a 'listener' line"
    );
    assert_eq!(
        errors("persistence\n"),
        "sol.conf:1: persistence: missing value"
    );
}

#[test]
fn persistence_keys_have_mosquittos_meaning() {
    let debian = ok("listener 1883\n");
    assert!(
        !debian.persistence.enabled,
        "off unless asked for, as in Mosquitto"
    );
    assert_eq!(debian.persistence.store_settings(), None);
    let c = ok("persistence true\npersistence_location /var/lib/mosquitto/\n");
    assert!(c.persistence.enabled && !c.persistence.sync);
    let settings = c.persistence.store_settings().expect("on");
    assert_eq!(settings.path, Path::new("/var/lib/mosquitto/sol.db"));
    assert_eq!(settings.autosave_interval, 1800, "Mosquitto's default");
    assert!(!settings.on_changes && !settings.sync_acks);
    // Without a trailing slash too, and the other keys.
    let c = ok(
        "persistence 1\npersistence_location /data\npersistence_file broker.db\n\
                autosave_interval 60\nautosave_on_changes true\npersistence_sync true\n",
    );
    let settings = c.persistence.store_settings().expect("on");
    assert_eq!(settings.path, Path::new("/data/broker.db"));
    assert_eq!(settings.autosave_interval, 60);
    assert!(settings.on_changes && settings.sync_acks);
    // No location: the working directory, as in Mosquitto.
    let c = ok("persistence true\n");
    assert_eq!(c.persistence.path(), Path::new("sol.db"));
    // persistence_sync without persistence holds nothing.
    assert_eq!(
        ok("persistence_sync true\n").persistence.store_settings(),
        None
    );
    assert_eq!(
        errors("autosave_interval -1\n"),
        "sol.conf:1: autosave_interval: '-1' is out of range (0 to 2147483647)"
    );
    assert_eq!(
        errors("persistence maybe\n"),
        "sol.conf:1: persistence: expected true or false, found 'maybe'"
    );
}

#[test]
fn malformed_values_have_exact_messages() {
    let cases = [
        ("max_keepalive", "sol.conf:1: max_keepalive: missing value"),
        ("max_keepalive 60 70", "sol.conf:1: max_keepalive: unexpected extra argument '70'"),
        ("max_keepalive sixty", "sol.conf:1: max_keepalive: expected an integer, found 'sixty'"),
        ("max_keepalive 65536", "sol.conf:1: max_keepalive: '65536' is out of range (0 to 65535)"),
        ("retain_available yes", "sol.conf:1: retain_available: expected true or false, found 'yes'"),
        ("max_queued_bytes 1G", "sol.conf:1: max_queued_bytes: expected a size in bytes (an integer, optionally followed by k or M), found '1G'"),
        ("connect_timeout 1e3", "sol.conf:1: connect_timeout: expected a number of seconds such as 10 or 0.5, found '1e3'"),
        ("connect_timeout 0", "sol.conf:1: connect_timeout: must be greater than 0"),
        ("persistent_client_expiration 3600", "sol.conf:1: persistent_client_expiration: expected a duration such as 2h, 1d, 1w, 1m or 1y (a positive integer and a unit), found '3600'"),
        ("max_connections 0", "sol.conf:1: max_connections: must be -1 (automatic) or at least 1"),
        ("max_connections -2", "sol.conf:1: max_connections: '-2' is out of range (-1 to 1000000)"),
        ("max_packet_size 19", "sol.conf:1: max_packet_size: '19' is out of range (20 to 268435460)"),
        ("max_packet_size 268435461", "sol.conf:1: max_packet_size: '268435461' is out of range (20 to 268435460)"),
        ("message_size_limit 268435456", "sol.conf:1: message_size_limit: '268435456' is out of range (0 to 268435455)"),
        ("max_inflight_messages 65536", "sol.conf:1: max_inflight_messages: '65536' is out of range (0 to 65535)"),
        ("max_client_id_length 22", "sol.conf:1: max_client_id_length: '22' is out of range (23 to 65535)"),
        ("max_subscriptions 0", "sol.conf:1: max_subscriptions: '0' is out of range (at least 1)"),
        ("sys_interval -1", "sol.conf:1: sys_interval: '-1' is out of range (0 to 65535)"),
        ("buffer_block_size 100", "sol.conf:1: buffer_block_size: '100' is out of range (256 to 1048576)"),
        ("log_dest console", "sol.conf:1: log_dest: expected syslog, stderr, stdout, topic, file PATH or none, found 'console'"),
        ("log_type verbose", "sol.conf:1: log_type: expected error, warning, notice, information, debug, subscribe, unsubscribe, websockets, all or none, found 'verbose'"),
        ("socket_domain ipv5\nlistener 1883", "sol.conf:1: socket_domain: expected ipv4 or ipv6, found 'ipv5'"),
        ("set_tcp_nodelay maybe", "sol.conf:1: set_tcp_nodelay: expected true or false, found 'maybe'"),
    ];
    for (text, expected) in cases {
        assert_eq!(errors(text), expected, "{text}");
    }
}

#[test]
fn all_errors_are_collected_in_line_order() {
    let text = "\
listener 1883
max_keepalive x
bogus 1
psk_file /etc/psk
listener
max_connections 10
max_connections 20
";
    assert_eq!(
        errors(text),
        "sol.conf:2: max_keepalive: expected an integer, found 'x'\n\
         sol.conf:3: unknown option 'bogus'\n\
         sol.conf:4: psk_file: not supported: TLS-PSK is not available: rustls, Sol's TLS \
         library, has no pre-shared-key cipher suites. Give the listener a certificate \
         (certfile and keyfile; clients check it with the CA), and authenticate clients \
         with password_file or client certificates (require_certificate)\n\
         sol.conf:5: listener: missing port\n\
         sol.conf:7: max_connections: already set at line 6; Sol has one connection pool for all listeners, so the cap is global and set once"
    );
}

#[test]
fn invalid_utf8_is_reported_per_line() {
    let bytes = b"max_keepalive 60\nauto_id_prefix \xc3\x28\nmax_keepalive \xff\n";
    let errors = super::parse(bytes, "sol.conf", None).expect_err("invalid");
    assert_eq!(
        errors.to_string(),
        "sol.conf:2: the line is not valid UTF-8\nsol.conf:3: the line is not valid UTF-8"
    );
    // A UTF-8 byte order mark is skipped.
    assert!(super::parse(b"\xef\xbb\xbfmax_keepalive 60\n", "sol.conf", None).is_ok());
}

#[test]
fn listeners_and_their_addresses() {
    let config = ok("\
listener 1883
listener 1884 192.168.1.1
listener 1885 broker.local
listener 0 /run/sol.sock
listener 1886 /tmp/sol.sock
allow_anonymous true
");
    let binds: Vec<_> = config
        .listeners
        .iter()
        .map(|l| (l.port, l.bind.clone()))
        .collect();
    assert_eq!(
        binds,
        vec![
            (1883, Bind::Any),
            (1884, Bind::Host("192.168.1.1".into())),
            (1885, Bind::Host("broker.local".into())),
            (0, Bind::Unix("/run/sol.sock".into())),
            (1886, Bind::Unix("/tmp/sol.sock".into())),
        ]
    );
    assert_eq!(config.limits.listeners.len(), 5);
    // Mosquitto allows a relative path with port 0.
    assert_eq!(
        ok("listener 0 sol.sock").listeners[0].bind,
        Bind::Unix("sol.sock".into())
    );
    // Port 0 with an IP address is an ephemeral TCP port, for tests.
    assert_eq!(
        ok("listener 0 127.0.0.1").listeners[0].bind,
        Bind::Host("127.0.0.1".into())
    );
    assert_eq!(
        ok("listener 0 ::1").listeners[0].bind,
        Bind::Host("::1".into())
    );
}

#[test]
fn listener_errors() {
    assert_eq!(
        errors("listener 0"),
        "sol.conf:1: listener: port 0 needs a Unix socket path (listener 0 /path/to/socket)"
    );
    assert_eq!(
        errors("listener 70000"),
        "sol.conf:1: listener: '70000' is out of range (0 to 65535)"
    );
    assert_eq!(
        errors("listener 1883 a b"),
        "sol.conf:1: listener: unexpected extra argument 'b'"
    );
    let long = format!("listener 0 /{}", "x".repeat(107));
    assert_eq!(
        errors(&long),
        "sol.conf:1: listener: the Unix socket path is 108 bytes long, the limit is 107"
    );
    assert_eq!(
        errors("listener 1883\nlistener 1883\n"),
        "sol.conf:2: listener: the same socket is already defined at line 1"
    );
    assert_eq!(
        errors("port 1883\nlistener 1883\n"),
        "sol.conf:2: listener: the same socket is already defined at line 1"
    );
    assert_eq!(
        errors("listener 0 /run/a\nlistener 1 /run/a\n"),
        "sol.conf:2: listener: the same socket is already defined at line 1"
    );
    // Port 0 twice: two ports the system picks, two sockets.
    assert_eq!(
        ok("listener 0 127.0.0.1\nlistener 0 127.0.0.1\n")
            .listeners
            .len(),
        2
    );
    // Same port, different addresses: fine.
    assert_eq!(
        ok("listener 1883 127.0.0.1\nlistener 1883 ::1\n")
            .listeners
            .len(),
        2
    );
}

#[test]
fn shorthand_ipv4_addresses_are_refused() {
    // The system's resolver reads these as other addresses; the listener would wait for
    // an address it never gets.
    for (host, read) in [
        ("1.2.3", "1.2.0.3"),
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("010.0.0.1", "8.0.0.1"),
        ("2130706433", "127.0.0.1"),
    ] {
        assert_eq!(
            errors(&format!("listener 18832 {host}\n")),
            format!(
                "sol.conf:1: listener: '{host}' is not a dotted-quad IPv4 address: the system \
                 would read it as {read} (write the four numbers in decimal, without leading \
                 zeros)"
            )
        );
    }
    for host in ["256.1.1.1", "1.2.3.4.5", "1.2.3.4.", "1.2.3.09", "0x"] {
        assert_eq!(
            errors(&format!("listener 1883 {host}\n")),
            format!(
                "sol.conf:1: listener: '{host}' is neither an IPv4 address (four numbers \
                 0-255 in decimal, without leading zeros) nor a host name"
            )
        );
    }
    assert_eq!(
        errors("bind_address 127.1\n"),
        "sol.conf:1: bind_address: '127.1' is not a dotted-quad IPv4 address: the system \
         would read it as 127.0.0.1 (write the four numbers in decimal, without leading zeros)"
    );
    // Dotted quads, IPv6 and names are addresses as written.
    for host in [
        "1.2.3.4",
        "0.0.0.0",
        "::1",
        "::ffff:1.2.3.4",
        "broker.lan",
        "host-1",
        "1.2.3.x",
    ] {
        let config = ok(&format!("listener 1883 {host}\n"));
        assert_eq!(config.listeners[0].bind, Bind::Host(host.into()));
    }
}

#[test]
fn socket_domain_is_listener_scoped() {
    let config = ok(
        "listener 1883\nsocket_domain ipv4\nlistener 1884\nlistener 1885 ::1\nsocket_domain ipv6\n",
    );
    let domains: Vec<_> = config.listeners.iter().map(|l| l.socket_domain).collect();
    assert_eq!(
        domains,
        vec![Some(SocketDomain::Ipv4), None, Some(SocketDomain::Ipv6)]
    );
    assert_eq!(
        errors("listener 1883 127.0.0.1\nsocket_domain ipv6\n"),
        "sol.conf:2: socket_domain: '127.0.0.1' is not an IPv6 address"
    );
    assert_eq!(
        errors("listener 0 /run/sol.sock\nsocket_domain ipv4\n"),
        "sol.conf:2: socket_domain: does not apply to a Unix socket listener"
    );
    assert_eq!(
        errors("socket_domain ipv4\nlistener 1883\n"),
        "sol.conf:1: socket_domain: appears before any 'listener' line and there is no default listener ('port'); move it after a 'listener' line"
    );
    assert_eq!(
        errors("socket_domain ipv4\n"),
        "sol.conf:1: socket_domain: applies to a listener; put it after a 'listener' line"
    );
    // Before any listener, it applies to the default listener.
    let config = ok("socket_domain ipv6\nport 1883\n");
    assert_eq!(config.listeners[0].socket_domain, Some(SocketDomain::Ipv6));
}

#[test]
fn port_and_bind_address_make_the_default_listener() {
    let config = ok("port 1884\nbind_address 10.0.0.1\nlistener 8883\n");
    assert_eq!(config.listeners[0].port, 1884);
    assert_eq!(config.listeners[0].bind, Bind::Host("10.0.0.1".into()));
    assert_eq!(config.listeners[1].port, 8883);
    let config = ok("bind_address 10.0.0.1\n");
    assert_eq!(config.listeners.len(), 1);
    assert_eq!(config.listeners[0].port, 1883);
    let config = ok("port 1884\nport 1885\n");
    assert_eq!(config.listeners.len(), 1);
    assert_eq!(config.listeners[0].port, 1885);
    assert_eq!(config.listeners[0].bind, Bind::Any);
    assert_eq!(
        errors("port 0"),
        "sol.conf:1: port: '0' is out of range (1 to 65535)"
    );
    assert_eq!(
        errors("listener 1883\nbind_address 10.0.0.1\n"),
        "sol.conf:2: bind_address: it sets the address of the default listener ('port'); give the address on the 'listener' line instead (listener PORT ADDRESS)"
    );
}

#[test]
fn allow_anonymous_defaults_follow_mosquitto_2() {
    // No listener: the embedded loopback listeners, anonymous allowed.
    assert!(ok("max_keepalive 60\n")
        .listeners
        .iter()
        .all(|l| l.allow_anonymous));
    // Listeners in the file: anonymous refused unless allowed.
    let config = ok("listener 1883\nlistener 0 /run/sol.sock\n");
    assert!(config.listeners.iter().all(|l| !l.allow_anonymous));
    assert!(config.limits.listeners.iter().all(|p| !p.allow_anonymous));
    assert!(ok("port 1883\n")
        .listeners
        .iter()
        .all(|l| !l.allow_anonymous));
    // Global setting, wherever it is.
    let config = ok("listener 1883\nlistener 1884\nallow_anonymous true\n");
    assert!(config.listeners.iter().all(|l| l.allow_anonymous));
    assert!(config.limits.listeners.iter().all(|p| p.allow_anonymous));
    // An explicit false also applies to the embedded defaults.
    assert!(ok("allow_anonymous false\n")
        .listeners
        .iter()
        .all(|l| !l.allow_anonymous));
}

#[test]
fn per_listener_settings_scope_allow_anonymous() {
    let config = ok("\
per_listener_settings true
listener 1883 127.0.0.1
allow_anonymous true
listener 1884
listener 0 /run/sol.sock
allow_anonymous true
");
    let anonymous: Vec<_> = config.listeners.iter().map(|l| l.allow_anonymous).collect();
    assert_eq!(anonymous, vec![true, false, true]);
    let policies: Vec<_> = config
        .limits
        .listeners
        .iter()
        .map(|p| p.allow_anonymous)
        .collect();
    assert_eq!(policies, anonymous);

    // Before any listener: the default listener.
    let config = ok("per_listener_settings true\nallow_anonymous true\nport 1883\nlistener 1884\n");
    let anonymous: Vec<_> = config.listeners.iter().map(|l| l.allow_anonymous).collect();
    assert_eq!(anonymous, vec![true, false]);
    // No listener at all: the embedded defaults.
    let config = ok("per_listener_settings true\nallow_anonymous false\n");
    assert!(config.listeners.iter().all(|l| !l.allow_anonymous));
    assert_eq!(
        errors("per_listener_settings true\nallow_anonymous true\nlistener 1884\n"),
        "sol.conf:2: allow_anonymous: with per_listener_settings true, this line applies to the default listener ('port'), which this file does not define; move it after a 'listener' line"
    );
    // Must come first.
    assert_eq!(
        errors("allow_anonymous true\nper_listener_settings true\nlistener 1883\n"),
        "sol.conf:2: per_listener_settings: must come before any allow_anonymous, allow_zero_length_clientid or auto_id_prefix line (line 1)"
    );
    // Keys Sol keeps global are refused inside a listener in this mode.
    assert_eq!(
        errors("per_listener_settings true\nlistener 1883\nauto_id_prefix x-\n"),
        "sol.conf:3: auto_id_prefix: Sol does not support it per listener yet; set it before the first 'listener' line"
    );
    // Once true, stays true (Mosquitto).
    let config = ok("per_listener_settings true\nper_listener_settings false\nlistener 1883\nallow_anonymous true\nlistener 1884\n");
    assert_eq!(
        config
            .listeners
            .iter()
            .map(|l| l.allow_anonymous)
            .collect::<Vec<_>>(),
        vec![true, false]
    );
}

#[test]
fn settings_after_a_broken_listener_do_not_leak() {
    // The socket_domain belongs to the invalid listener, not to the valid one before.
    let text = "per_listener_settings true\nlistener 1883\nlistener x\nallow_anonymous true\nsocket_domain ipv4\n";
    assert_eq!(
        errors(text),
        "sol.conf:3: listener: expected an integer, found 'x'"
    );
}

#[test]
fn caps_that_only_make_sense_together() {
    assert_eq!(
        errors("max_queued_messages 0\nmax_queued_bytes 0\n"),
        "sol.conf:2: max_queued_messages 0 and max_queued_bytes 0 together leave queues unbounded; Sol needs at least one of the two caps"
    );
    assert_eq!(
        errors("max_packet_size 2M\nmax_buffer_memory 1M\nlarge_message_memory 1M\n"),
        "sol.conf:3: max_packet_size (2097152) is larger than both large_message_memory (1048576) and max_buffer_memory (1048576): such a packet could never be read"
    );
    // A large PUBLISH needs the large-message allowance, not the buffer pool.
    let config = ok("max_packet_size 2M\nmax_buffer_memory 1M\n");
    assert_eq!(config.limits.max_packet_size, 2 << 20);
    assert_eq!(ok("max_packet_size 0\n").limits.max_packet_size, 12 << 20);
    assert_eq!(
        errors("buffer_block_size 1M\nmax_buffer_memory 512k\n"),
        "sol.conf:2: buffer_block_size (1048576) is larger than max_buffer_memory (524288)"
    );
    // Each cap alone is fine.
    assert_eq!(ok("max_queued_bytes 0\n").limits.max_queued_bytes, 0);
}

#[test]
fn persistent_client_expiration_units() {
    for (text, secs) in [
        ("1h", 3600),
        ("1d", 86_400),
        ("2w", 1_209_600),
        ("1m", 2_592_000),
        ("1y", 31_536_000),
    ] {
        let config = ok(&format!("persistent_client_expiration {text}\n"));
        assert_eq!(
            config.limits.persistent_client_expiration,
            Some(Duration::from_secs(secs))
        );
    }
    assert_eq!(ok("").limits.persistent_client_expiration, None);
}

#[cfg(feature = "tls")]
#[test]
fn tls_keys_need_a_listener_and_both_files() {
    assert_eq!(
        errors("certfile /x.crt\n"),
        "sol.conf:1: certfile: applies to a listener; put it after a 'listener' line"
    );
    assert_eq!(
        errors("listener 8883\nallow_anonymous true\ncertfile /x.crt\n"),
        "sol.conf:3: certfile: a TLS listener also needs 'keyfile'"
    );
    assert_eq!(
        errors("listener 8883\nkeyfile /x.key\n"),
        "sol.conf:2: keyfile: a TLS listener also needs 'certfile'"
    );
    assert_eq!(
        errors("listener 8883\ncafile /ca.crt\n"),
        "sol.conf:1: listener: has TLS keys (cafile, capath, crlfile, require_certificate, \
         disable_client_cert_date_checks, use_identity_as_username, tls_version, ciphers or \
         ciphers_tls1.3) but no 'certfile' and 'keyfile'"
    );
    for key in ["crlfile /ca.crl", "disable_client_cert_date_checks true"] {
        let name = key.split(' ').next().expect("key");
        assert_eq!(
            errors(&format!(
                "listener 8883\ncertfile /x.crt\nkeyfile /x.key\n{key}\n"
            )),
            format!(
                "sol.conf:4: {name}: only applies with 'require_certificate true' (client \
                 certificates are not requested otherwise)"
            )
        );
    }
    assert_eq!(
        errors("listener 8883\ncertfile /x.crt\nkeyfile /x.key\nrequire_certificate true\n"),
        "sol.conf:4: require_certificate: needs 'cafile' or 'capath' to verify client certificates"
    );
    assert!(errors("listener 8883\ntls_version tlsv1.3\n")
        .starts_with("sol.conf:1: listener: has TLS keys"));
    assert_eq!(
        errors("listener 8883\ntls_version tlsv1.1\n"),
        "sol.conf:2: tls_version: expected tlsv1.2 or tlsv1.3 (TLS 1.0 and 1.1 are not \
         supported), found 'tlsv1.1'"
    );
    // Missing files are errors at the certfile line, naming the file.
    let e = errors("listener 8883\ncertfile /nonexistent/x.crt\nkeyfile /nonexistent/x.key\n");
    assert!(
        e.starts_with("sol.conf:2: certfile: /nonexistent/x.crt: "),
        "{e}"
    );
}

#[cfg(feature = "tls")]
#[test]
fn use_identity_as_username_needs_require_certificate() {
    let listener = "listener 8883\ncertfile /x.crt\nkeyfile /x.key\n";
    let needs = "use_identity_as_username: only applies with 'require_certificate true' \
                 (client certificates are not requested otherwise)";
    assert_eq!(
        errors(&format!("{listener}use_identity_as_username true\n")),
        format!("sol.conf:4: {needs}")
    );
    assert_eq!(
        errors(&format!(
            "{listener}require_certificate false\ncafile /ca.crt\nuse_identity_as_username true\n"
        )),
        format!("sol.conf:6: {needs}")
    );
    assert_eq!(
        errors("listener 8883\nuse_identity_as_username true\n"),
        "sol.conf:1: listener: has TLS keys (cafile, capath, crlfile, require_certificate, \
         disable_client_cert_date_checks, use_identity_as_username, tls_version, ciphers or \
         ciphers_tls1.3) but no 'certfile' and 'keyfile'"
    );
    assert!(
        errors(&format!("{listener}use_identity_as_username maybe\n")).ends_with(
            "sol.conf:4: use_identity_as_username: expected true or false, found 'maybe'"
        )
    );
    // false needs nothing (the files are what fails here, at the certfile line).
    assert!(
        errors(&format!("{listener}use_identity_as_username false\n"))
            .starts_with("sol.conf:2: certfile: /x.crt: ")
    );
}

#[cfg(not(feature = "tls"))]
#[test]
fn tls_keys_are_an_error_without_the_feature() {
    assert_eq!(
        errors("listener 8883\ncertfile /x.crt\n"),
        "sol.conf:2: certfile: this build of Sol has no TLS (built without the 'tls' feature)"
    );
}
