//! X.509 driver: arbitrary bytes as a client certificate for `sol::x509`, the reader of
//! the subject common name that `use_identity_as_username` trusts.
//!
//! Seeds (`fuzz/corpus/x509_cn/`) are DER certificates made with the openssl CLI: a CA
//! signed client (CN sensor-7), two CNs in one subject, no CN, a UTF-8 CN.
//!
//! Invariants checked: nothing panics; a name it returns is what the broker may use as a
//! user name unchanged: not empty, no U+0000, at most `MAX_COMMON_NAME` bytes, and
//! borrowed from the input (never made up).

use sol::x509::{subject_common_name, MAX_COMMON_NAME};

/// Runs the X.509 checks over `data`.
pub fn run(data: &[u8]) {
    let Ok(name) = subject_common_name(data) else {
        return;
    };
    assert!(!name.is_empty(), "an empty common name was returned");
    assert!(
        !name.contains('\0'),
        "a common name with U+0000 was returned"
    );
    assert!(name.len() <= MAX_COMMON_NAME);
    let input = data.as_ptr_range();
    let found = name.as_bytes().as_ptr_range();
    assert!(
        input.start <= found.start && found.end <= input.end,
        "the common name is not a part of the certificate"
    );
}
