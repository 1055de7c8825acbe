//! Outbound frames: what the core queues for a connection and the reactor writes.
//!
//! A frame is either a small control packet stored inline or a PUBLISH made of a
//! per-subscriber fixed header and packet id plus the shared [`Message`] body, so fan-out
//! copies no payload: the reactor hands [`Frame::segments`] to `writev`. A connection's
//! frames wait in its [`Outbox`].

use super::message::Message;
use crate::codec::{encode_fixed_header, PacketType, QoS};
use std::collections::VecDeque;

/// One packet waiting to be written to a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A packet of at most 8 bytes (CONNACK, PUBACK..PUBCOMP, UNSUBACK, PINGRESP).
    Small {
        /// The encoded packet.
        bytes: [u8; 8],
        /// How many of `bytes` are used.
        len: u8,
    },
    /// A SUBACK, whose size depends on the number of filters.
    Suback(Box<[u8]>),
    /// A PUBLISH to one subscriber.
    Publish {
        /// Fixed header (type, DUP/QoS/RETAIN flags, remaining length).
        head: [u8; 5],
        /// Used bytes of `head`.
        head_len: u8,
        /// Packet id in network order; empty for QoS 0.
        packet_id: [u8; 2],
        /// Whether `packet_id` is present (QoS > 0).
        has_packet_id: bool,
        /// Shared topic and payload.
        message: Message,
    },
}

impl Frame {
    /// A 2-byte-body acknowledgment (`PUBACK`, `PUBREC`, `PUBREL`, `PUBCOMP`, `UNSUBACK`).
    pub fn ack(kind: PacketType, packet_id: u16) -> Frame {
        let flags = if kind == PacketType::Pubrel { 0x02 } else { 0 };
        let id = packet_id.to_be_bytes();
        Frame::Small {
            bytes: [(kind as u8) << 4 | flags, 2, id[0], id[1], 0, 0, 0, 0],
            len: 4,
        }
    }

    /// A CONNACK.
    pub fn connack(session_present: bool, code: crate::codec::ConnectReturnCode) -> Frame {
        Frame::Small {
            bytes: [0x20, 2, u8::from(session_present), code as u8, 0, 0, 0, 0],
            len: 4,
        }
    }

    /// A PINGRESP.
    pub fn pingresp() -> Frame {
        Frame::Small {
            bytes: [0xd0, 0, 0, 0, 0, 0, 0, 0],
            len: 2,
        }
    }

    /// A SUBACK with one return code per requested filter.
    pub fn suback(packet_id: u16, codes: &[u8]) -> Frame {
        let mut head = [0u8; 5];
        let head_len =
            encode_fixed_header((PacketType::Suback as u8) << 4, 2 + codes.len(), &mut head);
        let mut v = Vec::with_capacity(head_len + 2 + codes.len());
        v.extend_from_slice(&head[..head_len]);
        v.extend_from_slice(&packet_id.to_be_bytes());
        v.extend_from_slice(codes);
        Frame::Suback(v.into_boxed_slice())
    }

    /// A PUBLISH of `message` with per-subscriber flags and packet id (`Some` iff QoS > 0).
    pub fn publish(
        message: Message,
        qos: QoS,
        dup: bool,
        retain: bool,
        packet_id: Option<u16>,
    ) -> Frame {
        let remaining = message.size() + if packet_id.is_some() { 2 } else { 0 };
        let first = (PacketType::Publish as u8) << 4
            | u8::from(dup) << 3
            | (qos as u8) << 1
            | u8::from(retain);
        let mut head = [0u8; 5];
        let head_len = encode_fixed_header(first, remaining, &mut head);
        Frame::Publish {
            head,
            head_len: head_len as u8,
            packet_id: packet_id.unwrap_or(0).to_be_bytes(),
            has_packet_id: packet_id.is_some(),
            message,
        }
    }

    /// The frame as up to four byte slices in wire order (empty slices are allowed).
    pub fn segments(&self) -> [&[u8]; 4] {
        match self {
            Frame::Small { bytes, len } => [&bytes[..usize::from(*len)], &[], &[], &[]],
            Frame::Suback(bytes) => [bytes, &[], &[], &[]],
            Frame::Publish {
                head,
                head_len,
                packet_id,
                has_packet_id,
                message,
            } => [
                &head[..usize::from(*head_len)],
                message.topic_field(),
                if *has_packet_id { &packet_id[..] } else { &[] },
                message.payload(),
            ],
        }
    }

    /// Total bytes on the wire (the sum of [`Frame::segments`], without building them:
    /// this runs for every frame written).
    #[inline]
    pub fn len(&self) -> usize {
        match self {
            Frame::Small { len, .. } => usize::from(*len),
            Frame::Suback(bytes) => bytes.len(),
            Frame::Publish {
                head_len,
                has_packet_id,
                message,
                ..
            } => usize::from(*head_len) + message.size() + if *has_packet_id { 2 } else { 0 },
        }
    }

    /// Always false: every frame has at least a fixed header.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Frames waiting to be written to one connection, oldest first.
///
/// The oldest frame is stored inline and the others in a deque allocated on first use, so
/// a connection that has one packet at a time (CONNACK, SUBACK, PINGRESP, a trickle of
/// publishes) never allocates and an idle one holds 40 bytes. The deque is kept across
/// bursts and freed after one that grew it past [`Outbox::release_after_burst`]'s limit.
#[derive(Debug, Default)]
pub struct Outbox {
    /// The oldest frame; `None` only when the outbox is empty.
    front: Option<Frame>,
    /// The frames after `front`. Boxed so that an idle connection pays 8 bytes for it,
    /// not the 32 of an empty `VecDeque`.
    #[allow(clippy::box_collection)]
    rest: Option<Box<VecDeque<Frame>>>,
}

impl Outbox {
    /// Number of frames.
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.front.is_some()) + self.rest.as_ref().map_or(0, |r| r.len())
    }

    /// Whether there is nothing to write.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.front.is_none()
    }

    /// The oldest frame.
    pub fn front(&self) -> Option<&Frame> {
        self.front.as_ref()
    }

    /// Frames it holds room for without allocating.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        1 + self.rest.as_ref().map_or(0, |r| r.capacity())
    }

    /// Appends a frame.
    #[inline]
    pub fn push_back(&mut self, frame: Frame) {
        if self.front.is_none() {
            self.front = Some(frame);
        } else {
            self.rest.get_or_insert_default().push_back(frame);
        }
    }

    /// Makes room for `additional` more frames in one allocation (a batch moved from a
    /// session's queue). Nothing is allocated while all of them fit inline.
    pub fn reserve(&mut self, additional: usize) {
        let beyond_front = (self.len() + additional).saturating_sub(1);
        if beyond_front > 0 {
            let rest = self.rest.get_or_insert_default();
            rest.reserve(beyond_front.saturating_sub(rest.len()));
        }
    }

    /// Removes the oldest frame.
    #[inline]
    pub fn pop_front(&mut self) -> Option<Frame> {
        let frame = self.front.take()?;
        self.front = self.rest.as_mut().and_then(|r| r.pop_front());
        Some(frame)
    }

    /// The frames, oldest first. Chained slices, not nested flattening: the reactor walks
    /// this for every write.
    pub fn iter(&self) -> impl Iterator<Item = &Frame> {
        let (a, b) = self
            .rest
            .as_deref()
            .map_or((&[][..], &[][..]), VecDeque::as_slices);
        self.front.iter().chain(a).chain(b)
    }

    /// Frees the deque if the outbox is empty and the deque holds room for more than
    /// `max_kept` frames: a burst is over, so an idle connection stays small.
    pub fn release_after_burst(&mut self, max_kept: usize) {
        if self.front.is_none() && self.rest.as_ref().is_some_and(|r| r.capacity() > max_kept) {
            self.rest = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn len_is_the_sum_of_the_segments() {
        let m = Message::new("a/b", b"payload");
        for f in [
            Frame::pingresp(),
            Frame::ack(PacketType::Puback, 7),
            Frame::suback(3, &[0, 1, 0x80]),
            Frame::publish(m.clone(), QoS::AtMostOnce, false, false, None),
            Frame::publish(m, QoS::AtLeastOnce, true, true, Some(9)),
        ] {
            let sum: usize = f.segments().iter().map(|s| s.len()).sum();
            assert_eq!(f.len(), sum, "{f:?}");
        }
    }

    #[test]
    fn outbox_keeps_order_and_allocates_only_beyond_one_frame() {
        let mut out = Outbox::default();
        assert!(out.is_empty() && out.pop_front().is_none());
        out.push_back(Frame::pingresp());
        out.reserve(0);
        assert!(out.rest.is_none(), "one frame is stored inline");
        for id in 1..=3 {
            out.push_back(Frame::ack(PacketType::Puback, id));
        }
        assert_eq!(out.len(), 4);
        assert_eq!(out.iter().count(), 4);
        assert_eq!(out.pop_front(), Some(Frame::pingresp()));
        assert_eq!(out.front(), Some(&Frame::ack(PacketType::Puback, 1)));
        out.release_after_burst(0);
        assert!(out.rest.is_some(), "not freed while frames wait");
        while out.pop_front().is_some() {}
        assert!(out.is_empty());
        assert_eq!(out.len(), 0);
        out.release_after_burst(64);
        assert!(
            out.rest.is_some(),
            "a small deque is kept for the next burst"
        );
        out.release_after_burst(0);
        assert!(out.rest.is_none());
        out.reserve(5);
        assert!(out.rest.as_ref().is_some_and(|r| r.capacity() >= 4));
        crate::broker::assert_size_of::<Outbox>(40);
    }
}
