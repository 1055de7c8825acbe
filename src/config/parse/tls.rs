//! A listener's TLS keys (`certfile`, `keyfile`, `cafile`, `capath`, `crlfile`,
//! `require_certificate`, `disable_client_cert_date_checks`, `use_identity_as_username`,
//! `tls_version`, `ciphers`, `ciphers_tls1.3`, and `dhparamfile` and `tls_keyform pem`,
//! accepted without effect): where each may appear, which need which, and the listener's
//! [`ListenerTls`], built here once (its PEM files read by [`crate::tls`], its cipher
//! lists read by [`crate::tls::ciphers`]).
//!
//! Without the `tls` feature every TLS key is an error: a file written for TLS must not
//! silently serve plain MQTT. This file must not read the PEM files itself.

use super::super::{keys, Bind};
use super::listeners::PendingListener;
use super::{Parser, Scope};
use crate::tls::{ciphers, ListenerTls, TlsSettings, TlsVersion};
use std::path::PathBuf;

/// A listener's TLS keys as given, each with its line (0: not given).
#[derive(Default)]
pub(super) struct PendingTls {
    /// `certfile`.
    certfile: Option<(PathBuf, usize)>,
    /// `keyfile`.
    keyfile: Option<(PathBuf, usize)>,
    /// `cafile`.
    cafile: Option<PathBuf>,
    /// `capath`.
    capath: Option<PathBuf>,
    /// `crlfile`.
    crlfile: Option<(PathBuf, usize)>,
    /// `require_certificate`, with its line.
    require_certificate: Option<(bool, usize)>,
    /// `disable_client_cert_date_checks`, with its line.
    no_date_checks: Option<(bool, usize)>,
    /// `use_identity_as_username`, with its line.
    use_identity_as_username: Option<(bool, usize)>,
    /// `tls_version`.
    min_version: Option<TlsVersion>,
    /// `ciphers`: the TLS 1.2 suites, with its line.
    ciphers: Option<(Vec<u16>, usize)>,
    /// `ciphers_tls1.3`: the TLS 1.3 suites, with its line.
    ciphers_tls13: Option<(Vec<u16>, usize)>,
}

impl Parser<'_> {
    /// A listener-scoped TLS key (`certfile`, `keyfile`, `cafile`, `capath`, `crlfile`,
    /// `require_certificate`, `disable_client_cert_date_checks`, `use_identity_as_username`,
    /// `tls_version`). Without the `tls` feature every one is an
    /// error: a file written for TLS must not silently serve plain MQTT.
    pub(super) fn tls_key(
        &mut self,
        line: usize,
        key: &str,
        args: &[&str],
    ) -> Option<&'static str> {
        if !cfg!(feature = "tls") {
            self.error(line, format!("{key}: {}", crate::tls::NO_TLS));
            return None;
        }
        let i = match self.scope {
            Scope::Listener(i) => i,
            Scope::Broken => return None,
            Scope::Default => {
                self.error(
                    line,
                    format!("{key}: applies to a listener; put it after a 'listener' line"),
                );
                return None;
            }
        };
        if matches!(self.listeners[i].bind, Bind::Unix(_)) {
            self.error(
                line,
                format!("{key}: TLS does not apply to a Unix socket listener"),
            );
            return None;
        }
        let name = match key {
            "require_certificate" => {
                let v = self.bool_arg(line, key, args)?;
                self.listeners[i].tls.require_certificate = Some((v, line));
                "require_certificate"
            }
            "disable_client_cert_date_checks" => {
                let v = self.bool_arg(line, key, args)?;
                self.listeners[i].tls.no_date_checks = Some((v, line));
                "disable_client_cert_date_checks"
            }
            "use_identity_as_username" => {
                let v = self.bool_arg(line, key, args)?;
                self.listeners[i].tls.use_identity_as_username = Some((v, line));
                "use_identity_as_username"
            }
            "tls_version" => {
                let v = match self.one(line, key, args)? {
                    "tlsv1.2" => TlsVersion::Tls12,
                    "tlsv1.3" => TlsVersion::Tls13,
                    other => {
                        self.error(
                            line,
                            format!(
                                "tls_version: expected tlsv1.2 or tlsv1.3 (TLS 1.0 and 1.1 \
                                 are not supported), found '{other}'"
                            ),
                        );
                        return None;
                    }
                };
                self.listeners[i].tls.min_version = Some(v);
                "tls_version"
            }
            "ciphers" | "ciphers_tls1.3" => {
                let list = self.one(line, key, args)?;
                let tls13 = key == "ciphers_tls1.3";
                let selection = if tls13 {
                    ciphers::tls13(list)
                } else {
                    ciphers::tls12(list)
                };
                let selection = selection.map_err(|e| self.error(line, format!("{key}: {e}")));
                let selection = selection.ok()?;
                if !selection.skipped.is_empty() {
                    let message = format!(
                        "{key}: skipped {}: Sol's TLS (rustls) does not have {}",
                        selection.skipped.join(", "),
                        if selection.skipped.len() == 1 {
                            "it"
                        } else {
                            "them"
                        }
                    );
                    self.warn(line, message);
                }
                let tls = &mut self.listeners[i].tls;
                if tls13 {
                    tls.ciphers_tls13 = Some((selection.suites, line));
                    "ciphers_tls1.3"
                } else {
                    tls.ciphers = Some((selection.suites, line));
                    "ciphers"
                }
            }
            "dhparamfile" => {
                self.one(line, key, args)?;
                self.warn(
                    line,
                    "dhparamfile: accepted, but not used: rustls has no DHE cipher suites; \
                     its ECDHE suites give the forward secrecy DH parameters are for",
                );
                "dhparamfile"
            }
            "tls_keyform" => match self.one(line, key, args)? {
                "pem" => "tls_keyform",
                "engine" => {
                    let why = keys::refusal("tls_engine").unwrap_or_default();
                    self.error(line, format!("tls_keyform engine: not supported: {why}"));
                    return None;
                }
                other => {
                    self.error(
                        line,
                        format!("tls_keyform: expected pem or engine, found '{other}'"),
                    );
                    return None;
                }
            },
            _ => {
                let path = PathBuf::from(self.one(line, key, args)?);
                let tls = &mut self.listeners[i].tls;
                match key {
                    "certfile" => tls.certfile = Some((path, line)),
                    "keyfile" => tls.keyfile = Some((path, line)),
                    "cafile" => tls.cafile = Some(path),
                    "capath" => tls.capath = Some(path),
                    _ => tls.crlfile = Some((path, line)),
                }
                match key {
                    "certfile" => "certfile",
                    "keyfile" => "keyfile",
                    "cafile" => "cafile",
                    "capath" => "capath",
                    _ => "crlfile",
                }
            }
        };
        Some(name)
    }

    /// The TLS of listener `l`, checked: both `certfile` and `keyfile`, or neither and no
    /// other TLS key. The server configuration is built here, once (its files read by
    /// [`crate::tls`]; a problem is reported at the `certfile` line).
    pub(super) fn listener_tls(&mut self, l: &mut PendingListener) -> Option<ListenerTls> {
        let tls = std::mem::take(&mut l.tls);
        let (certfile, line) = match (tls.certfile, tls.keyfile) {
            (Some((cert, line)), Some((key, _))) => ((cert, key), line),
            (Some((_, line)), None) => {
                self.error(line, "certfile: a TLS listener also needs 'keyfile'");
                return None;
            }
            (None, Some((_, line))) => {
                self.error(line, "keyfile: a TLS listener also needs 'certfile'");
                return None;
            }
            (None, None) => {
                let stray = [
                    tls.crlfile.map(|c| c.1),
                    tls.require_certificate.map(|r| r.1),
                    tls.no_date_checks.map(|d| d.1),
                    tls.use_identity_as_username.map(|u| u.1),
                    tls.ciphers.map(|c| c.1),
                    tls.ciphers_tls13.map(|c| c.1),
                ];
                if tls.cafile.is_some()
                    || tls.capath.is_some()
                    || tls.min_version.is_some()
                    || stray.iter().any(Option::is_some)
                {
                    self.error(
                        l.line,
                        "listener: has TLS keys (cafile, capath, crlfile, require_certificate, \
                         disable_client_cert_date_checks, use_identity_as_username, \
                         tls_version, ciphers or ciphers_tls1.3) but no 'certfile' and \
                         'keyfile'",
                    );
                }
                return None;
            }
        };
        let require_certificate = tls.require_certificate.is_some_and(|r| r.0);
        if require_certificate && tls.cafile.is_none() && tls.capath.is_none() {
            let at = tls.require_certificate.map_or(line, |r| r.1);
            self.error(
                at,
                "require_certificate: needs 'cafile' or 'capath' to verify client certificates",
            );
            return None;
        }
        let client_only = [
            ("crlfile", tls.crlfile.as_ref().map(|c| c.1)),
            (
                "disable_client_cert_date_checks",
                tls.no_date_checks.filter(|d| d.0).map(|d| d.1),
            ),
            (
                "use_identity_as_username",
                tls.use_identity_as_username.filter(|u| u.0).map(|u| u.1),
            ),
        ];
        for (key, at) in client_only {
            if let Some(at) = at.filter(|_| !require_certificate) {
                self.error(
                    at,
                    format!(
                        "{key}: only applies with 'require_certificate true' (client \
                         certificates are not requested otherwise)"
                    ),
                );
                return None;
            }
        }
        let settings = TlsSettings {
            certfile: certfile.0,
            keyfile: certfile.1,
            cafile: tls.cafile,
            capath: tls.capath,
            crlfile: tls.crlfile.map(|c| c.0),
            require_certificate,
            disable_client_cert_date_checks: tls.no_date_checks.is_some_and(|d| d.0),
            use_identity_as_username: tls.use_identity_as_username.is_some_and(|u| u.0),
            min_version: tls.min_version.unwrap_or_default(),
            ciphers: tls.ciphers.map(|c| c.0),
            ciphers_tls13: tls.ciphers_tls13.map(|c| c.0),
        };
        ListenerTls::load(settings)
            .map_err(|e| self.error(line, e.to_string()))
            .ok()
    }
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    use super::super::super::Config;
    use super::super::tests::errors;

    #[test]
    fn cipher_lists_are_checked_where_they_are_written() {
        assert!(
            errors("listener 8883\nciphers ECDHE-RSA-AES128-GCM-SHA265\n").starts_with(
                "sol.conf:2: ciphers: unknown cipher 'ECDHE-RSA-AES128-GCM-SHA265'; Sol's TLS 1.2 \
             ciphers are "
            )
        );
        assert!(errors("listener 8883\nciphers_tls1.3 TLS_FOO\n")
            .starts_with("sol.conf:2: ciphers_tls1.3: unknown TLS 1.3 cipher suite 'TLS_FOO'"));
        assert!(errors("ciphers HIGH\n").starts_with("sol.conf:1: ciphers: applies to a listener"));
    }

    #[test]
    fn engines_are_refused_and_pem_keys_accepted() {
        assert!(errors("listener 8883\ntls_keyform engine\n")
            .starts_with("sol.conf:2: tls_keyform engine: not supported: OpenSSL engines"));
        assert!(errors("listener 8883\ntls_keyform der\n").contains("expected pem or engine"));
        // `pem` is what Sol reads anyway.
        Config::parse("listener 8883\ntls_keyform pem\n", "sol.conf").expect("accepted");
    }
}
