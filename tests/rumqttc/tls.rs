//! `rumqttc` over TLS: rustls with the ring provider, handed to rumqttc as an explicit
//! `ClientConfig` (`TlsConfiguration::Rustls`), so the client verifies the broker's
//! certificate (IP SAN 127.0.0.1) against the test CA only.
//!
//! Refusals are observed as the connection error rumqttc's event loop reports, and
//! checked down to the rustls error inside it: which side refused and why.

use super::{client_with, TestClient};
use crate::common::TIMEOUT;
use crate::tls_fixtures::*;
use rumqttc::{ConnectionError, Event, Packet, QoS, TlsConfiguration, Transport};
use rustls::{AlertDescription, CertificateError};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Larger than one TLS record (16 KiB): the message crosses record boundaries both ways.
const BIG: usize = 40_000;

/// A rumqttc client over TLS trusting `dir/CA.crt`, presenting `dir/NAME.crt` when
/// `cert` is `Some(NAME)`.
fn tls_client(addr: SocketAddr, dir: &Path, id: &str, ca: &str, cert: Option<&str>) -> TestClient {
    let config = Arc::new(client_config(dir, ca, cert));
    client_with(addr, id, true, |o| {
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
        o.set_max_packet_size(BIG + 1024, BIG + 1024);
    })
}

impl TestClient {
    /// Waits (bounded) for the error that ends a connection the broker or the client
    /// refused; a CONNACK before it fails the test.
    fn refused(&self, who: &str) -> ConnectionError {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => panic!("{who}: accepted"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return e,
                Err(e) => panic!("{who}: no connection error ({e})"),
            }
        }
    }
}

/// The rustls error a connection error carries: rumqttc wraps it in `io::Error`s, whose
/// `source()` skips the wrapped error, so each `io::Error` is opened with `get_ref`.
fn rustls_error(e: &ConnectionError) -> Option<&rustls::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(found) = err.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            next = Some(inner);
            continue;
        }
        next = err.source();
    }
    None
}

/// Subscribes `sub` to `topic` at QoS 1, publishes `payload` from `publ` at QoS 1, and
/// checks the PUBACK and the delivered message.
fn round_trip(sub: &TestClient, publ: &TestClient, topic: &str, payload: &[u8]) {
    sub.client
        .subscribe(topic, QoS::AtLeastOnce)
        .expect("subscribe");
    sub.suback();
    publ.client
        .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
        .expect("publish");
    publ.puback();
    let got = sub.publish();
    assert_eq!(got.topic, topic);
    assert_eq!(got.qos, QoS::AtLeastOnce);
    assert_eq!(&got.payload[..], payload);
}

#[test]
fn rumqttc_tls_qos1_round_trip_verifies_the_server() {
    let dir = certs("rumqttc-pubsub");
    let server = start_file(&dir, &tls_listener(&dir, ""));
    let sub = tls_client(server.tcp(), &dir, "tls-sub", "ca", None);
    assert!(!sub.connack());
    let publ = tls_client(server.tcp(), &dir, "tls-pub", "ca", None);
    assert!(!publ.connack());
    round_trip(&sub, &publ, "tls/small", b"over tls");
    round_trip(&sub, &publ, "tls/big", &[0x5a; BIG]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rumqttc_tls_refuses_a_server_from_an_unknown_ca() {
    let dir = certs("rumqttc-wrong-ca");
    let server = start_file(&dir, &tls_listener(&dir, ""));
    let wrong = tls_client(server.tcp(), &dir, "wrong-ca", "other-ca", None);
    let e = wrong.refused("a client trusting another CA");
    assert!(
        matches!(
            rustls_error(&e),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        ),
        "the client refuses the server's certificate: {e:?}"
    );
    // The broker is unaffected: a client trusting the right CA connects.
    let right = tls_client(server.tcp(), &dir, "right-ca", "ca", None);
    assert!(!right.connack());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rumqttc_tls_client_certificates_accepted_revoked_and_foreign_refused() {
    let dir = certs("rumqttc-clientcert");
    let server = start_file(&dir, &tls_listener(&dir, &client_cert_required(&dir)));
    let sub = tls_client(server.tcp(), &dir, "alice-sub", "ca", Some("client"));
    assert!(!sub.connack());
    // Each refusal is the broker's: the handshake alert rustls receives says why.
    for (who, cert, alert) in [
        (
            "revoked (in the CRL)",
            Some("revoked"),
            AlertDescription::CertificateRevoked,
        ),
        (
            "signed by an unrelated CA",
            Some("other-client"),
            AlertDescription::UnknownCA,
        ),
        (
            "no certificate",
            None,
            AlertDescription::CertificateRequired,
        ),
    ] {
        let refused = tls_client(server.tcp(), &dir, "refused", "ca", cert);
        let e = refused.refused(who);
        assert_eq!(
            rustls_error(&e),
            Some(&rustls::Error::AlertReceived(alert)),
            "{who}: {e:?}"
        );
    }
    // Alice's certificate is accepted: QoS 1 both ways, the subscriber connected before
    // the refusals unaffected by them.
    let publ = tls_client(server.tcp(), &dir, "alice-pub", "ca", Some("client"));
    assert!(!publ.connack());
    round_trip(&sub, &publ, "tls/alice", b"with a client certificate");
    let _ = std::fs::remove_dir_all(&dir);
}
