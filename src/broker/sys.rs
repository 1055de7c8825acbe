//! `$SYS` topics: the broker's counters published as retained messages every
//! `sys_interval`, only those whose value changed, in Mosquitto's names; and the log
//! lines of `log_dest topic` ([`Broker::publish_log`]).

use super::*;

/// How long a log line published on `$SYS/broker/log/...` may wait in a queue: Mosquitto
/// gives its log messages a 20 s expiry.
const LOG_LINE_EXPIRY: std::time::Duration = std::time::Duration::from_secs(20);

impl Broker {
    /// Publishes one log line on `topic` (`$SYS/broker/log/...`, `log_dest topic`) as
    /// Mosquitto does: QoS 2, not retained, expiring after 20 s (`LOG_LINE_EXPIRY`).
    pub fn publish_log(&mut self, topic: &str, line: &str, now: Instant) {
        let expires = self.clock.stamp(now).after(LOG_LINE_EXPIRY);
        let message = Message::with_expiry(topic, &[], line.as_bytes(), Some(expires));
        self.publish(None, message, QoS::ExactlyOnce, false, now);
    }

    /// Publishes every `$SYS` value that changed since the last time.
    pub(super) fn publish_sys(&mut self, now: Instant) {
        let s = &self.stats;
        let uptime = now.duration_since(self.started).as_secs();
        let total = self.connected + self.sessions.offline();
        let mut values: Vec<(&'static str, String)> = vec![
            (
                "$SYS/broker/version",
                format!("sol version {}", env!("CARGO_PKG_VERSION")),
            ),
            ("$SYS/broker/uptime", format!("{uptime} seconds")),
            ("$SYS/broker/clients/connected", self.connected.to_string()),
            (
                "$SYS/broker/clients/disconnected",
                self.sessions.offline().to_string(),
            ),
            ("$SYS/broker/clients/total", total.to_string()),
            ("$SYS/broker/clients/maximum", s.clients_maximum.to_string()),
            ("$SYS/broker/clients/expired", s.clients_expired.to_string()),
            (
                "$SYS/broker/messages/received",
                s.messages_received.to_string(),
            ),
            ("$SYS/broker/messages/sent", s.messages_sent.to_string()),
            (
                "$SYS/broker/publish/messages/received",
                s.publish_received.to_string(),
            ),
            (
                "$SYS/broker/publish/messages/sent",
                s.publish_sent.to_string(),
            ),
            (
                "$SYS/broker/publish/messages/dropped",
                s.publish_dropped.to_string(),
            ),
            ("$SYS/broker/bytes/received", s.bytes_received.to_string()),
            ("$SYS/broker/bytes/sent", s.bytes_sent.to_string()),
            (
                "$SYS/broker/subscriptions/count",
                self.tree.len().to_string(),
            ),
            (
                "$SYS/broker/retained messages/count",
                self.retained.len().to_string(),
            ),
            (
                "$SYS/broker/sol/publishers/stalled",
                s.publisher_stalls.to_string(),
            ),
            ("$SYS/broker/sol/clients/slow", s.slow_consumers.to_string()),
            (
                "$SYS/broker/sol/clients/auth_failures",
                s.auth_failures.to_string(),
            ),
            ("$SYS/broker/sol/acl/denied", s.acl_denied.to_string()),
            (
                "$SYS/broker/sol/log/dropped",
                crate::log::dropped_lines().to_string(),
            ),
        ];
        if let Some(st) = &self.store_stats {
            values.extend([
                (
                    "$SYS/broker/store/bytes/written",
                    st.bytes_written.to_string(),
                ),
                ("$SYS/broker/store/syncs", st.syncs.to_string()),
                ("$SYS/broker/store/compactions", st.compactions.to_string()),
                ("$SYS/broker/store/errors", st.errors.to_string()),
                (
                    "$SYS/broker/store/load/dropped",
                    st.load_dropped.to_string(),
                ),
                ("$SYS/broker/store/changes/pending", st.pending.to_string()),
            ]);
            if let Some(age) = st.last_sync_age_s {
                values.push(("$SYS/broker/store/sync/age", format!("{age} seconds")));
            }
        }
        for (topic, value) in values {
            let last = self.sys_last.iter().position(|(t, _)| *t == topic);
            if last.is_some_and(|i| self.sys_last[i].1 == value) {
                continue;
            }
            self.publish(
                None,
                Message::new(topic, value.as_bytes()),
                QoS::AtMostOnce,
                true,
                now,
            );
            match last {
                Some(i) => self.sys_last[i].1 = value,
                None => self.sys_last.push((topic, value)),
            }
        }
    }
}
