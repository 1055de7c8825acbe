//! The broker core driven packet by packet, without sockets. Test names cite the
//! normative statement of MQTT 3.1.1 they check.

use super::harness::*;
use super::*;

mod bridge;
mod bridge_outbox;
mod caps;
mod connect;
mod flow;
mod held_acks;
mod listener;
mod routing;
mod sessions;
mod shared;
mod v5;

const ACCEPTED: Seen = Seen::Connack {
    present: false,
    code: 0,
};
