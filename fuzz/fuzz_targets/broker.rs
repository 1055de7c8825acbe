//! Sequences of events from up to four connections through the broker core.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sol_fuzz::broker::run(data);
});
