//! An immutable string that stores up to [`INLINE_CAPACITY`] bytes in place.
//!
//! Topic levels and client ids are mostly short ("42", "temperature", "sensor-0017"). As a
//! `Box<str>` each is a 16-byte pointer plus a heap allocation of at least 32 bytes; a
//! [`CompactStr`] is 24 bytes and allocates only for longer strings.

use std::fmt;

/// Longest string kept inline.
pub const INLINE_CAPACITY: usize = 22;

/// Upper bound of what the allocator adds to one allocation (glibc: an 8-byte header,
/// rounded up to 16 bytes), for the memory ceiling.
pub const ALLOCATION_OVERHEAD: usize = 16;

/// Upper bound of the heap bytes a string of at most `max_len` bytes costs (none when it
/// fits inline), for the memory ceiling.
pub const fn heap_bytes(max_len: usize) -> usize {
    if max_len <= INLINE_CAPACITY {
        0
    } else {
        max_len + ALLOCATION_OVERHEAD
    }
}

/// A string, inline when short. See the module documentation.
#[derive(Clone, PartialEq, Eq)]
pub struct CompactStr(Repr);

/// The representation, private so that only `From<&str>` makes one: inline bytes are
/// always a whole `&str`'s, so they are valid UTF-8 without checking again.
#[derive(Clone, PartialEq, Eq)]
enum Repr {
    /// At most [`INLINE_CAPACITY`] bytes of UTF-8 in place.
    Inline {
        /// Bytes used.
        len: u8,
        /// The bytes; only `..len` are meaningful.
        bytes: [u8; INLINE_CAPACITY],
    },
    /// A longer string on the heap.
    Heap(Box<str>),
}

impl CompactStr {
    /// The bytes of the string.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Heap(s) => s.as_bytes(),
        }
    }

    /// The string. Called for every client id and topic level a message passes (ACL
    /// checks, deliveries, the store's records): checking the UTF-8 again each time cost
    /// about 6 % of the instructions of a QoS 1 message.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // SAFETY: `Repr::Inline` is only made by `From<&str>`, from a whole `&str`'s
            // bytes (tested below, multi-byte characters included).
            Repr::Inline { len, bytes } => unsafe {
                std::str::from_utf8_unchecked(&bytes[..usize::from(*len)])
            },
            Repr::Heap(s) => s,
        }
    }

    /// Whether the string is stored in place (no heap allocation).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }
}

impl From<&str> for CompactStr {
    fn from(s: &str) -> CompactStr {
        if s.len() <= INLINE_CAPACITY {
            let mut bytes = [0; INLINE_CAPACITY];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            CompactStr(Repr::Inline {
                len: s.len() as u8,
                bytes,
            })
        } else {
            CompactStr(Repr::Heap(s.into()))
        }
    }
}

impl std::ops::Deref for CompactStr {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for CompactStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for CompactStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_are_inline_long_ones_on_the_heap() {
        crate::broker::assert_size_of::<CompactStr>(24);
        for s in ["", "a", "sensor-0017", "ü€ multi-byte", &"x".repeat(22)] {
            let c = CompactStr::from(s);
            assert!(c.is_inline(), "{s}");
            assert_eq!((c.as_str(), c.as_bytes()), (s, s.as_bytes()));
        }
        let long = "y".repeat(23);
        let c = CompactStr::from(long.as_str());
        assert!(!c.is_inline());
        assert_eq!(&*c, long);
        assert_eq!(c.to_string(), long);
    }
}
