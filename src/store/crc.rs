//! CRC-32 (IEEE 802.3, the polynomial of zlib and Ethernet) of the store's records.
//!
//! A 1 KiB table built at compile time, one byte per step: records are written a few
//! thousand per second at most and read once at start-up, where the table does hundreds of
//! megabytes per second on a router. No crate for 20 lines (`crc32fast` carries SIMD paths
//! and a runtime detection the store does not need).

/// The reflected polynomial 0x04C11DB7.
const POLY: u32 = 0xedb8_8320;

/// The byte table, built at compile time.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// A running CRC-32: feed it slices with [`Crc::update`], read it with [`Crc::finish`].
#[derive(Clone, Copy, Debug)]
pub struct Crc(u32);

impl Crc {
    /// A CRC over nothing yet.
    pub fn new() -> Crc {
        Crc(!0)
    }

    /// Adds `bytes`.
    pub fn update(mut self, bytes: &[u8]) -> Crc {
        for &b in bytes {
            self.0 = TABLE[((self.0 ^ u32::from(b)) & 0xff) as usize] ^ (self.0 >> 8);
        }
        self
    }

    /// The CRC of everything added.
    pub fn finish(self) -> u32 {
        !self.0
    }
}

impl Default for Crc {
    fn default() -> Crc {
        Crc::new()
    }
}

/// The CRC-32 of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    Crc::new().update(bytes).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_check_values() {
        // The check value of CRC-32/ISO-HDLC (zlib's crc32).
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(
            Crc::new().update(b"1234").update(b"56789").finish(),
            0xcbf4_3926,
            "in pieces"
        );
    }
}
