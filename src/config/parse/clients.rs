//! Listener keys that decide what a listener's clients are called and which topics they
//! see: `mount_point`, `use_username_as_clientid` and `max_qos`.
//!
//! Mosquitto makes all three per listener, whatever `per_listener_settings` says.
//! `mount_point` needs a `listener` line before it, as in Mosquitto. The other two,
//! before any `listener` line, apply to every listener (Sol's `max_qos` always did;
//! Mosquitto would set the deprecated default listener's and open it on port 1883),
//! and after one to that listener only, overriding the file's top value.
//!
//! This file must not know what the core does with them (`broker::ListenerClients`).

use super::super::value;
use super::{Parser, Scope};
use crate::broker::ListenerClients;
use crate::codec::QoS;

/// The values of these keys given for one listener, or before any `listener` line.
#[derive(Clone, Debug, Default)]
pub(super) struct PendingClients {
    /// `mount_point`.
    mount_point: Option<Box<str>>,
    /// `use_username_as_clientid`.
    use_username_as_clientid: Option<bool>,
    /// `max_qos`.
    max_qos: Option<QoS>,
}

impl PendingClients {
    /// What a listener with these settings does, its own values winning over `top` (those
    /// given before any `listener` line). A `max_qos` at the top is the global one
    /// (`Limits::max_qos`) and is not repeated here.
    pub(super) fn resolve(&self, top: &PendingClients) -> ListenerClients {
        ListenerClients {
            mount_point: self.mount_point.clone(),
            use_username_as_clientid: self
                .use_username_as_clientid
                .or(top.use_username_as_clientid)
                .unwrap_or(false),
            max_qos: self.max_qos,
        }
    }
}

impl Parser<'_> {
    /// `mount_point`, `use_username_as_clientid` or `max_qos`.
    pub(super) fn clients_key(
        &mut self,
        line: usize,
        key: &str,
        args: &[&str],
    ) -> Option<&'static str> {
        let mut settings = PendingClients::default();
        let name = match key {
            "mount_point" => {
                let prefix = self.one(line, key, args)?;
                if self.scope == Scope::Default {
                    let why = "mount_point: applies to a listener; put it after a 'listener' line";
                    self.error(line, why);
                    return None;
                }
                if prefix.contains(['+', '#', '\0']) {
                    let why = format!(
                        "mount_point: '{prefix}' is not a topic prefix: it may not contain \
                         the wildcards + or #"
                    );
                    self.error(line, why);
                    return None;
                }
                settings.mount_point = Some(prefix.into());
                "mount_point"
            }
            "use_username_as_clientid" => {
                settings.use_username_as_clientid = Some(self.bool_arg(line, key, args)?);
                "use_username_as_clientid"
            }
            _ => {
                let token = self.one(line, key, args)?;
                let qos = value::parse_int(token, 0, 2)
                    .map_err(|e| self.value_error(line, key, e))
                    .ok()?;
                let qos = QoS::from_bits(qos as u8).unwrap_or(QoS::ExactlyOnce);
                if self.scope == Scope::Default {
                    self.config.limits.max_qos = qos;
                    return Some("max_qos");
                }
                settings.max_qos = Some(qos);
                "max_qos"
            }
        };
        let target = match self.scope {
            Scope::Default => &mut self.top_clients,
            Scope::Listener(i) => &mut self.listeners[i].clients,
            // Checked, then dropped with the broken listener.
            Scope::Broken => return Some(name),
        };
        target.mount_point = settings.mount_point.or(target.mount_point.take());
        target.use_username_as_clientid = settings
            .use_username_as_clientid
            .or(target.use_username_as_clientid);
        target.max_qos = settings.max_qos.or(target.max_qos);
        Some(name)
    }
}

#[cfg(test)]
mod tests {
    use crate::broker::ListenerClients;
    use crate::codec::QoS;
    use crate::config::Config;

    fn ok(text: &str) -> Config {
        Config::parse(text, "sol.conf").unwrap_or_else(|e| panic!("unexpected errors:\n{e}"))
    }

    fn clients(config: &Config) -> Vec<ListenerClients> {
        config
            .limits
            .listeners
            .iter()
            .map(|l| l.clients.clone())
            .collect()
    }

    #[test]
    fn listener_keys_apply_to_their_listener_and_the_top_to_every_one() {
        let config = ok("\
use_username_as_clientid true
max_qos 1
listener 1883
mount_point mp/
max_qos 0
listener 1884
use_username_as_clientid false
");
        let first = ListenerClients {
            mount_point: Some("mp/".into()),
            use_username_as_clientid: true,
            max_qos: Some(QoS::AtMostOnce),
        };
        assert_eq!(clients(&config), [first, ListenerClients::default()]);
        assert_eq!(
            config.limits.max_qos,
            QoS::AtLeastOnce,
            "the top max_qos is global"
        );
        let loopback = ok("use_username_as_clientid true\n");
        assert!(clients(&loopback)
            .iter()
            .all(|c| c.use_username_as_clientid));
    }

    #[test]
    fn global_keys_are_parsed() {
        let l = ok("\
per_listener_settings true
listener 1883
clientid_prefixes sec-
check_retain_source true
upgrade_outgoing_qos true
max_inflight_bytes 64k
")
        .limits;
        assert_eq!(l.clientid_prefixes, "sec-");
        assert!(l.check_retain_source && l.upgrade_outgoing_qos);
        assert_eq!(l.max_inflight_bytes, 64 * 1024);
        let d = ok("").limits;
        assert!(
            !d.check_retain_source,
            "Mosquitto 2.0's default, whatever its manual says"
        );
        assert_eq!(
            (d.max_inflight_bytes, d.clientid_prefixes.as_str()),
            (0, "")
        );
    }

    #[test]
    fn a_mount_point_needs_a_listener_and_no_wildcard() {
        let errors = |text| Config::parse(text, "sol.conf").unwrap_err().to_string();
        assert_eq!(
            errors("mount_point mp/\nlistener 1883\n"),
            "sol.conf:1: mount_point: applies to a listener; put it after a 'listener' line"
        );
        assert_eq!(
            errors("listener 1883\nmount_point a/#\n"),
            "sol.conf:2: mount_point: 'a/#' is not a topic prefix: it may not contain the \
             wildcards + or #"
        );
        assert_eq!(
            errors("listener 1883\nmax_qos 3\n"),
            "sol.conf:2: max_qos: '3' is out of range (0 to 2)"
        );
    }
}
