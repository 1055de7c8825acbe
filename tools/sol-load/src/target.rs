//! The broker under test as every generator connection reaches it: its address, the TLS and
//! WebSocket layers and the MQTT version given on the command line.
//!
//! One [`Target`] is built by `main` and shared by the worker's scenarios
//! ([`crate::worker::Settings`]) and `resume` ([`crate::resume::Options`]), so both dial and
//! speak alike. It opens connections; it holds no connection's state.

use crate::mqtt::Proto;
use crate::stream::Stream;
use crate::tls::Connector;
use crate::ws::Upgrade;
use mio::net::TcpStream;
use std::io;
use std::net::SocketAddr;

/// Where the connections go and what they speak.
#[derive(Clone, Debug)]
pub struct Target {
    /// Broker address (loopback).
    pub addr: SocketAddr,
    /// Wraps every connection in TLS when set (`--tls-ca`).
    pub tls: Option<Connector>,
    /// Carries every connection's MQTT bytes in WebSocket frames when set (`--websocket`).
    pub websocket: Option<Upgrade>,
    /// The MQTT version spoken and the properties sent (`--protocol`).
    pub proto: Proto,
}

impl Target {
    /// A non-blocking connection to `addr` (the broker's, or another broker's on the same
    /// host, see `--sub-port`), in TLS and WebSocket as asked; the TCP connect may still be
    /// in progress.
    pub fn open(&self, addr: SocketAddr) -> io::Result<Stream> {
        TcpStream::connect(addr)
            .and_then(|tcp| Stream::new(tcp, self.tls.as_ref(), self.websocket.as_ref()))
    }
}
