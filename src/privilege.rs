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

use nix::unistd::{self, Uid, User};
use std::ffi::CString;

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
    let name = configured.unwrap_or(DEFAULT_USER);
    if name == "root" {
        return Ok(Dropped::StayedRoot);
    }
    let user = match lookup(name)? {
        Some(user) => user,
        None if configured.is_none() => lookup(FALLBACK_USER)?.ok_or_else(|| {
            format!(
                "neither the user {DEFAULT_USER} nor {FALLBACK_USER} exists to run as; \
                 create {DEFAULT_USER} or set `user`"
            )
        })?,
        None => {
            return Err(format!(
                "user {name}: no such user (create it or change `user`)"
            ))
        }
    };
    switch_to(&user)?;
    Ok(Dropped::To(user.name))
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
