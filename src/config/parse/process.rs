//! Process keys: `pid_file`.
//!
//! This file must not write the file: `cli` does at start-up, before dropping root (see
//! [`crate::pid_file`]).

use super::Parser;
use std::path::PathBuf;

impl Parser<'_> {
    /// `pid_file PATH`, once (Mosquitto refuses a duplicate).
    pub(super) fn pid_file(&mut self, line: usize, args: &[&str]) -> Option<&'static str> {
        let path = self.one(line, "pid_file", args)?;
        if let Some(first) = self.seen("pid_file") {
            let first = self.place(first, line);
            self.error(line, format!("pid_file: already set at {first}"));
            return None;
        }
        self.config.pid_file = Some(PathBuf::from(path));
        Some("pid_file")
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::Config;

    #[test]
    fn pid_file_is_kept_and_set_once() {
        let config = Config::parse("pid_file /run/mosquitto/mosquitto.pid\n", "m").expect("ok");
        assert_eq!(
            config.pid_file.as_deref(),
            Some(std::path::Path::new("/run/mosquitto/mosquitto.pid"))
        );
        let errors = Config::parse("pid_file /a\npid_file /b\n", "m").expect_err("twice");
        assert_eq!(errors.to_string(), "m:2: pid_file: already set at line 1");
    }
}
