//! The shared body of a published message: topic, properties and payload stored once,
//! referenced by every subscriber's queue, the retained store and the inflight windows.
//!
//! `Rc`, not `Arc`: the reactor is single-threaded, and 32-bit MIPS has no 64-bit atomics.

use super::clock::Tick;
use super::large;
use crate::codec::SharedParts;
use std::rc::Rc;

/// Topic, properties and payload of one published message, encoded once in wire layout.
/// Cloning is a reference-count bump.
///
/// The properties are MQTT 5.0's message properties (content type, user properties, ...)
/// as the publisher sent them, empty for MQTT 3.1/3.1.1 publishers; a 3.1.1 subscriber's
/// frame skips them, a 5.0 subscriber's lends them beside its own per-subscriber ones.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// `[properties length: u32 BE][expiry: u64 BE][topic length: u16 BE][topic]
    /// [properties][payload]`: after the first twelve bytes, the parts exactly as a
    /// PUBLISH carries them (minus the per-subscriber packet id, property length and
    /// Message Expiry Interval). The expiry is the broker clock's millisecond at which
    /// the message expires ([`Tick::as_ms`]), 0 for none: whole seconds would round a
    /// short interval to nothing or to more than was sent.
    bytes: Rc<[u8]>,
}

/// A message's Message Expiry Interval has run out: see [`Message::remaining`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expired;

/// Bytes before the topic field: the properties' length and the expiry.
const PREFIX: usize = 12;

/// Bytes of the body of a message with `topic`, `properties` and `payload_len` bytes of
/// payload.
fn body_len(topic: &str, properties: &[u8], payload_len: usize) -> usize {
    PREFIX + 2 + topic.len() + properties.len() + payload_len
}

/// The big-endian length fields of the properties (u32) and of the topic (u16).
fn field_lengths(topic: &str, properties: &[u8]) -> ([u8; 4], [u8; 2]) {
    let topic_len = u16::try_from(topic.len())
        .expect("topic length fits u16: decoded from a u16-prefixed field");
    let props_len = u32::try_from(properties.len())
        .expect("properties fit u32: decoded from a packet below 256 MiB");
    (props_len.to_be_bytes(), topic_len.to_be_bytes())
}

impl Message {
    /// Stores `topic` and `payload` in one allocation, without properties.
    ///
    /// `topic` must be at most 65,535 bytes; the codec guarantees that for decoded topics.
    pub fn new(topic: &str, payload: &[u8]) -> Message {
        Message::with_properties(topic, &[], payload)
    }

    /// Stores `topic`, encoded `properties` (without their length prefix) and `payload` in
    /// one allocation.
    ///
    /// `topic` must be at most 65,535 bytes and `properties` below 4 GiB; the codec
    /// guarantees both for decoded packets.
    pub fn with_properties(topic: &str, properties: &[u8], payload: &[u8]) -> Message {
        Message::with_expiry(topic, properties, payload, None)
    }

    /// As [`Message::with_properties`], for a message that expires at `expires` (MQTT
    /// 5.0's Message Expiry Interval [MQTT-3.3.2-5 of 5.0]; the property itself is not
    /// among `properties`: each delivery writes what is left of it).
    pub fn with_expiry(
        topic: &str,
        properties: &[u8],
        payload: &[u8],
        expires: Option<Tick>,
    ) -> Message {
        let len = body_len(topic, properties, payload.len());
        // One allocation of the exact size, not zeroed, then block copies. Copying byte by
        // byte through a chained iterator cost a quarter of the broker's CPU in a QoS 0
        // flood; a zeroed allocation (`calloc`, which skips glibc's thread cache, and a
        // memset) cost a QoS 1 message 150 instructions (callgrind, docs/performance.md).
        let mut bytes = Rc::<[u8]>::new_uninit_slice(len);
        let buf = Rc::get_mut(&mut bytes).expect("a fresh Rc is unique");
        let dst = buf.as_mut_ptr().cast::<u8>();
        let (props_len, topic_len) = field_lengths(topic, properties);
        let expires = expires.map_or(0, Tick::as_ms);
        let parts: [&[u8]; 6] = [
            &props_len,
            &expires.to_be_bytes(),
            &topic_len,
            topic.as_bytes(),
            properties,
            payload,
        ];
        let mut at = 0;
        for part in parts {
            // SAFETY: `dst` points to `len` bytes that this function owns alone (a fresh,
            // unique `Rc`); the parts' lengths add up to `len`, so `at + part.len() <= len`
            // for each, and a caller's slice cannot overlap a fresh allocation.
            unsafe { std::ptr::copy_nonoverlapping(part.as_ptr(), dst.add(at), part.len()) };
            at += part.len();
        }
        assert_eq!(at, len, "every byte of the message was written");
        // SAFETY: the loop above wrote all `len` bytes (checked just above).
        let bytes = unsafe { bytes.assume_init() };
        Message::counted(bytes)
    }

    /// Wraps a finished body, counting it in the large-message allowance if it is large.
    #[inline(always)]
    fn counted(bytes: Rc<[u8]>) -> Message {
        if large::is_large(bytes.len()) {
            large::acquire(bytes.len());
        }
        Message { bytes }
    }

    /// The length-prefixed topic field as it goes on the wire.
    #[inline]
    pub fn topic_field(&self) -> &[u8] {
        &self.bytes[PREFIX..PREFIX + 2 + self.topic_len()]
    }

    /// The topic name.
    #[inline]
    pub fn topic(&self) -> &str {
        let start = PREFIX + 2;
        let bytes = &self.bytes[start..start + self.topic_len()];
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: `new` copied these bytes from a `&str`, whole (the length prefix is that
        // str's length), and an `Rc<[u8]>` is never mutated after `new` returns. This is on
        // the routing path of every message; validating again cost ~10 % of a QoS 0 flood.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// The encoded message properties, without their length (empty for a message from
    /// an MQTT 3.1/3.1.1 client).
    #[inline]
    pub fn properties(&self) -> &[u8] {
        let start = PREFIX + 2 + self.topic_len();
        &self.bytes[start..start + self.properties_len()]
    }

    /// The application payload.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.bytes[PREFIX + 2 + self.topic_len() + self.properties_len()..]
    }

    /// Bytes of the message on the wire (topic field, properties and payload), for caps
    /// and accounting.
    #[inline]
    pub fn size(&self) -> usize {
        self.bytes.len() - PREFIX
    }

    /// What the message counts toward the queue and retained byte caps
    /// (`max_queued_bytes`, `max_queued_memory`, `max_retained_bytes`): its size, or at
    /// most [`large::LARGE_MESSAGE`] for a large one, whose body the large-message
    /// allowance bounds instead. So one camera snapshot does not fill every queue's
    /// budget, and a queue of them still fills and flow control still applies.
    #[inline]
    pub fn budget_size(&self) -> usize {
        self.size().min(large::LARGE_MESSAGE)
    }

    /// The topic field, the properties and the payload, as [`Message::topic_field`],
    /// [`Message::properties`] and [`Message::payload`] return them, found with one read of
    /// the two lengths (this runs for every frame written).
    #[inline(always)]
    pub fn parts(&self) -> (&[u8], &[u8], &[u8]) {
        let (topic_end, props_end) = self.ends();
        let (head, payload) = self.bytes.split_at(props_end);
        let (topic_field, properties) = head[PREFIX..].split_at(topic_end - PREFIX);
        (topic_field, properties, payload)
    }

    /// Where the topic field and the properties end in `bytes`.
    #[inline(always)]
    fn ends(&self) -> (usize, usize) {
        let b = self.head();
        let props_len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let topic_end = PREFIX + 2 + usize::from(u16::from_be_bytes([b[PREFIX], b[PREFIX + 1]]));
        (topic_end, topic_end + props_len)
    }

    /// When the message expires, if it does.
    #[inline]
    pub fn expires(&self) -> Option<Tick> {
        let b = self.head();
        let ms = u64::from_be_bytes([b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11]]);
        (ms != 0).then(|| Tick::from_raw_ms(ms))
    }

    /// The Message Expiry Interval a delivery at `now` carries: the seconds left,
    /// rounded up, so never more than the publisher sent [MQTT-3.3.2-6 of 5.0] (the
    /// deadline is counted from when it arrived) and never 0 for a message that has
    /// not expired; `Err(Expired)` once the deadline is reached (it must not be
    /// delivered).
    #[inline]
    pub fn remaining(&self, now: Tick) -> Result<Option<u32>, Expired> {
        match self.expires() {
            None => Ok(None),
            Some(at) => match at.ms_since(now) {
                0 => Err(Expired),
                left => Ok(Some(u32::try_from(left.div_ceil(1000)).unwrap_or(u32::MAX))),
            },
        }
    }

    /// A number that tells this body from every other while any clone of it lives (the
    /// address of its shared allocation): a store's key for "written already".
    #[inline]
    pub fn addr(&self) -> usize {
        Rc::as_ptr(&self.bytes).cast::<u8>() as usize
    }

    /// The sizes of the parts every subscriber's PUBLISH shares, for its header.
    #[inline]
    pub fn shared_parts(&self) -> SharedParts {
        let topic_field = 2 + self.topic_len();
        let properties = self.properties_len();
        SharedParts {
            topic_field,
            properties,
            payload: self.size() - topic_field - properties,
        }
    }

    #[inline]
    fn topic_len(&self) -> usize {
        let b = self.head();
        usize::from(u16::from_be_bytes([b[PREFIX], b[PREFIX + 1]]))
    }

    #[inline]
    fn properties_len(&self) -> usize {
        let b = self.head();
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
    }

    /// The lengths and the expiry at the start of every body, as an array: its fields
    /// are then read with one bounds check in all (this runs several times for every
    /// frame written; byte by byte, each index was checked on its own).
    #[inline(always)]
    fn head(&self) -> &[u8; PREFIX + 2] {
        // Every body is built with them (`Message::with_expiry`, `MessageBuilder`).
        self.bytes.first_chunk().unwrap_or(&[0; PREFIX + 2])
    }
}

impl Drop for Message {
    /// The last reference to a large body gives its bytes back to the allowance.
    #[inline(always)]
    fn drop(&mut self) {
        let len = self.bytes.len();
        if large::is_large(len) && Rc::strong_count(&self.bytes) == 1 {
            large::release(len);
        }
    }
}

/// A large message's body while its payload is read into it: topic and properties
/// written, the payload filled by the reactor straight from the socket (see
/// `net::read`), so a multi-megabyte payload is copied once, by the kernel, and never
/// again between the socket and every subscriber.
pub struct MessageBuilder {
    /// The body, in [`Message`]'s layout; unique until [`MessageBuilder::finish`].
    bytes: Rc<[u8]>,
    /// Where the payload starts.
    payload_start: usize,
    /// Payload bytes written so far.
    filled: usize,
}

impl MessageBuilder {
    /// A body for `topic`, `properties` (encoded, without their length) and a payload of
    /// `payload_len` bytes still to come. The payload starts zeroed (a read needs
    /// initialised memory); zeroing costs little beside a large payload's read.
    pub fn new(topic: &str, properties: &[u8], payload_len: usize) -> MessageBuilder {
        let len = body_len(topic, properties, payload_len);
        let mut fresh = Rc::<[u8]>::new_uninit_slice(len);
        for b in Rc::get_mut(&mut fresh).expect("a fresh Rc is unique") {
            b.write(0);
        }
        // SAFETY: every byte was written with 0 just above.
        let mut bytes = unsafe { fresh.assume_init() };
        let buf = Rc::get_mut(&mut bytes).expect("a fresh Rc is unique");
        let (props_len, topic_len) = field_lengths(topic, properties);
        buf[..4].copy_from_slice(&props_len);
        buf[PREFIX..PREFIX + 2].copy_from_slice(&topic_len);
        let topic_end = PREFIX + 2 + topic.len();
        buf[PREFIX + 2..topic_end].copy_from_slice(topic.as_bytes());
        let payload_start = topic_end + properties.len();
        buf[topic_end..payload_start].copy_from_slice(properties);
        MessageBuilder {
            bytes,
            payload_start,
            filled: 0,
        }
    }

    /// The part of the payload not written yet.
    pub fn unfilled(&mut self) -> &mut [u8] {
        let start = self.payload_start + self.filled;
        let buf = Rc::get_mut(&mut self.bytes).expect("a builder's body is unique");
        &mut buf[start..]
    }

    /// `n` more payload bytes were written into [`MessageBuilder::unfilled`].
    pub fn advance(&mut self, n: usize) {
        self.filled = (self.filled + n).min(self.bytes.len() - self.payload_start);
    }

    /// Whether the whole payload has been written.
    pub fn is_complete(&self) -> bool {
        self.payload_start + self.filled == self.bytes.len()
    }

    /// The payload written so far.
    pub fn payload(&self) -> &[u8] {
        &self.bytes[self.payload_start..self.payload_start + self.filled]
    }

    /// Bytes the finished body will hold.
    pub fn body_len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the body was made with `topic` and `properties`.
    pub fn matches(&self, topic: &str, properties: &[u8]) -> bool {
        let b = &self.bytes;
        let topic_len = usize::from(u16::from_be_bytes([b[PREFIX], b[PREFIX + 1]]));
        let topic_end = PREFIX + 2 + topic_len;
        &b[PREFIX + 2..topic_end] == topic.as_bytes()
            && &b[topic_end..self.payload_start] == properties
    }

    /// The finished message, expiring at `expires`, counted in the large-message
    /// allowance from now on.
    pub fn finish(mut self, expires: Option<Tick>) -> Message {
        let ms = expires.map_or(0, Tick::as_ms);
        let buf = Rc::get_mut(&mut self.bytes).expect("a builder's body is unique");
        buf[4..PREFIX].copy_from_slice(&ms.to_be_bytes());
        Message::counted(self.bytes)
    }
}

impl core::fmt::Debug for MessageBuilder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MessageBuilder")
            .field("body_len", &self.bytes.len())
            .field("filled", &self.filled)
            .finish()
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
        assert_eq!(m.properties(), b"");
        assert_eq!(m.size(), 8);
        assert_eq!(m.expires(), None);
    }

    #[test]
    fn properties_sit_between_topic_and_payload() {
        let m = Message::with_properties("t", &[0x01, 0x01], b"xyz");
        assert_eq!(
            m.parts(),
            (&b"\x00\x01t"[..], &[0x01, 0x01][..], &b"xyz"[..])
        );
        assert_eq!(m.topic(), "t");
        assert_eq!(m.properties(), [0x01, 0x01]);
        assert_eq!(m.payload(), b"xyz");
        assert_eq!(m.size(), 3 + 2 + 3);
        let parts = m.shared_parts();
        assert_eq!(
            (parts.topic_field, parts.properties, parts.payload),
            (3, 2, 3)
        );
    }

    #[test]
    fn clones_share_one_allocation() {
        let m = Message::new("t", &[0u8; 100]);
        let c = m.clone();
        assert!(Rc::ptr_eq(&m.bytes, &c.bytes));
    }

    #[test]
    fn remaining_expiry_is_never_more_than_sent_nor_0_while_alive_mqtt_3_3_2_6() {
        let now = Tick::START.after_ms(700);
        // One second from the middle of a second: still 1 s left just after, not 0.
        let m = Message::with_expiry("t", &[], b"x", Some(now.after_ms(1000)));
        assert_eq!(m.remaining(now.after_ms(5)), Ok(Some(1)));
        assert_eq!(m.remaining(now.after_ms(999)), Ok(Some(1)));
        assert_eq!(m.remaining(now.after_ms(1000)), Err(Expired));
        // An interval of 0: expired as it arrives.
        let zero = Message::with_expiry("t", &[], b"x", Some(now));
        assert_eq!(zero.remaining(now), Err(Expired));
        // 90 s, 10.5 s later: 80 (rounded up from 79.5), not more than 90.
        let m = Message::with_expiry("t", &[], b"x", Some(now.after_ms(90_000)));
        assert_eq!(m.remaining(now.after_ms(10_500)), Ok(Some(80)));
        assert_eq!(m.size(), 4);
    }
}
