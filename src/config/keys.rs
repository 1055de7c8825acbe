//! Which Mosquitto keys Sol knows but does not implement yet, and which it accepts and
//! ignores.
//!
//! A key in neither list nor handled by the parser is unknown (most likely a typo), and
//! reported as such. Keeping the Mosquitto names here lets a user who brings a
//! `mosquitto.conf` learn exactly which of its lines Sol cannot honour yet.

/// Mosquitto 2.x options that Sol rejects by name because it does not implement them yet.
pub const UNSUPPORTED: &[&str] = &[
    // Security, authentication, plugins.
    "auth_plugin",
    "auth_plugin_deny_special_chars",
    "check_retain_source",
    "clientid_prefixes",
    "enable_control_api",
    "global_plugin",
    "plugin",
    "psk_file",
    "psk_hint",
    // Persistence.
    "autosave_interval",
    "autosave_on_changes",
    "persistence",
    "persistence_file",
    "persistence_location",
    "retained_persistence",
    // Process and files.
    "include_dir",
    "pid_file",
    // Logging.
    "log_facility",
    "log_timestamp_format",
    "websockets_log_level",
    "quic_log_level",
    // Limits Sol expresses differently.
    "global_max_clients",
    "global_max_connections",
    "max_inflight_bytes",
    "memory_limit",
    "upgrade_outgoing_qos",
    // Listener options.
    "accept_protocol_versions",
    "bind_interface",
    "http_dir",
    "max_qos",
    "maximum_qos",
    "max_topic_alias",
    "max_topic_alias_broker",
    "mount_point",
    "protocol",
    "use_username_as_clientid",
    "websockets_headers_size",
    "websockets_origin",
    // TLS.
    "ciphers",
    "ciphers_tls1.3",
    "dhparamfile",
    "tls_engine",
    "tls_engine_kpass_sha1",
    "tls_keyform",
    "use_subject_as_username",
    // Bridges.
    "address",
    "addresses",
    "bridge_alpn",
    "bridge_attempt_unsubscribe",
    "bridge_bind_address",
    "bridge_cafile",
    "bridge_capath",
    "bridge_certfile",
    "bridge_ciphers",
    "bridge_ciphers_tls1.3",
    "bridge_identity",
    "bridge_insecure",
    "bridge_keyfile",
    "bridge_max_packet_size",
    "bridge_max_topic_alias",
    "bridge_outgoing_retain",
    "bridge_protocol_version",
    "bridge_psk",
    "bridge_receive_maximum",
    "bridge_reload_type",
    "bridge_require_ocsp",
    "bridge_session_expiry_interval",
    "bridge_tcp_keepalive",
    "bridge_tcp_user_timeout",
    "bridge_tls_version",
    "cleansession",
    "clientid",
    "connection",
    "idle_timeout",
    "keepalive_interval",
    "local_cleansession",
    "local_clientid",
    "local_password",
    "local_username",
    "notification_topic",
    "notifications",
    "notifications_local_only",
    "password",
    "remote_clientid",
    "remote_password",
    "remote_username",
    "restart_timeout",
    "round_robin",
    "start_type",
    "threshold",
    "topic",
    "try_private",
    "username",
];

/// Prefixes of Mosquitto's plugin option families (`plugin_opt_NAME value`).
pub const UNSUPPORTED_PREFIXES: &[&str] = &["auth_opt_", "plugin_opt_"];

/// Whether `key` is a Mosquitto option Sol does not implement yet.
pub fn is_unsupported(key: &str) -> bool {
    UNSUPPORTED.contains(&key) || UNSUPPORTED_PREFIXES.iter().any(|p| key.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_has_no_duplicates() {
        let mut seen = std::collections::HashSet::new();
        for key in UNSUPPORTED {
            assert!(seen.insert(key), "{key} listed twice");
        }
    }

    #[test]
    fn prefixes_match_plugin_options() {
        assert!(is_unsupported("plugin_opt_db_path"));
        assert!(is_unsupported("auth_opt_backends"));
        assert!(is_unsupported("psk_file"));
        assert!(!is_unsupported("max_keepalive"));
    }
}
