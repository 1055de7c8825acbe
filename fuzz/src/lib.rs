//! The fuzz drivers: each takes the fuzzer's bytes and panics when an invariant breaks.
//!
//! They use only `sol`'s public API and `std`, so the main workspace's
//! `tests/fuzz_corpus.rs` includes the same files and replays the committed corpus and
//! every regression input under `cargo test`.

pub mod broker;
pub mod codec;
pub mod ws;
pub mod x509;
