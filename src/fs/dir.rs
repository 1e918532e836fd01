//! Opening directories without following symlinks, listing them and `stat`ing their
//! entries, plus `statvfs`. Everything is relative to an open directory fd; the only
//! absolute path ever opened is the trusted one given to [`Dir::open`]. It knows nothing
//! about what the directories hold.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Component, Path};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{self, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{self, Mode};

use super::meta::meta_from_stat;
use super::{Dir, Meta};

/// Flags for opening a directory: read-only, must be a directory, never a symlink.
const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// Set once `openat2` answered `ENOSYS` (kernel older than 5.6, or a seccomp filter).
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Take ownership of a raw fd just returned by a successful syscall.
pub(super) fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful open call and is owned by no one else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

impl Dir {
    /// Open the directory at `path` (a trusted path from the config or a vault root).
    /// The last component must be a directory, not a symlink.
    pub fn open(path: &Path) -> io::Result<Dir> {
        let fd = fcntl::open(path, DIR_FLAGS, Mode::empty())?;
        Ok(Dir { fd: owned(fd) })
    }

    /// Open the directory at the trusted `path` as configured, following a symlink in its
    /// last component too (a vault directory the user made a link to).
    pub fn open_following(path: &Path) -> io::Result<Dir> {
        let fd = fcntl::open(path, DIR_FLAGS.difference(OFlag::O_NOFOLLOW), Mode::empty())?;
        Ok(Dir { fd: owned(fd) })
    }

    /// Open the child directory `name` with `O_NOFOLLOW | O_DIRECTORY`.
    pub fn open_child(&self, name: &OsStr) -> io::Result<Dir> {
        let fd = fcntl::openat(Some(self.raw()), name, DIR_FLAGS, Mode::empty())?;
        Ok(Dir { fd: owned(fd) })
    }

    /// Open `rel` (relative, no `..`) beneath this directory without following any
    /// symlink (`openat2` `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, else component by
    /// component with `O_NOFOLLOW`). The empty path reopens this directory.
    ///
    /// An absolute path or a `..` component is refused with `InvalidInput`; a symlink
    /// anywhere on the way fails (`ELOOP` or `ENOTDIR`). Paths longer than `PATH_MAX`
    /// work (component by component).
    pub fn open_beneath(&self, rel: &Path) -> io::Result<Dir> {
        let names = relative_names(rel)?;
        if names.is_empty() {
            return self.reopen();
        }
        if !NO_OPENAT2.load(Ordering::Relaxed) {
            match self.openat2_beneath(rel) {
                Ok(fd) => return Ok(Dir { fd: owned(fd) }),
                Err(Errno::ENOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
                // A seccomp filter may answer EPERM; EAGAIN is a rename race; a path
                // longer than PATH_MAX still resolves one component at a time: walk.
                Err(Errno::EPERM | Errno::EAGAIN | Errno::ENAMETOOLONG) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.walk_beneath(&names)
    }

    /// Open the directory holding `path` (which must not be a symlink itself) and return
    /// it with `path`'s last component, for the `*at` calls below: the file and the folder
    /// it sits in are then never reached through a symlink planted at either name.
    pub fn open_parent_of(path: &Path) -> io::Result<(Dir, &OsStr)> {
        let name = path.file_name().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: not a file name", path.display()),
            )
        })?;
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        Ok((Dir::open(parent.unwrap_or(Path::new(".")))?, name))
    }

    /// Open the file `name` in this directory with `flags` plus `O_NOFOLLOW | O_CLOEXEC`:
    /// a symlink at `name` is refused, never followed. With `O_CREAT` a new file gets
    /// `mode`.
    pub fn open_file(&self, name: &OsStr, flags: OFlag, mode: u32) -> io::Result<File> {
        let flags = flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mode = Mode::from_bits_truncate(mode);
        let fd = fcntl::openat(Some(self.raw()), name, flags, mode)?;
        Ok(File::from(owned(fd)))
    }

    /// The child directory `name`, created (with `mode`) when missing; never a symlink.
    pub fn ensure_child_dir(&self, name: &OsStr, mode: u32) -> io::Result<Dir> {
        match stat::mkdirat(Some(self.raw()), name, Mode::from_bits_truncate(mode)) {
            Ok(()) | Err(Errno::EEXIST) => self.open_child(name),
            Err(e) => Err(e.into()),
        }
    }

    /// Rename `from` to `to`, both in this directory (replacing `to` atomically).
    pub fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        fcntl::renameat(Some(self.raw()), from, Some(self.raw()), to)?;
        Ok(())
    }

    /// `fsync` the directory: makes creations and renames in it durable.
    pub fn sync(&self) -> io::Result<()> {
        nix::unistd::fsync(self.raw())?;
        Ok(())
    }

    /// `syncfs` the filesystem holding the directory: makes everything written to it
    /// durable (one journal commit however many files changed).
    pub fn syncfs(&self) -> io::Result<()> {
        nix::unistd::syncfs(self.raw())?;
        Ok(())
    }

    /// Remove the non-directory `name` in this directory (a symlink itself, never its
    /// target).
    pub fn unlink(&self, name: &OsStr) -> io::Result<()> {
        nix::unistd::unlinkat(
            Some(self.raw()),
            name,
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        )?;
        Ok(())
    }

    /// `fstatat(name, AT_SYMLINK_NOFOLLOW)`.
    pub fn stat(&self, name: &OsStr) -> io::Result<Meta> {
        let st = stat::fstatat(Some(self.raw()), name, fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?;
        meta_from_stat(&st)
    }

    /// `fstat` of the directory itself.
    pub fn stat_self(&self) -> io::Result<Meta> {
        meta_from_stat(&stat::fstat(self.raw())?)
    }

    /// The raw fd, for `*at` syscalls (borrowed: valid while `self` lives).
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// A new fd for this same directory.
    pub(super) fn reopen(&self) -> io::Result<Dir> {
        let fd = fcntl::openat(Some(self.raw()), ".", DIR_FLAGS, Mode::empty())?;
        Ok(Dir { fd: owned(fd) })
    }

    /// One `openat2` call that refuses symlinks and escapes anywhere in `rel`.
    fn openat2_beneath(&self, rel: &Path) -> nix::Result<RawFd> {
        let how = OpenHow::new().flags(DIR_FLAGS).resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        );
        fcntl::openat2(self.raw(), rel, how)
    }

    /// The fallback: one `openat(O_NOFOLLOW | O_DIRECTORY)` per component.
    fn walk_beneath(&self, names: &[&OsStr]) -> io::Result<Dir> {
        let mut cur = self.open_child(names[0])?;
        for name in &names[1..] {
            cur = cur.open_child(name)?;
        }
        Ok(cur)
    }
}

/// The normal components of `rel`; `.` is dropped, anything that could leave the
/// directory (`..`, a root, a prefix) is refused.
fn relative_names(rel: &Path) -> io::Result<Vec<&OsStr>> {
    let mut names = Vec::new();
    for comp in rel.components() {
        match comp {
            Component::Normal(name) => names.push(name),
            Component::CurDir => {}
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{}: not a relative path without '..'", rel.display()),
                ))
            }
        }
    }
    Ok(names)
}

/// Most open files a process asks for (the kernel's default `fs.nr_open` is 2^20).
const OPEN_FILES_WANTED: u64 = 1 << 20;

/// Raise the soft limit on open files towards the hard limit (at most 2^20) and return the
/// soft limit in force. The walks hold directory fds per level of a tree (two or three), a
/// tree may be thousands of levels deep, and the usual soft limit is 1024 (systemd keeps a
/// hard limit of 524288 for exactly this kind of raise).
pub fn raise_open_files_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let want = lim.rlim_max.min(OPEN_FILES_WANTED);
    if lim.rlim_cur >= want {
        return Ok(lim.rlim_cur);
    }
    let raised = libc::rlimit {
        rlim_cur: want,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit only reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(want)
}

/// Total size of a filesystem, what percentages resolve against (from `statvfs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsCapacity {
    /// Total bytes.
    pub bytes: u64,
    /// Total inodes.
    pub inodes: u64,
}

/// Total bytes and inodes of the filesystem holding `path` (`statvfs`).
pub fn capacity(path: &Path) -> io::Result<FsCapacity> {
    let st = nix::sys::statvfs::statvfs(path)?;
    Ok(FsCapacity {
        bytes: st.blocks().saturating_mul(st.fragment_size()),
        inodes: st.files(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::fs::symlink;

    use crate::fs::FileKind;

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b/c")).unwrap();
        std::fs::write(t.path().join("a/file"), b"x").unwrap();
        symlink("b", t.path().join("a/link")).unwrap();
        symlink("/etc", t.path().join("a/etc")).unwrap();
        t
    }

    #[test]
    fn open_refuses_a_symlink_as_last_component() {
        let t = tree();
        assert!(Dir::open(&t.path().join("a")).is_ok());
        assert!(Dir::open(&t.path().join("a/link")).is_err());
    }

    #[test]
    fn open_child_never_follows() {
        let t = tree();
        let a = Dir::open(&t.path().join("a")).unwrap();
        assert!(a.open_child(OsStr::new("b")).is_ok());
        assert!(a.open_child(OsStr::new("link")).is_err());
        assert!(a.open_child(OsStr::new("etc")).is_err());
        assert!(a.open_child(OsStr::new("file")).is_err());
    }

    #[test]
    fn open_beneath_walks_real_dirs_only() {
        let t = tree();
        let root = Dir::open(t.path()).unwrap();
        let c = root.open_beneath(Path::new("a/b/c")).unwrap();
        assert_eq!(c.stat_self().unwrap().kind, FileKind::Dir);
        assert!(root.open_beneath(Path::new("a/link/c")).is_err());
        assert!(root.open_beneath(Path::new("a/etc")).is_err());
        let same = root.open_beneath(Path::new("")).unwrap();
        assert_eq!(same.stat_self().unwrap().ino, root.stat_self().unwrap().ino);
    }

    #[test]
    fn open_beneath_refuses_dotdot_and_absolute() {
        let t = tree();
        let root = Dir::open(t.path()).unwrap();
        for bad in ["../x", "a/../a", "/etc", "a/b/.."] {
            let err = root.open_beneath(Path::new(bad)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
        assert!(root.open_beneath(Path::new("./a/./b")).is_ok());
    }

    #[test]
    fn openat2_refuses_symlinks_where_the_kernel_has_it() {
        let t = tree();
        let root = Dir::open(t.path()).unwrap();
        match root.openat2_beneath(Path::new("a/link/c")) {
            Err(Errno::ENOSYS) => crate::util::skip::skip_part("no openat2 on this kernel"),
            other => assert_eq!(other.map(owned).err(), Some(Errno::ELOOP)),
        }
        match root.openat2_beneath(Path::new("a/b/c")) {
            Err(Errno::ENOSYS) => {}
            other => assert!(other.map(owned).is_ok()),
        }
    }

    #[test]
    fn fallback_walk_refuses_symlinks_too() {
        let t = tree();
        let root = Dir::open(t.path()).unwrap();
        let names = [OsStr::new("a"), OsStr::new("link"), OsStr::new("c")];
        assert!(root.walk_beneath(&names).is_err());
        let names = [OsStr::new("a"), OsStr::new("b"), OsStr::new("c")];
        assert!(root.walk_beneath(&names).is_ok());
    }

    #[test]
    fn symlink_swapped_for_a_directory_component_is_not_followed() {
        let t = tree();
        let root = Dir::open(t.path()).unwrap();
        let b = t.path().join("a/b");
        std::fs::rename(&b, t.path().join("moved")).unwrap();
        symlink(t.path().join("moved"), &b).unwrap();
        assert!(root.open_beneath(Path::new("a/b/c")).is_err());
        let names = [OsStr::new("a"), OsStr::new("b"), OsStr::new("c")];
        assert!(root.walk_beneath(&names).is_err());
    }

    #[test]
    fn open_beneath_handles_paths_longer_than_path_max() {
        let t = tempfile::tempdir().unwrap();
        let root = Dir::open(t.path()).unwrap();
        let name = "d".repeat(200);
        let mut cur = root.open_beneath(Path::new("")).unwrap();
        let mut rel = std::path::PathBuf::new();
        for _ in 0..30 {
            stat::mkdirat(
                Some(cur.raw()),
                name.as_str(),
                Mode::from_bits_truncate(0o755),
            )
            .unwrap();
            cur = cur.open_child(OsStr::new(&name)).unwrap();
            rel.push(&name);
        }
        assert!(rel.as_os_str().len() > 4096);
        let deep = root.open_beneath(&rel).unwrap();
        assert_eq!(deep.stat_self().unwrap().ino, cur.stat_self().unwrap().ino);
    }

    #[test]
    fn entries_are_sorted_typed_and_skip_dots() {
        let t = tree();
        let a = Dir::open(&t.path().join("a")).unwrap();
        let got: Vec<(OsString, Option<FileKind>)> = a
            .entries()
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.kind))
            .collect();
        let want = [
            ("b", FileKind::Dir),
            ("etc", FileKind::Symlink),
            ("file", FileKind::File),
            ("link", FileKind::Symlink),
        ];
        assert_eq!(got.len(), want.len());
        for ((name, kind), (wname, wkind)) in got.iter().zip(want) {
            assert_eq!(name, wname);
            assert!(kind.is_none() || *kind == Some(wkind), "{name:?}");
        }
    }

    #[test]
    fn stat_does_not_follow() {
        let t = tree();
        let a = Dir::open(&t.path().join("a")).unwrap();
        let m = a.stat(OsStr::new("etc")).unwrap();
        assert_eq!(m.kind, FileKind::Symlink);
        assert_eq!(m.size, 4);
        let f = a.stat(OsStr::new("file")).unwrap();
        assert_eq!((f.kind, f.size, f.nlink), (FileKind::File, 1, 1));
        assert!(a.stat(OsStr::new("missing")).is_err());
    }

    #[test]
    fn the_open_files_limit_is_raised_to_the_hard_one() {
        let soft = raise_open_files_limit().unwrap();
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(lim.rlim_cur, soft);
        assert!(soft >= lim.rlim_max.min(OPEN_FILES_WANTED));
    }

    #[test]
    fn capacity_is_nonzero() {
        let t = tree();
        let cap = capacity(t.path()).unwrap();
        assert!(cap.bytes > 0);
        assert!(capacity(&t.path().join("nope")).is_err());
    }
}
