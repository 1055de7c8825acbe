//! The benchmark payload and the statistics computed from it.
//!
//! Every PUBLISH the generator sends carries a 20-byte header at the start of its payload:
//! publisher id (`u32`), sequence number (`u64`) and send time (`u64` nanoseconds since the
//! generator's epoch), all little-endian, followed by zero padding up to `--size`. The
//! subscriber decodes it to detect loss (gaps in a publisher's sequence) and to measure
//! latency (receive time minus send time; both clocks are the same process's monotonic clock).

/// Bytes of the payload header; `--size` may not be smaller.
pub const HEADER_LEN: usize = 20;

/// What a benchmark payload says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Index of the publisher that sent it (0-based, global across threads).
    pub publisher: u32,
    /// That publisher's sequence number, from 0.
    pub seq: u64,
    /// Send time in nanoseconds since the generator's epoch.
    pub sent_ns: u64,
}

/// Appends a payload of `size` bytes (at least [`HEADER_LEN`]) carrying `stamp` to `out`.
pub fn encode(stamp: Stamp, size: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&stamp.publisher.to_le_bytes());
    out.extend_from_slice(&stamp.seq.to_le_bytes());
    out.extend_from_slice(&stamp.sent_ns.to_le_bytes());
    let pad = size.saturating_sub(HEADER_LEN);
    out.resize(out.len() + pad, 0);
}

/// Reads the stamp from a payload; `None` if it is too short to be one of ours.
pub fn decode(payload: &[u8]) -> Option<Stamp> {
    if payload.len() < HEADER_LEN {
        return None;
    }
    let publisher = u32::from_le_bytes(payload[0..4].try_into().ok()?);
    let seq = u64::from_le_bytes(payload[4..12].try_into().ok()?);
    let sent_ns = u64::from_le_bytes(payload[12..20].try_into().ok()?);
    Some(Stamp {
        publisher,
        seq,
        sent_ns,
    })
}

/// Per-publisher sequence tracking for one subscriber.
///
/// MQTT keeps one publisher's messages in order on one subscription, so a sequence number
/// above the expected one means the ones in between were lost (QoS 0 drops), and one below it
/// is a duplicate (a QoS 1 redelivery).
#[derive(Clone, Debug, Default)]
pub struct SeqTracker {
    next: Vec<u64>,
    /// Messages received that were not duplicates.
    pub unique: u64,
    /// Messages received with a sequence number already passed.
    pub duplicates: u64,
    /// Sequence numbers skipped (known lost so far; the final loss is computed from counts).
    pub gaps: u64,
}

impl SeqTracker {
    /// Records one message; returns `false` if it was a duplicate.
    pub fn record(&mut self, s: Stamp) -> bool {
        let p = s.publisher as usize;
        if p >= self.next.len() {
            self.next.resize(p + 1, 0);
        }
        let next = &mut self.next[p];
        if s.seq < *next {
            self.duplicates += 1;
            return false;
        }
        self.gaps += s.seq - *next;
        *next = s.seq + 1;
        self.unique += 1;
        true
    }
}

/// Latency percentiles, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
}

/// Nearest-rank percentile `p` (0 < p <= 100) of sorted samples; 0 for no samples.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    // The epsilon keeps 99.9% of 1000 at rank 999 despite binary floating point.
    let rank = (p * sorted.len() as f64 / 100.0 - 1e-9).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Sorts nanosecond samples and returns their percentiles in microseconds.
pub fn percentiles(samples: &mut [u64]) -> Percentiles {
    samples.sort_unstable();
    let us = |ns: u64| ns as f64 / 1000.0;
    Percentiles {
        p50: us(percentile(samples, 50.0)),
        p99: us(percentile(samples, 99.0)),
        p999: us(percentile(samples, 99.9)),
        max: us(samples.last().copied().unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_with_padding() {
        let s = Stamp {
            publisher: 63,
            seq: 1 << 40,
            sent_ns: 123_456_789,
        };
        let mut buf = vec![0xAA];
        encode(s, 64, &mut buf);
        assert_eq!(buf.len(), 65);
        assert_eq!(decode(&buf[1..]), Some(s));
        assert!(buf[1 + HEADER_LEN..].iter().all(|&b| b == 0));
    }

    #[test]
    fn short_payload_is_not_ours() {
        assert_eq!(decode(&[0; HEADER_LEN - 1]), None);
        let mut buf = Vec::new();
        encode(
            Stamp {
                publisher: 1,
                seq: 2,
                sent_ns: 3,
            },
            0,
            &mut buf,
        );
        assert_eq!(buf.len(), HEADER_LEN);
    }

    #[test]
    fn tracker_counts_gaps_and_duplicates() {
        let mut t = SeqTracker::default();
        let st = |publisher, seq| Stamp {
            publisher,
            seq,
            sent_ns: 0,
        };
        assert!(t.record(st(0, 0)));
        assert!(t.record(st(0, 1)));
        assert!(t.record(st(2, 0)));
        assert!(t.record(st(0, 5)));
        assert!(!t.record(st(0, 3)));
        assert_eq!((t.unique, t.duplicates, t.gaps), (4, 1, 3));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&v, 0.1), 1);
        assert_eq!(percentile(&[], 50.0), 0);
        let mut ns: Vec<u64> = (1..=1000).rev().map(|x| x * 1000).collect();
        let p = percentiles(&mut ns);
        assert_eq!((p.p50, p.p99, p.p999, p.max), (500.0, 990.0, 999.0, 1000.0));
    }
}
