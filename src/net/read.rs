//! A connection's read state machine: bytes in, whole packets out.
//!
//! Packets are framed straight from the reactor's scratch buffer and handed on as borrowed
//! slices (no copy). Only what cannot be handed on now is copied into the connection's
//! pending [`Buffer`]:
//!
//! - the start of a packet whose end has not arrived yet, and
//! - the rest of a read after the consumer asked to pause (flow control).
//!
//! When pending bytes exist and more arrive, only as many bytes as complete the pending
//! packet are appended (one at a time while the fixed header is incomplete, so its length
//! is known before any body byte is buffered); the rest is framed zero-copy again.
//!
//! A packet announcing more than `max_packet_size` bytes ends the connection as soon as
//! its fixed header is readable, before its body is buffered. The pending buffer goes back
//! to the pool the moment it is empty, so an idle connection holds none.
//!
//! A large PUBLISH (more than `broker::large::LARGE_MESSAGE` bytes) is read in two parts
//! instead: its variable header (topic, packet id, properties) into a small vector, then
//! its payload straight into the shared message body the sink makes for it
//! ([`PacketSink::large_body`]); the reactor reads the socket directly into that body's
//! free part ([`ReadState::large_tail`]), so the payload is copied once, by the kernel.
//! Before it starts, the sink admits the packet in the large-message allowance
//! ([`PacketSink::admit_large`]); while the allowance is in use the packet waits
//! ([`Outcome::Wait`]): its bytes are held and the connection is not read.
//!
//! This module frames; it does not decode packets or decide anything about them: that is
//! the [`PacketSink`]'s job (the broker under the reactor, a recorder in tests).

use super::buffer::{Buffer, BufferPool};
use crate::broker::large::{self, Reservation};
use crate::broker::{CloseReason, MessageBuilder};
use crate::codec::{self, DecodeError, FixedHeader, PacketType, ProtocolVersion};

/// What the consumer wants after a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the next packet.
    Continue,
    /// Hold the remaining bytes; read nothing more until resumed.
    Pause,
    /// The connection is closing: discard the remaining bytes.
    Stop,
}

/// Where framed packets go.
pub trait PacketSink {
    /// The fixed header of the packet starting at `buf`, `Ok(None)` if it is not complete
    /// yet. The reactor uses the codec; tests may supply their own framing.
    fn header(&self, buf: &[u8]) -> Result<Option<FixedHeader>, DecodeError> {
        FixedHeader::parse(buf)
    }

    /// One whole packet, from its first header byte to its last byte, with the fixed
    /// header framing parsed (so the consumer need not parse it again).
    fn packet(&mut self, header: &FixedHeader, frame: &[u8]) -> Flow;

    /// The fixed header itself is malformed; the connection ends after this.
    fn malformed(&mut self, error: DecodeError);

    /// The protocol version of the connection's packets (for a large PUBLISH's variable
    /// header).
    fn version(&self) -> ProtocolVersion {
        ProtocolVersion::V311
    }

    /// Whether the large PUBLISH `header` frames may be read now: its bytes reserved in
    /// the large-message allowance, or `Wait` while the allowance is in use. The default
    /// reads every packet whole, like a small one.
    fn admit_large(&mut self, _header: &FixedHeader) -> Admission {
        Admission::Whole
    }

    /// The shared body a large PUBLISH's payload is read into, made from its variable
    /// header `head`; `Err` with what to do when `head` is malformed (the sink has
    /// reported it).
    fn large_body(&mut self, _header: &FixedHeader, _head: &[u8]) -> Result<MessageBuilder, Flow> {
        Err(Flow::Stop)
    }

    /// A large PUBLISH, read: its variable header and its body with the payload filled.
    fn large_packet(&mut self, _header: &FixedHeader, _head: &[u8], _body: MessageBuilder) -> Flow {
        Flow::Stop
    }
}

/// What [`PacketSink::admit_large`] decided for a large PUBLISH.
#[derive(Debug)]
pub enum Admission {
    /// Read it whole into the pending buffer, like any packet.
    Whole,
    /// Read it in two parts, straight into its body, holding this reservation meanwhile.
    Large(Reservation),
    /// The allowance is in use: hold its bytes and read nothing until resumed.
    Wait,
}

/// A large PUBLISH being read.
#[derive(Debug)]
struct LargeRead {
    /// Its fixed header.
    header: FixedHeader,
    /// Its variable header, then (once `body` exists) exactly that.
    head: Vec<u8>,
    /// The body its payload is read into, once the variable header is complete.
    body: Option<MessageBuilder>,
    /// Its bytes in the large-message allowance until the message exists.
    _reserved: Reservation,
}

/// How a call into the state machine ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// All bytes were handled (a partial packet may be pending); read on.
    Open,
    /// The consumer paused: unprocessed bytes are pending; do not read the socket.
    Paused,
    /// The consumer stopped (the connection is closing); remaining bytes are discarded.
    Stopped,
    /// A packet of this many bytes, more than `max_packet_size`, was announced: the
    /// reactor closes the connection, saying why.
    TooLarge(usize),
    /// The reactor must close the connection for this reason (`OutOfMemory`).
    Close(CloseReason),
    /// A large PUBLISH waits for the large-message allowance: its bytes are pending; do
    /// not read the socket until [`ReadState::resume`] is called.
    Wait,
}

/// Result of trying to complete the pending packet with new bytes.
enum Completion {
    /// The pending packet was delivered; frame the rest of the new bytes.
    Delivered,
    /// Every new byte went into the pending packet, which is still incomplete.
    Absorbed,
    /// Stop here with this outcome.
    Done(Outcome),
}

/// The read state of one connection.
#[derive(Debug, Default)]
pub struct ReadState {
    /// Bytes read but not yet handed on; `Some` only while non-empty.
    pending: Option<Buffer>,
    /// The large PUBLISH being read, if any (then nothing is pending).
    large: Option<Box<LargeRead>>,
}

impl ReadState {
    /// A connection with nothing pending.
    pub fn new() -> ReadState {
        ReadState {
            pending: None,
            large: None,
        }
    }

    /// The free part of the body a large PUBLISH's payload is being read into, if one
    /// is: the reactor reads the socket straight into it, then calls
    /// [`ReadState::large_filled`].
    pub fn large_tail(&mut self) -> Option<&mut [u8]> {
        let body = self.large.as_mut()?.body.as_mut()?;
        Some(body.unfilled()).filter(|tail| !tail.is_empty())
    }

    /// `n` bytes were read into [`ReadState::large_tail`]; hands the packet on once its
    /// payload is complete.
    pub fn large_filled(&mut self, n: usize, sink: &mut impl PacketSink) -> Outcome {
        if let Some(body) = self.large.as_mut().and_then(|l| l.body.as_mut()) {
            body.advance(n);
        }
        match self.finish_large(sink) {
            Some(outcome) => outcome,
            None => Outcome::Open,
        }
    }

    /// Hands on the large PUBLISH once its payload is complete: `None` if it is not yet
    /// (or none is being read), else what the sink said.
    fn finish_large(&mut self, sink: &mut impl PacketSink) -> Option<Outcome> {
        let large = self.large.as_ref()?;
        if !large.body.as_ref().is_some_and(MessageBuilder::is_complete) {
            return None;
        }
        let mut large = self.large.take()?;
        let body = large.body.take()?;
        Some(match sink.large_packet(&large.header, &large.head, body) {
            Flow::Continue => Outcome::Open,
            Flow::Pause => Outcome::Paused,
            Flow::Stop => Outcome::Stopped,
        })
    }

    /// Starts reading the large PUBLISH `header` frames, or says why not: `Ok(false)` to
    /// read it whole, `Err(Wait)` while the allowance is in use.
    fn start_large(
        &mut self,
        header: &FixedHeader,
        sink: &mut impl PacketSink,
    ) -> Result<bool, Outcome> {
        if header.packet_type() != Some(PacketType::Publish)
            || !large::is_large(header.remaining_len)
        {
            return Ok(false);
        }
        match sink.admit_large(header) {
            Admission::Whole => Ok(false),
            Admission::Wait => Err(Outcome::Wait),
            Admission::Large(reserved) => {
                self.large = Some(Box::new(LargeRead {
                    header: *header,
                    head: Vec::new(),
                    body: None,
                    _reserved: reserved,
                }));
                Ok(true)
            }
        }
    }

    /// Moves bytes of `data` into the large PUBLISH being read (variable header, then
    /// payload) and hands it on once complete. `None`: it was handed on (or none is
    /// being read) and the rest of `data` is to be framed; `Some`: stop with this
    /// outcome (every byte of `data` was taken, or the connection stops).
    fn feed_large(&mut self, data: &mut &[u8], sink: &mut impl PacketSink) -> Option<Outcome> {
        let large = self.large.as_mut()?;
        if large.body.is_none() {
            let flags = large.header.flags();
            let head_len = loop {
                match codec::publish_head_len(flags, &large.head, sink.version()) {
                    Err(error) => {
                        sink.malformed(error);
                        self.large = None;
                        return Some(Outcome::Stopped);
                    }
                    Ok(Some(n)) if n > large.header.remaining_len => {
                        sink.malformed(DecodeError::Truncated);
                        self.large = None;
                        return Some(Outcome::Stopped);
                    }
                    Ok(Some(n)) if large.head.len() >= n => break n,
                    known => {
                        // Up to the end of the variable header once its length is
                        // known; a few bytes at a time until then.
                        let want = known.ok().flatten().unwrap_or(large.head.len() + 8);
                        let take = (want - large.head.len()).min(data.len());
                        if take == 0 {
                            return Some(Outcome::Open);
                        }
                        let (head, rest) = data.split_at(take);
                        large.head.extend_from_slice(head);
                        *data = rest;
                    }
                }
            };
            let extra = large.head.split_off(head_len);
            let mut body = match sink.large_body(&large.header, &large.head) {
                Ok(body) => body,
                Err(_) => {
                    self.large = None;
                    return Some(Outcome::Stopped);
                }
            };
            let tail = body.unfilled();
            let n = extra.len().min(tail.len());
            tail[..n].copy_from_slice(&extra[..n]);
            body.advance(n);
            large.body = Some(body);
        }
        if let Some(body) = large.body.as_mut() {
            let tail = body.unfilled();
            let n = tail.len().min(data.len());
            let (payload, rest) = data.split_at(n);
            tail[..n].copy_from_slice(payload);
            body.advance(n);
            *data = rest;
        }
        match self.finish_large(sink) {
            Some(Outcome::Open) => None,
            Some(outcome) => Some(outcome),
            None => Some(Outcome::Open),
        }
    }

    /// Bytes pending.
    pub fn pending_len(&self) -> usize {
        self.pending.as_ref().map_or(0, Buffer::len)
    }

    /// Whether a pool buffer is held.
    #[cfg(test)]
    pub fn holds_buffer(&self) -> bool {
        self.pending.is_some()
    }

    /// Gives the pending buffer back (the connection is closing).
    pub fn clear(&mut self, pool: &mut BufferPool) {
        if let Some(buffer) = self.pending.take() {
            pool.release(buffer);
        }
        self.large = None;
    }

    /// Frames `data`, freshly read from the socket, after whatever is pending.
    pub fn feed(
        &mut self,
        data: &[u8],
        pool: &mut BufferPool,
        max_packet: usize,
        sink: &mut impl PacketSink,
    ) -> Outcome {
        let mut data = data;
        if self.pending.is_some() {
            // Whole packets held back by a pause come first, in order.
            match self.resume(pool, max_packet, sink) {
                Outcome::Open => {}
                held @ (Outcome::Paused | Outcome::Wait) => return self.stash(data, 0, pool, held),
                other => return other,
            }
        }
        if let Some(outcome) = self.feed_large(&mut data, sink) {
            return match outcome {
                Outcome::Paused => self.stash(data, 0, pool, Outcome::Paused),
                other => other,
            };
        }
        if self.pending.is_some() {
            match self.complete_pending(&mut data, pool, max_packet, sink) {
                Completion::Delivered => {}
                Completion::Absorbed => return Outcome::Open,
                Completion::Done(outcome) => return outcome,
            }
        }
        self.frame(data, pool, max_packet, sink)
    }

    /// Hands on the whole packets pending (after a pause ends). Stops at the first
    /// incomplete packet, which stays pending.
    pub fn resume(
        &mut self,
        pool: &mut BufferPool,
        max_packet: usize,
        sink: &mut impl PacketSink,
    ) -> Outcome {
        let Some(buffer) = self.pending.take() else {
            return Outcome::Open;
        };
        let mut offset = 0;
        let outcome = loop {
            let rest = &buffer.bytes()[offset..];
            if rest.is_empty() {
                break Outcome::Open;
            }
            if self.large.is_some() {
                // Bytes held behind a large PUBLISH that paused or waited.
                let mut d = rest;
                let outcome = self.feed_large(&mut d, sink);
                offset = buffer.len() - d.len();
                match outcome {
                    None => continue,
                    Some(outcome) => break outcome,
                }
            }
            let header = match sink.header(rest) {
                Err(error) => {
                    sink.malformed(error);
                    break Outcome::Stopped;
                }
                Ok(None) => break Outcome::Open,
                Ok(Some(header)) => header,
            };
            let len = header.packet_len();
            if len > max_packet {
                break Outcome::TooLarge(len);
            }
            match self.start_large(&header, sink) {
                Err(wait) => break wait,
                Ok(true) => {
                    offset += header.header_len;
                    continue;
                }
                Ok(false) => {}
            }
            if rest.len() < len {
                break Outcome::Open;
            }
            let flow = sink.packet(&header, &rest[..len]);
            offset += len;
            match flow {
                Flow::Continue => {}
                Flow::Pause => break Outcome::Paused,
                Flow::Stop => break Outcome::Stopped,
            }
        };
        let mut buffer = buffer;
        buffer.consume(offset);
        if buffer.is_empty() {
            pool.release(buffer);
        } else {
            self.pending = Some(buffer);
        }
        outcome
    }

    /// Appends just enough of `data` to complete the pending packet and hands it on.
    /// The pending bytes hold less than one packet here.
    fn complete_pending(
        &mut self,
        data: &mut &[u8],
        pool: &mut BufferPool,
        max_packet: usize,
        sink: &mut impl PacketSink,
    ) -> Completion {
        let Some(buffer) = self.pending.as_mut() else {
            return Completion::Delivered;
        };
        let header = loop {
            match sink.header(buffer.bytes()) {
                Err(error) => {
                    sink.malformed(error);
                    return Completion::Done(Outcome::Stopped);
                }
                Ok(Some(header)) => break header,
                Ok(None) => {
                    // The header is incomplete: one byte at a time, so no body byte is
                    // buffered before the length is checked. A block holds a header.
                    let Some((&byte, rest)) = data.split_first() else {
                        return Completion::Absorbed;
                    };
                    if !pool.grow(buffer, buffer.len() + 1) {
                        return Completion::Done(Outcome::Close(CloseReason::OutOfMemory));
                    }
                    buffer.extend(&[byte]);
                    *data = rest;
                }
            }
        };
        let len = header.packet_len();
        if len > max_packet {
            return Completion::Done(Outcome::TooLarge(len));
        }
        match self.start_large(&header, sink) {
            Err(wait) => return Completion::Done(self.stash(data, 0, pool, wait)),
            Ok(true) => {
                // The pending bytes are the start of the packet: into its variable header.
                if let Some(buffer) = self.pending.take() {
                    let mut held = &buffer.bytes()[header.header_len..];
                    let outcome = self.feed_large(&mut held, sink);
                    pool.release(buffer);
                    if let Some(outcome) = outcome.filter(|o| *o != Outcome::Open) {
                        return Completion::Done(outcome);
                    }
                }
                return match self.feed_large(data, sink) {
                    None => Completion::Delivered,
                    Some(Outcome::Open) => Completion::Absorbed,
                    Some(Outcome::Paused) => {
                        Completion::Done(self.stash(data, 0, pool, Outcome::Paused))
                    }
                    Some(outcome) => Completion::Done(outcome),
                };
            }
            Ok(false) => {}
        }
        let Some(buffer) = self.pending.as_mut() else {
            return Completion::Delivered;
        };
        if !pool.grow(buffer, len) {
            return Completion::Done(Outcome::Close(CloseReason::OutOfMemory));
        }
        let take = len.saturating_sub(buffer.len()).min(data.len());
        let (head, rest) = data.split_at(take);
        buffer.extend(head);
        *data = rest;
        if buffer.len() < len {
            return Completion::Absorbed;
        }
        let flow = sink.packet(&header, buffer.bytes());
        self.clear(pool);
        match flow {
            Flow::Continue => Completion::Delivered,
            Flow::Pause => Completion::Done(self.stash(data, 0, pool, Outcome::Paused)),
            Flow::Stop => Completion::Done(Outcome::Stopped),
        }
    }

    /// Frames packets straight from `data` (nothing is pending).
    fn frame(
        &mut self,
        data: &[u8],
        pool: &mut BufferPool,
        max_packet: usize,
        sink: &mut impl PacketSink,
    ) -> Outcome {
        let mut offset = 0;
        while offset < data.len() {
            let rest = &data[offset..];
            let header = match sink.header(rest) {
                Err(error) => {
                    sink.malformed(error);
                    return Outcome::Stopped;
                }
                Ok(None) => return self.stash(rest, 0, pool, Outcome::Open),
                Ok(Some(header)) => header,
            };
            let len = header.packet_len();
            if len > max_packet {
                return Outcome::TooLarge(len);
            }
            match self.start_large(&header, sink) {
                Err(wait) => return self.stash(rest, 0, pool, wait),
                Ok(true) => {
                    let mut d = &rest[header.header_len..];
                    let outcome = self.feed_large(&mut d, sink);
                    offset = data.len() - d.len();
                    match outcome {
                        None => continue,
                        Some(Outcome::Paused) => return self.stash(d, 0, pool, Outcome::Paused),
                        Some(outcome) => return outcome,
                    }
                }
                Ok(false) => {}
            }
            if rest.len() < len {
                // Reserve the whole packet now: one allocation, and the budget is checked
                // before the body arrives.
                return self.stash(rest, len, pool, Outcome::Open);
            }
            let flow = sink.packet(&header, &rest[..len]);
            offset += len;
            match flow {
                Flow::Continue => {}
                Flow::Pause => return self.stash(&data[offset..], 0, pool, Outcome::Paused),
                Flow::Stop => return Outcome::Stopped,
            }
        }
        Outcome::Open
    }

    /// Appends `bytes` to the pending buffer, reserving at least `capacity` bytes, and
    /// returns `then`, or `Close(OutOfMemory)` if the pool's budget cannot be met.
    fn stash(
        &mut self,
        bytes: &[u8],
        capacity: usize,
        pool: &mut BufferPool,
        then: Outcome,
    ) -> Outcome {
        if bytes.is_empty() {
            return then;
        }
        let needed = capacity.max(self.pending_len() + bytes.len());
        let ok = match self.pending.as_mut() {
            Some(buffer) => pool.grow(buffer, needed),
            None => match pool.acquire(needed) {
                Some(buffer) => {
                    self.pending = Some(buffer);
                    true
                }
                None => false,
            },
        };
        match self.pending.as_mut() {
            Some(buffer) if ok => {
                buffer.extend(bytes);
                then
            }
            _ => Outcome::Close(CloseReason::OutOfMemory),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Remaining-length framing [MQTT-2.2.3], so these tests do not depend on the codec's
    /// parser (only on its header type).
    fn test_header(buf: &[u8]) -> Result<Option<FixedHeader>, DecodeError> {
        let mut value = 0usize;
        for i in 0..4 {
            let Some(&byte) = buf.get(1 + i) else {
                return Ok(None);
            };
            value |= usize::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(Some(FixedHeader {
                    first_byte: buf[0],
                    remaining_len: value,
                    header_len: 2 + i,
                }));
            }
        }
        Err(DecodeError::MalformedRemainingLength)
    }

    /// Records packets; pauses or stops after chosen packets.
    #[derive(Default)]
    struct Recorder {
        packets: Vec<Vec<u8>>,
        malformed: Vec<DecodeError>,
        pause_after: Vec<usize>,
        stop_after: Option<usize>,
    }

    impl PacketSink for Recorder {
        fn header(&self, buf: &[u8]) -> Result<Option<FixedHeader>, DecodeError> {
            test_header(buf)
        }
        fn packet(&mut self, header: &FixedHeader, frame: &[u8]) -> Flow {
            assert_eq!(
                header.packet_len(),
                frame.len(),
                "the header frames the packet"
            );
            self.packets.push(frame.to_vec());
            let n = self.packets.len();
            if self.stop_after == Some(n) {
                Flow::Stop
            } else if self.pause_after.contains(&n) {
                Flow::Pause
            } else {
                Flow::Continue
            }
        }
        fn malformed(&mut self, error: DecodeError) {
            self.malformed.push(error);
        }
    }

    /// A packet of type byte `first` with a body of `body_len` bytes counting up from `tag`.
    fn packet(first: u8, body_len: usize, tag: u8) -> Vec<u8> {
        let mut p = vec![first];
        let mut len = body_len;
        loop {
            let mut byte = (len % 128) as u8;
            len /= 128;
            if len > 0 {
                byte |= 0x80;
            }
            p.push(byte);
            if len == 0 {
                break;
            }
        }
        p.extend((0..body_len).map(|i| tag.wrapping_add(i as u8)));
        p
    }

    fn sample() -> Vec<Vec<u8>> {
        vec![
            packet(0x10, 20, 1),
            packet(0xc0, 0, 0),
            packet(0x30, 200, 7),
            packet(0x40, 2, 9),
            packet(0x32, 1000, 3),
        ]
    }

    const MAX: usize = 64 * 1024;

    #[test]
    fn one_byte_chunks() {
        let packets = sample();
        let stream: Vec<u8> = packets.concat();
        let mut pool = BufferPool::new(64, 1 << 20);
        let mut state = ReadState::new();
        let mut sink = Recorder::default();
        for byte in &stream {
            assert_eq!(
                state.feed(std::slice::from_ref(byte), &mut pool, MAX, &mut sink),
                Outcome::Open
            );
        }
        assert_eq!(sink.packets, packets);
        assert!(!state.holds_buffer());
        assert_eq!(pool.lent(), 0);
    }

    #[test]
    fn many_packets_in_one_chunk_borrow_nothing() {
        let packets = sample();
        let stream: Vec<u8> = packets.concat();
        let mut pool = BufferPool::new(64, 1 << 20);
        let mut state = ReadState::new();
        let mut sink = Recorder::default();
        assert_eq!(
            state.feed(&stream, &mut pool, MAX, &mut sink),
            Outcome::Open
        );
        assert_eq!(sink.packets, packets);
        assert_eq!(pool.allocated(), 0, "whole packets are framed zero-copy");
    }

    #[test]
    fn split_at_every_position() {
        let packets = sample();
        let stream: Vec<u8> = packets.concat();
        for cut in 0..=stream.len() {
            for cut2 in [cut, (cut + 3).min(stream.len()), stream.len()] {
                let mut pool = BufferPool::new(64, 1 << 20);
                let mut state = ReadState::new();
                let mut sink = Recorder::default();
                for chunk in [&stream[..cut], &stream[cut..cut2], &stream[cut2..]] {
                    assert_eq!(state.feed(chunk, &mut pool, MAX, &mut sink), Outcome::Open);
                }
                assert_eq!(sink.packets, packets, "cut at {cut}/{cut2}");
                assert!(!state.holds_buffer());
                assert_eq!(pool.lent(), 0);
            }
        }
    }

    #[test]
    fn partial_body_reserves_the_whole_packet_once() {
        let big = packet(0x30, 1000, 0);
        let mut pool = BufferPool::new(64, 1 << 20);
        let mut state = ReadState::new();
        let mut sink = Recorder::default();
        state.feed(&big[..10], &mut pool, MAX, &mut sink);
        assert_eq!(pool.allocated(), big.len());
        state.feed(&big[10..500], &mut pool, MAX, &mut sink);
        assert_eq!(pool.allocated(), big.len(), "no regrowth");
        state.feed(&big[500..], &mut pool, MAX, &mut sink);
        assert_eq!(sink.packets, vec![big]);
        assert_eq!(pool.allocated(), 0, "large allocation freed when drained");
    }

    #[test]
    fn oversized_packet_rejected_before_body_is_buffered() {
        let big = packet(0x30, 5000, 0);
        // Whole header in one read: rejected with no buffer borrowed.
        let mut pool = BufferPool::new(64, 1 << 20);
        let mut state = ReadState::new();
        let mut sink = Recorder::default();
        assert_eq!(
            state.feed(&big[..100], &mut pool, 4096, &mut sink),
            Outcome::TooLarge(5003)
        );
        assert_eq!(pool.allocated(), 0);
        assert!(sink.packets.is_empty());

        // Header split byte by byte: only header bytes were ever buffered.
        let mut pool = BufferPool::new(64, 1 << 20);
        let mut state = ReadState::new();
        let mut sink = Recorder::default();
        assert_eq!(
            state.feed(&big[..1], &mut pool, 4096, &mut sink),
            Outcome::Open
        );
        assert_eq!(
            state.feed(&big[1..100], &mut pool, 4096, &mut sink),
            Outcome::TooLarge(5003)
        );
        assert_eq!(
            state.pending_len(),
            3,
            "first byte and the 2-byte length only"
        );
        assert_eq!(pool.allocated(), 64, "one block, no body-sized allocation");
        state.clear(&mut pool);
        assert_eq!(pool.lent(), 0);
    }

    #[test]
    fn malformed_header_reported() {
        let mut pool = BufferPool::new(64, 1 << 20);
        let mut state = ReadState::new();
        let mut sink = Recorder::default();
        let bad = [0x30, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(
            state.feed(&bad, &mut pool, MAX, &mut sink),
            Outcome::Stopped
        );
        assert_eq!(sink.malformed, vec![DecodeError::MalformedRemainingLength]);
    }

    #[test]
    fn pause_mid_chunk_keeps_rest_and_resume_processes_in_order() {
        let packets = sample();
        let stream: Vec<u8> = packets.concat();
        let mut pool = BufferPool::new(64, 1 << 20);
        let mut state = ReadState::new();
        let mut sink = Recorder {
            pause_after: vec![2, 3],
            ..Recorder::default()
        };
        // Feed all but the last 10 bytes: pause after packet 2.
        let cut = stream.len() - 10;
        assert_eq!(
            state.feed(&stream[..cut], &mut pool, MAX, &mut sink),
            Outcome::Paused
        );
        assert_eq!(sink.packets.len(), 2);
        assert_eq!(
            state.pending_len(),
            cut - packets[0].len() - packets[1].len()
        );
        // Resume: packet 3 pauses again.
        assert_eq!(state.resume(&mut pool, MAX, &mut sink), Outcome::Paused);
        assert_eq!(sink.packets.len(), 3);
        // Resume: packet 4 delivered, packet 5 incomplete and pending.
        assert_eq!(state.resume(&mut pool, MAX, &mut sink), Outcome::Open);
        assert_eq!(sink.packets.len(), 4);
        assert_eq!(
            state.feed(&stream[cut..], &mut pool, MAX, &mut sink),
            Outcome::Open
        );
        assert_eq!(sink.packets, packets);
        assert!(!state.holds_buffer());
        assert_eq!(pool.lent(), 0);
    }

    #[test]
    fn pause_on_completed_pending_packet_stashes_the_rest() {
        let packets = sample();
        let stream: Vec<u8> = packets.concat();
        let mut pool = BufferPool::new(64, 1 << 20);
        let mut state = ReadState::new();
        let mut sink = Recorder {
            pause_after: vec![1],
            ..Recorder::default()
        };
        assert_eq!(
            state.feed(&stream[..5], &mut pool, MAX, &mut sink),
            Outcome::Open
        );
        assert_eq!(
            state.feed(&stream[5..], &mut pool, MAX, &mut sink),
            Outcome::Paused
        );
        assert_eq!(sink.packets.len(), 1);
        assert_eq!(state.resume(&mut pool, MAX, &mut sink), Outcome::Open);
        assert_eq!(sink.packets, packets);
        assert_eq!(pool.lent(), 0);
    }

    #[test]
    fn bytes_arriving_while_paused_queue_behind_pending() {
        let packets = sample();
        let stream: Vec<u8> = packets.concat();
        let mut pool = BufferPool::new(64, 1 << 20);
        let mut state = ReadState::new();
        let mut sink = Recorder {
            pause_after: vec![1],
            ..Recorder::default()
        };
        let cut = packets[0].len() + packets[1].len() + 3;
        assert_eq!(
            state.feed(&stream[..cut], &mut pool, MAX, &mut sink),
            Outcome::Paused
        );
        // A feed while paused (should not happen, but must keep order) resumes first.
        assert_eq!(
            state.feed(&stream[cut..], &mut pool, MAX, &mut sink),
            Outcome::Open
        );
        assert_eq!(sink.packets, packets);
        assert!(!state.holds_buffer());
    }

    #[test]
    fn stop_discards_the_rest() {
        let packets = sample();
        let stream: Vec<u8> = packets.concat();
        let mut pool = BufferPool::new(64, 1 << 20);
        let mut state = ReadState::new();
        let mut sink = Recorder {
            stop_after: Some(1),
            ..Recorder::default()
        };
        assert_eq!(
            state.feed(&stream, &mut pool, MAX, &mut sink),
            Outcome::Stopped
        );
        assert_eq!(sink.packets.len(), 1);
        assert_eq!(pool.lent(), 0);
    }

    #[test]
    fn idle_connection_holds_no_buffer() {
        let p = packet(0x30, 30, 0);
        let mut pool = BufferPool::new(64, 1 << 20);
        let mut state = ReadState::new();
        let mut sink = Recorder::default();
        state.feed(&p[..7], &mut pool, MAX, &mut sink);
        assert!(state.holds_buffer());
        assert_eq!(pool.lent(), 1);
        state.feed(&p[7..], &mut pool, MAX, &mut sink);
        assert!(!state.holds_buffer());
        assert_eq!(pool.lent(), 0);
        assert_eq!(pool.allocated(), 64, "the block is back on the free list");
    }

    #[test]
    fn budget_exhaustion_closes_with_out_of_memory() {
        let p = packet(0x30, 1000, 0);
        let mut pool = BufferPool::new(64, 512);
        let mut state = ReadState::new();
        let mut sink = Recorder::default();
        assert_eq!(
            state.feed(&p[..10], &mut pool, MAX, &mut sink),
            Outcome::Close(CloseReason::OutOfMemory)
        );
        assert_eq!(pool.refused(), 1);
        assert!(!state.holds_buffer());

        // Growing from a block to a large packet is refused the same way.
        let mut state = ReadState::new();
        assert_eq!(
            state.feed(&p[..1], &mut pool, MAX, &mut sink),
            Outcome::Open
        );
        assert_eq!(
            state.feed(&p[1..10], &mut pool, MAX, &mut sink),
            Outcome::Close(CloseReason::OutOfMemory)
        );
        state.clear(&mut pool);
        assert_eq!(pool.lent(), 0);
    }

    /// A sink that reads large PUBLISHes in two parts, as the reactor's does.
    #[derive(Default)]
    struct LargeRecorder {
        inner: Recorder,
        /// (topic, payload) of each large PUBLISH.
        large: Vec<(String, Vec<u8>)>,
        /// Answer `Wait` to the next admissions.
        wait: bool,
    }

    impl PacketSink for LargeRecorder {
        fn header(&self, buf: &[u8]) -> Result<Option<FixedHeader>, DecodeError> {
            self.inner.header(buf)
        }
        fn packet(&mut self, header: &FixedHeader, frame: &[u8]) -> Flow {
            self.inner.packet(header, frame)
        }
        fn malformed(&mut self, error: DecodeError) {
            self.inner.malformed(error);
        }
        fn admit_large(&mut self, header: &FixedHeader) -> Admission {
            if self.wait {
                Admission::Wait
            } else {
                Admission::Large(Reservation::new(header.packet_len()))
            }
        }
        fn large_body(
            &mut self,
            header: &FixedHeader,
            head: &[u8],
        ) -> Result<MessageBuilder, Flow> {
            let p = codec::decode_publish_head(header, head, ProtocolVersion::V311)
                .map_err(|_| Flow::Stop)?;
            Ok(MessageBuilder::new(
                p.topic,
                &[],
                header.remaining_len - head.len(),
            ))
        }
        fn large_packet(
            &mut self,
            header: &FixedHeader,
            head: &[u8],
            body: MessageBuilder,
        ) -> Flow {
            let m = body.finish(None);
            let p = codec::decode_publish_split(header, head, m.payload(), ProtocolVersion::V311)
                .expect("a well-formed large PUBLISH");
            assert_eq!(p.topic, m.topic());
            self.large
                .push((m.topic().to_string(), m.payload().to_vec()));
            Flow::Continue
        }
    }

    /// A QoS 1 PUBLISH on `topic` with `len` payload bytes counting up.
    fn large_publish(topic: &str, len: usize) -> (Vec<u8>, Vec<u8>) {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let p = crate::codec::Publish {
            dup: false,
            qos: crate::codec::QoS::AtLeastOnce,
            retain: false,
            topic,
            packet_id: Some(7),
            properties: crate::codec::Properties::NONE,
            payload: &payload,
        };
        let wire = crate::codec::Packet::Publish(p)
            .to_vec(ProtocolVersion::V311)
            .expect("encodable");
        (wire, payload)
    }

    #[test]
    fn a_large_publish_is_read_into_its_body_whatever_the_split() {
        let (wire, payload) = large_publish("cam/1", 100_000);
        let small = packet(0xc0, 0, 0);
        let stream = [wire.clone(), small.clone()].concat();
        for chunk in [stream.len(), 65_536, 7919, 3, 1] {
            let mut pool = BufferPool::new(64, 1 << 20);
            let mut state = ReadState::new();
            let mut sink = LargeRecorder::default();
            for piece in stream.chunks(chunk) {
                assert_eq!(
                    state.feed(piece, &mut pool, 1 << 20, &mut sink),
                    Outcome::Open
                );
                // The payload never goes through the buffer pool.
                assert!(pool.allocated() <= 64, "chunk {chunk}");
            }
            assert_eq!(
                sink.large,
                vec![("cam/1".to_string(), payload.clone())],
                "chunk {chunk}"
            );
            assert_eq!(
                sink.inner.packets,
                vec![small.clone()],
                "what follows is framed"
            );
            assert!(!state.holds_buffer() && state.large.is_none());
        }
    }

    #[test]
    fn the_reactor_reads_the_payload_straight_into_the_body() {
        let (wire, payload) = large_publish("cam/1", 100_000);
        let mut pool = BufferPool::new(64, 1 << 20);
        let mut state = ReadState::new();
        let mut sink = LargeRecorder::default();
        // The fixed and variable headers and a little payload arrive by the scratch
        // buffer; then the tail is the body's free part.
        assert_eq!(
            state.feed(&wire[..20], &mut pool, 1 << 20, &mut sink),
            Outcome::Open
        );
        let mut at = 20;
        while let Some(tail) = state.large_tail() {
            let n = tail.len().min(4096);
            tail[..n].copy_from_slice(&wire[at..at + n]);
            at += n;
            assert_eq!(state.large_filled(n, &mut sink), Outcome::Open);
        }
        assert_eq!(at, wire.len());
        assert_eq!(sink.large, vec![("cam/1".to_string(), payload)]);
    }

    #[test]
    fn a_large_publish_waits_for_the_allowance_with_its_bytes_held() {
        let (wire, payload) = large_publish("cam/1", 100_000);
        let mut pool = BufferPool::new(64, 1 << 20);
        let mut state = ReadState::new();
        let mut sink = LargeRecorder {
            wait: true,
            ..LargeRecorder::default()
        };
        assert_eq!(
            state.feed(&wire[..30_000], &mut pool, 1 << 20, &mut sink),
            Outcome::Wait
        );
        assert_eq!(state.pending_len(), 30_000, "nothing is lost while waiting");
        // Resumed once the allowance has room: the held bytes go into the body first.
        sink.wait = false;
        assert_eq!(state.resume(&mut pool, 1 << 20, &mut sink), Outcome::Open);
        assert!(!state.holds_buffer());
        assert_eq!(
            state.feed(&wire[30_000..], &mut pool, 1 << 20, &mut sink),
            Outcome::Open
        );
        assert_eq!(sink.large, vec![("cam/1".to_string(), payload)]);
        assert_eq!(pool.lent(), 0);
    }

    #[test]
    fn a_closed_connection_gives_a_large_reservation_back() {
        let (wire, _) = large_publish("cam/1", 100_000);
        let before = large::in_use();
        let mut pool = BufferPool::new(64, 1 << 20);
        let mut state = ReadState::new();
        let mut sink = LargeRecorder::default();
        assert_eq!(
            state.feed(&wire[..50_000], &mut pool, 1 << 20, &mut sink),
            Outcome::Open
        );
        assert!(large::in_use() > before);
        state.clear(&mut pool);
        assert_eq!(large::in_use(), before);
    }
}
