//! The one thing Sol reads from an X.509 certificate itself: the common name (CN, OID
//! 2.5.4.3) of its subject, for `use_identity_as_username`.
//!
//! rustls and webpki verify the certificate (chain, dates, revocation) but do not expose
//! its subject, and a full X.509 parser would be most of a router's flash budget for one
//! field. This module walks just enough DER to find it:
//!
//! ```text
//! Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
//! TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature,
//!                               issuer, validity, subject, ... }
//! Name ::= SEQUENCE OF RelativeDistinguishedName          -- the subject
//! RelativeDistinguishedName ::= SET OF AttributeTypeAndValue
//! AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }
//! ```
//!
//! Every length is checked against what encloses it, indefinite and non-minimal lengths
//! are refused (DER forbids both), and no input makes it panic (`fuzz/` runs it on
//! arbitrary bytes). Like Mosquitto (`X509_NAME_get_index_by_NID(.., NID_commonName,
//! -1)`), the *first* CN of the subject is the identity. It must be a string Sol can use
//! as an MQTT user name unchanged: UTF-8 without U+0000 [MQTT-1.5.3-1], [MQTT-1.5.3-2],
//! at most [`MAX_COMMON_NAME`] bytes, not empty. UTF8String is checked as such;
//! PrintableString, IA5String, VisibleString and TeletexString must be ASCII (a
//! TeletexString with other bytes is refused rather than guessed at); BMPString and
//! UniversalString are refused (Mosquitto takes their raw bytes, which always hold NULs
//! for ASCII names, so it refuses them too).
//!
//! It reads bytes only; it must not verify anything (that is webpki's job, done before
//! the certificate gets here) or allocate.

use std::fmt;

/// Longest common name accepted, in bytes: the longest MQTT user name (a length-prefixed
/// string field, [MQTT-1.5.3]), so an identity is never larger than a CONNECT could make it.
pub const MAX_COMMON_NAME: usize = u16::MAX as usize;

/// DER tags this module reads (universal class, one byte).
mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const OID: u8 = 0x06;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const PRINTABLE_STRING: u8 = 0x13;
    pub const TELETEX_STRING: u8 = 0x14;
    pub const IA5_STRING: u8 = 0x16;
    pub const VISIBLE_STRING: u8 = 0x1a;
    pub const UNIVERSAL_STRING: u8 = 0x1c;
    pub const BMP_STRING: u8 = 0x1e;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    /// `[0] EXPLICIT`, constructed: the certificate's version.
    pub const VERSION: u8 = 0xa0;
}

/// The DER contents of OID 2.5.4.3 (id-at-commonName).
const COMMON_NAME_OID: &[u8] = &[0x55, 0x04, 0x03];

/// Why no identity could be read from a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommonNameError {
    /// The bytes are not a DER certificate of the expected shape; says which part failed.
    Malformed(&'static str),
    /// The subject has no common name.
    Missing,
    /// The first common name is a string type Sol does not take (BMPString,
    /// UniversalString, a non-ASCII TeletexString, or not a string); the DER tag.
    UnsupportedString(u8),
    /// The first common name is not valid UTF-8 (or not ASCII where its type says so).
    InvalidText,
    /// The first common name contains U+0000 [MQTT-1.5.3-2].
    NulCharacter,
    /// The first common name is empty.
    Empty,
    /// The first common name is longer than [`MAX_COMMON_NAME`] bytes.
    TooLong,
}

impl fmt::Display for CommonNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommonNameError::Malformed(what) => write!(f, "malformed certificate: {what}"),
            CommonNameError::Missing => f.write_str("the subject has no common name (CN)"),
            CommonNameError::UnsupportedString(t) => {
                write!(
                    f,
                    "the common name's string type (DER tag {t:#04x}) is not supported"
                )
            }
            CommonNameError::InvalidText => f.write_str("the common name is not valid text"),
            CommonNameError::NulCharacter => f.write_str("the common name contains U+0000"),
            CommonNameError::Empty => f.write_str("the common name is empty"),
            CommonNameError::TooLong => {
                write!(f, "the common name is longer than {MAX_COMMON_NAME} bytes")
            }
        }
    }
}

impl std::error::Error for CommonNameError {}

/// The first common name of the subject of `certificate` (one DER-encoded X.509
/// certificate, nothing after it), borrowed from it. See the module documentation for
/// what is accepted.
pub fn subject_common_name(certificate: &[u8]) -> Result<&str, CommonNameError> {
    let mut outer = Der::new(certificate);
    let cert = outer.expect(tag::SEQUENCE, "Certificate")?;
    outer.finish("bytes after the Certificate")?;
    let mut cert = Der::new(cert);
    let mut tbs = Der::new(cert.expect(tag::SEQUENCE, "tbsCertificate")?);
    if tbs.peek() == Some(tag::VERSION) {
        tbs.expect(tag::VERSION, "version")?;
    }
    tbs.expect(tag::INTEGER, "serialNumber")?;
    tbs.expect(tag::SEQUENCE, "signature algorithm")?;
    tbs.expect(tag::SEQUENCE, "issuer")?;
    tbs.expect(tag::SEQUENCE, "validity")?;
    let subject = tbs.expect(tag::SEQUENCE, "subject")?;
    first_common_name(subject)
}

/// The first common name in the contents of a `Name` (an RDNSequence). The whole name is
/// checked, not only up to the first CN.
fn first_common_name(name: &[u8]) -> Result<&str, CommonNameError> {
    let mut first: Option<(u8, &[u8])> = None;
    let mut rdns = Der::new(name);
    while !rdns.is_empty() {
        let mut rdn = Der::new(rdns.expect(tag::SET, "RelativeDistinguishedName")?);
        if rdn.is_empty() {
            return Err(CommonNameError::Malformed(
                "empty RelativeDistinguishedName",
            ));
        }
        while !rdn.is_empty() {
            let mut atv = Der::new(rdn.expect(tag::SEQUENCE, "AttributeTypeAndValue")?);
            let oid = atv.expect(tag::OID, "attribute type")?;
            let value = atv.any("attribute value")?;
            atv.finish("bytes after an attribute value")?;
            if oid == COMMON_NAME_OID && first.is_none() {
                first = Some(value);
            }
        }
    }
    let (string_tag, bytes) = first.ok_or(CommonNameError::Missing)?;
    common_name_text(string_tag, bytes)
}

/// The text of a common name value of DER type `string_tag`.
fn common_name_text(string_tag: u8, bytes: &[u8]) -> Result<&str, CommonNameError> {
    let ascii_only = match string_tag {
        tag::UTF8_STRING => false,
        tag::PRINTABLE_STRING | tag::IA5_STRING | tag::VISIBLE_STRING => true,
        tag::TELETEX_STRING if bytes.is_ascii() => true,
        // UCS-2 and UCS-4: refused, as Mosquitto in effect does (see the module comment).
        tag::BMP_STRING | tag::UNIVERSAL_STRING => {
            return Err(CommonNameError::UnsupportedString(string_tag))
        }
        other => return Err(CommonNameError::UnsupportedString(other)),
    };
    if ascii_only && !bytes.is_ascii() {
        return Err(CommonNameError::InvalidText);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| CommonNameError::InvalidText)?;
    if bytes.contains(&0) {
        return Err(CommonNameError::NulCharacter);
    }
    if text.is_empty() {
        return Err(CommonNameError::Empty);
    }
    if text.len() > MAX_COMMON_NAME {
        return Err(CommonNameError::TooLong);
    }
    Ok(text)
}

/// A cursor over DER elements (tag, length, contents) laid end to end.
struct Der<'a> {
    /// What has not been read yet.
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(bytes: &'a [u8]) -> Der<'a> {
        Der { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The tag of the next element, if any.
    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// An error unless everything was read.
    fn finish(&self, what: &'static str) -> Result<(), CommonNameError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(CommonNameError::Malformed(what))
        }
    }

    /// The contents of the next element, which must have tag `expected`.
    fn expect(&mut self, expected: u8, what: &'static str) -> Result<&'a [u8], CommonNameError> {
        match self.any(what)? {
            (t, contents) if t == expected => Ok(contents),
            _ => Err(CommonNameError::Malformed(what)),
        }
    }

    /// The tag and contents of the next element. Only single-byte tags (every tag of the
    /// structures read here); a multi-byte tag is refused.
    fn any(&mut self, what: &'static str) -> Result<(u8, &'a [u8]), CommonNameError> {
        let fail = CommonNameError::Malformed(what);
        let (&t, rest) = self.rest.split_first().ok_or(fail)?;
        if t & 0x1f == 0x1f {
            return Err(fail);
        }
        let (&first, mut rest) = rest.split_first().ok_or(fail)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            // 0x80 is the indefinite form (BER only); more than four length bytes would
            // describe more than 4 GiB.
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return Err(fail);
            }
            let (digits, after) = rest.split_at(n);
            rest = after;
            // DER: the shortest form, so no leading zero and no long form below 128.
            if digits[0] == 0 {
                return Err(fail);
            }
            let len = digits
                .iter()
                .fold(0u32, |acc, &d| (acc << 8) | u32::from(d));
            let len = usize::try_from(len).map_err(|_| fail)?;
            if len < 0x80 {
                return Err(fail);
            }
            len
        };
        if rest.len() < len {
            return Err(fail);
        }
        let (contents, after) = rest.split_at(len);
        self.rest = after;
        Ok((t, contents))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client certificate made once with the openssl CLI (EC P-256), subject
    /// `/C=DE/O=Sol test/CN=sensor-7/CN=second`: two CNs, the first one counts.
    ///
    /// ```sh
    /// openssl ecparam -name prime256v1 -genkey -noout -out k.pem
    /// openssl req -x509 -new -key k.pem -days 1 -out c.pem \
    ///     -subj "/C=DE/O=Sol test/CN=sensor-7/CN=second"
    /// ```
    const TWO_CNS: &str = r"-----BEGIN CERTIFICATE-----
MIIB3DCCAYOgAwIBAgIUAzaiCDEQ2oc2spgkwqpr09CeRJ8wCgYIKoZIzj0EAwIw
RDELMAkGA1UEBhMCREUxETAPBgNVBAoMCFNvbCB0ZXN0MREwDwYDVQQDDAhzZW5z
b3ItNzEPMA0GA1UEAwwGc2Vjb25kMB4XDTI2MTEyMjA1MDEwMloXDTI2MTEyMzA1
MDEwMlowRDELMAkGA1UEBhMCREUxETAPBgNVBAoMCFNvbCB0ZXN0MREwDwYDVQQD
DAhzZW5zb3ItNzEPMA0GA1UEAwwGc2Vjb25kMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEyYCIqINeiFtJqncAHAhXsSbExzhIdLnkXOV/bEme7FNqaWDtEqkrG8OP
Tj8efmH3MzrcsR23aYw598VA7JKj/qNTMFEwHQYDVR0OBBYEFLCOG1Erbq6ZU8mq
bEvSE9/NJQe/MB8GA1UdIwQYMBaAFLCOG1Erbq6ZU8mqbEvSE9/NJQe/MA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgf6yFACNxu43zj+Q6BsipsV34
WzUJ54OBfy3fb0+39igCIBhpNcTfDe3Wdt8hVH0GIbp4v256MCNIo0hFJY2FIgEM
-----END CERTIFICATE-----
";

    /// Made the same way with `-subj "/O=Sol test/OU=no common name"`.
    const NO_CN: &str = r"-----BEGIN CERTIFICATE-----
MIIBrDCCAVOgAwIBAgIUdrjph8zMnHjBTcSH5tCDDGd7aKwwCgYIKoZIzj0EAwIw
LDERMA8GA1UECgwIU29sIHRlc3QxFzAVBgNVBAsMDm5vIGNvbW1vbiBuYW1lMB4X
DTI2MTEyMjA1MDEwMloXDTI2MTEyMzA1MDEwMlowLDERMA8GA1UECgwIU29sIHRl
c3QxFzAVBgNVBAsMDm5vIGNvbW1vbiBuYW1lMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEyYCIqINeiFtJqncAHAhXsSbExzhIdLnkXOV/bEme7FNqaWDtEqkrG8OP
Tj8efmH3MzrcsR23aYw598VA7JKj/qNTMFEwHQYDVR0OBBYEFLCOG1Erbq6ZU8mq
bEvSE9/NJQe/MB8GA1UdIwQYMBaAFLCOG1Erbq6ZU8mqbEvSE9/NJQe/MA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgHTaf1XFvLSGtuzmYrWcwj2yu
hM7MJ1N9LGxo1NRscm4CIHdxibCoMoNAQW3OdP7QNtdyGvOFyt/0JR1msftDee5J
-----END CERTIFICATE-----
";

    /// Made the same way with `-subj "/CN=capteur-été" -utf8`: a UTF8String CN.
    const UTF8_CN: &str = r"-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIUX5hDgZfC1JuMluqX/u+tdt0WRjIwCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNY2FwdGV1ci3DqXTDqTAeFw0yNjExMjIwNTAxMDJaFw0yNjEx
MjMwNTAxMDJaMBgxFjAUBgNVBAMMDWNhcHRldXItw6l0w6kwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAATJgIiog16IW0mqdwAcCFexJsTHOEh0ueRc5X9sSZ7sU2pp
YO0SqSsbw49OPx5+YfczOtyxHbdpjDn3xUDskqP+o1MwUTAdBgNVHQ4EFgQUsI4b
USturplTyapsS9IT380lB78wHwYDVR0jBBgwFoAUsI4bUSturplTyapsS9IT380l
B78wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEA+EboQx2CwwGT
ny7EB1zcZHtytZ9B7T6l5fQjrVhEkqcCIG3nqs2sNfb8Jvb4tMM6PygjPOazv/15
RFlLy/JgnVKq
-----END CERTIFICATE-----
";

    /// The DER of the first PEM certificate in `pem`.
    fn der(pem: &str) -> Vec<u8> {
        use base64::Engine;
        let body: String = pem
            .lines()
            .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
            .skip(1)
            .take_while(|l| !l.starts_with("-----END"))
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("test vector is base64")
    }

    #[test]
    fn first_common_name_of_a_real_certificate() {
        assert_eq!(subject_common_name(&der(TWO_CNS)), Ok("sensor-7"));
        assert_eq!(subject_common_name(&der(UTF8_CN)), Ok("capteur-été"));
    }

    #[test]
    fn certificate_without_common_name_is_refused() {
        assert_eq!(
            subject_common_name(&der(NO_CN)),
            Err(CommonNameError::Missing)
        );
    }

    #[test]
    fn every_truncation_fails_cleanly() {
        for pem in [TWO_CNS, NO_CN, UTF8_CN] {
            let cert = der(pem);
            for end in 0..cert.len() {
                assert!(
                    matches!(
                        subject_common_name(&cert[..end]),
                        Err(CommonNameError::Malformed(_))
                    ),
                    "truncated at {end}"
                );
            }
        }
    }

    #[test]
    fn trailing_bytes_and_garbage_are_malformed() {
        let mut cert = der(TWO_CNS);
        cert.push(0);
        assert!(matches!(
            subject_common_name(&cert),
            Err(CommonNameError::Malformed(_))
        ));
        for garbage in [
            &[][..],
            &[0x30],
            &[0x30, 0x80],
            &[0x30, 0x81, 0x05],
            &[0xff; 64],
        ] {
            assert!(matches!(
                subject_common_name(garbage),
                Err(CommonNameError::Malformed(_))
            ));
        }
    }

    #[test]
    fn every_single_byte_change_is_harmless() {
        // No panic whatever byte is flipped; a result is either an error or a CN.
        let cert = der(TWO_CNS);
        for i in 0..cert.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut bad = cert.clone();
                bad[i] ^= flip;
                if let Ok(cn) = subject_common_name(&bad) {
                    assert!(!cn.is_empty() && !cn.contains('\0'));
                }
            }
        }
    }

    #[test]
    fn der_lengths_must_be_minimal_and_definite() {
        let mut d = Der::new(&[0x04, 0x80, 0x00, 0x00]);
        assert!(d.any("x").is_err(), "indefinite length");
        let mut d = Der::new(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]);
        assert!(d.any("x").is_err(), "long form for a short length");
        let mut body = vec![0x04, 0x82, 0x00, 0x80];
        body.extend([7; 0x80]);
        assert!(Der::new(&body).any("x").is_err(), "leading zero");
        let mut body = vec![0x04, 0x81, 0x80];
        body.extend([7; 0x80]);
        let (t, contents) = Der::new(&body).any("x").expect("minimal long form");
        assert_eq!((t, contents.len()), (0x04, 0x80));
        assert!(Der::new(&[0x04, 0x85, 1, 0, 0, 0, 0]).any("x").is_err());
        assert!(Der::new(&[0x1f, 0x01, 0x00]).any("x").is_err(), "high tag");
        assert!(Der::new(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff])
            .any("x")
            .is_err());
    }

    /// A Name holding `atvs` as one RDN each: (string tag, value bytes) of a CN, or an
    /// organisation (O) for `None`.
    fn name(atvs: &[(Option<u8>, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (cn_tag, value) in atvs {
            let mut atv = vec![0x06, 0x03, 0x55, 0x04];
            atv.push(if cn_tag.is_some() { 0x03 } else { 0x0a });
            atv.push(cn_tag.unwrap_or(tag::UTF8_STRING));
            atv.push(u8::try_from(value.len()).expect("short test value"));
            atv.extend_from_slice(value);
            let mut seq = vec![tag::SEQUENCE, u8::try_from(atv.len()).expect("short")];
            seq.extend(atv);
            out.push(tag::SET);
            out.push(u8::try_from(seq.len()).expect("short"));
            out.extend(seq);
        }
        out
    }

    #[test]
    fn string_types_and_text_rules() {
        let cn = |t: u8, v: &[u8]| {
            first_common_name(&name(&[(None, b"org"), (Some(t), v)])).map(str::to_owned)
        };
        assert_eq!(cn(tag::PRINTABLE_STRING, b"dev 1"), Ok("dev 1".to_owned()));
        assert_eq!(cn(tag::IA5_STRING, b"dev@x"), Ok("dev@x".to_owned()));
        assert_eq!(cn(tag::TELETEX_STRING, b"dev"), Ok("dev".to_owned()));
        assert_eq!(cn(tag::VISIBLE_STRING, b"dev"), Ok("dev".to_owned()));
        assert_eq!(
            cn(tag::TELETEX_STRING, b"d\xe9v"),
            Err(CommonNameError::UnsupportedString(tag::TELETEX_STRING))
        );
        assert_eq!(
            cn(tag::IA5_STRING, "é".as_bytes()),
            Err(CommonNameError::InvalidText)
        );
        assert_eq!(
            cn(tag::UTF8_STRING, b"\xff"),
            Err(CommonNameError::InvalidText)
        );
        assert_eq!(
            cn(tag::UTF8_STRING, b"a\0b"),
            Err(CommonNameError::NulCharacter)
        );
        assert_eq!(cn(tag::UTF8_STRING, b""), Err(CommonNameError::Empty));
        assert_eq!(
            cn(tag::BMP_STRING, b"\0d\0e\0v"),
            Err(CommonNameError::UnsupportedString(tag::BMP_STRING))
        );
        assert_eq!(
            cn(tag::UNIVERSAL_STRING, b"\0\0\0d"),
            Err(CommonNameError::UnsupportedString(tag::UNIVERSAL_STRING))
        );
        assert_eq!(
            cn(tag::INTEGER, b"\x01"),
            Err(CommonNameError::UnsupportedString(tag::INTEGER))
        );
        // The first CN decides, even when a later one would be usable.
        let two = name(&[
            (Some(tag::BMP_STRING), b"\0x"),
            (Some(tag::UTF8_STRING), b"y"),
        ]);
        assert_eq!(
            first_common_name(&two),
            Err(CommonNameError::UnsupportedString(tag::BMP_STRING))
        );
        assert_eq!(first_common_name(&[]), Err(CommonNameError::Missing));
        assert!(matches!(
            first_common_name(&[tag::SET, 0]),
            Err(CommonNameError::Malformed(_))
        ));
    }

    #[test]
    fn common_names_up_to_the_user_name_limit() {
        let long = "x".repeat(MAX_COMMON_NAME);
        assert_eq!(
            common_name_text(tag::UTF8_STRING, long.as_bytes()),
            Ok(&*long)
        );
        let longer = "x".repeat(MAX_COMMON_NAME + 1);
        assert_eq!(
            common_name_text(tag::UTF8_STRING, longer.as_bytes()),
            Err(CommonNameError::TooLong)
        );
    }
}
