//! The pid file (`pid_file`): the broker's process id, written at start-up and removed
//! at a clean exit.
//!
//! As Mosquitto: written before the listeners are bound and root is dropped (so it can
//! live in a root-owned directory such as `/run`), as the decimal id and a newline,
//! replacing an old file; a file that cannot be written stops the start. It is removed
//! when the [`PidFile`] is dropped, at the end of a run (by then Sol may have dropped
//! root: the directory must let its user remove the file, as Debian's
//! `/run/mosquitto/` does; otherwise a warning says so and the file stays).
//!
//! This module must not know about the configuration or the broker.

use std::path::{Path, PathBuf};

/// A written pid file, removed on drop.
#[derive(Debug)]
pub struct PidFile {
    /// Where it was written.
    path: PathBuf,
}

impl PidFile {
    /// Writes this process's id to `path`.
    pub fn write(path: &Path) -> Result<PidFile, String> {
        std::fs::write(path, format!("{}\n", std::process::id())).map_err(|e| {
            format!(
                "cannot write the pid file {} (pid_file): {e}; its directory must exist and \
                 be writable when Sol starts",
                path.display()
            )
        })?;
        Ok(PidFile {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                ::log::warn!("cannot remove the pid file {}: {e}", self.path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_process_id_until_dropped() {
        let path = std::env::temp_dir().join(format!("sol-pid-{}.pid", std::process::id()));
        let pid = PidFile::write(&path).expect("written");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, format!("{}\n", std::process::id()));
        drop(pid);
        assert!(!path.exists());
    }

    #[test]
    fn an_unwritable_path_is_a_clear_error() {
        let error = PidFile::write(Path::new("/nonexistent/dir/sol.pid")).expect_err("no dir");
        assert!(
            error.starts_with("cannot write the pid file /nonexistent/dir/sol.pid (pid_file): "),
            "{error}"
        );
    }
}
