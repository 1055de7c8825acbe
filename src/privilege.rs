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

/// An account to run as: ids and every group it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The user name.
    pub name: String,
    /// Its user id.
    pub uid: Uid,
    /// Its primary group.
    pub gid: Gid,
    /// Its primary and supplementary groups.
    pub groups: Vec<Gid>,
}

impl Account {
    /// The account running this process (for `sol check` as a normal user).
    pub fn current() -> Option<Account> {
        let uid = Uid::current();
        let name = User::from_uid(uid).ok().flatten().map(|u| u.name)?;
        Some(Account {
            name,
            uid,
            gid: Gid::current(),
            groups: unistd::getgroups().unwrap_or_default(),
        })
    }
}

/// Switches from root to the configured user (see the module comment).
pub fn drop_root(configured: Option<&str>) -> Result<Dropped, String> {
    if !unistd::geteuid().is_root() {
        return Ok(Dropped::NotRoot);
    }
    match run_user(configured)? {
        None => Ok(Dropped::StayedRoot),
        Some(account) => {
            switch_to(&account)?;
            Ok(Dropped::To(account.name))
        }
    }
}

/// The account a broker started as root runs as: `None` for `user root`.
pub fn run_user(configured: Option<&str>) -> Result<Option<Account>, String> {
    let name = configured.unwrap_or(DEFAULT_USER);
    if name == "root" {
        return Ok(None);
    }
    // The default users are local accounts when they exist: asked of the files only, so
    // a machine without them does not load the NSS modules just to learn that.
    let find = |name: &str| match configured {
        Some(_) => lookup(name),
        None => Ok(lookup_files(name)),
    };
    match find(name)? {
        Some(account) => Ok(Some(account)),
        None if configured.is_none() => find(FALLBACK_USER)?.map(Some).ok_or_else(|| {
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

/// The account called `name`: from `/etc/passwd` and `/etc/group` when it is there, else
/// from the system's name service (NSS). Reading the files directly matters on a small
/// device: a lookup through NSS makes glibc load its modules (`libnss_systemd` and what
/// it needs), about 1 MB of resident pages for the rest of the process's life.
fn lookup(name: &str) -> Result<Option<Account>, String> {
    if let Some(account) = lookup_files(name) {
        return Ok(Some(account));
    }
    let user = User::from_name(name).map_err(|e| format!("looking up user {name}: {e}"))?;
    let Some(user) = user else { return Ok(None) };
    let cname = CString::new(name).map_err(|_| "user name contains NUL".to_string())?;
    let groups = unistd::getgrouplist(&cname, user.gid).unwrap_or_else(|_| vec![user.gid]);
    Ok(Some(Account {
        name: user.name,
        uid: user.uid,
        gid: user.gid,
        groups,
    }))
}

/// The account called `name` in `/etc/passwd` and `/etc/group`, if it is there.
fn lookup_files(name: &str) -> Option<Account> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    from_files(name, &read("/etc/passwd"), &read("/etc/group"))
}

/// The account `name` as `passwd` and `group` (the files' text) describe it.
fn from_files(name: &str, passwd: &str, group: &str) -> Option<Account> {
    let (uid, gid) = passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 4 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })?;
    let gid = Gid::from_raw(gid);
    let mut groups = vec![gid];
    for line in group.lines() {
        let f: Vec<&str> = line.split(':').collect();
        let member = f.len() >= 4 && f[3].split(',').any(|m| m.trim() == name);
        if let Some(g) = f.get(2).and_then(|g| g.parse().ok()).filter(|_| member) {
            let g = Gid::from_raw(g);
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
    }
    Some(Account {
        name: name.to_string(),
        uid: Uid::from_raw(uid),
        gid,
        groups,
    })
}

/// Whether `account` can read the file at `path`: read permission on it and search
/// permission on every directory above it, by owner, group (primary or supplementary)
/// or other bits. ACLs and capabilities are not considered.
pub fn readable_by(path: &Path, account: &Account) -> Result<bool, String> {
    allowed_to(path, account, 0o4)
}

/// Whether `account` may create, replace and rename files in the directory `dir` (write
/// and search permission on it, search on every directory above), as the store does.
pub fn dir_writable_by(dir: &Path, account: &Account) -> Result<bool, String> {
    allowed_to(dir, account, 0o3)
}

/// Whether the mode bits `bits` (`0o4` read, `0o3` write and search) of `path` are granted
/// to `account`, and search on every directory above it.
fn allowed_to(path: &Path, account: &Account, bits: u32) -> Result<bool, String> {
    if account.uid.is_root() {
        return Ok(true);
    }
    let shown = path.display();
    let full = path.canonicalize().map_err(|e| format!("{shown}: {e}"))?;
    let allowed = |p: &Path, bits: u32| -> Result<bool, String> {
        let meta = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        let mode = meta.mode();
        let granted = if meta.uid() == account.uid.as_raw() {
            mode >> 6
        } else if account.groups.contains(&Gid::from_raw(meta.gid())) {
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
    allowed(&full, bits)
}

/// Groups, then group id, then user id: in this order, since each step needs the
/// privilege the next one gives up.
fn switch_to(account: &Account) -> Result<(), String> {
    let fail =
        |what: &str, e: nix::Error| format!("switching to user {}: {what}: {e}", account.name);
    unistd::setgroups(&account.groups).map_err(|e| fail("setgroups", e))?;
    unistd::setgid(account.gid).map_err(|e| fail("setgid", e))?;
    unistd::setuid(account.uid).map_err(|e| fail("setuid", e))?;
    if !account.uid.is_root() && unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(format!(
            "switching to user {}: root could be regained",
            account.name
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
    fn accounts_come_from_the_files_with_every_group() {
        let passwd =
            "root:x:0:0::/root:/bin/sh\nsol:x:990:985:Sol:/var/lib/sol:/usr/sbin/nologin\n";
        let group =
            "root:x:0:\nsol:x:985:\ndialout:x:20:pi,sol\nssl-cert:x:110:sol\nother:x:7:pi\n";
        let sol = from_files("sol", passwd, group).expect("in the files");
        assert_eq!((sol.uid.as_raw(), sol.gid.as_raw()), (990, 985));
        let groups: Vec<u32> = sol.groups.iter().map(|g| g.as_raw()).collect();
        assert_eq!(groups, vec![985, 20, 110]);
        assert_eq!(from_files("pi", passwd, group), None, "not in passwd");
    }

    #[test]
    fn user_root_means_no_switch() {
        assert_eq!(run_user(Some("root")), Ok(None));
        assert!(run_user(Some("sol-no-such-user-4242")).is_err());
    }
}
