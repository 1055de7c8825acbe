//! Packing a connection's output for one write syscall.
//!
//! The broker lends its output as frames, each made of segments (a PUBLISH is a fixed
//! header, the shared topic field, maybe a packet id and the shared payload). Handing
//! hundreds of tiny segments to `writev` costs the kernel a per-segment step and caps a
//! syscall at `IOV_MAX` segments, so small frames and segments are copied into one
//! reactor-wide buffer and sent as a single run, while large segments (payloads above
//! [`COPY_MAX`]) are still referenced in place: a big fan-out payload is never copied in
//! user space, and a flood of small messages leaves in writes of up to [`BATCH`] bytes.
//!
//! The buffer is transient: it holds bytes only between packing and the write that
//! follows, so it is one per reactor, not one per connection.

use crate::broker::Output;
use heapless::Vec as FixedVec;
use std::io::IoSlice;

/// Bytes packed for one write at most (a larger first segment still goes alone).
pub const BATCH: usize = 64 * 1024;
/// Segments up to this size are copied; larger ones are referenced.
pub const COPY_MAX: usize = 512;
/// Most segments the packed output consists of (`IOV_MAX` is 1024 on Linux).
pub const MAX_OUT: usize = 64;

/// The packed output of one write: at most [`MAX_OUT`] slices, on the stack. A
/// fixed-capacity vector, not an array: a write of one small message fills one slice, and
/// initialising 64 would cost more than packing it.
pub type Packed<'a> = FixedVec<IoSlice<'a>, MAX_OUT>;

/// One piece of packed output.
#[derive(Clone, Copy)]
enum Span<'a> {
    /// `buf[start..end]`.
    Copied(usize, usize),
    /// An input segment, referenced.
    Lent(&'a [u8]),
}

/// The reactor's packing buffer.
pub struct Gather {
    /// Copies of small frames and segments; allocated on first use.
    buf: Vec<u8>,
}

impl Gather {
    /// An empty gatherer; its buffer is allocated the first time output is packed.
    pub fn new() -> Gather {
        Gather { buf: Vec::new() }
    }

    /// Packs a prefix of a connection's `output` (the broker's
    /// [`output`](crate::broker::Broker::output)) into `out`: a frame (or the unwritten
    /// rest of one) no larger than [`COPY_MAX`] is copied whole; a larger one is taken
    /// segment by segment, small segments copied and large ones lent as they are.
    /// Consecutive copies become one slice of the internal buffer. Stops when [`BATCH`]
    /// bytes or [`MAX_OUT`] output slices are reached. Returns the bytes `out` holds; the
    /// caller writes them and reports to the broker how many bytes the socket took.
    pub fn pack<'a>(&'a mut self, output: Output<'a>, out: &mut Packed<'a>) -> usize {
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(BATCH);
        }
        self.buf.clear();
        let (frames, mut skip) = output.into_parts();
        // Spans, not slices, while the buffer is still being written.
        let mut spans: FixedVec<Span<'a>, MAX_OUT> = FixedVec::new();
        let mut total = 0;
        'frames: for frame in frames {
            let len = frame.len() - skip;
            if len <= COPY_MAX {
                // The common case, one small packet: its bytes straight into the buffer.
                if total + len > BATCH || !copied(&mut spans, self.buf.len(), len) {
                    break;
                }
                frame.copy_to(skip, &mut self.buf);
                skip = 0;
                total += len;
                continue;
            }
            let (segments, parts) = frame.segment_array();
            for &seg in &segments[..usize::from(parts)] {
                let seg = match seg.get(skip..) {
                    Some(rest) => {
                        skip = 0;
                        rest
                    }
                    None => {
                        // Written already.
                        skip -= seg.len();
                        continue;
                    }
                };
                let len = seg.len();
                if len == 0 {
                    continue;
                }
                if total > 0 && total + len > BATCH {
                    break 'frames;
                }
                if len <= COPY_MAX {
                    if !copied(&mut spans, self.buf.len(), len) {
                        break 'frames;
                    }
                    self.buf.extend_from_slice(seg);
                } else if spans.push(Span::Lent(seg)).is_err() {
                    break 'frames;
                }
                total += len;
            }
        }
        let buf: &'a [u8] = &self.buf;
        out.clear();
        for span in &spans {
            let slice = match *span {
                Span::Copied(start, end) => IoSlice::new(&buf[start..end]),
                Span::Lent(seg) => IoSlice::new(seg),
            };
            // As many slices as spans, and both hold MAX_OUT.
            let _ = out.push(slice);
        }
        total
    }
}

/// Records `len` bytes about to be copied to the buffer at `at`: the last span grows when
/// it is a copy (the buffer only grows, so a copied span that is last ends at its end),
/// else a span is added. False when no span is left.
#[inline]
fn copied(spans: &mut FixedVec<Span<'_>, MAX_OUT>, at: usize, len: usize) -> bool {
    match spans.last_mut() {
        Some(Span::Copied(_, end)) => {
            *end += len;
            true
        }
        _ => spans.push(Span::Copied(at, at + len)).is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::{Frame, Message};
    use crate::codec::{ProtocolVersion::V311, QoS};

    /// Packs frames of the given bytes, each its own frame, the first `skip` bytes
    /// written already.
    fn packed_frames(frames: Vec<Frame>, skip: usize) -> (Vec<Vec<u8>>, usize) {
        let mut gather = Gather::new();
        let mut out = Packed::new();
        let total = gather.pack(Output::of_slice(&frames, skip), &mut out);
        (out.iter().map(|s| s.to_vec()).collect(), total)
    }

    fn packed(frames: &[&[u8]]) -> (Vec<Vec<u8>>, usize) {
        let frames = frames
            .iter()
            .map(|f| Frame::Boxed(f.to_vec().into()))
            .collect();
        packed_frames(frames, 0)
    }

    #[test]
    fn small_frames_become_one_run() {
        let (out, total) = packed(&[b"\x30\x07", b"\x00\x01t", b"hello"]);
        assert_eq!(out, vec![b"\x30\x07\x00\x01thello".to_vec()]);
        assert_eq!(total, 10);
    }

    #[test]
    fn large_frames_are_lent_between_copied_runs() {
        let big = vec![7u8; COPY_MAX + 1];
        let (out, total) = packed(&[b"ab", &big, b"cd", b"ef"]);
        assert_eq!(out, vec![b"ab".to_vec(), big.clone(), b"cdef".to_vec()]);
        assert_eq!(total, 6 + big.len());
    }

    #[test]
    fn a_large_publish_has_its_header_copied_and_its_payload_lent() {
        let payload = vec![4u8; COPY_MAX + 1];
        let publish = |qos, id| {
            let m = Message::new("t", &payload);
            Frame::publish(m, V311, qos, false, false, id).unwrap()
        };
        let small = Frame::publish(
            Message::new("s", b"x"),
            V311,
            QoS::AtMostOnce,
            false,
            false,
            None,
        );
        let frames = vec![
            small.unwrap(),
            publish(QoS::AtLeastOnce, Some(5)),
            Frame::Boxed(Box::new(*b"zz")),
        ];
        let wire: Vec<u8> = frames
            .iter()
            .flat_map(Frame::segments)
            .flatten()
            .copied()
            .collect();
        let (out, total) = packed_frames(frames, 0);
        assert_eq!(out.len(), 3, "header run, payload, trailing run");
        assert_eq!(out[1], payload);
        assert_eq!(out.concat(), wire);
        assert_eq!(total, wire.len());
    }

    #[test]
    fn a_partly_written_frame_continues_where_the_socket_stopped() {
        let m = Message::new("a/b", b"payload");
        let frame = || Frame::publish(m.clone(), V311, QoS::AtLeastOnce, false, false, Some(9));
        let wire: Vec<u8> = [frame().unwrap(), frame().unwrap()]
            .iter()
            .flat_map(Frame::segments)
            .flatten()
            .copied()
            .collect();
        let one = wire.len() / 2;
        for skip in 0..one {
            let (out, total) = packed_frames(vec![frame().unwrap(), frame().unwrap()], skip);
            assert_eq!(out.concat(), wire[skip..], "skip {skip}");
            assert_eq!(out.len(), 1, "copied into one run");
            assert_eq!(total, wire.len() - skip);
        }
    }

    #[test]
    fn stops_at_the_batch_size_on_a_frame_boundary() {
        let frame = vec![1u8; 500];
        let many: Vec<&[u8]> = (0..200).map(|_| &frame[..]).collect();
        let (out, total) = packed(&many);
        assert_eq!(total, (BATCH / 500) * 500);
        assert_eq!(out.iter().map(Vec::len).sum::<usize>(), total);
    }

    #[test]
    fn an_oversized_first_frame_goes_alone() {
        let huge = vec![3u8; BATCH * 2];
        let (out, total) = packed(&[&huge, b"x"]);
        assert_eq!(out, vec![huge.clone()]);
        assert_eq!(total, huge.len());
    }

    #[test]
    fn output_slices_are_capped() {
        let big = vec![5u8; COPY_MAX + 1];
        let frames: Vec<&[u8]> = (0..MAX_OUT + 10).flat_map(|_| [&big[..], b"s"]).collect();
        let (out, total) = packed(&frames);
        assert_eq!(out.len(), MAX_OUT);
        assert_eq!(out.iter().map(Vec::len).sum::<usize>(), total);
    }

    #[test]
    fn preserves_byte_order_across_mixed_frames() {
        let big: Vec<u8> = (0..=255u8).cycle().take(COPY_MAX * 2).collect();
        let frames: Vec<&[u8]> = vec![b"1", b"22", &big, b"333", &big, b"4"];
        let (out, total) = packed(&frames);
        let expected: Vec<u8> = frames.concat();
        assert_eq!(out.concat(), expected);
        assert_eq!(total, expected.len());
    }
}
