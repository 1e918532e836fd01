//! Comparing the xattrs of two entries, each named by an open directory and a name, as the
//! delta scan needs it: without opening either entry (a FIFO or device never) and without
//! following a symlink in the last component. It knows which xattrs the copy engine
//! (`attr`) reproduces; nothing about versions or scans.
//!
//! Names are listed with `listxattrat(2)` (Linux 6.13) relative to the directory fd, which
//! costs about what an `fstatat` does; where the kernel lacks it (`ENOSYS`, or `EPERM` from
//! a seccomp filter) with `llistxattr` on `/proc/self/fd/<dir>/<name>`, as `attr` reads
//! symlinks and special files, about three times as much (the `/proc` lookup). Values are
//! read only when both sides list the same non-empty set of names, through that path.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::unistd;

use super::attr::{proc_path, unsupported};
use super::{Dir, FileKind};

/// `listxattrat`'s number: since Linux 5.1 a new syscall has one number on every
/// architecture (alpha aside, which Rust does not target).
const SYS_LISTXATTRAT: libc::c_long = 465;

/// Set once `listxattrat` proved missing: use the `/proc` paths from then on.
static NO_LISTXATTRAT: AtomicBool = AtomicBool::new(false);

/// Whether the entry `new.1` in `new.0` and the entry `old.1` in `old.0`, both of kind
/// `kind`, hold the same xattrs that [`reproduced`] selects (names and values): the delta
/// scan's xattr check. `old.1` may be a relative path below `old.0` whose directories the
/// caller trusts (a real directory of a version); `"."` names the directory itself.
///
/// A source without xattr support has none; an old side without xattr support can hold
/// none, so there is nothing to compare (equal). An entry that vanishes is `NotFound`.
pub(crate) fn same_xattrs(
    new: (&Dir, &OsStr),
    old: (&Dir, &OsStr),
    kind: FileKind,
) -> io::Result<bool> {
    let names = reproduced_names(new.0, new.1, kind)?.unwrap_or_default();
    let Some(old_names) = reproduced_names(old.0, old.1, kind)? else {
        return Ok(true);
    };
    if names != old_names {
        return Ok(false);
    }
    let (a, b) = (proc_path(new.0, new.1), proc_path(old.0, old.1));
    for name in &names {
        let value = xattr::get(&a, name)?;
        if value.is_none() || value != xattr::get(&b, name)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The xattrs of `name` in `dir` (not followed; `"."` is `dir` itself) that `reproduced`
/// selects for a `kind`, with their values, sorted by name: what an export (the tar
/// writer) carries. A filesystem without xattrs has none; an xattr removed between listing
/// and reading is left out.
pub fn read_xattrs(
    dir: &Dir,
    name: &OsStr,
    kind: FileKind,
) -> io::Result<Vec<(OsString, Vec<u8>)>> {
    let Some(names) = reproduced_names(dir, name, kind)? else {
        return Ok(Vec::new());
    };
    let path = proc_path(dir, name);
    let mut out = Vec::with_capacity(names.len());
    for attr in names {
        if let Some(value) = xattr::get(&path, &attr)? {
            out.push((attr, value));
        }
    }
    Ok(out)
}

/// Whether a copy reproduces the xattr `name` of a `kind` in the vault, so that a
/// difference between source and version means the source changed (what the scan
/// compares):
/// - `user.*` on files and directories (Linux allows them nowhere else, and the copy
///   engine copies them nowhere else);
/// - `trusted.*` (listed and written only with `CAP_SYS_ADMIN`);
/// - the POSIX ACLs `system.posix_acl_access` and `system.posix_acl_default`;
/// - `security.capability` when running as root (only root may write it).
///
/// The copy engine also tries the others, but may not reproduce them, so the vault's value
/// can differ by design and comparing it would report a change at every scan: the other
/// `security.*` names (SELinux, Smack, AppArmor, IMA/EVM labels are the policy's, for the
/// vault's files as for any other, and unprivileged writes are refused) and
/// filesystem-specific names (`btrfs.*`, `system.nfs4_acl`, ...) that the vault's
/// filesystem may not hold.
///
/// Known limit: a vault filesystem that has xattrs but refuses one of these (ACLs where
/// it has no ACL support, `user.*` on tmpfs before Linux 6.6) makes that entry differ at
/// every scan, and each scan then stores it again.
pub(crate) fn reproduced(name: &OsStr, kind: FileKind) -> bool {
    let name = name.as_bytes();
    if name.starts_with(b"user.") {
        return matches!(kind, FileKind::File | FileKind::Dir);
    }
    name.starts_with(b"trusted.")
        || name == b"system.posix_acl_access"
        || name == b"system.posix_acl_default"
        || (name == b"security.capability" && unistd::geteuid().is_root())
}

/// The sorted names of the xattrs of `name` in `dir` (not followed) that [`reproduced`]
/// selects for a `kind`; `None` when its filesystem has no xattrs.
fn reproduced_names(dir: &Dir, name: &OsStr, kind: FileKind) -> io::Result<Option<Vec<OsString>>> {
    let names = match list(dir, name) {
        Ok(names) => names,
        Err(e) if unsupported(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut names: Vec<OsString> = names.into_iter().filter(|n| reproduced(n, kind)).collect();
    names.sort_unstable();
    Ok(Some(names))
}

/// Every xattr name of `name` in `dir`, not following a symlink in the last component.
fn list(dir: &Dir, name: &OsStr) -> io::Result<Vec<OsString>> {
    if !NO_LISTXATTRAT.load(Ordering::Relaxed) {
        match list_at(dir, name) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                NO_LISTXATTRAT.store(true, Ordering::Relaxed);
                tracing::debug!("listxattrat unavailable ({e}): xattrs listed by /proc paths");
            }
            other => return other,
        }
    }
    Ok(xattr::list(proc_path(dir, name))?.collect())
}

/// [`list`] with `listxattrat`: one call when the names fit 4 KiB (nearly always), else
/// ask the size and retry (the list may grow in between: `ERANGE` again).
fn list_at(dir: &Dir, name: &OsStr) -> io::Result<Vec<OsString>> {
    let path = CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a name"))?;
    let mut small = [0u8; 4096];
    match listxattrat(dir, &path, &mut small) {
        Ok(len) => return Ok(split_names(&small[..len])),
        Err(e) if e.raw_os_error() == Some(libc::ERANGE) => {}
        Err(e) => return Err(e),
    }
    loop {
        let mut big = vec![0; listxattrat(dir, &path, &mut [])?.max(1)];
        match listxattrat(dir, &path, &mut big) {
            Ok(len) => return Ok(split_names(&big[..len])),
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) => {}
            Err(e) => return Err(e),
        }
    }
}

/// The raw `listxattrat(dir, path, AT_SYMLINK_NOFOLLOW, buf, buf.len())`; an empty `buf`
/// asks for the size needed.
fn listxattrat(dir: &Dir, path: &std::ffi::CStr, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: a valid directory fd, a NUL-terminated path, and a buffer valid for writes of
    // `buf.len()` bytes (the kernel writes nothing for a size of 0).
    let rc = unsafe {
        libc::syscall(
            SYS_LISTXATTRAT,
            dir.raw(),
            path.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW as libc::c_uint,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    usize::try_from(rc).map_err(|_| io::Error::last_os_error())
}

/// A NUL-separated name list as names.
fn split_names(raw: &[u8]) -> Vec<OsString> {
    raw.split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| OsStr::from_bytes(n).to_os_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_name_lists() {
        let names = split_names(b"user.a\0trusted.b\0");
        assert_eq!(names, [OsStr::new("user.a"), OsStr::new("trusted.b")]);
        assert!(split_names(b"").is_empty());
    }

    #[test]
    fn reproduced_follows_what_the_copy_engine_writes() {
        let file = |n: &str| reproduced(OsStr::new(n), FileKind::File);
        assert!(file("user.tag") && reproduced(OsStr::new("user.tag"), FileKind::Dir));
        assert!(!reproduced(OsStr::new("user.tag"), FileKind::Symlink));
        assert!(!reproduced(OsStr::new("user.tag"), FileKind::Fifo));
        assert!(reproduced(OsStr::new("trusted.t"), FileKind::Symlink));
        assert!(file("system.posix_acl_access") && file("system.posix_acl_default"));
        assert!(!file("security.selinux") && !file("security.SMACK64"));
        assert!(!file("btrfs.compression") && !file("system.nfs4_acl"));
        assert_eq!(file("security.capability"), unistd::geteuid().is_root());
    }

    /// Both ways of listing agree, also past the 4 KiB first buffer (tmpfs can hold that
    /// many names; ext4 cannot: one block per inode), and neither follows a symlink.
    #[test]
    fn listxattrat_and_proc_paths_agree() {
        let shm = std::path::Path::new("/dev/shm");
        let t = match shm.is_dir() {
            true => tempfile::tempdir_in(shm),
            false => tempfile::tempdir(),
        }
        .unwrap();
        std::fs::write(t.path().join("f"), b"").unwrap();
        std::os::unix::fs::symlink("f", t.path().join("l")).unwrap();
        let long = "v".repeat(200);
        let mut set = 0;
        for i in 0..40 {
            match xattr::set(t.path().join("f"), format!("user.{long}{i}"), b"x") {
                Ok(()) => set += 1,
                Err(e) if set == 0 => {
                    crate::skip_test!("user xattrs not supported here: {e}");
                }
                Err(_) => break,
            }
        }
        let dir = Dir::open(t.path()).unwrap();
        let via_proc = |n: &str| -> Vec<OsString> {
            let path = proc_path(&dir, OsStr::new(n));
            let mut v: Vec<OsString> = xattr::list(path).unwrap().collect();
            v.sort();
            v
        };
        for n in ["f", "l", "."] {
            let mut got = list(&dir, OsStr::new(n)).unwrap();
            got.sort();
            assert_eq!(got, via_proc(n), "{n}");
        }
        assert_eq!(via_proc("f").len(), set);
        assert!(via_proc("l")
            .iter()
            .all(|n| !n.as_bytes().starts_with(b"user.")));
        match list_at(&dir, OsStr::new("f")) {
            Ok(names) => assert_eq!(names.len(), set),
            Err(e) => eprintln!("listxattrat not available here ({e}): /proc paths only"),
        }
        if set * 206 <= 4096 {
            eprintln!("only {set} long names fit: the list never outgrew the first buffer");
        }
    }
}
