//! TLS listeners with real TLS clients: rustls (from Rust), `mosquitto_pub`/`_sub` with
//! `--cafile` and Python paho-mqtt with `ssl` (`rumqttc` over TLS: `tests/rumqttc/tls.rs`).
//! Certificates are made at test time by `tests/tls/make-certs.sh` (openssl CLI) in a
//! temporary directory: a CA, a server certificate, a client certificate, a revoked one
//! with the CA's CRL, and an unrelated CA. A missing client tool fails its test with
//! what to install (README, Quick start); nothing is skipped.

#![cfg(feature = "tls")]

mod common;
#[path = "tls/fixtures.rs"]
mod tls_fixtures;

use common::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConnection, RootCertStore, StreamOwned};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tls_fixtures::*;

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A rustls client trusting `ca`, with a client certificate `cert` (`NAME.crt`/`.key`).
fn tls_client(addr: SocketAddr, dir: &Path, ca: &str, cert: Option<&str>) -> Tls {
    let config = client_config(dir, ca, cert);
    let name = ServerName::try_from("localhost").expect("name");
    let conn = ClientConnection::new(Arc::new(config), name).expect("client");
    StreamOwned::new(conn, tcp(addr))
}

/// CONNECT over TLS; the CONNACK, or the error that ended the connection.
fn try_connect(s: &mut Tls, id: &str) -> std::io::Result<Vec<u8>> {
    s.write_all(&connect(id, 60, true))?;
    s.flush()?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head)?;
    Ok(head.to_vec())
}

/// Writes a packet over TLS and pushes the records out.
fn tsend(s: &mut Tls, bytes: &[u8]) {
    s.write_all(bytes).expect("write");
    s.flush().expect("flush");
}

#[test]
fn publish_and_subscribe_over_tls_with_rustls() {
    let dir = certs("pubsub");
    let server = start_file(&dir, &tls_listener(&dir, ""));
    let mut sub = tls_client(server.tcp(), &dir, "ca", None);
    assert_eq!(try_connect(&mut sub, "sub").expect("connack"), CONNACK_OK);
    tsend(&mut sub, &subscribe(1, "t/#", 1));
    assert_eq!(read_packet(&mut sub), suback(1, 1));
    let mut publ = tls_client(server.tcp(), &dir, "ca", None);
    assert_eq!(try_connect(&mut publ, "pub").expect("connack"), CONNACK_OK);
    // Small ones, then one larger than a TLS record and than the gather buffer.
    let big = vec![0x5a; 200_000];
    for (i, payload) in [&b"one"[..], b"two", &big].iter().enumerate() {
        let id = u16::try_from(i + 1).expect("small");
        tsend(&mut publ, &publish("t/x", payload, 1, Some(id), false));
        assert_eq!(read_packet(&mut publ), ack(0x40, id));
        let got = parse_publish(&read_packet(&mut sub));
        assert_eq!(got.topic, "t/x");
        assert_eq!(&got.payload[..], *payload);
    }
    // A plain MQTT client on the TLS port gets no CONNACK.
    let mut plain = tcp(server.tcp());
    plain.write_all(&connect("plain", 60, true)).expect("write");
    let got = expect_closed(&mut plain);
    assert!(
        !got.starts_with(&CONNACK_OK),
        "plaintext must not be served"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn client_certificates_wrong_ca_and_revoked_are_checked() {
    let dir = certs("clientcert");
    let extra = client_cert_required(&dir);
    let server = start_file(&dir, &tls_listener(&dir, &extra));
    let mut alice = tls_client(server.tcp(), &dir, "ca", Some("client"));
    assert_eq!(
        try_connect(&mut alice, "alice").expect("connack"),
        CONNACK_OK
    );
    for (who, cert) in [
        ("no certificate", None),
        ("revoked", Some("revoked")),
        ("other CA", Some("other-client")),
    ] {
        let mut s = tls_client(server.tcp(), &dir, "ca", cert);
        assert!(try_connect(&mut s, who).is_err(), "{who} must be refused");
    }
    // The client does not trust the server: refused on the client's side.
    let mut s = tls_client(server.tcp(), &dir, "other-ca", Some("client"));
    assert!(try_connect(&mut s, "wrong-ca").is_err());
    // Alice is unaffected.
    tsend(&mut alice, &PINGREQ);
    assert_eq!(read_packet(&mut alice), PINGRESP);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn client_certificate_dates_are_checked_unless_disabled() {
    let dir = certs("dates");
    let listener = |extra: &str| {
        let lines = format!(
            "cafile {d}/dates-ca.crt\nrequire_certificate true\n{extra}",
            d = dir.display()
        );
        tls_listener(&dir, &lines)
    };
    let connects = |server: &Running, cert: &str| {
        let mut s = tls_client(server.tcp(), &dir, "ca", Some(cert));
        try_connect(&mut s, cert).is_ok_and(|connack| connack == CONNACK_OK)
    };
    // By default an expired or not yet valid client certificate is refused.
    let strict = start_file(&dir, &listener(""));
    assert!(connects(&strict, "timeless"));
    assert!(!connects(&strict, "expired"), "expired in 2002");
    assert!(!connects(&strict, "future"), "valid from 2090");
    drop(strict);
    // disable_client_cert_date_checks: the dates are ignored, nothing else is.
    let lenient = start_file(&dir, &listener("disable_client_cert_date_checks true\n"));
    assert!(connects(&lenient, "timeless"));
    assert!(connects(&lenient, "expired"), "dates ignored");
    assert!(connects(&lenient, "future"), "dates ignored");
    assert!(!connects(&lenient, "client"), "the CA is still checked");
    // The one chain still refused: a client that expired before its intermediate CA was
    // issued, so no single verification time fits both (the verifier gives up after
    // DATE_MOVES moves). Root CA dates are never checked (webpki keeps only the key).
    assert!(
        !connects(&lenient, "orphan"),
        "never valid with its intermediate"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stalled_handshake_is_closed_by_the_connect_timeout() {
    let dir = certs("stall");
    let body = format!("{}connect_timeout 0.3\n", tls_listener(&dir, ""));
    let server = start_file(&dir, &body);
    // A client connected before keeps working throughout.
    let mut steady = tls_client(server.tcp(), &dir, "ca", None);
    assert_eq!(
        try_connect(&mut steady, "steady").expect("connack"),
        CONNACK_OK
    );
    // Half a ClientHello record header, then nothing.
    let mut s = tcp(server.tcp());
    s.write_all(&[0x16, 0x03, 0x01]).expect("write");
    let started = std::time::Instant::now();
    expect_closed(&mut s);
    assert!(started.elapsed() < Duration::from_secs(5));
    // And a handshake that completes but sends no CONNECT.
    let mut t = tls_client(server.tcp(), &dir, "ca", None);
    let mut b = [0u8; 1];
    assert!(matches!(t.read(&mut b), Ok(0) | Err(_)), "closed, no data");
    tsend(&mut steady, &PINGREQ);
    assert_eq!(read_packet(&mut steady), PINGRESP);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reload_replaces_certificates_keeps_clients_and_survives_a_bad_file() {
    let dir = certs("reload");
    let server = start_file(&dir, &tls_listener(&dir, ""));
    let mut old = tls_client(server.tcp(), &dir, "ca", None);
    assert_eq!(try_connect(&mut old, "old").expect("connack"), CONNACK_OK);

    // A new server certificate from another CA: make it with the script's second CA.
    let next = certs("reload-next");
    for f in ["server.crt", "server.key"] {
        std::fs::copy(next.join(f), dir.join(f)).expect("copy");
    }
    // The new server cert is signed by next's "ca"; save it as "ca2" for the client.
    std::fs::copy(next.join("ca.crt"), dir.join("ca2.crt")).expect("copy");
    server.handle.reload();
    let mut fresh = tls_client(server.tcp(), &dir, "ca2", None);
    // The reload is asynchronous: an attempt may still see the old certificate; each
    // attempt is a round trip through the reactor, so a bounded number suffices.
    let mut ok = try_connect(&mut fresh, "fresh").ok() == Some(CONNACK_OK.to_vec());
    for _ in 0..50 {
        if ok {
            break;
        }
        fresh = tls_client(server.tcp(), &dir, "ca2", None);
        ok = try_connect(&mut fresh, "fresh").ok() == Some(CONNACK_OK.to_vec());
    }
    assert!(ok, "new connections get the new certificate");
    tsend(&mut old, &PINGREQ);
    assert_eq!(
        read_packet(&mut old),
        PINGRESP,
        "the old client stays connected"
    );

    // A broken certificate file: logged, the running one kept.
    std::fs::write(dir.join("server.crt"), b"not a certificate").expect("write");
    server.handle.reload();
    for i in 0..3 {
        let mut s = tls_client(server.tcp(), &dir, "ca2", None);
        assert_eq!(
            try_connect(&mut s, &format!("after-bad-{i}")).expect("connack"),
            CONNACK_OK
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&next);
}

/// `mosquitto_pub`/`mosquitto_sub` (`tool`) for 127.0.0.1:`port` trusting `cafile`,
/// killed after 10 s by `timeout`.
fn mosquitto(tool: &str, port: u16, cafile: &Path) -> Command {
    let mut c = Command::new("timeout");
    c.args([
        "10",
        tool,
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "--cafile",
    ])
    .arg(cafile);
    c
}

/// `mosquitto_pub ARGS` over TLS to 127.0.0.1:`port` trusting `cafile`, which must
/// succeed; its output is shown only if it does not.
fn mosquitto_pub(port: u16, cafile: &Path, args: &[&str]) {
    let out = mosquitto("mosquitto_pub", port, cafile)
        .args(args)
        .output()
        .expect("mosquitto_pub");
    assert!(
        out.status.success(),
        "mosquitto_pub over TLS: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a child that was started with a piped stderr printed there (it is killed first,
/// so this does not wait for more than the `timeout` it runs under).
fn stderr_of(child: &mut std::process::Child) -> String {
    let _ = child.kill();
    let mut err = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut err);
    }
    let _ = child.wait();
    err
}

#[test]
fn mosquitto_clients_with_cafile() {
    assert!(
        Command::new("mosquitto_pub").arg("--help").output().is_ok(),
        "mosquitto_pub not found: install mosquitto-clients (README, Quick start)"
    );
    let dir = certs("mosquitto");
    let server = start_file(&dir, &tls_listener(&dir, ""));
    let port = server.tcp().port();
    let ca = dir.join("ca.crt");
    let mut sub = mosquitto("mosquitto_sub", port, &ca)
        .args(["-t", "m/t", "-C", "2", "-i", "msub"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mosquitto_sub");
    let mut lines = BufReader::new(sub.stdout.take().expect("piped stdout")).lines();
    let mut next_line = || {
        let line = lines.next().and_then(Result::ok);
        line.unwrap_or_else(|| panic!("mosquitto_sub ended: {}", stderr_of(&mut sub)))
    };
    // Retained, so mosquitto_sub gets it whenever its subscription is made: the line it
    // prints says the subscription exists, and the next message is delivered live.
    mosquitto_pub(
        port,
        &ca,
        &["-t", "m/t", "-m", "subscribed", "-q", "1", "-r"],
    );
    assert_eq!(next_line(), "subscribed");
    mosquitto_pub(port, &ca, &["-t", "m/t", "-m", "over-tls", "-q", "1"]);
    assert_eq!(next_line(), "over-tls");
    assert!(sub.wait().expect("wait").success(), "mosquitto_sub -C 2");
    // A client trusting another CA is refused.
    let out = mosquitto("mosquitto_pub", port, &dir.join("other-ca.crt"))
        .args(["-t", "m/t", "-m", "x"])
        .output()
        .expect("mosquitto_pub");
    assert!(!out.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn clock_at_1970_verifies_client_dates_against_the_floor() {
    use rustls::server::WebPkiClientVerifier;
    use std::time::{SystemTime, UNIX_EPOCH};
    let dir = certs("clock");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(dir.join("ca.crt")).expect("ca") {
        roots.add(c.expect("ca pem")).expect("ca cert");
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .expect("verifier");
    let client = CertificateDer::from_pem_file(dir.join("client.crt")).expect("client");
    let at_1970 = UNIX_EPOCH + Duration::from_secs(5);
    // The raw clock: "not valid yet", every client locked out.
    let (raw, floored) = sol::tls::effective_now(at_1970, 0);
    assert!(!floored);
    assert!(verifier.verify_client_cert(&client, &[], raw).is_err());
    // Floored at a time when the certificate is valid (the broker uses its build time;
    // here the test's start, since the certificate was made after the build).
    let floor = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let (now, floored) = sol::tls::effective_now(at_1970, floor);
    assert!(floored);
    verifier
        .verify_client_cert(&client, &[], now)
        .expect("valid against the floor");
    // A clock that is set wins over the floor.
    let (now, floored) = sol::tls::effective_now(SystemTime::now(), 1);
    assert!(!floored);
    verifier
        .verify_client_cert(&client, &[], now)
        .expect("valid now");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn paho_with_ssl_and_a_client_certificate() {
    let python = paho_python();
    let dir = certs("paho");
    let extra = client_cert_required(&dir);
    let body = format!(
        "{}{}",
        tls_listener(&dir, ""),
        tls_listener(&dir, &extra).replace("allow_anonymous true\n", "")
    );
    let server = start_file(&dir, &body);
    let ports: Vec<u16> = server
        .addrs
        .iter()
        .filter_map(|a| match a {
            sol::net::LocalAddr::Tcp(a) => Some(a.port()),
            sol::net::LocalAddr::Unix(_) => None,
        })
        .collect();
    assert_eq!(
        ports.len(),
        2,
        "a server-only TLS listener and a client-certificate one"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls/paho_tls.py");
    let run = |port: u16, cert: Option<&str>| {
        let mut c = Command::new("timeout");
        c.args(["30", &python])
            .arg(&script)
            .args(["127.0.0.1", &port.to_string()])
            .arg(dir.join("ca.crt"));
        if let Some(name) = cert {
            c.arg(dir.join(format!("{name}.crt")))
                .arg(dir.join(format!("{name}.key")));
        }
        c.output().expect("run paho_tls.py")
    };
    let out = run(ports[0], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(ports[1], Some("client"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !run(ports[1], None).status.success(),
        "no client certificate"
    );
    assert!(!run(ports[1], Some("revoked")).status.success(), "revoked");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn certificate_common_name_is_the_user_name() {
    use sol::auth::password::{hash_password, PasswordFile};
    let dir = certs("identity");
    // alice has a password; sensor-7 has none and needs none.
    let mut passwords = PasswordFile::default();
    let iterations = std::num::NonZeroU32::new(101).expect("non-zero");
    passwords.set(
        "alice",
        hash_password(b"wonderland", iterations).expect("hash"),
    );
    std::fs::write(dir.join("passwd"), passwords.to_string()).expect("password file");
    std::fs::write(
        dir.join("acl"),
        "user alice\ntopic readwrite #\nuser sensor-7\ntopic readwrite sensors/7/#\n",
    )
    .expect("acl file");
    let extra = format!(
        "cafile {d}/ca.crt\nrequire_certificate true\nuse_identity_as_username true\n\
         password_file {d}/passwd\nacl_file {d}/acl\n",
        d = dir.display()
    );
    let body = tls_listener(&dir, &extra).replace("allow_anonymous true", "allow_anonymous false");
    let server = start_file(&dir, &body);

    // An observer whose certificate says alice (CN alice), with no user name in CONNECT:
    // the identity is not anonymous.
    let mut alice = tls_client(server.tcp(), &dir, "ca", Some("client"));
    assert_eq!(
        try_connect(&mut alice, "watcher").expect("connack"),
        CONNACK_OK
    );
    tsend(&mut alice, &subscribe(1, "#", 0));
    assert_eq!(read_packet(&mut alice), suback(1, 0));

    // sensor-7 claims to be alice with a wrong password: the certificate decides.
    let mut sensor = tls_client(server.tcp(), &dir, "ca", Some("sensor"));
    tsend(&mut sensor, &login("s7", "alice", "wrong"));
    assert_eq!(read_packet(&mut sensor), CONNACK_OK);
    tsend(&mut sensor, &subscribe(2, "sensors/7/#", 1));
    assert_eq!(read_packet(&mut sensor), suback(2, 1));
    tsend(&mut sensor, &subscribe(3, "other/#", 1));
    assert_eq!(
        read_packet(&mut sensor),
        suback(3, 0x80),
        "alice's rights not granted"
    );
    // Acknowledged and dropped: sensor-7 may not write there.
    tsend(&mut sensor, &publish("other/x", b"no", 1, Some(1), false));
    assert_eq!(read_packet(&mut sensor), ack(0x40, 1));
    tsend(
        &mut sensor,
        &publish("sensors/7/temp", b"21", 1, Some(2), false),
    );
    // Its own subscription delivers it too; PUBACK and PUBLISH in either order.
    let mut got: Vec<Vec<u8>> = (0..2).map(|_| read_packet(&mut sensor)).collect();
    got.sort(); // PUBLISH (0x3_) before PUBACK (0x40)
    assert_eq!(parse_publish(&got[0]).topic, "sensors/7/temp");
    assert_eq!(got[1], ack(0x40, 2));
    // The same publisher's messages arrive in order: other/x was never delivered.
    let seen = parse_publish(&read_packet(&mut alice));
    assert_eq!(
        (seen.topic.as_str(), &seen.payload[..]),
        ("sensors/7/temp", &b"21"[..])
    );

    // A certificate from the right CA without a CN: CONNACK 4 "bad user name or
    // password" (Mosquitto's answer), even with alice's right password.
    let mut nameless = tls_client(server.tcp(), &dir, "ca", Some("no-cn"));
    tsend(&mut nameless, &login("n", "alice", "wonderland"));
    assert_eq!(read_packet(&mut nameless), [0x20, 0x02, 0x00, 0x04]);
    expect_closed(&mut nameless);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reload_turns_use_identity_as_username_on() {
    let dir = certs("identity-reload");
    let extra = format!(
        "cafile {d}/ca.crt\nrequire_certificate true\n",
        d = dir.display()
    );
    let body = tls_listener(&dir, &extra).replace("allow_anonymous true", "allow_anonymous false");
    let server = start_file(&dir, &body);
    // Without the option a certificate is not a user name: anonymous, refused.
    let mut s = tls_client(server.tcp(), &dir, "ca", Some("sensor"));
    assert_eq!(
        try_connect(&mut s, "s7").expect("connack"),
        [0x20, 0x02, 0x00, 0x05]
    );
    std::fs::write(
        dir.join("sol.conf"),
        format!("{body}use_identity_as_username true\n"),
    )
    .expect("rewrite config");
    server.handle.reload();
    // The reload is asynchronous: each attempt is a round trip through the reactor, so a
    // bounded number suffices.
    let accepted = (0..50).any(|i| {
        let mut s = tls_client(server.tcp(), &dir, "ca", Some("sensor"));
        try_connect(&mut s, &format!("s7-{i}")).ok() == Some(CONNACK_OK.to_vec())
    });
    assert!(
        accepted,
        "after the reload the certificate names the client"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
