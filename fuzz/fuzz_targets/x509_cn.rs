//! Arbitrary bytes as a client certificate: the subject common name reader.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sol_fuzz::x509::run(data));
