//! A bridge over TLS with a client certificate, configured from a file as a user would
//! (`bridge_cafile`, `bridge_certfile`, `bridge_keyfile`), to upstreams that require the
//! certificate: a second Sol and Debian's Mosquitto. Without the certificate the
//! upstream refuses the handshake and the bridge stays down.

#![cfg(feature = "tls")]

mod common;
#[allow(dead_code)] // its certificates and listeners; its client is rumqttc's here
#[path = "tls/fixtures.rs"]
mod tls_fixtures;

use common::bridge::{next, subscribed, wait_up, wait_value};
use common::{reserve_addr, Mosquitto, SolProcess};
use rumqttc::QoS;
use sol::config::Config;
use std::net::SocketAddr;
use std::path::Path;
use tls_fixtures::{certs, client_cert_required, start_file, tls_listener};

/// A Sol bridged to `up` over TLS, `topic data/# both 1 "" site/`, presenting the
/// client certificate `cert` (none: `None`).
fn bridged(dir: &Path, up: SocketAddr, cert: Option<&str>) -> common::Running {
    let d = dir.display();
    let cert = cert.map_or_else(String::new, |c| {
        format!("bridge_certfile {d}/{c}.crt\nbridge_keyfile {d}/{c}.key\n")
    });
    let text = format!(
        "listener 0 127.0.0.1\nallow_anonymous true\nsys_interval 1\n\
         connection b1\naddress {up}\ntopic data/# both 1 \"\" site/\n\
         bridge_cafile {d}/ca.crt\n{cert}restart_timeout 1\n"
    );
    let path = dir.join("local.conf");
    std::fs::write(&path, text).expect("write config");
    common::start_with(Config::load(&path).expect("a valid bridge configuration"))
}

/// The upstream's plain and TLS addresses.
struct Up {
    plain: SocketAddr,
    tls: SocketAddr,
}

/// Messages go both ways through the bridge between `here` and `up` (the subscriber
/// upstream on its plain listener).
fn both_ways(here: SocketAddr, up: SocketAddr) {
    wait_up(here, "b1");
    let central = subscribed(up, "central", "site/data/#", QoS::AtLeastOnce);
    let device = subscribed(here, "device", "data/cmd", QoS::AtLeastOnce);
    device
        .client
        .publish("data/t", QoS::AtLeastOnce, false, "21.5")
        .expect("publish");
    assert_eq!(next(&central).0, "site/data/t");
    central
        .client
        .publish("site/data/cmd", QoS::AtLeastOnce, false, "go")
        .expect("publish");
    let (topic, payload, _) = next(&device);
    assert_eq!((topic.as_str(), &payload[..]), ("data/cmd", &b"go"[..]));
}

/// A Sol upstream with a plain listener and a TLS one that requires a client
/// certificate.
fn sol_upstream(dir: &Path) -> (common::Running, Up) {
    let text = format!(
        "listener 0 127.0.0.1\nallow_anonymous true\n{}",
        tls_listener(dir, &client_cert_required(dir))
    );
    let upstream = start_file(dir, &text);
    let tcp: Vec<SocketAddr> = upstream
        .addrs
        .iter()
        .filter_map(|a| match a {
            sol::net::LocalAddr::Tcp(a) => Some(*a),
            _ => None,
        })
        .collect();
    let up = Up {
        plain: tcp[0],
        tls: tcp[1],
    };
    (upstream, up)
}

#[test]
fn a_bridge_presents_its_client_certificate_to_a_sol_upstream() {
    let dir = certs("bridge-sol");
    let (upstream, up) = sol_upstream(&dir);
    let local = bridged(&dir, up.tls, Some("client"));
    both_ways(local.tcp(), up.plain);
    drop(upstream);
}

#[test]
fn a_bridge_presents_its_client_certificate_to_a_mosquitto_upstream() {
    let dir = certs("bridge-mosq");
    // Mosquitto started as root reads its files as the mosquitto user: the throw-away
    // key must be readable to it.
    use std::os::unix::fs::PermissionsExt;
    for (path, mode) in [(dir.clone(), 0o755), (dir.join("server.key"), 0o644)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let d = dir.display();
    // Held while Mosquitto starts: it listens with SO_REUSEADDR, as Sol does.
    let tls = reserve_addr();
    let upstream = Mosquitto::start(
        "bridge-tls",
        &format!(
            "listener {} 127.0.0.1\ncafile {d}/ca.crt\ncertfile {d}/server.crt\n\
             keyfile {d}/server.key\nrequire_certificate true\n",
            tls.addr.port()
        ),
    );
    let local = bridged(&dir, tls.addr, Some("client"));
    both_ways(local.tcp(), upstream.addr);
}

#[test]
fn without_a_client_certificate_the_bridge_stays_down() {
    let dir = certs("bridge-nocert");
    let (upstream, up) = sol_upstream(&dir);
    let local = bridged(&dir, up.tls, None);
    drop(local);
    // The same configuration in the real binary: it says why, and stays down.
    let mut sol = SolProcess::start(&dir.join("local.conf"));
    let here = sol.tcp_addr();
    let line = sol.expect_line("bridge b1: 127.0.0.1");
    assert!(
        line.to_lowercase().contains("certificate"),
        "the reason: {line}"
    );
    let again = sol.expect_line("bridge b1: 127.0.0.1");
    assert!(
        again.to_lowercase().contains("certificate"),
        "and again: {again}"
    );
    wait_value(here, "$SYS/broker/connection/b1/state", "0");
    drop(upstream);
}
