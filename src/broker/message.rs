//! The shared body of a published message: topic and payload stored once, referenced by
//! every subscriber's queue, the retained store and the inflight windows.
//!
//! `Rc`, not `Arc`: the reactor is single-threaded, and 32-bit MIPS has no 64-bit atomics.

use std::rc::Rc;

/// Topic and payload of one published message, encoded once in wire layout: the
/// length-prefixed topic name followed by the payload. Cloning is a reference-count bump.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// `[topic length: u16 BE][topic bytes][payload bytes]`, exactly as a PUBLISH carries
    /// them after the fixed header (minus the packet id, which is per subscriber).
    bytes: Rc<[u8]>,
}

impl Message {
    /// Stores `topic` and `payload` in one allocation.
    ///
    /// `topic` must be at most 65,535 bytes; the codec guarantees that for decoded topics.
    pub fn new(topic: &str, payload: &[u8]) -> Message {
        let len = u16::try_from(topic.len())
            .expect("topic length fits u16: decoded from a u16-prefixed field");
        // One allocation of the exact size (the iterator is `TrustedLen`), then two
        // block copies: copying byte by byte through a chained iterator cost a quarter of
        // the broker's CPU in a QoS 0 flood.
        let mut bytes: Rc<[u8]> = std::iter::repeat_n(0, 2 + topic.len() + payload.len()).collect();
        let buf = Rc::get_mut(&mut bytes).expect("a fresh Rc is unique");
        let (head, body) = buf.split_at_mut(2 + topic.len());
        head[..2].copy_from_slice(&len.to_be_bytes());
        head[2..].copy_from_slice(topic.as_bytes());
        body.copy_from_slice(payload);
        Message { bytes }
    }

    /// The length-prefixed topic field as it goes on the wire.
    pub fn topic_field(&self) -> &[u8] {
        &self.bytes[..2 + self.topic_len()]
    }

    /// The topic name.
    pub fn topic(&self) -> &str {
        let bytes = &self.bytes[2..2 + self.topic_len()];
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: `new` copied these bytes from a `&str`, whole (the length prefix is that
        // str's length), and an `Rc<[u8]>` is never mutated after `new` returns. This is on
        // the routing path of every message; validating again cost ~10 % of a QoS 0 flood.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// The application payload.
    pub fn payload(&self) -> &[u8] {
        &self.bytes[2 + self.topic_len()..]
    }

    /// Bytes this message occupies (topic field plus payload), for caps and accounting.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    fn topic_len(&self) -> usize {
        usize::from(u16::from_be_bytes([self.bytes[0], self.bytes[1]]))
    }
}

impl core::fmt::Debug for Message {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Message")
            .field("topic", &self.topic())
            .field("payload_len", &self.payload().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_topic_and_payload_in_wire_layout() {
        let m = Message::new("a/b", b"xyz");
        assert_eq!(m.topic(), "a/b");
        assert_eq!(m.payload(), b"xyz");
        assert_eq!(m.topic_field(), b"\x00\x03a/b");
        assert_eq!(m.size(), 8);
    }

    #[test]
    fn clones_share_one_allocation() {
        let m = Message::new("t", &[0u8; 100]);
        let c = m.clone();
        assert!(Rc::ptr_eq(&m.bytes, &c.bytes));
    }
}
