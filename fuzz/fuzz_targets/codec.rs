//! Arbitrary bytes through the codec: framing, decoding, re-encoding.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sol_fuzz::codec::run(data));
