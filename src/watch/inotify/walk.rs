//! Directory access for the watcher: open directories beneath the source root by fd,
//! never following a symlink, and list their entries (name, is-directory). The watcher
//! only needs names and types; it never reads file contents.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use nix::dir::{Dir, Type};
use nix::fcntl::OFlag;
use nix::sys::stat::{fstatat, Mode, SFlag};

fn flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

/// Open the source root (a trusted path from the config; the last component must be a
/// directory, not a symlink).
pub(super) fn open_root(path: &Path) -> io::Result<Dir> {
    Ok(Dir::open(path, flags(), Mode::empty())?)
}

/// Open the child directory `name` of `dir` (`O_NOFOLLOW`: a symlink is refused).
pub(super) fn open_child(dir: RawFd, name: &OsStr) -> io::Result<Dir> {
    Ok(Dir::openat(Some(dir), name, flags(), Mode::empty())?)
}

/// Open `rel` beneath `root`, component by component, never following a symlink.
pub(super) fn open_beneath(root: &Dir, rel: &Path) -> io::Result<Dir> {
    let mut current = open_child(root.as_raw_fd(), OsStr::new("."))?;
    for comp in rel.components() {
        let Component::Normal(name) = comp else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not a plain relative path: {}", rel.display()),
            ));
        };
        current = open_child(current.as_raw_fd(), name)?;
    }
    Ok(current)
}

/// One directory entry: its name and whether it is a directory (not a symlink to one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// The name.
    pub(super) name: OsString,
    /// True for a real directory.
    pub(super) dir: bool,
}

/// Every entry of `dir` but `.` and `..`. Entries that vanish while listing are skipped.
pub(super) fn list(dir: &mut Dir) -> io::Result<Vec<Entry>> {
    let fd = dir.as_raw_fd();
    let mut out = Vec::new();
    for entry in dir.iter() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let name = OsStr::from_bytes(name).to_os_string();
        let is_dir = match entry.file_type() {
            Some(t) => t == Type::Directory,
            None => stat_is_dir(fd, &name),
        };
        out.push(Entry { name, dir: is_dir });
    }
    Ok(out)
}

fn stat_is_dir(fd: RawFd, name: &OsStr) -> bool {
    fstatat(Some(fd), name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
        .map(|st| SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR)
        .unwrap_or(false)
}

/// The `/proc/self/fd/N` path of an open directory: `inotify_add_watch` on it watches
/// exactly the inode we opened (no path race, no symlink followed on the way).
pub(super) fn proc_path(dir: &Dir) -> String {
    format!("/proc/self/fd/{}", dir.as_raw_fd())
}
