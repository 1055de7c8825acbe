//! Security keys: anonymous access (`allow_anonymous`, `per_listener_settings`), client
//! ids (`allow_zero_length_clientid`, `auto_id_prefix`, `clientid_prefixes`), the
//! password and ACL files (`password_file`, `acl_file`, kept with the line that named
//! them) and the ACL check of retained messages' publishers (`check_retain_source`).
//!
//! This file must not read the password or ACL files: `Config::load_auth` does, at
//! start-up, for `sol check` and on reload.

use super::{Parser, Scope};

impl Parser<'_> {
    /// A security key.
    pub(super) fn security_key(
        &mut self,
        line: usize,
        key: &str,
        args: &[&str],
    ) -> Option<&'static str> {
        match key {
            "per_listener_settings" => self.per_listener_settings(line, args),
            "allow_anonymous" => self.allow_anonymous(line, args),
            "allow_zero_length_clientid" => {
                self.global_security(line, key);
                self.flag(line, key, args, |c| {
                    &mut c.limits.allow_zero_length_clientid
                })
                .then_some("allow_zero_length_clientid")
            }
            "auto_id_prefix" => {
                self.global_security(line, key);
                let v = self.one(line, key, args);
                v.map(|v| self.config.limits.auto_id_prefix = v.to_string())
                    .map(|_| "auto_id_prefix")
            }
            // Global whatever per_listener_settings says, as in Mosquitto.
            "clientid_prefixes" => {
                let v = self.one(line, key, args);
                v.map(|v| self.config.limits.clientid_prefixes = v.to_string())
                    .map(|_| "clientid_prefixes")
            }
            "check_retain_source" => self
                .flag(line, key, args, |c| &mut c.limits.check_retain_source)
                .then_some("check_retain_source"),
            _ => {
                self.global_security(line, key);
                let path = self.one(line, key, args)?;
                let at = Some(self.origin(line));
                let files = &mut self.config.security;
                let (file, file_at, name) = if key == "password_file" {
                    (
                        &mut files.password_file,
                        &mut files.password_file_at,
                        "password_file",
                    )
                } else {
                    (&mut files.acl_file, &mut files.acl_file_at, "acl_file")
                };
                *file = Some(path.into());
                *file_at = at;
                Some(name)
            }
        }
    }

    /// `per_listener_settings true|false`: must come before any security setting, and
    /// once true it stays true (as in Mosquitto).
    fn per_listener_settings(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        let value = self.bool_arg(line, "per_listener_settings", args)?;
        if self.per_listener_settings {
            return Some("per_listener_settings");
        }
        if value {
            if let Some(first) = self.first_security_line {
                let first = self.place(first, line);
                self.error(
                    line,
                    format!(
                        "per_listener_settings: must come before any allow_anonymous, \
                         allow_zero_length_clientid or auto_id_prefix line ({first})"
                    ),
                );
                return None;
            }
        }
        self.per_listener_settings = value;
        Some("per_listener_settings")
    }

    /// `allow_anonymous true|false`: global, or per listener under
    /// `per_listener_settings true`.
    fn allow_anonymous(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        self.first_security_line.get_or_insert(line);
        let value = self.bool_arg(line, "allow_anonymous", args)?;
        if !self.per_listener_settings {
            self.allow_anonymous = Some(value);
        } else {
            match self.scope {
                Scope::Default => self.default_listener.allow_anonymous = Some((value, line)),
                Scope::Listener(i) => self.listeners[i].allow_anonymous = Some(value),
                Scope::Broken => {}
            }
        }
        Some("allow_anonymous")
    }

    /// A security key that Mosquitto makes per listener under `per_listener_settings
    /// true` but Sol keeps global: refused after a `listener` line in that mode.
    fn global_security(&mut self, line: usize, key: &str) {
        self.first_security_line.get_or_insert(line);
        if self.per_listener_settings && self.scope != Scope::Default {
            self.error(
                line,
                format!(
                    "{key}: Sol does not support it per listener yet; \
                     set it before the first 'listener' line"
                ),
            );
        }
    }
}
