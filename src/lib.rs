//! Sol: a small, predictable MQTT broker for embedded Linux.
//!
//! # Layout, in data-flow order
//!
//! - [`net`]: the `mio` reactor. Listeners (TCP, Unix socket), the preallocated client
//!   pool, each connection's read state machine and its writes. Thin: it frames bytes into
//!   packets and carries out what the core decides; it reaches the core only through a
//!   door that carries out the core's effects.
//! - [`ws`]: MQTT over WebSockets without I/O: the HTTP upgrade request and its answers,
//!   and the frame decoder that unmasks a WebSocket connection's MQTT bytes in the read
//!   buffer itself, before `net` frames them as it frames TCP's.
//! - [`codec`]: the MQTT wire format, the only place that knows packet bytes. Framing that
//!   treats "not enough bytes yet" as normal, borrowing decoders and encoders that write
//!   into a caller's buffer, both by the connection's protocol version.
//! - [`broker`]: the protocol core, with no I/O, one file per job: sessions (behind one
//!   door, the session table), the topic tree, retained messages, wills, QoS flows, flow
//!   control and `$SYS`. Driven packet by packet, so the same core runs under the reactor,
//!   in unit tests, under the fuzzer and in benchmarks.
//! - [`store`]: durability: retained messages and persistent sessions in a checksummed,
//!   append-only file, written by its own thread, restored at start-up.
//! - [`config`]: the Mosquitto-style configuration file, embedded defaults and validation.
//! - [`tls`]: a TLS listener's settings and (feature `tls`) the `rustls` configuration
//!   built once from its PEM files, and the clock client certificates are checked against.
//! - [`topic`]: topic-name and filter syntax and the one reference matcher, used by the
//!   broker, the ACL and the load generator.
//! - [`x509`]: the subject common name of a client certificate, read from its DER for
//!   `use_identity_as_username` (a small reader, no X.509 crate).
//! - [`log`]: the `syslog`, stderr or stdout backend of the `log` facade, and the one
//!   throttle for warnings that hostile input could repeat.
//! - [`notify`]: readiness, reload, stop and watchdog notifications to systemd.
//! - [`cli`]: the `argh` command line of the `sol` binary.
//! - [`auth`]: Mosquitto's password and ACL files; [`passwd`]: the `sol passwd` command.
//! - [`privilege`]: switching from root to the configured user after binding;
//!   [`pid_file`]: the pid file written before it.
//!
//! Dependencies point down: `codec`, `ws`, `topic`, `x509`, `log` < `auth`, `tls` <
//! `broker` < `config` < `net` < `cli` (docs/design.md, *Where things are*).

#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod auth;
pub mod bridge;
pub mod broker;
pub mod cli;
pub mod codec;
pub mod config;
pub mod log;
pub mod net;
pub mod notify;
pub mod passwd;
pub mod pid_file;
pub mod privilege;
pub mod store;
pub mod tls;
pub mod topic;
pub mod ws;
pub mod x509;
