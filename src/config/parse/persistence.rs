//! The persistence keys: Mosquitto's `persistence`, `persistence_location`,
//! `persistence_file`, `autosave_interval` and `autosave_on_changes`, with Mosquitto's
//! meaning, and Sol's `persistence_sync`. They build [`Persistence`](super::super::Persistence).
//!
//! This file must not touch the store file or its directory: the store opens them when
//! the broker starts (after it has dropped root), and `sol check` reports them.

use super::Parser;

/// Longest `autosave_interval` (Mosquitto reads it as a C `int`).
const MAX_AUTOSAVE: i64 = i32::MAX as i64;

impl Parser<'_> {
    /// A persistence key.
    pub(super) fn persistence_key(
        &mut self,
        line: usize,
        key: &str,
        args: &[&str],
    ) -> Option<&'static str> {
        match key {
            // Mosquitto reads `retained_persistence` as another name of `persistence`.
            "persistence" | "retained_persistence" => self
                .flag(line, key, args, |c| &mut c.persistence.enabled)
                .then_some("persistence"),
            "autosave_on_changes" => self
                .flag(line, key, args, |c| &mut c.persistence.autosave_on_changes)
                .then_some("autosave_on_changes"),
            "persistence_sync" => self
                .flag(line, key, args, |c| &mut c.persistence.sync)
                .then_some("persistence_sync"),
            "autosave_interval" => {
                let n = self.int_arg(line, key, args, 0, MAX_AUTOSAVE)?;
                self.config.persistence.autosave_interval = n as u64;
                Some("autosave_interval")
            }
            "persistence_location" => {
                let dir = self.one(line, key, args)?;
                self.config.persistence.location = Some(dir.into());
                Some("persistence_location")
            }
            _ => {
                // A path is taken as it is (joined to persistence_location when relative).
                let file = self.one(line, key, args)?;
                self.config.persistence.file = file.to_string();
                Some("persistence_file")
            }
        }
    }
}
