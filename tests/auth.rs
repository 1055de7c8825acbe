//! Passwords over real sockets: a password file checked at CONNECT, and failed logins
//! rate-limited per source address so password hashing cannot be used to hog the reactor.

mod common;

use common::*;
use sol::auth::password::{hash_password, PasswordFile};
use std::net::SocketAddr;
use std::num::NonZeroU32;

/// CONNACK "not authorised".
const CONNACK_NOT_AUTHORISED: [u8; 4] = [0x20, 0x02, 0x00, 0x05];

/// A server on loopback whose listeners refuse anonymous clients, with one user.
fn server(tag: &str) -> (Running, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("sol-auth-{tag}-{}", std::process::id()));
    let mut file = PasswordFile::default();
    let iterations = NonZeroU32::new(101).expect("non-zero");
    file.set(
        "alice",
        hash_password(b"wonderland", iterations).expect("hash"),
    );
    std::fs::write(&path, file.to_string()).expect("write the password file");
    let running = start(|config| {
        config.security.password_file = Some(path.clone());
        for l in &mut config.listeners {
            l.allow_anonymous = false;
        }
        for p in &mut config.limits.listeners {
            p.allow_anonymous = false;
        }
    });
    (running, path)
}

fn attempt(addr: SocketAddr, password: &str) -> Vec<u8> {
    let mut s = tcp(addr);
    send(&mut s, &login("c", "alice", password));
    expect_closed(&mut s)
}

#[test]
fn password_file_decides_who_connects() {
    let (server, path) = server("connect");
    let mut ok = tcp(server.tcp());
    send(&mut ok, &login("a", "alice", "wonderland"));
    assert_eq!(read_packet(&mut ok), CONNACK_OK);
    assert_eq!(attempt(server.tcp(), "wrong"), CONNACK_NOT_AUTHORISED);
    let mut anon = tcp(server.tcp());
    send(&mut anon, &connect("anon", 60, true));
    assert_eq!(expect_closed(&mut anon), CONNACK_NOT_AUTHORISED);
    send(&mut ok, &PINGREQ);
    assert_eq!(read_packet(&mut ok), PINGRESP);
    let _ = std::fs::remove_file(path);
}

#[test]
fn repeated_failures_from_one_address_are_refused_before_any_hashing() {
    let (server, path) = server("limit");
    let mut connected = tcp(server.tcp());
    send(&mut connected, &login("keep", "alice", "wonderland"));
    assert_eq!(read_packet(&mut connected), CONNACK_OK);
    // The burst of failures: each one is answered.
    for _ in 0..5 {
        assert_eq!(attempt(server.tcp(), "guess"), CONNACK_NOT_AUTHORISED);
    }
    // Then this address is closed at accept: no CONNACK, even with the right password.
    assert_eq!(attempt(server.tcp(), "wonderland"), Vec::<u8>::new());
    // A connection made before keeps working.
    send(&mut connected, &PINGREQ);
    assert_eq!(read_packet(&mut connected), PINGRESP);
    // Another source address (IPv6 loopback, where the machine has it) is not affected.
    let v6 = server.addrs.iter().find_map(|a| match a {
        sol::net::LocalAddr::Tcp(a) if a.is_ipv6() => Some(*a),
        _ => None,
    });
    if let Some(v6) = v6 {
        let mut other = tcp(v6);
        send(&mut other, &login("v6", "alice", "wonderland"));
        assert_eq!(read_packet(&mut other), CONNACK_OK);
    }
    let _ = std::fs::remove_file(path);
}

#[test]
fn sighup_reloads_the_password_file_and_keeps_it_when_the_new_one_is_bad() {
    let dir = std::env::temp_dir().join(format!("sol-auth-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (conf, pw) = (dir.join("sol.conf"), dir.join("passwd"));
    let iterations = NonZeroU32::new(1).expect("non-zero");
    let users = |entries: &[(&str, &[u8])]| {
        let mut file = PasswordFile::default();
        for (user, password) in entries {
            file.set(user, hash_password(password, iterations).expect("hash"));
        }
        std::fs::write(&pw, file.to_string()).expect("write the password file");
    };
    users(&[("alice", b"one")]);
    std::fs::write(
        &conf,
        format!(
            "listener 0 127.0.0.1\nallow_anonymous false\npassword_file {}\n",
            pw.display()
        ),
    )
    .expect("write the config");
    let server = start_with(sol::config::Config::load(&conf).expect("valid config"));
    let mut alice = tcp(server.tcp());
    send(&mut alice, &login("a", "alice", "one"));
    assert_eq!(read_packet(&mut alice), CONNACK_OK);
    // The reload is carried out when the reactor wakes, before it reads the PINGREQ sent
    // after it: one round trip orders the two.
    let reload = |alice: &mut std::net::TcpStream| {
        server.handle.reload();
        send(alice, &PINGREQ);
        assert_eq!(read_packet(alice), PINGRESP);
    };

    users(&[("bob", b"two")]);
    reload(&mut alice);
    let mut bob = tcp(server.tcp());
    send(&mut bob, &login("b", "bob", "two"));
    assert_eq!(
        read_packet(&mut bob),
        CONNACK_OK,
        "the new file is in force"
    );
    assert_eq!(
        attempt(server.tcp(), "one"),
        CONNACK_NOT_AUTHORISED,
        "alice is gone"
    );

    std::fs::write(&pw, "bob:not-a-hash\n").expect("write a broken file");
    reload(&mut alice);
    let mut again = tcp(server.tcp());
    send(&mut again, &login("b2", "bob", "two"));
    assert_eq!(
        read_packet(&mut again),
        CONNACK_OK,
        "a broken file keeps the old one"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
