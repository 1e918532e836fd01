//! How one source entry compares with its counterpart in the newest version.

use std::ffi::OsStr;
use std::io;

use crate::change::Change;
use crate::fs::at::read_link as read_link_at;
use crate::fs::{hash_file, same_xattrs, Dir, FileKind, Meta};

/// One side of a comparison: the open directory holding the entry, its name, its metadata.
pub(crate) struct Side<'a> {
    pub dir: &'a Dir,
    pub name: &'a OsStr,
    pub meta: &'a Meta,
}

impl<'a> Side<'a> {
    pub fn new(dir: &'a Dir, name: &'a OsStr, meta: &'a Meta) -> Self {
        Side { dir, name, meta }
    }
}

/// What equal metadata does not prove for one entry (the walk decides, from the ctime
/// shortcut and the job's copy options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Doubt {
    /// The source entry's ctime moved since the last full scan, so equal size and mtime do
    /// not prove equal content (e.g. `touch -d` after a write): regular files are hashed.
    pub content: bool,
    /// The job copies xattrs and the ctime shortcut cannot vouch for them: compare the
    /// xattrs the copy reproduces (`fs::same_xattrs`) when nothing else differs.
    pub xattrs: bool,
}

/// The change that turns `old` (in the version) into `new` (in the source), if any.
/// Both have the same type (the caller handles replacements). A difference in xattrs only
/// is `Attrib`, like one in mode, owner or mtime.
/// xattrs that cannot be read (other than a vanished entry) count as changed: the build
/// then takes the attributes again and journals what it could not copy.
pub(crate) fn compare(new: &Side<'_>, old: &Side<'_>, doubt: Doubt) -> io::Result<Option<Change>> {
    let change = compare_meta(new, old, doubt.content)?;
    if change.is_some() || !doubt.xattrs {
        return Ok(change);
    }
    match xattrs_equal(new, old) {
        Ok(true) => Ok(None),
        Ok(false) => Ok(Some(Change::Attrib)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(e),
        Err(e) => {
            tracing::debug!(name = ?new.name, "xattrs not compared ({e}): taken as changed");
            Ok(Some(Change::Attrib))
        }
    }
}

/// Whether the two entries hold the same (reproduced) xattrs.
pub(crate) fn xattrs_equal(new: &Side<'_>, old: &Side<'_>) -> io::Result<bool> {
    same_xattrs((new.dir, new.name), (old.dir, old.name), new.meta.kind)
}

/// Type-specific comparison of everything but xattrs.
fn compare_meta(new: &Side<'_>, old: &Side<'_>, hash: bool) -> io::Result<Option<Change>> {
    let (n, o) = (new.meta, old.meta);
    match n.kind {
        FileKind::Dir => Ok(attrs_differ(n, o, true).then_some(Change::Attrib)),
        FileKind::File => compare_files(new, old, hash),
        FileKind::Symlink => {
            if read_link_at(new.dir, new.name)? != read_link_at(old.dir, old.name)? {
                Ok(Some(Change::Modified))
            } else {
                Ok(attrs_differ(n, o, false).then_some(Change::Attrib))
            }
        }
        _ if n.rdev != o.rdev => Ok(Some(Change::Modified)),
        _ => Ok(attrs_differ(n, o, true).then_some(Change::Attrib)),
    }
}

fn compare_files(new: &Side<'_>, old: &Side<'_>, hash: bool) -> io::Result<Option<Change>> {
    let (n, o) = (new.meta, old.meta);
    if n.size != o.size {
        return Ok(Some(Change::Modified));
    }
    if (n.mtime != o.mtime || hash)
        && hash_file(new.dir, new.name)? != hash_file(old.dir, old.name)?
    {
        return Ok(Some(Change::Modified));
    }
    Ok(attrs_differ(n, o, true).then_some(Change::Attrib))
}

/// Mode, owner, group and (when `with_mtime`) mtime differ.
pub(crate) fn attrs_differ(n: &Meta, o: &Meta, with_mtime: bool) -> bool {
    n.mode != o.mode || n.uid != o.uid || n.gid != o.gid || (with_mtime && n.mtime != o.mtime)
}

/// The tests make a FIFO with nix (`mkfifo`: `std` has no call for it).
#[cfg(test)]
mod tests {
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use super::*;
    use crate::fs::{copy_attributes, copy_entry, CopyOptions};

    /// A full comparison that checks xattrs (the job copies them, the ctime moved).
    const CHECK: Doubt = Doubt {
        content: false,
        xattrs: true,
    };
    /// The same when the job does not copy xattrs (or the ctime shortcut vouches for them).
    const SKIP: Doubt = Doubt {
        content: false,
        xattrs: false,
    };

    /// A source folder holding the entry `e` and a version folder holding the copy engine's
    /// copy of it.
    struct Fixture {
        _tmp: tempfile::TempDir,
        src: PathBuf,
        ver: PathBuf,
    }

    impl Fixture {
        /// `make` creates `e` in the source folder; `None` (with the reason printed) when
        /// this filesystem takes no user xattrs.
        fn new(make: impl FnOnce(&Path)) -> Option<Fixture> {
            let tmp = tempfile::tempdir().unwrap();
            let (src, ver) = (tmp.path().join("src"), tmp.path().join("ver"));
            std::fs::create_dir(&src).unwrap();
            std::fs::create_dir(&ver).unwrap();
            if let Err(e) = xattr::set(&src, "user.probe", b"") {
                crate::util::skip::skipped(format_args!("user xattrs not supported here: {e}"));
                return None;
            }
            make(&src);
            let f = Fixture {
                _tmp: tmp,
                src,
                ver,
            };
            f.copy();
            Some(f)
        }

        fn copy(&self) {
            let (s, v) = self.dirs();
            let name = OsStr::new("e");
            let meta = s.stat(name).unwrap();
            let opts = CopyOptions::default();
            if meta.kind == FileKind::Dir {
                std::fs::create_dir(self.ver.join("e")).unwrap();
                copy_attributes(&s, name, &meta, &v, name, &opts).unwrap();
            } else {
                copy_entry(&s, name, &v, name, &opts).unwrap();
            }
        }

        fn dirs(&self) -> (Dir, Dir) {
            (Dir::open(&self.src).unwrap(), Dir::open(&self.ver).unwrap())
        }

        fn e(&self) -> PathBuf {
            self.src.join("e")
        }

        /// Compare source `e` with version `e` (on another thread: a FIFO opened by
        /// mistake would block, and must fail the test instead of hanging it).
        fn compare(&self, doubt: Doubt) -> Option<Change> {
            let (src, ver) = (self.src.clone(), self.ver.clone());
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let (s, v) = (Dir::open(&src).unwrap(), Dir::open(&ver).unwrap());
                let name = OsStr::new("e");
                let (sm, vm) = (s.stat(name).unwrap(), v.stat(name).unwrap());
                let new = Side::new(&s, name, &sm);
                let old = Side::new(&v, name, &vm);
                let _ = tx.send(compare(&new, &old, doubt).unwrap());
            });
            rx.recv_timeout(Duration::from_secs(20))
                .expect("compare finished (nothing was opened)")
        }

        /// The same namespace steps for any kind: set, change, remove.
        fn set_change_remove(&self, name: &str) {
            assert_eq!(self.compare(CHECK), None, "a fresh copy is equal");
            xattr::set(self.e(), name, b"one").unwrap();
            assert_eq!(self.compare(CHECK), Some(Change::Attrib), "set");
            assert_eq!(self.compare(SKIP), None, "set, xattrs not compared");
            self.recopy();
            assert_eq!(self.compare(CHECK), None, "copied again");
            xattr::set(self.e(), name, b"two").unwrap();
            assert_eq!(self.compare(CHECK), Some(Change::Attrib), "changed");
            assert_eq!(self.compare(SKIP), None, "changed, xattrs not compared");
            self.recopy();
            xattr::remove(self.e(), name).unwrap();
            assert_eq!(self.compare(CHECK), Some(Change::Attrib), "removed");
            assert_eq!(self.compare(SKIP), None, "removed, xattrs not compared");
        }

        fn recopy(&self) {
            let at = self.ver.join("e");
            match std::fs::symlink_metadata(&at).unwrap().is_dir() {
                true => std::fs::remove_dir(&at).unwrap(),
                false => std::fs::remove_file(&at).unwrap(),
            }
            self.copy();
        }
    }

    #[test]
    fn xattr_only_changes_of_a_file_are_attrib() {
        let Some(f) = Fixture::new(|src| std::fs::write(src.join("e"), b"data").unwrap()) else {
            return;
        };
        f.set_change_remove("user.tag");
        // Another difference decides first; xattrs are read only when all else is equal.
        f.recopy();
        xattr::set(f.e(), "user.tag", b"x").unwrap();
        std::fs::write(f.e(), b"DATA").unwrap();
        let content = Doubt {
            content: true,
            xattrs: true,
        };
        assert_eq!(f.compare(content), Some(Change::Modified));
    }

    #[test]
    fn xattr_only_changes_of_a_directory_are_attrib() {
        let Some(f) = Fixture::new(|src| std::fs::create_dir(src.join("e")).unwrap()) else {
            return;
        };
        f.set_change_remove("user.tag");
    }

    /// Linux has no `user.*` xattrs on symlinks: as root, `trusted.*` ones are compared.
    /// Never through the link: the targets (same text, different files) differ in xattrs.
    #[test]
    fn symlinks_compare_their_own_xattrs_never_their_targets() {
        let Some(f) = Fixture::new(|src| {
            std::fs::write(src.join("target"), b"t").unwrap();
            symlink("target", src.join("e")).unwrap();
        }) else {
            return;
        };
        std::fs::write(f.ver.join("target"), b"t").unwrap();
        xattr::set(f.src.join("target"), "user.only_in_source", b"1").unwrap();
        assert_eq!(
            f.compare(CHECK),
            None,
            "the targets' xattrs are not the link's"
        );
        if crate::fs::euid() != 0 {
            crate::skip_test!("trusted xattrs of symlinks need root");
        }
        if let Err(e) = xattr::set(f.e(), "trusted.tag", b"probe") {
            crate::skip_test!("trusted xattrs on symlinks not supported here: {e}");
        }
        xattr::remove(f.e(), "trusted.tag").unwrap();
        f.set_change_remove("trusted.tag");
    }

    #[test]
    fn fifos_are_compared_without_being_opened() {
        let Some(f) = Fixture::new(|src| {
            nix::unistd::mkfifo(
                &src.join("e"),
                nix::sys::stat::Mode::from_bits_truncate(0o644),
            )
            .unwrap()
        }) else {
            return;
        };
        assert_eq!(f.compare(CHECK), None);
        if crate::fs::euid() != 0 {
            crate::skip_test!("trusted xattrs need root");
        }
        f.set_change_remove("trusted.tag");
    }

    /// Names the copy cannot be sure to reproduce (LSM labels) are not compared, or every
    /// scan would report them again.
    #[test]
    fn security_labels_are_not_compared() {
        let Some(f) = Fixture::new(|src| std::fs::write(src.join("e"), b"data").unwrap()) else {
            return;
        };
        if let Err(e) = xattr::set(f.e(), "security.reverberator-test", b"label") {
            crate::skip_test!("cannot set a security xattr here: {e}");
        }
        assert_eq!(f.compare(CHECK), None);
        std::fs::set_permissions(f.e(), std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            f.compare(CHECK),
            Some(Change::Attrib),
            "the mode still counts"
        );
    }
}
