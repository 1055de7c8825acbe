//! The numeric caps: applying an entry of [`keys::CAPS`] (its unit, bounds and what `0`
//! means), `max_connections` (the one cap with rules of its own), and the checks of caps
//! that only make sense together.
//!
//! This file must not list caps: their keys, bounds and fields are data in `keys`.

use super::super::keys::{self, Cap, CapKind, CountField, Zero, MAX_TIMEOUT_SECS};
use super::super::value::{self, ValueError};
use super::super::PROTOCOL_MAX_PACKET_SIZE;
use super::Parser;
use std::time::Duration;

/// `max` lowered to `usize::MAX` (4 GiB - 1 on the 32-bit targets).
fn usize_bound(max: u64) -> u64 {
    u64::try_from(usize::MAX).map_or(max, |limit| max.min(limit))
}

/// A count or size read with `parse(token, min, max)`, where `0` may stand for something
/// else (`zero`); `ceiling` is the largest value the field holds (`NoCap`).
fn integer(
    token: &str,
    (min, max): (u64, u64),
    zero: Zero,
    ceiling: u64,
    parse: impl Fn(&str, u64, u64) -> Result<u64, ValueError>,
) -> Result<u64, ValueError> {
    let max = max.min(ceiling);
    if zero == Zero::Plain {
        return parse(token, min, max);
    }
    match parse(token, 0, max) {
        Ok(0) => Ok(match zero {
            Zero::Means(v) => v,
            Zero::NoCap | Zero::Plain => ceiling,
        }),
        Ok(v) if v >= min => Ok(v),
        // Below `min`, or not accepted at all: the error names the real bounds.
        _ => parse(token, min, max),
    }
}

/// A decimal integer in `min..=max` (both within `i64`, as the table's are).
fn decimal(token: &str, min: u64, max: u64) -> Result<u64, ValueError> {
    let bound = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let v = value::parse_int(token, bound(min), bound(max))?;
    // Not negative: `min` is.
    Ok(v.unsigned_abs())
}

impl Parser<'_> {
    /// Applies `cap` from the single argument of its line.
    pub(super) fn cap(
        &mut self,
        line: usize,
        cap: &'static Cap,
        args: &[&str],
    ) -> Option<&'static str> {
        let token = self.one(line, cap.key, args)?;
        let config = &mut self.config;
        let applied = match cap.kind {
            CapKind::Count {
                min,
                max,
                zero,
                field,
            } => match field {
                CountField::Usize(field) => {
                    integer(token, (min, max), zero, usize_bound(u64::MAX), decimal).map(|v| {
                        *field(config) = usize::try_from(v).unwrap_or(usize::MAX);
                    })
                }
                CountField::U16(field) => {
                    integer(token, (min, max), zero, u64::from(u16::MAX), decimal).map(|v| {
                        *field(config) = u16::try_from(v).unwrap_or(u16::MAX);
                    })
                }
            },
            CapKind::Bytes {
                min,
                max,
                zero,
                field,
            } => integer(
                token,
                (min, max),
                zero,
                usize_bound(u64::MAX),
                value::parse_size,
            )
            .map(|v| *field(config) = usize::try_from(v).unwrap_or(usize::MAX)),
            CapKind::Seconds { positive, field } => value::parse_seconds(token, MAX_TIMEOUT_SECS)
                .and_then(|d| {
                    if positive && d.is_zero() {
                        Err(ValueError::NotPositive)
                    } else {
                        Ok(d)
                    }
                })
                .map(|d| *field(config) = d),
            CapKind::WholeSeconds { max, field } => {
                decimal(token, 0, max).map(|s| *field(config) = Duration::from_secs(s))
            }
            CapKind::Expiry { field } => {
                value::parse_expiry(token).map(|d| *field(config) = Some(d))
            }
        };
        applied
            .map_err(|e| self.value_error(line, cap.key, e))
            .ok()
            .map(|()| cap.key)
    }

    /// `max_connections N|-1`: the size of the one pool all listeners share.
    pub(super) fn max_connections(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        if let Some(first) = self.seen("max_connections") {
            let first = self.place(first, line);
            self.error(
                line,
                format!(
                    "max_connections: already set at {first}; Sol has one connection \
                     pool for all listeners, so the cap is global and set once"
                ),
            );
            return None;
        }
        let value = self.int_arg(line, "max_connections", args, -1, keys::MAX_CONNECTIONS)?;
        match value {
            -1 => self.config.max_connections_auto = true,
            0 => {
                self.error(
                    line,
                    "max_connections: must be -1 (automatic) or at least 1",
                );
                return None;
            }
            n => {
                self.config.max_connections_auto = false;
                self.config.limits.max_connections = usize::try_from(n).ok()?;
            }
        }
        Some("max_connections")
    }

    /// Buffer pool and queue caps that only make sense together; resolves
    /// `max_packet_size 0` (no cap) against the buffer pool.
    pub(super) fn check_caps(&mut self) {
        let memory = self.config.memory;
        let budget = memory.max_buffer_memory;
        if memory.block_size > budget {
            if let Some(line) = self.later("buffer_block_size", "max_buffer_memory") {
                self.error(
                    line,
                    format!(
                        "buffer_block_size ({}) is larger than max_buffer_memory ({budget})",
                        memory.block_size
                    ),
                );
            }
        }
        // A large PUBLISH is read into the large-message allowance, any other packet
        // into the buffer pool: the larger of the two bounds a packet.
        let packet_size_set = self.seen("max_packet_size").is_some();
        let limits = &mut self.config.limits;
        let large = limits.large_message_memory;
        let room = budget.max(large);
        if limits.max_packet_size == usize::MAX {
            limits.max_packet_size = PROTOCOL_MAX_PACKET_SIZE.min(room);
        } else if !packet_size_set {
            // The default follows the allowance down.
            limits.max_packet_size = limits.max_packet_size.min(room);
        } else if limits.max_packet_size > room {
            let size = limits.max_packet_size;
            let line = self
                .later("max_packet_size", "max_buffer_memory")
                .max(self.seen("large_message_memory"));
            if let Some(line) = line {
                self.error(
                    line,
                    format!(
                        "max_packet_size ({size}) is larger than both large_message_memory \
                         ({large}) and max_buffer_memory ({budget}): such a packet could \
                         never be read",
                    ),
                );
            }
        }
        let limits = &self.config.limits;
        if limits.max_queued_messages == usize::MAX && limits.max_queued_bytes == 0 {
            if let Some(line) = self.later("max_queued_messages", "max_queued_bytes") {
                self.error(
                    line,
                    "max_queued_messages 0 and max_queued_bytes 0 together leave queues \
                     unbounded; Sol needs at least one of the two caps",
                );
            }
        }
    }
}
