//! Giving up root once the listeners are bound.
//!
//! Started as root (to bind a port below 1024, or by an init system that does not switch
//! users), Sol switches to the configured `user` (default `sol`): its
//! supplementary groups, then its group, then its user id, and checks that root cannot
//! be regained. `user root` keeps root, with a warning. When the default user `sol` does
//! not exist (a development machine), `nobody` is used instead, as Mosquitto does; a
//! configured user that does not exist is an error, so Sol does not run as root by
//! mistake. Started as any other user, Sol stays that user.
//!
//! Everything Sol reads after this point (the configuration, password and ACL files on
//! SIGHUP) must be readable by that user; `sol check` warns when a file is not.

use nix::unistd::{self, Gid, Uid, User};
use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The user Sol switches to when none is configured.
pub const DEFAULT_USER: &str = "sol";
/// The fallback when [`DEFAULT_USER`] does not exist.
pub const FALLBACK_USER: &str = "nobody";

/// What [`drop_root`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dropped {
    /// Not running as root: nothing to do.
    NotRoot,
    /// `user root` is configured: still root.
    StayedRoot,
    /// Now running as this user.
    To(String),
}

/// Switches from root to the configured user (see the module comment).
pub fn drop_root(configured: Option<&str>) -> Result<Dropped, String> {
    if !unistd::geteuid().is_root() {
        return Ok(Dropped::NotRoot);
    }
    match run_user(configured)? {
        None => Ok(Dropped::StayedRoot),
        Some(user) => {
            switch_to(&user)?;
            Ok(Dropped::To(user.name))
        }
    }
}

/// The account a broker started as root runs as: `None` for `user root`.
pub fn run_user(configured: Option<&str>) -> Result<Option<User>, String> {
    let name = configured.unwrap_or(DEFAULT_USER);
    if name == "root" {
        return Ok(None);
    }
    match lookup(name)? {
        Some(user) => Ok(Some(user)),
        None if configured.is_none() => lookup(FALLBACK_USER)?.map(Some).ok_or_else(|| {
            format!(
                "neither the user {DEFAULT_USER} nor {FALLBACK_USER} exists to run as; \
                 create {DEFAULT_USER} or set `user`"
            )
        }),
        None => Err(format!(
            "user {name}: no such user (create it or change `user`)"
        )),
    }
}

/// Whether `user` can read the file at `path`: read permission on it and search
/// permission on every directory above it, by owner, group (primary or supplementary)
/// or other bits. ACLs and capabilities are not considered.
pub fn readable_by(path: &Path, user: &User) -> Result<bool, String> {
    if user.uid.is_root() {
        return Ok(true);
    }
    let shown = path.display();
    let full = path.canonicalize().map_err(|e| format!("{shown}: {e}"))?;
    let cname =
        CString::new(user.name.as_str()).map_err(|_| "user name contains NUL".to_string())?;
    let groups = unistd::getgrouplist(&cname, user.gid).unwrap_or_else(|_| vec![user.gid]);
    let allowed = |p: &Path, bits: u32| -> Result<bool, String> {
        let meta = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        let mode = meta.mode();
        let granted = if meta.uid() == user.uid.as_raw() {
            mode >> 6
        } else if groups.contains(&Gid::from_raw(meta.gid())) {
            mode >> 3
        } else {
            mode
        };
        Ok(granted & bits == bits)
    };
    for dir in full.ancestors().skip(1) {
        if !allowed(dir, 0o1)? {
            return Ok(false);
        }
    }
    allowed(&full, 0o4)
}

/// The account called `name`, if there is one.
fn lookup(name: &str) -> Result<Option<User>, String> {
    User::from_name(name).map_err(|e| format!("looking up user {name}: {e}"))
}

/// Groups, then group id, then user id: in this order, since each step needs the
/// privilege the next one gives up.
fn switch_to(user: &User) -> Result<(), String> {
    let fail = |what: &str, e: nix::Error| format!("switching to user {}: {what}: {e}", user.name);
    let cname =
        CString::new(user.name.as_str()).map_err(|_| "user name contains NUL".to_string())?;
    unistd::initgroups(&cname, user.gid).map_err(|e| fail("initgroups", e))?;
    unistd::setgid(user.gid).map_err(|e| fail("setgid", e))?;
    unistd::setuid(user.uid).map_err(|e| fail("setuid", e))?;
    if user.uid != Uid::from_raw(0) && unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(format!(
            "switching to user {}: root could be regained",
            user.name
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn readability_follows_owner_group_and_other_bits() {
        let nobody = lookup(FALLBACK_USER).unwrap().expect("a nobody account");
        let dir = std::env::temp_dir().join(format!("sol-priv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = dir.join("secret");
        std::fs::write(&file, "x").unwrap();
        // Owned by whoever runs the test, which is not nobody.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(!readable_by(&file, &nobody).unwrap());
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(readable_by(&file, &nobody).unwrap());
        // A directory nobody cannot search hides a readable file.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(!readable_by(&file, &nobody).unwrap());
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn user_root_means_no_switch() {
        assert_eq!(run_user(Some("root")), Ok(None));
        assert!(run_user(Some("sol-no-such-user-4242")).is_err());
    }
}
