//! Outbound frames: what the core queues for a connection and the reactor writes.
//!
//! A frame is either a control packet the codec encoded (inline when small) or a PUBLISH
//! made of a per-subscriber [`PublishHeader`] (also the codec's) plus the shared
//! [`Message`] body, so fan-out copies no payload into frames: the reactor copies small
//! frames into one buffer for `writev` and lends it large payloads in place
//! ([`Frame::segment_array`]). A connection's frames wait in its [`Outbox`]. No packet
//! byte is written here.

use super::message::Message;
use crate::codec::{
    self, EncodeError, Packet, PacketType, PerSubscriber, ProtocolVersion, PublishHeader, QoS,
};
use std::collections::VecDeque;
use std::iter::Chain;
use std::{option, slice};

/// Bytes of a control packet stored inside the frame: every MQTT 3.1.1 acknowledgment,
/// CONNACK and PINGRESP, and a SUBACK for up to 26 filters.
const CONTROL_INLINE: usize = 30;

/// One packet waiting to be written to a connection. Every byte in it was written by the
/// codec; the frame only stores them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A control packet of at most 30 bytes (`CONTROL_INLINE`).
    Control {
        /// The encoded packet.
        bytes: [u8; CONTROL_INLINE],
        /// How many of `bytes` are used.
        len: u8,
    },
    /// A larger control packet (a SUBACK for many filters).
    Boxed(Box<[u8]>),
    /// A PUBLISH to one subscriber: its own header, and the shared message body.
    Publish {
        /// Fixed header, packet id and (MQTT 5.0) per-subscriber properties.
        header: PublishHeader,
        /// Shared topic, properties and payload.
        message: Message,
    },
    /// An MQTT 5.0 PUBLISH whose per-subscriber properties do not fit a
    /// [`PublishHeader`] (several subscription identifiers, or an expiry with a large
    /// packet's header); boxed, so the common frames stay 32 bytes.
    PublishLong(Box<LongPublish>),
}

/// See [`Frame::PublishLong`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LongPublish {
    /// The header as [`PublishHeader::to_vec`] wrote it.
    header: Box<[u8]>,
    /// Bytes of the fixed header at its start; the rest follows the topic field.
    fixed_len: usize,
    /// Shared topic, properties and payload.
    message: Message,
}

impl Frame {
    /// A control packet, encoded for a connection speaking `version`.
    #[inline]
    pub fn packet(packet: &Packet<'_>, version: ProtocolVersion) -> Result<Frame, EncodeError> {
        // One pass for the common case (an acknowledgment per QoS 1/2 message): encode
        // into the inline bytes; only a packet that does not fit is encoded again.
        let mut bytes = [0u8; CONTROL_INLINE];
        match packet.encode(version, &mut bytes) {
            Ok(len) => Ok(Frame::Control {
                bytes,
                len: len as u8,
            }),
            Err(EncodeError::BufferTooSmall) => packet
                .to_vec(version)
                .map(|v| Frame::Boxed(v.into_boxed_slice())),
            Err(e) => Err(e),
        }
    }

    /// A PUBACK, PUBREC, PUBREL or PUBCOMP (`kind`) of `packet_id` that says success
    /// ([`codec::short_ack`]): the same bytes in every protocol version, built without
    /// the encoder, one per QoS 1/2 message.
    #[inline]
    pub fn short_ack(kind: PacketType, packet_id: u16) -> Frame {
        let mut bytes = [0u8; CONTROL_INLINE];
        bytes[..4].copy_from_slice(&codec::short_ack(kind, packet_id));
        Frame::Control { bytes, len: 4 }
    }

    /// A PUBLISH of `message` with per-subscriber flags and packet id (`Some` iff QoS >
    /// 0), for a connection speaking `version`.
    #[inline]
    pub fn publish(
        message: Message,
        version: ProtocolVersion,
        qos: QoS,
        dup: bool,
        retain: bool,
        packet_id: Option<u16>,
    ) -> Result<Frame, EncodeError> {
        Frame::publish_with(
            message,
            version,
            qos,
            dup,
            retain,
            packet_id,
            &PerSubscriber::default(),
        )
    }

    /// As [`Frame::publish`], with MQTT 5.0 per-subscriber properties.
    #[inline(always)]
    pub fn publish_with(
        message: Message,
        version: ProtocolVersion,
        qos: QoS,
        dup: bool,
        retain: bool,
        packet_id: Option<u16>,
        extra: &PerSubscriber<'_>,
    ) -> Result<Frame, EncodeError> {
        let shared = message.shared_parts();
        match PublishHeader::new(version, dup, qos, retain, packet_id, shared, extra) {
            Ok(header) => Ok(Frame::Publish { header, message }),
            Err(EncodeError::BufferTooSmall) => {
                let (header, fixed_len) =
                    PublishHeader::to_vec(version, dup, qos, retain, packet_id, shared, extra)?;
                Ok(Frame::PublishLong(Box::new(LongPublish {
                    header: header.into_boxed_slice(),
                    fixed_len,
                    message,
                })))
            }
            Err(e) => Err(e),
        }
    }

    /// [`Frame::segment_array`] as an iterator.
    pub fn segments(&self) -> impl Iterator<Item = &[u8]> {
        let (parts, used) = self.segment_array();
        parts.into_iter().take(usize::from(used))
    }

    /// The byte slices the frame is made of, in wire order, as an array and how many of
    /// its entries are used: one for a control packet; for a PUBLISH its header, the
    /// shared topic field, the packet id (and MQTT 5.0 per-subscriber properties), the
    /// shared properties when the subscriber's version carries them, and the shared
    /// payload. Some may be empty (the packet id of QoS 0).
    #[inline]
    pub fn segment_array(&self) -> ([&[u8]; 5], u8) {
        match self {
            Frame::Control { bytes, len } => ([&bytes[..usize::from(*len)], &[], &[], &[], &[]], 1),
            Frame::Boxed(bytes) => ([bytes, &[], &[], &[], &[]], 1),
            Frame::Publish { header, message } => {
                let (topic_field, properties, payload) = message.parts();
                let (fixed, after_topic) = (header.fixed_header(), header.after_topic());
                if header.carries_properties() {
                    ([fixed, topic_field, after_topic, properties, payload], 5)
                } else {
                    ([fixed, topic_field, after_topic, payload, &[]], 4)
                }
            }
            Frame::PublishLong(long) => {
                let (topic_field, properties, payload) = long.message.parts();
                let (fixed, after_topic) = long.header.split_at(long.fixed_len);
                ([fixed, topic_field, after_topic, properties, payload], 5)
            }
        }
    }

    /// Appends the frame's bytes after the first `skip`, in wire order, to `buf`: the
    /// write path's copy of a small frame, and the bridge's of what it forwards.
    #[inline]
    pub fn copy_to(&self, mut skip: usize, buf: &mut Vec<u8>) {
        if let (0, Frame::Publish { header, message }) = (skip, self) {
            // Nearly every frame copied: a whole small PUBLISH, written out without the
            // segment array (about 80 instructions a frame less, callgrind).
            let (topic_field, properties, payload) = message.parts();
            buf.extend_from_slice(header.fixed_header());
            buf.extend_from_slice(topic_field);
            buf.extend_from_slice(header.after_topic());
            if header.carries_properties() {
                buf.extend_from_slice(properties);
            }
            buf.extend_from_slice(payload);
            return;
        }
        let (parts, used) = self.segment_array();
        for part in &parts[..usize::from(used)] {
            match part.get(skip..) {
                Some(rest) => {
                    buf.extend_from_slice(rest);
                    skip = 0;
                }
                None => skip -= part.len(),
            }
        }
    }

    /// Total bytes on the wire (the sum of [`Frame::segment_array`], without building them:
    /// this runs for every frame written).
    #[inline(always)]
    pub fn len(&self) -> usize {
        match self {
            Frame::Control { len, .. } => usize::from(*len),
            Frame::Boxed(bytes) => bytes.len(),
            Frame::Publish { header, message } => {
                let (topic_field, properties, payload) = message.parts();
                let properties = if header.carries_properties() {
                    properties.len()
                } else {
                    0
                };
                header.len() + topic_field.len() + properties + payload.len()
            }
            Frame::PublishLong(long) => long.header.len() + long.message.size(),
        }
    }

    /// Always false: every frame has at least a fixed header.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// The frames of an [`Outbox`], oldest first.
pub type OutboxIter<'a> =
    Chain<Chain<option::Iter<'a, Frame>, slice::Iter<'a, Frame>>, slice::Iter<'a, Frame>>;

/// A connection's pending output: its frames, oldest first, and how many bytes of the
/// first one are written already. The reactor packs it for one write
/// ([`Output::into_parts`]) or copies it ([`Output::copy_to`]).
pub struct Output<'a> {
    /// The frames not written in full.
    frames: OutboxIter<'a>,
    /// Bytes of the first frame already written.
    skip: usize,
}

impl<'a> Output<'a> {
    /// The output of `frames`, the first `skip` bytes left out.
    pub fn new(frames: OutboxIter<'a>, skip: usize) -> Output<'a> {
        Output { frames, skip }
    }

    /// The output of `frames`, for tests of what packs it.
    #[cfg(test)]
    pub fn of_slice(frames: &'a [Frame], skip: usize) -> Output<'a> {
        const NONE: &Option<Frame> = &None;
        Output::new(NONE.iter().chain(frames).chain(&[]), skip)
    }

    /// The frames, oldest first, and the bytes of the first one to leave out.
    pub fn into_parts(self) -> (OutboxIter<'a>, usize) {
        (self.frames, self.skip)
    }

    /// Appends whole frames (the first one's unwritten rest) to `buf` while it holds
    /// fewer than `limit` bytes.
    pub fn copy_to(self, buf: &mut Vec<u8>, limit: usize) {
        let mut skip = self.skip;
        for frame in self.frames {
            if buf.len() >= limit {
                break;
            }
            frame.copy_to(skip, buf);
            skip = 0;
        }
    }

    /// The output as the byte slices it is made of, the written ones left out (for tests
    /// and the fuzzer; the reactor packs or copies it).
    pub fn segments(self) -> impl Iterator<Item = &'a [u8]> {
        let mut skip = self.skip;
        let all = self.frames.flat_map(Frame::segments);
        all.filter_map(move |segment| match segment.get(skip..) {
            Some(rest) => {
                skip = 0;
                (!rest.is_empty()).then_some(rest)
            }
            None => {
                skip -= segment.len();
                None
            }
        })
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
    /// An outbox with nothing in it, for a connection slot that holds no connection.
    pub const EMPTY: Outbox = Outbox {
        front: None,
        rest: None,
    };

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
    pub fn iter(&self) -> OutboxIter<'_> {
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
    use crate::codec::{Properties, ProtocolVersion::V311, ProtocolVersion::V5, Suback};

    #[test]
    fn short_acks_are_what_the_encoder_writes_for_a_success() {
        // The four acknowledgements in both versions, packet ids at the byte edges; a
        // decoder reads each back as the success it stands for.
        let kinds = [
            (
                PacketType::Puback,
                Packet::puback as fn(u16) -> Packet<'static>,
            ),
            (PacketType::Pubrec, Packet::pubrec),
            (PacketType::Pubrel, Packet::pubrel),
            (PacketType::Pubcomp, Packet::pubcomp),
        ];
        for (kind, packet) in kinds {
            for id in [1, 0xff, 0x100, 0xfffe, 0xffff] {
                for version in [V311, V5] {
                    let encoded = Frame::packet(&packet(id), version).unwrap();
                    assert_eq!(
                        Frame::short_ack(kind, id),
                        encoded,
                        "{kind:?} {id} {version:?}"
                    );
                    let wire = encoded.segments().collect::<Vec<_>>().concat();
                    assert_eq!(codec::decode(&wire, version).unwrap(), packet(id));
                }
            }
        }
    }

    #[test]
    fn len_is_the_sum_of_the_segments() {
        let m = Message::new("a/b", b"payload");
        let with_properties = Message::with_properties("a/b", &[1, 1], b"payload");
        let suback = |codes: &'static [u8]| {
            Packet::Suback(Suback {
                packet_id: 3,
                properties: Properties::NONE,
                reason_codes: codes,
            })
        };
        for f in [
            Frame::packet(&Packet::Pingresp, V311),
            Frame::packet(&Packet::puback(7), V311),
            Frame::packet(&suback(&[0, 1, 0x80]), V311),
            Frame::packet(&suback(&[1; 40]), V311),
            Frame::publish(m.clone(), V311, QoS::AtMostOnce, false, false, None),
            Frame::publish(m, V311, QoS::AtLeastOnce, true, true, Some(9)),
            Frame::publish(
                with_properties.clone(),
                V311,
                QoS::AtMostOnce,
                false,
                false,
                None,
            ),
            Frame::publish(with_properties, V5, QoS::AtLeastOnce, false, true, Some(4)),
        ] {
            let f = f.unwrap();
            let sum: usize = f.segments().map(<[u8]>::len).sum();
            assert_eq!(f.len(), sum, "{f:?}");
            let wire = f.segments().collect::<Vec<_>>().concat();
            // Whole (a PUBLISH's own arm) and from a byte on (the segments).
            for skip in [0, 1] {
                let mut copied = vec![9];
                f.copy_to(skip, &mut copied);
                assert_eq!(copied[1..], wire[skip..], "{f:?} from {skip}");
            }
        }
    }

    #[test]
    fn output_is_copied_in_whole_frames_from_the_first_unwritten_byte_up_to_a_limit() {
        let m = Message::new("a/b", b"payload");
        let frame = |id| Frame::publish(m.clone(), V311, QoS::AtLeastOnce, false, false, Some(id));
        let frames: Vec<Frame> = (1..=3).map(|id| frame(id).unwrap()).collect();
        let one = frames[0].len();
        let wire: Vec<u8> = frames
            .iter()
            .flat_map(Frame::segments)
            .flatten()
            .copied()
            .collect();
        let copied = |skip, limit| {
            let mut buf = Vec::new();
            Output::of_slice(&frames, skip).copy_to(&mut buf, limit);
            buf
        };
        assert_eq!(copied(0, usize::MAX), wire);
        for skip in 0..one {
            // The first frame's rest, then whole frames while below the limit.
            assert_eq!(copied(skip, 1), wire[skip..one], "skip {skip}");
            let end = if skip == 0 { one } else { 2 * one };
            assert_eq!(copied(skip, one), wire[skip..end], "skip {skip}");
            let segments: Vec<u8> = Output::of_slice(&frames, skip)
                .segments()
                .flatten()
                .copied()
                .collect();
            assert_eq!(segments, wire[skip..], "skip {skip}");
        }
    }

    #[test]
    fn a_v311_subscriber_gets_no_properties_of_a_message() {
        let m = Message::with_properties("t", &[1, 1], b"x");
        let f = Frame::publish(m, V311, QoS::AtMostOnce, false, false, None).unwrap();
        let wire: Vec<u8> = f.segments().flatten().copied().collect();
        assert_eq!(wire, [0x30, 4, 0, 1, b't', b'x']);
        crate::broker::assert_size_of::<Frame>(32);
    }

    #[test]
    fn outbox_keeps_order_and_allocates_only_beyond_one_frame() {
        let mut out = Outbox::default();
        assert!(out.is_empty() && out.pop_front().is_none());
        let frame = |p: Packet<'_>| Frame::packet(&p, V311).unwrap();
        out.push_back(frame(Packet::Pingresp));
        out.reserve(0);
        assert!(out.rest.is_none(), "one frame is stored inline");
        for id in 1..=3 {
            out.push_back(frame(Packet::puback(id)));
        }
        assert_eq!(out.len(), 4);
        assert_eq!(out.iter().count(), 4);
        assert_eq!(out.pop_front(), Some(frame(Packet::Pingresp)));
        assert_eq!(out.front(), Some(&frame(Packet::puback(1))));
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
