//! A real client library (`rumqttc`, MQTT 3.1.1) for the tests: each connection is driven
//! on its own thread that forwards events to a channel, so every wait is a bounded
//! `recv_timeout`.

use super::TIMEOUT;
use rumqttc::{Client, Event, MqttOptions, Packet};
use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// A client whose connection is driven on a thread; its events arrive on `events`.
pub struct TestClient {
    /// Sends requests.
    pub client: Client,
    /// Every event of the connection, until it fails.
    pub events: Receiver<Result<Event, rumqttc::ConnectionError>>,
}

/// A client `id` of `addr`, with a clean or a persistent session.
pub fn client(addr: SocketAddr, id: &str, clean: bool) -> TestClient {
    client_with(addr, id, clean, |_| {})
}

/// A client as [`client`], with `configure` applied to its options.
pub fn client_with(
    addr: SocketAddr,
    id: &str,
    clean: bool,
    configure: impl FnOnce(&mut MqttOptions),
) -> TestClient {
    let mut options = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    options.set_keep_alive(Duration::from_secs(30));
    options.set_clean_session(clean);
    configure(&mut options);
    let (client, mut connection) = Client::new(options, 16);
    let (tx, events) = mpsc::channel();
    std::thread::spawn(move || loop {
        // recv (not iter): stop at the first error instead of reconnecting.
        let Ok(event) = connection.recv() else {
            return;
        };
        let failed = event.is_err();
        if tx.send(event).is_err() || failed {
            return;
        }
    });
    TestClient { client, events }
}

impl TestClient {
    /// Waits (bounded) for the first incoming packet `pick` accepts.
    pub fn wait_for<T>(&self, what: &str, mut pick: impl FnMut(&Packet) -> Option<T>) -> T {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Ok(Event::Incoming(p))) => {
                    if let Some(found) = pick(&p) {
                        return found;
                    }
                }
                Ok(Ok(Event::Outgoing(_))) => {}
                Ok(Err(e)) => panic!("connection failed while waiting for {what}: {e}"),
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }

    /// Waits (bounded) until the connection is over (after a DISCONNECT).
    pub fn ended(&self) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Ok(_)) => {}
                Ok(Err(_)) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("connection did not end"),
            }
        }
    }

    /// Waits for CONNACK; its session-present flag.
    pub fn connack(&self) -> bool {
        self.wait_for("CONNACK", |p| match p {
            Packet::ConnAck(c) => Some(c.session_present),
            _ => None,
        })
    }

    /// Waits for a SUBACK.
    pub fn suback(&self) {
        self.wait_for("SUBACK", |p| matches!(p, Packet::SubAck(_)).then_some(()));
    }

    /// Waits for a PUBACK.
    pub fn puback(&self) {
        self.wait_for("PUBACK", |p| matches!(p, Packet::PubAck(_)).then_some(()));
    }

    /// Waits for a PUBCOMP.
    pub fn pubcomp(&self) {
        self.wait_for("PUBCOMP", |p| matches!(p, Packet::PubComp(_)).then_some(()));
    }

    /// Waits for a PUBLISH.
    pub fn publish(&self) -> rumqttc::Publish {
        self.wait_for("PUBLISH", |p| match p {
            Packet::Publish(p) => Some(p.clone()),
            _ => None,
        })
    }
}
