//! `*at` system calls on open directory fds beside [`Dir`]'s own: exchange two entries
//! atomically (`renameat2(RENAME_EXCHANGE)`), rename across folders, create, read and
//! remove names, list a folder, and make a folder durable. No policy: the callers (the
//! retire, the builder, the scan) decide what to call. Nothing here ever follows a
//! symlink (the `*at` calls act on the name itself).

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{self, RenameFlags};
use nix::unistd::{self, UnlinkatFlags};

use super::{Dir, FileKind};

fn raw(dir: &Dir) -> Option<i32> {
    Some(dir.raw())
}

/// Swap `a_name` in `a` with `b_name` in `b` in one step: both must exist.
pub fn exchange(a: &Dir, a_name: &OsStr, b: &Dir, b_name: &OsStr) -> io::Result<()> {
    fcntl::renameat2(raw(a), a_name, raw(b), b_name, RenameFlags::RENAME_EXCHANGE)?;
    Ok(())
}

/// Rename `from` in `a` to `to` in `b`, replacing a non-directory `to`.
pub fn rename(a: &Dir, from: &OsStr, b: &Dir, to: &OsStr) -> io::Result<()> {
    fcntl::renameat(raw(a), from, raw(b), to)?;
    Ok(())
}

/// Make the directory `name` in `dir` with the permission bits `mode`.
pub fn mkdir(dir: &Dir, name: &OsStr, mode: u32) -> io::Result<()> {
    nix::sys::stat::mkdirat(
        raw(dir),
        name,
        nix::sys::stat::Mode::from_bits_truncate(mode),
    )?;
    Ok(())
}

/// A new name `dst_name` in `dst` for the entry `name` of `src` (`linkat`, never following
/// a symlink at `name`).
pub fn link(src: &Dir, name: &OsStr, dst: &Dir, dst_name: &OsStr) -> io::Result<()> {
    unistd::linkat(raw(src), name, raw(dst), dst_name, fcntl::AtFlags::empty())?;
    Ok(())
}

/// Set the access and modification times of the open directory `dir` itself.
pub fn set_times(dir: &Dir, atime: super::Timestamp, mtime: super::Timestamp) -> io::Result<()> {
    nix::sys::stat::futimens(dir.raw(), &atime.to_timespec(), &mtime.to_timespec())?;
    Ok(())
}

/// Remove the non-directory `name` from `dir`; nothing there is not an error.
pub fn unlink_if_present(dir: &Dir, name: &OsStr) -> io::Result<()> {
    match dir.unlink(name) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Create the symlink `name` in `dir` with the text `target`.
pub fn symlink(target: &Path, dir: &Dir, name: &OsStr) -> io::Result<()> {
    unistd::symlinkat(target, raw(dir), name)?;
    Ok(())
}

/// The text of the symlink `name` in `dir`.
pub fn readlink(dir: &Dir, name: &OsStr) -> io::Result<OsString> {
    Ok(fcntl::readlinkat(raw(dir), name)?)
}

/// [`readlink`] as a path.
pub fn read_link(dir: &Dir, name: &OsStr) -> io::Result<PathBuf> {
    readlink(dir, name).map(PathBuf::from)
}

/// The children of `dir` as (name, kind) pairs, sorted by name bytes.
pub fn listing(dir: &Dir) -> io::Result<Vec<(OsString, Option<FileKind>)>> {
    Ok(dir
        .entries()?
        .into_iter()
        .map(|e| (e.name, e.kind))
        .collect())
}

/// `base/name` without a leading `/` when `base` is the root.
pub fn join(base: &Path, name: &OsStr) -> PathBuf {
    if base.as_os_str().is_empty() {
        PathBuf::from(name)
    } else {
        base.join(name)
    }
}

/// Remove the non-directory `name` from `dir`.
pub fn unlink(dir: &Dir, name: &OsStr) -> io::Result<()> {
    dir.unlink(name)
}

/// Remove the empty directory `name` from `dir`; `Ok(false)` when it is not empty.
pub fn rmdir(dir: &Dir, name: &OsStr) -> io::Result<bool> {
    match unistd::unlinkat(raw(dir), name, UnlinkatFlags::RemoveDir) {
        Ok(()) => Ok(true),
        Err(Errno::ENOTEMPTY | Errno::EEXIST) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The names in `dir` (but `.` and `..`) in inode order, the order in which removing
/// them touches the inode table sequentially (what `rm -rf` does for large folders).
pub fn names_by_inode(dir: &Dir) -> io::Result<Vec<OsString>> {
    use std::os::unix::ffi::OsStrExt;
    let mut listing = nix::dir::Dir::openat(
        raw(dir),
        ".",
        fcntl::OFlag::O_RDONLY | fcntl::OFlag::O_DIRECTORY | fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let mut out = Vec::new();
    for entry in listing.iter() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            out.push((entry.ino(), OsStr::from_bytes(name).to_os_string()));
        }
    }
    out.sort_unstable_by_key(|(ino, _)| *ino);
    Ok(out.into_iter().map(|(_, n)| n).collect())
}

/// The parent of `dir` (`..`, opened without following symlinks).
pub fn parent(dir: &Dir) -> io::Result<Dir> {
    dir.open_child(OsStr::new(".."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_swaps_a_directory_and_a_symlink() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/real")).unwrap();
        std::fs::write(t.path().join("a/real/f"), b"x").unwrap();
        std::fs::create_dir(t.path().join("b")).unwrap();
        std::os::unix::fs::symlink("../a/real", t.path().join("b/link")).unwrap();
        let a = Dir::open(&t.path().join("a")).unwrap();
        let b = Dir::open(&t.path().join("b")).unwrap();
        exchange(&a, OsStr::new("real"), &b, OsStr::new("link")).unwrap();
        assert!(t.path().join("b/link/f").is_file());
        assert_eq!(readlink(&a, OsStr::new("real")).unwrap(), "../a/real");
        assert!(!rmdir(&b, OsStr::new("link")).unwrap());
        unlink(&a, OsStr::new("real")).unwrap();
        a.sync().unwrap();
        a.syncfs().unwrap();
    }
}
