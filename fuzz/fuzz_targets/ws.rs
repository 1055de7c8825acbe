//! Arbitrary bytes as a WebSocket connection: the upgrade request, then frames split anyhow.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sol_fuzz::ws::run(data));
