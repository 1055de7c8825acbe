//! Packing a connection's output for one write syscall.
//!
//! The broker lends its output as segments (a PUBLISH is a fixed header, the shared topic
//! field, maybe a packet id and the shared payload). Handing hundreds of tiny segments to
//! `writev` costs the kernel a per-segment step and caps a syscall at `IOV_MAX` segments,
//! so small segments are copied into one reactor-wide buffer and sent as a single run,
//! while large ones (payloads above [`COPY_MAX`]) are still referenced in place: a big
//! fan-out payload is never copied in user space, and a flood of small messages leaves
//! in writes of up to [`BATCH`] bytes.
//!
//! The buffer is transient: it holds bytes only between packing and the write that
//! follows, so it is one per reactor, not one per connection.

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
    /// Copies of small segments; allocated on first use.
    buf: Vec<u8>,
}

impl Gather {
    /// An empty gatherer; its buffer is allocated the first time output is packed.
    pub fn new() -> Gather {
        Gather { buf: Vec::new() }
    }

    /// Packs a prefix of `segments` (the broker's [`output`](crate::broker::Broker::output))
    /// into `out`: consecutive small segments become one
    /// slice of the internal buffer, large ones are lent as they are. Stops when [`BATCH`]
    /// bytes or [`MAX_OUT`] output slices are reached. Returns the bytes `out` holds; the
    /// caller writes them and reports to the broker how many bytes the socket took.
    pub fn pack<'a>(
        &'a mut self,
        segments: impl Iterator<Item = &'a [u8]>,
        out: &mut Packed<'a>,
    ) -> usize {
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(BATCH);
        }
        self.buf.clear();
        // Spans, not slices, while the buffer is still being written.
        let mut spans: FixedVec<Span<'a>, MAX_OUT> = FixedVec::new();
        let mut total = 0;
        for seg in segments {
            let len = seg.len();
            if len == 0 {
                continue;
            }
            if total > 0 && total + len > BATCH {
                break;
            }
            if len <= COPY_MAX {
                // The buffer only grows, so a copied span that is last ends at its end.
                match spans.last_mut() {
                    Some(Span::Copied(_, end)) => *end += len,
                    _ => {
                        let at = self.buf.len();
                        if spans.push(Span::Copied(at, at + len)).is_err() {
                            break;
                        }
                    }
                }
                self.buf.extend_from_slice(seg);
            } else if spans.push(Span::Lent(seg)).is_err() {
                break;
            }
            total += len;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(segments: &[&[u8]]) -> (Vec<Vec<u8>>, usize) {
        let mut gather = Gather::new();
        let mut out = Packed::new();
        let total = gather.pack(segments.iter().copied(), &mut out);
        (out.iter().map(|s| s.to_vec()).collect(), total)
    }

    #[test]
    fn small_segments_become_one_run() {
        let (out, total) = packed(&[b"\x30\x07", b"\x00\x01t", b"", b"hello"]);
        assert_eq!(out, vec![b"\x30\x07\x00\x01thello".to_vec()]);
        assert_eq!(total, 10);
    }

    #[test]
    fn large_segments_are_lent_between_copied_runs() {
        let big = vec![7u8; COPY_MAX + 1];
        let (out, total) = packed(&[b"ab", &big, b"cd", b"ef"]);
        assert_eq!(out, vec![b"ab".to_vec(), big.clone(), b"cdef".to_vec()]);
        assert_eq!(total, 6 + big.len());
    }

    #[test]
    fn stops_at_the_batch_size_on_a_segment_boundary() {
        let seg = vec![1u8; 500];
        let many: Vec<&[u8]> = (0..200).map(|_| &seg[..]).collect();
        let (out, total) = packed(&many);
        assert_eq!(total, (BATCH / 500) * 500);
        assert_eq!(out.iter().map(Vec::len).sum::<usize>(), total);
    }

    #[test]
    fn an_oversized_first_segment_goes_alone() {
        let huge = vec![3u8; BATCH * 2];
        let (out, total) = packed(&[&huge, b"x"]);
        assert_eq!(out, vec![huge.clone()]);
        assert_eq!(total, huge.len());
    }

    #[test]
    fn output_slices_are_capped() {
        let big = vec![5u8; COPY_MAX + 1];
        let segs: Vec<&[u8]> = (0..MAX_OUT + 10).map(|_| &big[..]).collect();
        let (out, total) = packed(&segs);
        assert_eq!(out.len(), MAX_OUT);
        assert!(total <= BATCH || out.len() == 1);
    }

    #[test]
    fn preserves_byte_order_across_mixed_segments() {
        let big: Vec<u8> = (0..=255u8).cycle().take(COPY_MAX * 2).collect();
        let segs: Vec<&[u8]> = vec![b"1", b"22", &big, b"333", &big, b"4"];
        let (out, total) = packed(&segs);
        let expected: Vec<u8> = segs.concat();
        assert_eq!(out.concat(), expected);
        assert_eq!(total, expected.len());
    }
}
