//! Mosquitto keys Sol refuses ([`keys::REFUSED`]: each error says why and what to do
//! instead), keys it accepts without effect ([`keys::NO_EFFECT`]: accepted, with a
//! warning saying why nothing changes), and `accept_protocol_versions` and
//! `enable_control_api`, accepted when they describe what Sol does and refused
//! otherwise.
//!
//! This file must not hold the reasons themselves (they are data, in `keys`).

use super::super::keys;
use super::Parser;

impl Parser<'_> {
    /// A refused or no-effect key: `Some` with the outcome if `key` is one, `None` if it
    /// is for the other tables.
    pub(super) fn refused_key(
        &mut self,
        line: usize,
        key: &str,
        args: &[&str],
    ) -> Option<Option<&'static str>> {
        if let Some(why) = keys::refusal(key) {
            self.error(line, format!("{key}: not supported: {why}"));
            return Some(None);
        }
        if let Some(why) = keys::no_effect(key) {
            if args.is_empty() {
                self.error(line, format!("{key}: missing value"));
                return Some(None);
            }
            self.warn(line, format!("{key}: accepted, but {why}"));
            return Some(Some("ignored"));
        }
        match key {
            "accept_protocol_versions" => Some(self.accept_protocol_versions(line, args)),
            // Mosquitto 2.1: `false` is what Sol does.
            "enable_control_api" => Some(match self.bool_arg(line, key, args) {
                Some(true) => {
                    let why = keys::CONTROL_API;
                    self.error(
                        line,
                        format!("enable_control_api true: not supported: {why}"),
                    );
                    None
                }
                Some(false) => Some("ignored"),
                None => None,
            }),
            _ => None,
        }
    }

    /// `accept_protocol_versions 3,4,5` (Mosquitto 2.1, per listener): Sol speaks MQTT
    /// 3.1 (3), 3.1.1 (4) and 5.0 (5) on every listener, so a list of all three is what
    /// it does; a shorter list would need a check per listener Sol does not have.
    fn accept_protocol_versions(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        let mut versions = [false; 3];
        let words = args
            .iter()
            .flat_map(|a| a.split(','))
            .filter(|w| !w.is_empty());
        let mut any = false;
        for word in words {
            any = true;
            match word {
                "3" => versions[0] = true,
                "4" => versions[1] = true,
                "5" => versions[2] = true,
                other => {
                    self.error(
                        line,
                        format!(
                            "accept_protocol_versions: expected 3, 4 or 5 (MQTT 3.1, 3.1.1, \
                             5.0), found '{other}'"
                        ),
                    );
                    return None;
                }
            }
        }
        if !any {
            self.error(line, "accept_protocol_versions: missing value");
            return None;
        }
        if versions != [true; 3] {
            self.error(
                line,
                "accept_protocol_versions: Sol accepts MQTT 3.1, 3.1.1 and 5.0 on every \
                 listener and cannot refuse a version per listener yet; write 3,4,5 or \
                 remove the line (an ACL or password_file can keep unwanted clients out)",
            );
            return None;
        }
        Some("accept_protocol_versions")
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::Config;
    use super::super::tests::errors;

    #[test]
    fn refusals_say_why_and_what_to_do_instead() {
        for (line, why, instead) in [
            (
                "auth_plugin /usr/lib/go-auth.so",
                "C plugins",
                "password_file",
            ),
            ("plugin_opt_backends files", "C plugins", "acl_file"),
            ("auth_opt_backends files", "C plugins", "acl_file"),
            (
                "psk_file /etc/mosquitto/psk",
                "no pre-shared-key",
                "certfile",
            ),
            ("tls_engine pkcs11", "engines", "PEM"),
            (
                "global_max_clients 10",
                "max_connections",
                "max_offline_sessions",
            ),
        ] {
            let text = errors(&format!("{line}\n"));
            let key = line.split(' ').next().expect("key");
            assert!(
                text.starts_with(&format!("sol.conf:1: {key}: not supported: ")),
                "{text}"
            );
            assert!(text.contains(why) && text.contains(instead), "{text}");
        }
    }

    #[test]
    fn no_effect_keys_are_accepted_with_a_warning() {
        let config = Config::parse(
            "auth_plugin_deny_special_chars true\nmax_topic_alias_broker 10\n",
            "sol.conf",
        )
        .expect("accepted");
        let warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            [
                "sol.conf:1: auth_plugin_deny_special_chars: accepted, but it guards plugins, and \
                 Sol loads none: no effect",
                "sol.conf:2: max_topic_alias_broker: accepted, but a maximum: Sol sends its \
                 clients no topic aliases, which MQTT 5.0 allows",
            ]
        );
        assert_eq!(
            errors("quic_log_level\n"),
            "sol.conf:1: quic_log_level: missing value"
        );
    }

    #[test]
    fn the_control_api_is_refused_only_when_asked_for() {
        Config::parse("enable_control_api false\n", "sol.conf").expect("what Sol does");
        assert!(errors("enable_control_api true\n").starts_with(
            "sol.conf:1: enable_control_api true: not supported: Mosquitto's $CONTROL API"
        ));
        assert!(errors("enable_control_api maybe\n").contains("expected true or false"));
    }

    #[test]
    fn protocol_versions_must_be_all_of_them() {
        Config::parse(
            "listener 1883\naccept_protocol_versions 3,4,5\n",
            "sol.conf",
        )
        .expect("all");
        Config::parse(
            "listener 1883\naccept_protocol_versions 5, 4 3\n",
            "sol.conf",
        )
        .expect("all");
        assert!(
            errors("listener 1883\naccept_protocol_versions 5\n").starts_with(
                "sol.conf:2: accept_protocol_versions: Sol accepts MQTT 3.1, 3.1.1 and 5.0"
            )
        );
        assert!(errors("listener 1883\naccept_protocol_versions 6\n").contains("found '6'"));
    }
}
