//! Further packet-by-packet tests, one or more per normative statement of MQTT 3.1.1
//! chapters 3 and 4 that `tests.rs` does not already cover; see docs/conformance.md.
