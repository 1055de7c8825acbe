//! The two handles the core hands out: a connection slot and a session slot. A leaf of
//! the core, so that the session table, the timers and the subscription tree can name
//! each other's owners without importing each other.

/// A connection slot, assigned by the reactor's client pool (`0..max_connections`).
pub type ConnId = usize;

/// Index of a session in the broker's session table.
pub type SessionId = u32;
