//! Mosquitto's password file: one `username:hash` line per user.
//!
//! Two hash formats are read, so a file made by `mosquitto_passwd` works unchanged:
//!
//! - `$7$ITERATIONS$SALT$HASH`: PBKDF2-HMAC-SHA512 with the iteration count and salt of
//!   the entry (Mosquitto 2.0's default, 101 iterations, 12-byte salt, 64-byte hash);
//! - `$6$SALT$HASH`: one SHA-512 of the password followed by the salt (Mosquitto 1.x; not
//!   crypt(3)'s `$6$`).
//!
//! Salt and hash are standard base64 with padding. Lines starting with `#` and blank lines
//! are skipped. New entries ([`hash_password`]) are always `$7$`.
//!
//! Checking compares in constant time, and an unknown user costs the same hashing work as
//! a known one, so timing tells neither the password nor whether the user exists.

use super::LineError;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ring::rand::SecureRandom as _;
use ring::{digest, pbkdf2};
use std::fmt;
use std::num::NonZeroU32;

/// Iterations of a new `$7$` entry: Mosquitto 2.0's default, so a Pi hashes a login in
/// well under a millisecond while an offline guess still costs 101 HMACs.
pub const DEFAULT_ITERATIONS: u32 = 101;
/// Salt bytes of a new entry (Mosquitto's size).
pub const SALT_LEN: usize = 12;
/// The most iterations an entry may ask for: a login must not stall the reactor.
pub const MAX_ITERATIONS: u32 = 100_000;
/// SHA-512 output size.
const HASH_LEN: usize = 64;

/// How one user's password is stored.
#[derive(Clone, PartialEq, Eq)]
pub enum Hash {
    /// `$7$`: PBKDF2-HMAC-SHA512.
    Pbkdf2Sha512 {
        /// Iteration count from the entry.
        iterations: NonZeroU32,
        /// Salt from the entry.
        salt: Box<[u8]>,
        /// Derived key from the entry.
        hash: Box<[u8]>,
    },
    /// `$6$`: SHA-512 of password then salt.
    Sha512 {
        /// Salt from the entry.
        salt: Box<[u8]>,
        /// Digest from the entry.
        hash: Box<[u8]>,
    },
}

impl fmt::Debug for Hash {
    /// Names the format only: hashes stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hash::Pbkdf2Sha512 { iterations, .. } => write!(f, "$7$ ({iterations} iterations)"),
            Hash::Sha512 { .. } => write!(f, "$6$"),
        }
    }
}

impl Hash {
    /// Parses the part of a line after `username:`.
    pub fn parse(s: &str) -> Result<Hash, String> {
        let field = |part: Option<&str>, what: &str| -> Result<Box<[u8]>, String> {
            let part = part.ok_or_else(|| format!("missing {what}"))?;
            BASE64
                .decode(part)
                .map(Vec::into_boxed_slice)
                .map_err(|e| format!("{what} is not base64: {e}"))
        };
        if let Some(rest) = s.strip_prefix("$7$") {
            let mut parts = rest.split('$');
            let iterations = parts
                .next()
                .and_then(|n| n.parse::<u32>().ok())
                .and_then(NonZeroU32::new)
                .filter(|n| n.get() <= MAX_ITERATIONS)
                .ok_or_else(|| format!("iteration count must be 1 to {MAX_ITERATIONS}"))?;
            let salt = field(parts.next(), "salt")?;
            let hash = field(parts.next(), "hash")?;
            if parts.next().is_some() || hash.is_empty() || hash.len() > HASH_LEN {
                return Err("malformed $7$ entry".into());
            }
            Ok(Hash::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            })
        } else if let Some(rest) = s.strip_prefix("$6$") {
            let mut parts = rest.split('$');
            let salt = field(parts.next(), "salt")?;
            let hash = field(parts.next(), "hash")?;
            if parts.next().is_some() || hash.len() != HASH_LEN {
                return Err("malformed $6$ entry".into());
            }
            Ok(Hash::Sha512 { salt, hash })
        } else {
            Err("not a $6$ or $7$ hash (a plain-text password? hash it with `sol passwd`)".into())
        }
    }

    /// Whether `password` matches, in time independent of where the bytes differ.
    pub fn verify(&self, password: &[u8]) -> bool {
        match self {
            Hash::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            } => {
                // ring's verify derives and compares in constant time.
                pbkdf2::verify(
                    pbkdf2::PBKDF2_HMAC_SHA512,
                    *iterations,
                    salt,
                    password,
                    hash,
                )
                .is_ok()
            }
            Hash::Sha512 { salt, hash } => {
                let mut ctx = digest::Context::new(&digest::SHA512);
                ctx.update(password);
                ctx.update(salt);
                constant_time_eq(ctx.finish().as_ref(), hash)
            }
        }
    }
}

impl fmt::Display for Hash {
    /// The entry as the file stores it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hash::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            } => write!(
                f,
                "$7${iterations}${}${}",
                BASE64.encode(salt),
                BASE64.encode(hash)
            ),
            Hash::Sha512 { salt, hash } => {
                write!(f, "$6${}${}", BASE64.encode(salt), BASE64.encode(hash))
            }
        }
    }
}

/// A new `$7$` entry for `password` with a fresh random salt.
pub fn hash_password(password: &[u8], iterations: NonZeroU32) -> Result<Hash, String> {
    let mut salt = [0u8; SALT_LEN];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| "the system random generator failed".to_string())?;
    let mut hash = [0u8; HASH_LEN];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA512,
        iterations,
        &salt,
        password,
        &mut hash,
    );
    Ok(Hash::Pbkdf2Sha512 {
        iterations,
        salt: salt.into(),
        hash: hash.into(),
    })
}

/// Equality of two byte strings whose time depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The result of checking a login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Login {
    /// User known and password right.
    Accepted,
    /// User known, password wrong.
    WrongPassword,
    /// No such user.
    UnknownUser,
}

/// A parsed password file, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PasswordFile {
    /// `(username, hash)`, usernames unique.
    entries: Vec<(Box<str>, Hash)>,
}

impl PasswordFile {
    /// Parses a file's text. Every bad line is reported, not only the first.
    pub fn parse(text: &str) -> Result<PasswordFile, Vec<LineError>> {
        let mut file = PasswordFile::default();
        let mut errors = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches(['\r', ' ', '\t']);
            if line.trim_start().is_empty() || line.starts_with('#') {
                continue;
            }
            let error = |reason: String| LineError {
                line: i + 1,
                reason,
            };
            let Some((user, hash)) = line.split_once(':') else {
                errors.push(error("expected username:hash".into()));
                continue;
            };
            if user.is_empty() {
                errors.push(error("empty username".into()));
                continue;
            }
            if file.find(user).is_some() {
                errors.push(error(format!("user {user:?} appears twice")));
                continue;
            }
            match Hash::parse(hash) {
                Ok(hash) => file.entries.push((user.into(), hash)),
                Err(reason) => errors.push(error(format!("user {user:?}: {reason}"))),
            }
        }
        if errors.is_empty() {
            Ok(file)
        } else {
            Err(errors)
        }
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it has no users.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn find(&self, user: &str) -> Option<usize> {
        self.entries.iter().position(|(u, _)| &**u == user)
    }

    /// Checks a login. An unknown user is hashed against a stand-in entry, so it takes
    /// as long as a wrong password.
    pub fn check(&self, user: &str, password: &[u8]) -> Login {
        match self.find(user) {
            Some(i) if self.entries[i].1.verify(password) => Login::Accepted,
            Some(_) => Login::WrongPassword,
            None => {
                let stand_in = Hash::Pbkdf2Sha512 {
                    iterations: NonZeroU32::new(DEFAULT_ITERATIONS).expect("non-zero"),
                    salt: Box::new([0; SALT_LEN]),
                    hash: Box::new([0; HASH_LEN]),
                };
                let _ = stand_in.verify(password);
                Login::UnknownUser
            }
        }
    }

    /// Sets `user`'s entry (replacing it in place, or appending).
    pub fn set(&mut self, user: &str, hash: Hash) {
        match self.find(user) {
            Some(i) => self.entries[i].1 = hash,
            None => self.entries.push((user.into(), hash)),
        }
    }

    /// Removes `user`; false if there was no such user.
    pub fn remove(&mut self, user: &str) -> bool {
        match self.find(user) {
            Some(i) => {
                self.entries.remove(i);
                true
            }
            None => false,
        }
    }
}

impl fmt::Display for PasswordFile {
    /// The file's text: one `username:hash` line per user.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (user, hash) in &self.entries {
            writeln!(f, "{user}:{hash}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by Debian 12's Mosquitto 2.0.11: `mosquitto_passwd -b -c FILE alice secret`.
    /// (.ci/run also checks a freshly made file; this one pins the format.)
    const MOSQUITTO_7: &str = "alice:$7$101$oSCaE5vnhnbZrZLC$DfhheNLvOBg6pa3rMUneBthUNb9/9fx7tsSzDXpEGDza/l9uBwGmqIZQI5zVxkiuyUaFn0BQ95D+PVhV+2T6IQ==";

    /// A Mosquitto 1.x entry: salt `0123456789ab`, SHA-512 of `hunter2` then the salt.
    fn sha512_entry() -> String {
        let salt = b"0123456789ab";
        let mut ctx = digest::Context::new(&digest::SHA512);
        ctx.update(b"hunter2");
        ctx.update(salt);
        let hash = ctx.finish();
        format!(
            "bob:$6${}${}",
            BASE64.encode(salt),
            BASE64.encode(hash.as_ref())
        )
    }

    #[test]
    fn new_entries_verify_and_round_trip_through_text() {
        let hash =
            hash_password(b"s3cret", NonZeroU32::new(DEFAULT_ITERATIONS).unwrap()).expect("hash");
        assert!(hash.verify(b"s3cret"));
        assert!(!hash.verify(b"s3cret "));
        let text = hash.to_string();
        assert!(text.starts_with("$7$101$"), "{text}");
        assert_eq!(Hash::parse(&text).expect("parse"), hash);
    }

    #[test]
    fn two_entries_for_one_password_differ_by_salt() {
        let n = NonZeroU32::new(1).unwrap();
        let a = hash_password(b"pw", n).unwrap();
        let b = hash_password(b"pw", n).unwrap();
        assert_ne!(a, b);
        assert!(a.verify(b"pw") && b.verify(b"pw"));
    }

    #[test]
    fn legacy_sha512_entries_verify() {
        let file = PasswordFile::parse(&sha512_entry()).expect("parse");
        assert_eq!(file.check("bob", b"hunter2"), Login::Accepted);
        assert_eq!(file.check("bob", b"hunter3"), Login::WrongPassword);
    }

    #[test]
    fn file_parsing_skips_comments_and_reports_every_bad_line() {
        let text = format!(
            "# users\n\n{}\ncarol\n:$6$x$y\ndave:plain\n{}\n",
            sha512_entry(),
            sha512_entry()
        );
        let errors = PasswordFile::parse(&text).expect_err("bad lines");
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![4, 5, 6, 7]);
        assert!(errors[2].reason.contains("sol passwd"), "{}", errors[2]);
        assert!(errors[3].reason.contains("twice"), "{}", errors[3]);
    }

    #[test]
    fn unknown_user_is_reported_as_such() {
        let file = PasswordFile::parse(&sha512_entry()).expect("parse");
        assert_eq!(file.check("mallory", b"hunter2"), Login::UnknownUser);
    }

    #[test]
    fn excessive_iterations_are_refused() {
        let entry = format!("$7${}$AAAA$AAAA", MAX_ITERATIONS + 1);
        assert!(Hash::parse(&entry).is_err());
        assert!(Hash::parse("$7$0$AAAA$AAAA").is_err());
    }

    #[test]
    fn set_replaces_in_place_and_remove_deletes() {
        let n = NonZeroU32::new(1).unwrap();
        let mut file = PasswordFile::parse(&sha512_entry()).expect("parse");
        file.set("zed", hash_password(b"z", n).unwrap());
        file.set("bob", hash_password(b"new", n).unwrap());
        let text = file.to_string();
        let users: Vec<&str> = text.lines().map(|l| l.split(':').next().unwrap()).collect();
        assert_eq!(users, vec!["bob", "zed"]);
        let reread = PasswordFile::parse(&text).expect("reparse");
        assert_eq!(reread.check("bob", b"new"), Login::Accepted);
        let mut file = reread;
        assert!(file.remove("bob"));
        assert!(!file.remove("bob"));
        assert_eq!(file.len(), 1);
    }

    /// Made by Debian 12's Mosquitto 2.0.11: `mosquitto_passwd -H sha512 -b -c FILE bob hunter2`.
    const MOSQUITTO_6: &str = "bob:$6$1AaujdwbUcYtCkkL$b9vo6DUEQMH2dadH6iyKwwomKhxRxJypSg1wxlUbai4Sd13eFWKcwsxgRrIIqpTkERGPaFEx7hJdVY7UoRUdoA==";

    #[test]
    fn mosquitto_passwd_sha512_entry_is_accepted() {
        let file = PasswordFile::parse(MOSQUITTO_6).expect("parse");
        assert_eq!(file.check("bob", b"hunter2"), Login::Accepted);
        assert_eq!(file.check("bob", b"hunter"), Login::WrongPassword);
    }

    #[test]
    fn mosquitto_passwd_entry_is_accepted() {
        let file = PasswordFile::parse(MOSQUITTO_7).expect("parse");
        assert_eq!(file.check("alice", b"secret"), Login::Accepted);
        assert_eq!(file.check("alice", b"Secret"), Login::WrongPassword);
    }
}
