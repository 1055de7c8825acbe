//! MQTT 5.0 enhanced authentication [MQTT-4.12 of 5.0]: the interface an authentication
//! method implements, whose exchange the broker carries in CONNECT, AUTH and CONNACK.
//!
//! A client names a method (the Authentication Method property) and may send data with
//! it; the method answers each step with data to send back and whether it needs more
//! ([`Step::Continue`], AUTH 0x18), is satisfied ([`Step::Success`]) or refuses
//! ([`Step::Failure`]). The broker knows nothing of the method's contents (SCRAM,
//! Kerberos, a token check): it keeps the CONNECT waiting while the exchange goes on,
//! and then admits the client as for a password login. No method is built in; a
//! CONNECT naming a method the broker does not have is refused with 0x8C.

/// What a method says after one step of the exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// More is needed: this data goes to the client in AUTH 0x18.
    Continue(Vec<u8>),
    /// The client is authenticated; this data (may be empty) goes in CONNACK, or in
    /// AUTH 0x00 after a re-authentication.
    Success(Vec<u8>),
    /// The client is refused (CONNACK 0x87, or DISCONNECT 0x87 after a
    /// re-authentication).
    Failure,
}

/// One client's exchange with a method, from its first data to its outcome.
pub trait Exchange {
    /// The next step, given the data the client sent (its CONNECT's or AUTH's
    /// Authentication Data; empty when it sent none).
    fn step(&mut self, data: &[u8]) -> Step;
}

/// An authentication method the broker offers.
pub trait Method {
    /// Its name, as clients give it in the Authentication Method property.
    fn name(&self) -> &str;

    /// Starts an exchange for the client `client_id`, logged in as `username`.
    fn start(&self, client_id: &str, username: Option<&str>) -> Box<dyn Exchange>;
}
