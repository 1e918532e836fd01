//! Attributes of a written entry: owner, mode, extended attributes and atime/mtime (ns),
//! applied in that order (a `chown` clears setuid bits and `security.capability`, so it
//! goes first; times go last because setting the others changes nothing they record). It
//! knows nothing about versions or jobs, nor which entries deserve which attributes.
//!
//! Regular files and directories are handled through fds; symlinks and special files
//! through `*at` calls that never follow the last component, and their xattrs through
//! `/proc/self/fd/<dir>/<name>` with the `l*xattr` calls (never opened); a special file's
//! mode is set through an `O_PATH` fd, so a symlink swapped in cannot redirect it. `user.*`
//! attributes exist only on files and directories, so they are not copied for the others.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{self, FchmodatFlags, Mode, UtimensatFlags};
use nix::unistd::{self, Gid, Uid};
use xattr::FileExt;

use super::copy::{open_regular, pin, proc_fd_path};
use super::{CopyOptions, Dir, FileKind, Meta};

/// Give the existing entry `dst_name` in `dst` the attributes in `meta` (mode, owner,
/// atime/mtime) and the xattrs of `src`/`name` — used for directories after their children
/// are written, and for attribute-only changes. Never follows a symlink.
///
/// `meta.kind` says what `dst_name` is (it must match). The entry must belong to the
/// version being built only: a hard link shared with an older version would change that
/// version too.
pub fn copy_attributes(
    src: &Dir,
    name: &OsStr,
    meta: &Meta,
    dst: &Dir,
    dst_name: &OsStr,
    opts: &CopyOptions,
) -> io::Result<()> {
    match meta.kind {
        FileKind::Dir => {
            let target = dst.open_child(dst_name)?;
            let source = opts.xattrs.then(|| src.open_child(name)).transpose()?;
            set_fd_attributes(target.as_fd(), meta, source.as_ref().map(AsFd::as_fd), opts)
        }
        FileKind::File => {
            let (target, _) = open_regular(dst, dst_name)?;
            let source = opts.xattrs.then(|| open_regular(src, name)).transpose()?;
            let source = source.as_ref().map(|(f, _)| f.as_fd());
            set_fd_attributes(target.as_fd(), meta, source, opts)
        }
        _ => set_path_attributes(Some((src, name)), meta, dst, dst_name, opts),
    }
}

/// Owner, mode, xattrs (copied from `xattr_src`) and times of the open file or directory
/// `fd`.
pub(super) fn set_fd_attributes(
    fd: BorrowedFd<'_>,
    meta: &Meta,
    xattr_src: Option<BorrowedFd<'_>>,
    opts: &CopyOptions,
) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    if opts.owner {
        allow_unprivileged(unistd::fchown(raw, uid(meta), gid(meta)))?;
    }
    stat::fchmod(raw, Mode::from_bits_truncate(meta.mode))?;
    if let (true, Some(from)) = (opts.xattrs, xattr_src) {
        copy_fd_xattrs(FdRef(from), FdRef(fd))?;
    }
    let (atime, mtime) = (meta.atime.to_timespec(), meta.mtime.to_timespec());
    stat::futimens(raw, &atime, &mtime)?;
    Ok(())
}

/// The same for a symlink or special file `dst_name` in `dst`, without opening it;
/// xattrs other than `user.*` come from `src`'s entry `name` when given.
pub(super) fn set_path_attributes(
    xattr_src: Option<(&Dir, &OsStr)>,
    meta: &Meta,
    dst: &Dir,
    dst_name: &OsStr,
    opts: &CopyOptions,
) -> io::Result<()> {
    let dirfd = Some(dst.raw());
    if opts.owner {
        let res = unistd::fchownat(
            dirfd,
            dst_name,
            uid(meta),
            gid(meta),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        );
        allow_unprivileged(res)?;
    }
    if meta.kind != FileKind::Symlink {
        // Linux has no mode on symlinks.
        set_special_mode(dst, dst_name, meta)?;
    }
    if let (true, Some((src, name))) = (opts.xattrs, xattr_src) {
        copy_path_xattrs(src, name, dst, dst_name)?;
    }
    let (atime, mtime) = (meta.atime.to_timespec(), meta.mtime.to_timespec());
    let flag = UtimensatFlags::NoFollowSymlink;
    stat::utimensat(dirfd, dst_name, &atime, &mtime, flag)?;
    Ok(())
}

/// `chmod` a FIFO, socket or device node without opening it for I/O and without a
/// window in which a swapped-in symlink is followed: an `O_PATH | O_NOFOLLOW` fd pins
/// the inode, `fstat` checks that it is still the kind written, and the mode is set
/// through `/proc/self/fd/<fd>`, which names that inode rather than a path. (A check by
/// name followed by `chmod` by name would follow a symlink planted in between — in a
/// restore destination the user can write, that is a root `chmod` of any file.)
fn set_special_mode(dst: &Dir, dst_name: &OsStr, meta: &Meta) -> io::Result<()> {
    let (pinned, now) = pin(dst, dst_name)?;
    if now.kind != meta.kind {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is a {}, not a {}",
                dst_name.to_string_lossy(),
                now.kind,
                meta.kind
            ),
        ));
    }
    let mode = Mode::from_bits_truncate(meta.mode);
    match stat::fchmodat(
        None,
        &proc_fd_path(pinned.as_raw_fd()),
        mode,
        FchmodatFlags::FollowSymlink,
    ) {
        // No /proc: the kernel's (or libc's) no-follow fchmodat, which refuses symlinks.
        Err(Errno::ENOENT) => {
            let flag = FchmodatFlags::NoFollowSymlink;
            stat::fchmodat(Some(dst.raw()), dst_name, mode, flag)?
        }
        other => other?,
    }
    Ok(())
}

/// Owner from `meta`.
fn uid(meta: &Meta) -> Option<Uid> {
    Some(Uid::from_raw(meta.uid))
}

/// Group from `meta`.
fn gid(meta: &Meta) -> Option<Gid> {
    Some(Gid::from_raw(meta.gid))
}

/// A `chown` refused because we are not root is not an error (the doc of
/// `CopyOptions::owner`).
fn allow_unprivileged(res: nix::Result<()>) -> io::Result<()> {
    match res {
        Err(Errno::EPERM) if !unistd::geteuid().is_root() => Ok(()),
        other => other.map_err(io::Error::from),
    }
}

/// A borrowed fd the `xattr` crate's fd calls accept.
struct FdRef<'a>(BorrowedFd<'a>);

impl AsRawFd for FdRef<'_> {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl FileExt for FdRef<'_> {}

/// Copy every xattr of `from` to `to` (both open files or directories).
fn copy_fd_xattrs(from: FdRef<'_>, to: FdRef<'_>) -> io::Result<()> {
    let names = match from.list_xattr() {
        Ok(names) => names,
        Err(e) if unsupported(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    for attr in names {
        if let Some(value) = from.get_xattr(&attr)? {
            tolerate(to.set_xattr(&attr, &value), &attr)?;
        }
    }
    Ok(())
}

/// Copy the xattrs but `user.*` of the symlink or special file `name` in `src` to
/// `dst_name` in `dst`, by `/proc/self/fd` paths and the no-follow calls.
fn copy_path_xattrs(src: &Dir, name: &OsStr, dst: &Dir, dst_name: &OsStr) -> io::Result<()> {
    let (from, to) = (proc_path(src, name), proc_path(dst, dst_name));
    let names = match xattr::list(&from) {
        Ok(names) => names,
        Err(e) if unsupported(&e) || e.kind() == io::ErrorKind::NotFound => {
            tracing::debug!(path = ?from, "no xattrs copied: {e}");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    for attr in names.filter(|a| !a.as_bytes().starts_with(b"user.")) {
        if let Some(value) = xattr::get(&from, &attr)? {
            tolerate(xattr::set(&to, &attr, &value), &attr)?;
        }
    }
    Ok(())
}

/// `/proc/self/fd/<dir fd>/<name>`: the entry `name` of the open directory, by a path
/// that does not depend on where the directory is now.
pub(super) fn proc_path(dir: &Dir, name: &OsStr) -> PathBuf {
    proc_fd_path(dir.raw()).join(name)
}

/// Setting an xattr the destination cannot hold (no xattr support, a namespace we may
/// not write) is skipped, with a debug line.
fn tolerate(res: io::Result<()>, attr: &OsString) -> io::Result<()> {
    match res {
        Err(e) if unsupported(&e) || denied(&e) => {
            tracing::debug!(?attr, "xattr not copied: {e}");
            Ok(())
        }
        other => other,
    }
}

/// ENOTSUP / EOPNOTSUPP (the same number on Linux).
pub(super) fn unsupported(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EOPNOTSUPP) || e.raw_os_error() == Some(libc::ENOTSUP)
}

/// EPERM / EACCES.
fn denied(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES))
}
