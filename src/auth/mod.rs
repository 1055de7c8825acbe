//! Who may connect and what they may do: Mosquitto's password file and ACL file.
//!
//! Pure data and checks, no I/O beyond reading the files: the broker asks these modules at
//! CONNECT (passwords) and at PUBLISH, SUBSCRIBE and delivery (ACLs). [`Auth::load`] reads
//! the files a configuration names, at start, for `sol check`, and on every reload (where
//! a file with errors is reported and the previous contents kept).

pub mod acl;
pub mod password;

use crate::config::SecurityFiles;
use acl::Acl;
use password::PasswordFile;
use std::fmt;
use std::path::Path;

/// A problem in a password or ACL file, with its 1-based line number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// Line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// The password file and ACL in force; `None` where the configuration names no file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Auth {
    /// `password_file`: without it, any username/password is accepted (as in Mosquitto).
    pub passwords: Option<PasswordFile>,
    /// `acl_file`: without it, every client may publish and subscribe to anything.
    pub acl: Option<Acl>,
}

impl Auth {
    /// Reads and parses the files of `files`. ACL filters are checked against the topic
    /// caps. Every problem is returned as a printable line (`PATH: line N: reason`).
    pub fn load(
        files: &SecurityFiles,
        max_topic_length: usize,
        max_topic_levels: usize,
    ) -> Result<Auth, Vec<String>> {
        let mut errors = Vec::new();
        let passwords = files.password_file.as_deref().and_then(|path| {
            read(path, &mut errors, |text| {
                PasswordFile::parse(text)
                    .map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>())
            })
        });
        let acl = files.acl_file.as_deref().and_then(|path| {
            read(path, &mut errors, |text| {
                Acl::parse(text, max_topic_length, max_topic_levels)
                    .map_err(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>())
            })
        });
        if errors.is_empty() {
            Ok(Auth { passwords, acl })
        } else {
            Err(errors)
        }
    }
}

/// Reads the file at `path` and parses it, adding its problems to `errors`.
fn read<T>(
    path: &Path,
    errors: &mut Vec<String>,
    parse: impl FnOnce(&str) -> Result<T, Vec<String>>,
) -> Option<T> {
    let shown = path.display();
    match std::fs::read_to_string(path) {
        Ok(text) => match parse(&text) {
            Ok(value) => Some(value),
            Err(problems) => {
                errors.extend(problems.iter().map(|p| format!("{shown}: {p}")));
                None
            }
        },
        Err(e) => {
            errors.push(format!("{shown}: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, text: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("sol-auth-{}-{name}", std::process::id()));
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn loads_both_files_and_reports_every_problem_with_its_path() {
        let pw = temp("pw", "alice:$6$AAAA$AAAA\n");
        let acl = temp("acl", "topic read a/#\nbogus\n");
        let files = SecurityFiles {
            password_file: Some(pw.clone()),
            acl_file: Some(acl.clone()),
        };
        let errors = Auth::load(&files, 256, 32).expect_err("both files are bad");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with(&format!("{}: line 1:", pw.display())),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with(&format!("{}: line 2:", acl.display())),
            "{errors:?}"
        );
        std::fs::write(&acl, "topic read a/#\n").unwrap();
        let files = SecurityFiles {
            password_file: None,
            acl_file: Some(acl.clone()),
        };
        let auth = Auth::load(&files, 256, 32).expect("valid");
        assert!(auth.passwords.is_none() && auth.acl.is_some());
        let missing = SecurityFiles {
            password_file: Some("/nonexistent/sol-passwd".into()),
            acl_file: None,
        };
        let errors = Auth::load(&missing, 256, 32).expect_err("missing");
        assert!(
            errors[0].starts_with("/nonexistent/sol-passwd: "),
            "{errors:?}"
        );
        for p in [pw, acl] {
            let _ = std::fs::remove_file(p);
        }
    }
}
