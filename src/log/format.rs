//! The text of a log line: its timestamp (`log_timestamp`, `log_timestamp_format`) and
//! the syslog datagram around a message (`log_facility`).
//!
//! A line is `STAMP: message` as Mosquitto writes it: `STAMP` is the wall-clock time in
//! seconds since the epoch, or that time in local time through `strftime(3)` when
//! `log_timestamp_format` is set ("Time error" if the format yields nothing, as in
//! Mosquitto). Syslog datagrams carry no stamp: the syslog daemon adds its own.
//!
//! This file formats only: it must not write anywhere.

use std::ffi::CString;
use std::time::{SystemTime, UNIX_EPOCH};

/// How lines are stamped and how syslog datagrams are addressed: everything a line's text
/// depends on besides its message. The reactor formats with it; a sink's writer thread
/// formats its own "lines dropped" notice with the same one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct LineFormat {
    /// The timestamp of file, stdout, stderr and topic lines.
    pub stamp: Stamp,
    /// The syslog facility code, already shifted (`daemon` is 3 << 3).
    pub facility: u8,
    /// Our process id, for the syslog tag `sol[PID]`.
    pub pid: u32,
}

/// The timestamp in front of a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Stamp {
    /// No timestamp (`log_timestamp false`).
    Off,
    /// Seconds since the epoch (Mosquitto's default).
    Epoch,
    /// A `strftime(3)` format, in local time (`log_timestamp_format`).
    Format(CString),
}

/// Syslog facility `daemon` (RFC 5424 section 6.2.1: code 3), shifted into place.
pub(super) const FACILITY_DAEMON: u8 = 3 << 3;

/// The facility code of `log_facility N`: `local0` is 16 (RFC 5424 section 6.2.1), `N`
/// in `0..=7`; `None`: daemon, as Mosquitto's default.
pub(super) fn facility(local: Option<u8>) -> u8 {
    local.map_or(FACILITY_DAEMON, |n| (16 + n.min(7)) << 3)
}

/// Largest timestamp text; a longer expansion is a "Time error" (Mosquitto allows 1000
/// bytes for stamp and message together).
const STAMP_MAX: usize = 128;

impl Stamp {
    /// The stamp of `timestamp` and `format` (`log_timestamp`, `log_timestamp_format`).
    /// A format with a NUL byte (impossible from a text file) stamps epoch seconds.
    pub fn new(timestamp: bool, format: Option<&str>) -> Stamp {
        match (timestamp, format) {
            (false, _) => Stamp::Off,
            (true, None) => Stamp::Epoch,
            (true, Some(f)) => CString::new(f).map_or(Stamp::Epoch, Stamp::Format),
        }
    }

    /// The stamp of the moment `secs` seconds after the epoch, or `None` when off.
    pub fn text(&self, secs: i64) -> Option<String> {
        match self {
            Stamp::Off => None,
            Stamp::Epoch => Some(secs.to_string()),
            Stamp::Format(f) => {
                Some(strftime_local(f, secs).unwrap_or_else(|| "Time error".into()))
            }
        }
    }
}

impl LineFormat {
    /// `message` as a file, stdout, stderr or topic line stamped now, without the
    /// newline.
    pub fn line(&self, message: &str) -> String {
        self.line_at(now_secs(), message)
    }

    /// `message` stamped with the moment `secs` seconds after the epoch.
    pub fn line_at(&self, secs: i64, message: &str) -> String {
        match self.stamp.text(secs) {
            Some(stamp) => format!("{stamp}: {message}"),
            None => message.to_string(),
        }
    }

    /// `message` as one syslog datagram, `<PRI>sol[PID]: message`, at `severity`
    /// (RFC 5424 section 6.2.1: 3 err, 4 warning, 5 notice, 6 info, 7 debug) and this
    /// format's facility. No timestamp and no host name: RFC 3164 lets the receiver add
    /// them, and journald, rsyslog, busybox's syslogd and OpenWrt's logd all do.
    pub fn datagram(&self, severity: u8, message: &str) -> String {
        format!("<{}>sol[{}]: {message}", self.facility | severity, self.pid)
    }
}

/// Seconds since the epoch by the wall clock (0 if the clock is before 1970).
pub(super) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `format` expanded by `strftime(3)` for the moment `secs` seconds after the epoch in
/// local time (the `TZ` variable, else `/etc/localtime`); `None` if the time does not fit
/// the platform's `time_t` or the expansion is empty or longer than [`STAMP_MAX`].
fn strftime_local(format: &CString, secs: i64) -> Option<String> {
    let time = libc::time_t::try_from(secs).ok()?;
    // SAFETY: `tm` is plain data (integers and, on glibc/musl, a pointer to the zone
    // name that localtime_r sets to static storage), so all-zero is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live, properly aligned locals; localtime_r is the
    // thread-safe variant and writes only into `tm`.
    if unsafe { libc::localtime_r(&time, &mut tm) }.is_null() {
        return None;
    }
    let mut buf = [0u8; STAMP_MAX];
    // SAFETY: `buf` is writable for `buf.len()` bytes, `format` is NUL-terminated and
    // `tm` was filled in by localtime_r; strftime writes at most `buf.len()` bytes and
    // returns how many (0 if they did not fit).
    let len = unsafe { libc::strftime(buf.as_mut_ptr().cast(), buf.len(), format.as_ptr(), &tm) };
    let text = buf.get(..len).filter(|t| !t.is_empty())?;
    Some(String::from_utf8_lossy(text).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2023-11-14T22:13:20Z: 2023 and 20 seconds in every time zone.
    const T: i64 = 1_700_000_000;

    fn format(stamp: Stamp) -> LineFormat {
        LineFormat {
            stamp,
            facility: FACILITY_DAEMON,
            pid: 42,
        }
    }

    #[test]
    fn epoch_stamp_is_mosquittos_default() {
        assert_eq!(
            format(Stamp::Epoch).line_at(T, "hello"),
            "1700000000: hello"
        );
        assert_eq!(format(Stamp::Off).line_at(T, "hello"), "hello");
        assert_eq!(Stamp::new(true, None), Stamp::Epoch);
        assert_eq!(Stamp::new(false, Some("%Y")), Stamp::Off);
        assert!(now_secs() > 1_600_000_000);
    }

    #[test]
    fn strftime_format_shapes_the_stamp() {
        let stamp = Stamp::new(true, Some("%Y [%S] 100%%"));
        assert_eq!(format(stamp).line_at(T, "hello"), "2023 [20] 100%: hello");
        let iso = Stamp::new(true, Some("%Y-%m-%dT%H:%M:%S"))
            .text(T)
            .expect("a stamp");
        assert_eq!(iso.len(), "2023-11-14T22:13:20".len(), "{iso}");
        assert!(
            iso.starts_with("2023-11-1") && iso.ends_with(":20"),
            "{iso}"
        );
    }

    #[test]
    fn empty_or_oversized_expansion_is_a_time_error() {
        let long = "%Y".repeat(STAMP_MAX);
        assert_eq!(
            Stamp::new(true, Some(&long)).text(T).as_deref(),
            Some("Time error")
        );
        assert_eq!(Stamp::new(true, Some("a\0b")), Stamp::Epoch);
    }

    #[test]
    fn syslog_datagrams_carry_priority_and_tag() {
        // daemon (3 << 3) | err (3): what syslog(3) sends for LOG_DAEMON | LOG_ERR.
        assert_eq!(
            format(Stamp::Epoch).datagram(3, "store: disk full"),
            "<27>sol[42]: store: disk full"
        );
        let local5 = LineFormat {
            facility: facility(Some(5)),
            ..format(Stamp::Off)
        };
        // local5 is facility 21: (21 << 3) | debug (7).
        assert_eq!(local5.datagram(7, "x"), "<175>sol[42]: x");
        assert_eq!(facility(None), 24);
        assert_eq!(facility(Some(0)), 128);
    }
}
