//! Outbound frames: what the core queues for a connection and the reactor writes.
//!
//! A frame is either a small control packet stored inline or a PUBLISH made of a
//! per-subscriber fixed header and packet id plus the shared [`Message`] body, so fan-out
//! copies no payload: the reactor hands [`Frame::segments`] to `writev`.

use super::message::Message;
use crate::codec::{encode_fixed_header, PacketType, QoS};

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

    /// Total bytes on the wire.
    pub fn len(&self) -> usize {
        self.segments().iter().map(|s| s.len()).sum()
    }

    /// Always false: every frame has at least a fixed header.
    pub fn is_empty(&self) -> bool {
        false
    }
}
