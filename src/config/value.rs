//! Value grammars of the configuration file: booleans, integers, byte sizes, seconds and
//! Mosquitto's expiry durations.
//!
//! Each parser takes one whitespace-free token and returns a typed value or a
//! [`ValueError`] saying what was expected; the caller adds the key, file and line. These
//! functions know nothing about keys or defaults.

use std::fmt;
use std::time::Duration;

/// Upper bounds from this value on are shown as "at least MIN": they stand for
/// `usize::MAX` (2^32 - 1 on 32-bit targets, which no count in a file reaches in practice).
const NO_UPPER_BOUND: i64 = u32::MAX as i64;

/// Why a value token was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueError {
    /// Not `true`, `false`, `1` or `0`.
    NotABool(String),
    /// Not a decimal integer.
    NotAnInteger(String),
    /// An integer outside the allowed range.
    OutOfRange {
        /// The token as written.
        value: String,
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// Not a byte size (integer with an optional `k` or `M` suffix).
    NotASize(String),
    /// Not a number of seconds (integer or decimal fraction).
    NotSeconds(String),
    /// Not a Mosquitto duration (integer followed by `h`, `d`, `w`, `m` or `y`).
    NotADuration(String),
    /// Zero where only a positive value makes sense (a timeout).
    NotPositive,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::NotABool(v) => write!(f, "expected true or false, found '{v}'"),
            ValueError::NotAnInteger(v) => write!(f, "expected an integer, found '{v}'"),
            // A bound at the type's maximum means "no upper bound" for the user.
            ValueError::OutOfRange { value, min, max } if *max >= NO_UPPER_BOUND => {
                write!(f, "'{value}' is out of range (at least {min})")
            }
            ValueError::OutOfRange { value, min, max } => {
                write!(f, "'{value}' is out of range ({min} to {max})")
            }
            ValueError::NotASize(v) => write!(
                f,
                "expected a size in bytes (an integer, optionally followed by k or M), found '{v}'"
            ),
            ValueError::NotSeconds(v) => {
                write!(f, "expected a number of seconds such as 10 or 0.5, found '{v}'")
            }
            ValueError::NotPositive => write!(f, "must be greater than 0"),
            ValueError::NotADuration(v) => write!(
                f,
                "expected a duration such as 2h, 1d, 1w, 1m or 1y (a positive integer and a unit), found '{v}'"
            ),
        }
    }
}

/// Mosquitto's booleans: `true`/`1` and `false`/`0`, lower case only.
pub fn parse_bool(token: &str) -> Result<bool, ValueError> {
    match token {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ValueError::NotABool(token.to_string())),
    }
}

/// A decimal integer in `min..=max`.
pub fn parse_int(token: &str, min: i64, max: i64) -> Result<i64, ValueError> {
    let digits = token.strip_prefix('-').unwrap_or(token);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::NotAnInteger(token.to_string()));
    }
    let out_of_range = || ValueError::OutOfRange {
        value: token.to_string(),
        min,
        max,
    };
    // Only overflow can fail here: the characters were checked above.
    let value: i64 = token.parse().map_err(|_| out_of_range())?;
    if value < min || value > max {
        return Err(out_of_range());
    }
    Ok(value)
}

/// A byte size in `min..=max`: a plain integer (Mosquitto's form) or one followed by `k`/`K`
/// (KiB, 1024 bytes) or `M` (MiB, 1048576 bytes).
pub fn parse_size(token: &str, min: u64, max: u64) -> Result<u64, ValueError> {
    let (digits, multiplier) = match token.as_bytes().last() {
        Some(b'k' | b'K') => (&token[..token.len() - 1], 1024u64),
        Some(b'M') => (&token[..token.len() - 1], 1024 * 1024),
        _ => (token, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::NotASize(token.to_string()));
    }
    let out_of_range = || out_of_range(token, min, max);
    let value = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(out_of_range)?;
    if value < min || value > max {
        return Err(out_of_range());
    }
    Ok(value)
}

/// The error of `token` outside `min..=max` (bounds beyond `i64` shown as its maximum).
fn out_of_range(token: &str, min: u64, max: u64) -> ValueError {
    ValueError::OutOfRange {
        value: token.to_string(),
        min: i64::try_from(min).unwrap_or(i64::MAX),
        max: i64::try_from(max).unwrap_or(i64::MAX),
    }
}

/// Seconds as an integer or a decimal fraction (`10`, `0.5`, at most nanosecond
/// precision), at most `max_secs`. No sign, exponent or unit.
pub fn parse_seconds(token: &str, max_secs: u64) -> Result<Duration, ValueError> {
    let bad = || ValueError::NotSeconds(token.to_string());
    let (whole, fraction) = match token.split_once('.') {
        Some((w, f)) => (w, f),
        None => (token, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || fraction.len() > 9 {
        return Err(bad());
    }
    if token.ends_with('.') {
        return Err(bad());
    }
    let secs: u64 = whole.parse().map_err(|_| bad())?;
    if secs > max_secs {
        return Err(ValueError::OutOfRange {
            value: token.to_string(),
            min: 0,
            max: i64::try_from(max_secs).unwrap_or(i64::MAX),
        });
    }
    let mut nanos: u32 = 0;
    for (i, digit) in fraction.bytes().enumerate() {
        nanos += u32::from(digit - b'0') * 10u32.pow(8 - i as u32);
    }
    let duration = Duration::new(secs, nanos);
    if secs == max_secs && nanos > 0 {
        return Err(ValueError::OutOfRange {
            value: token.to_string(),
            min: 0,
            max: i64::try_from(max_secs).unwrap_or(i64::MAX),
        });
    }
    Ok(duration)
}

/// Mosquitto's `persistent_client_expiration` syntax: a positive integer followed by `h`
/// (hours), `d` (days), `w` (weeks), `m` (months of 30 days) or `y` (years of 365 days).
/// Mosquitto requires the unit, and so does Sol.
pub fn parse_expiry(token: &str) -> Result<Duration, ValueError> {
    let bad = || ValueError::NotADuration(token.to_string());
    let (count, unit) = match token.char_indices().last() {
        Some((i, c)) => (&token[..i], c),
        None => return Err(bad()),
    };
    let unit_secs: u64 = match unit {
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        'm' => 30 * 86_400,
        'y' => 365 * 86_400,
        _ => return Err(bad()),
    };
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let secs = count
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_secs))
        .ok_or_else(bad)?;
    if secs == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools_follow_mosquitto() {
        assert_eq!(parse_bool("true"), Ok(true));
        assert_eq!(parse_bool("1"), Ok(true));
        assert_eq!(parse_bool("false"), Ok(false));
        assert_eq!(parse_bool("0"), Ok(false));
        assert_eq!(parse_bool("True"), Err(ValueError::NotABool("True".into())));
        assert_eq!(parse_bool("yes"), Err(ValueError::NotABool("yes".into())));
    }

    #[test]
    fn integers_are_checked_for_form_and_range() {
        assert_eq!(parse_int("42", 0, 100), Ok(42));
        assert_eq!(parse_int("-1", -1, 100), Ok(-1));
        assert_eq!(
            parse_int("4x", 0, 100),
            Err(ValueError::NotAnInteger("4x".into()))
        );
        assert_eq!(
            parse_int("-", 0, 100),
            Err(ValueError::NotAnInteger("-".into()))
        );
        assert_eq!(
            parse_int("", 0, 100),
            Err(ValueError::NotAnInteger("".into()))
        );
        assert!(matches!(
            parse_int("101", 0, 100),
            Err(ValueError::OutOfRange {
                min: 0,
                max: 100,
                ..
            })
        ));
        assert!(matches!(
            parse_int("99999999999999999999999", 0, 100),
            Err(ValueError::OutOfRange { .. })
        ));
    }

    #[test]
    fn sizes_accept_k_and_m_suffixes() {
        assert_eq!(parse_size("1000", 0, u64::MAX), Ok(1000));
        assert_eq!(parse_size("4k", 0, u64::MAX), Ok(4096));
        assert_eq!(parse_size("4K", 0, u64::MAX), Ok(4096));
        assert_eq!(parse_size("2M", 0, u64::MAX), Ok(2 << 20));
        assert_eq!(
            parse_size("2m", 0, u64::MAX),
            Err(ValueError::NotASize("2m".into()))
        );
        assert_eq!(
            parse_size("k", 0, u64::MAX),
            Err(ValueError::NotASize("k".into()))
        );
        assert_eq!(
            parse_size("-1", 0, u64::MAX),
            Err(ValueError::NotASize("-1".into()))
        );
        assert!(matches!(
            parse_size("2M", 0, 1000),
            Err(ValueError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse_size("99999999999999999M", 0, u64::MAX),
            Err(ValueError::OutOfRange { .. })
        ));
    }

    #[test]
    fn seconds_allow_fractions() {
        assert_eq!(parse_seconds("10", 100), Ok(Duration::from_secs(10)));
        assert_eq!(parse_seconds("0.5", 100), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds("1.25", 100), Ok(Duration::from_millis(1250)));
        assert_eq!(
            parse_seconds("0.000000001", 100),
            Ok(Duration::from_nanos(1))
        );
        for bad in [
            ".5",
            "5.",
            "1e3",
            "-1",
            "1.2.3",
            "inf",
            "NaN",
            "",
            "1s",
            "0.0000000001",
        ] {
            assert_eq!(
                parse_seconds(bad, 100),
                Err(ValueError::NotSeconds(bad.into())),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_seconds("101", 100),
            Err(ValueError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse_seconds("100.5", 100),
            Err(ValueError::OutOfRange { .. })
        ));
    }

    #[test]
    fn expiry_uses_mosquitto_units() {
        assert_eq!(parse_expiry("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_expiry("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_expiry("1w"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_expiry("1m"), Ok(Duration::from_secs(2_592_000)));
        assert_eq!(parse_expiry("1y"), Ok(Duration::from_secs(31_536_000)));
        for bad in ["3600", "0d", "h", "1.5d", "-1d", "1x", "", "1é"] {
            assert_eq!(
                parse_expiry(bad),
                Err(ValueError::NotADuration(bad.into())),
                "{bad}"
            );
        }
    }
}
