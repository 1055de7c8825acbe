//! Who may connect and what they may do: Mosquitto's password file and ACL file.
//!
//! Pure data and checks, no I/O beyond reading the files: the broker asks these modules at
//! CONNECT (passwords) and at PUBLISH, SUBSCRIBE and delivery (ACLs). [`Auth::load`] reads
//! the two files, at start, for `sol check`, and on every reload (where a file with errors
//! is reported and the previous contents kept).
//!
//! This module must not depend on `config` (it sits below it): it takes the paths, and
//! says which file each problem is in ([`AuthFile`]) so that the configuration can report
//! it at the line that named the file.

pub mod acl;
pub mod enhanced;
pub mod password;

use acl::Acl;
use password::PasswordFile;
use std::fmt;
use std::path::{Path, PathBuf};

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

/// Which of the two files a problem is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFile {
    /// The password file (`password_file`).
    Passwords,
    /// The ACL file (`acl_file`).
    Acl,
}

impl AuthFile {
    /// The configuration key that names this file.
    pub fn key(self) -> &'static str {
        match self {
            AuthFile::Passwords => "password_file",
            AuthFile::Acl => "acl_file",
        }
    }
}

/// A problem with a password or ACL file: it cannot be read, or a line is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    /// Which file.
    pub file: AuthFile,
    /// Its path.
    pub path: PathBuf,
    /// What is wrong: `line N: reason`, or why the file cannot be read.
    pub problem: String,
}

impl fmt::Display for FileError {
    /// `PATH: problem`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

impl Auth {
    /// Reads and parses the password file and the ACL file, where given. ACL filters are
    /// checked against the topic caps. Every problem of both files is returned.
    pub fn load(
        password_file: Option<&Path>,
        acl_file: Option<&Path>,
        max_topic_length: usize,
        max_topic_levels: usize,
    ) -> Result<Auth, Vec<FileError>> {
        let mut errors = Vec::new();
        let passwords = password_file
            .and_then(|path| read(AuthFile::Passwords, path, &mut errors, PasswordFile::parse));
        let acl = acl_file.and_then(|path| {
            read(AuthFile::Acl, path, &mut errors, |text| {
                Acl::parse(text, max_topic_length, max_topic_levels)
            })
        });
        if errors.is_empty() {
            Ok(Auth { passwords, acl })
        } else {
            Err(errors)
        }
    }
}

/// Reads `file` at `path` and parses it, adding its problems to `errors`.
fn read<T>(
    file: AuthFile,
    path: &Path,
    errors: &mut Vec<FileError>,
    parse: impl FnOnce(&str) -> Result<T, Vec<LineError>>,
) -> Option<T> {
    let error = |problem: String| FileError {
        file,
        path: path.to_path_buf(),
        problem,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => match parse(&text) {
            Ok(value) => Some(value),
            Err(problems) => {
                errors.extend(problems.iter().map(|p| error(p.to_string())));
                None
            }
        },
        Err(e) => {
            errors.push(error(e.to_string()));
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
        let errors = Auth::load(Some(&pw), Some(&acl), 256, 32).expect_err("both files are bad");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].file, AuthFile::Passwords);
        assert!(
            errors[0]
                .to_string()
                .starts_with(&format!("{}: line 1:", pw.display())),
            "{errors:?}"
        );
        assert_eq!(errors[1].file, AuthFile::Acl);
        assert!(
            errors[1]
                .to_string()
                .starts_with(&format!("{}: line 2:", acl.display())),
            "{errors:?}"
        );
        std::fs::write(&acl, "topic read a/#\n").unwrap();
        let auth = Auth::load(None, Some(&acl), 256, 32).expect("valid");
        assert!(auth.passwords.is_none() && auth.acl.is_some());
        let missing = Path::new("/nonexistent/sol-passwd");
        let errors = Auth::load(Some(missing), None, 256, 32).expect_err("missing");
        assert_eq!(errors[0].file.key(), "password_file");
        assert!(
            errors[0]
                .to_string()
                .starts_with("/nonexistent/sol-passwd: "),
            "{errors:?}"
        );
        for p in [pw, acl] {
            let _ = std::fs::remove_file(p);
        }
    }
}
