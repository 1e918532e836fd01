//! Copying one non-directory entry, and the safe opens it is built on. It knows nothing
//! about versions or jobs: the caller says which entry goes where.
//!
//! A source file is pinned `O_PATH | O_NOFOLLOW` relative to its directory fd and
//! `fstat`ed: anything but a regular file (a FIFO or device swapped in after the listing)
//! is refused without being opened for reading; a regular file is then opened through
//! its pinned fd (see [`open_source`]). The destination is created
//! `O_EXCL | O_NOFOLLOW` with mode 0600 and only gets its real mode at the end.
//!
//! Torn copies: the source fd's (inode, size, mtime, ctime) are compared before and after
//! the copy; a difference removes the copy and starts again, [`ATTEMPTS`] times, then
//! [`CopyError::Changing`]. The kernel stamps mtime when a write *starts*, so a single
//! write still in flight when the copy ends, with no later write, can escape the check;
//! the inotify side of the daemon sees that write's close and copies the file again.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{self, OFlag};
use nix::sys::stat::{self, Mode};
use nix::unistd::{self, UnlinkatFlags};

use super::attr::set_fd_attributes;
use super::data::{copy_data, Method};
use super::dir::owned;
use super::meta::{meta_from_stat, stat_file};
use super::special::{copy_special, copy_symlink};
use super::{CopyError, CopyOptions, CopyOutcome, Dir, FileKind, Meta};

/// How many times a changing file is copied before giving up.
pub const ATTEMPTS: usize = 3;

/// Flags for opening a source file for reading: never block, never a tty. (Used on a
/// `/proc/self/fd` path of an fd pinned with [`PIN_FLAGS`], so no `O_NOFOLLOW` here.)
const READ_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_NONBLOCK)
    .union(OFlag::O_NOCTTY)
    .union(OFlag::O_CLOEXEC);

/// Flags for pinning a source entry: no I/O, no symlink followed.
const PIN_FLAGS: OFlag = OFlag::O_PATH
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// Why one copy attempt did not finish.
pub(super) enum Retry {
    /// The source changed (or changed type) under the copy: try again.
    Changed,
    /// A real failure.
    Fail(CopyError),
}

/// Copy the non-directory entry `name` of `src` to `dst_name` in `dst` (which must not
/// exist): regular files by reflink, else `copy_file_range`, else read/write, keeping holes;
/// symlinks as symlinks; FIFOs/sockets/devices recreated with `mknod` (never opened);
/// then mode, owner, xattrs and atime/mtime (ns). A file that changes during the copy
/// (size, mtime or ctime before vs after) is retried a few times and then reported as
/// [`CopyError::Changing`], leaving nothing at `dst_name`.
///
/// In [`CopyError::Io`], `name` is `name` for a failure on the source side and `dst_name`
/// for one on the destination side. A directory is refused (`EISDIR`): the caller walks
/// directories itself. A device node that may not be created (no `CAP_MKNOD`) is
/// [`CopyOutcome::Skipped`].
pub fn copy_entry(
    src: &Dir,
    name: &OsStr,
    dst: &Dir,
    dst_name: &OsStr,
    opts: &CopyOptions,
) -> Result<CopyOutcome, CopyError> {
    for _ in 0..ATTEMPTS {
        match copy_once(src, name, dst, dst_name, opts) {
            Ok(outcome) => return Ok(outcome),
            Err(Retry::Changed) => continue,
            Err(Retry::Fail(e)) => return Err(e),
        }
    }
    Err(CopyError::Changing {
        name: name.to_os_string(),
    })
}

/// One attempt: stat the entry, then copy it by kind.
fn copy_once(
    src: &Dir,
    name: &OsStr,
    dst: &Dir,
    dst_name: &OsStr,
    opts: &CopyOptions,
) -> Result<CopyOutcome, Retry> {
    let listed = src.stat(name).map_err(|e| src_fail(name, e))?;
    match listed.kind {
        FileKind::Dir => Err(Retry::Fail(CopyError::Io {
            name: name.to_os_string(),
            source: io::Error::from(Errno::EISDIR),
        })),
        FileKind::File => copy_regular(src, name, &listed, dst, dst_name, opts),
        FileKind::Symlink => copy_symlink(src, name, &listed, dst, dst_name, opts),
        _ => copy_special(src, name, &listed, dst, dst_name, opts),
    }
}

/// Copy the regular file `name`, which `listed` (from `stat`) says is a regular file.
pub(super) fn copy_regular(
    src: &Dir,
    name: &OsStr,
    listed: &Meta,
    dst: &Dir,
    dst_name: &OsStr,
    opts: &CopyOptions,
) -> Result<CopyOutcome, Retry> {
    let (file, before) = match open_source(src, name) {
        Ok(Ok(opened)) => opened,
        Ok(Err(_)) => return Err(Retry::Changed), // swapped after the listing: not opened
        Err(e) => return Err(src_fail(name, e)),
    };
    if before.kind != FileKind::File || before.ino != listed.ino || before.dev != listed.dev {
        return Err(Retry::Changed); // swapped after the listing: never read it
    }
    make_blocking(&file).map_err(|e| io_fail(name, e))?;
    let out = create_dest(dst, dst_name).map_err(|e| io_fail(dst_name, e))?;
    let partial = Partial::new(dst, dst_name);
    let first = if opts.reflink {
        Method::Reflink
    } else {
        Method::CopyRange
    };
    let method = copy_data(&file, &out, before.size, first).map_err(|e| io_fail(name, e))?;
    set_fd_attributes(out.as_fd(), &before, Some(file.as_fd()), opts)
        .map_err(|e| io_fail(dst_name, e))?;
    let after = stat_file(&file).map_err(|e| io_fail(name, e))?;
    if !before.same_content_state(&after) {
        return Err(Retry::Changed); // `partial` removes the torn copy
    }
    let allocated = allocated_by(&out, method).map_err(|e| io_fail(dst_name, e))?;
    partial.keep();
    Ok(CopyOutcome::Copied {
        meta: before,
        allocated,
    })
}

/// Clone (reflink, else copy, keeping holes) the regular file `name` in `src` to
/// `dst_name` in `dst`, data only. Used for attribute-only changes and for hard-link limit
/// (`EMLINK`) fallbacks inside the vault.
///
/// The new file has mode 0600 and the caller's owner until [`super::copy_attributes`]
/// is applied. Returns the bytes of allocated blocks the new file uses (0 when reflinked).
pub fn clone_file(src: &Dir, name: &OsStr, dst: &Dir, dst_name: &OsStr) -> io::Result<u64> {
    let (file, meta) = open_regular(src, name)?;
    let out = create_dest(dst, dst_name)?;
    let partial = Partial::new(dst, dst_name);
    let method = copy_data(&file, &out, meta.size, Method::Reflink)?;
    let allocated = allocated_by(&out, method)?;
    partial.keep();
    Ok(allocated)
}

/// Open `name` in `dir` for reading if it is a regular file, and `fstat` it; anything
/// else is `Ok(Err(what it is))` and was never opened for reading (opening a FIFO can
/// block or wake its writer; opening a device can act on it).
///
/// The entry is first pinned with `O_PATH | O_NOFOLLOW` (no I/O, never a symlink's
/// target) and `fstat`ed; only a regular file is then opened, through
/// `/proc/self/fd/<pinned>`, so the inode checked is the inode read. Without `/proc` the
/// name is opened again `O_NOFOLLOW | O_NONBLOCK` and must still be the pinned inode.
pub(super) fn open_source(dir: &Dir, name: &OsStr) -> io::Result<Result<(File, Meta), Meta>> {
    let (pinned, meta) = pin(dir, name)?;
    if meta.kind != FileKind::File {
        return Ok(Err(meta));
    }
    let file = match open_for_reading(None, &proc_fd_path(pinned.as_raw_fd())) {
        Err(Errno::ENOENT) => open_for_reading(Some(dir.raw()), Path::new(name))
            .map_err(io::Error::from)
            .and_then(|file| ensure_same(file, &meta, name))?,
        other => other?,
    };
    let meta = stat_file(&file)?;
    Ok(Ok((file, meta)))
}

/// `name` in `dir` opened `O_PATH | O_NOFOLLOW` (no I/O: not even a FIFO's open, never a
/// symlink's target) and `fstat`ed: an fd that names this inode whatever the name
/// becomes.
pub(super) fn pin(dir: &Dir, name: &OsStr) -> io::Result<(OwnedFd, Meta)> {
    let pinned = owned(fcntl::openat(
        Some(dir.raw()),
        name,
        PIN_FLAGS,
        Mode::empty(),
    )?);
    let meta = meta_from_stat(&stat::fstat(pinned.as_raw_fd())?)?;
    Ok((pinned, meta))
}

/// `/proc/self/fd/<fd>`: a path for what the open `fd` names, not for where it is now.
pub(super) fn proc_fd_path(fd: RawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{fd}"))
}

/// Open for reading (never following the last component of a plain path), without
/// touching atime where permitted (`O_NOATIME` needs ownership or `CAP_FOWNER`).
fn open_for_reading(dir: Option<RawFd>, path: &Path) -> nix::Result<File> {
    let flags = match dir {
        Some(_) => READ_FLAGS | OFlag::O_NOFOLLOW,
        None => READ_FLAGS,
    };
    let fd = match fcntl::openat(dir, path, flags | OFlag::O_NOATIME, Mode::empty()) {
        Err(Errno::EPERM) => fcntl::openat(dir, path, flags, Mode::empty()),
        other => other,
    }?;
    Ok(File::from(owned(fd)))
}

/// `file`, if it is the regular file `pinned` describes (the name was not swapped).
fn ensure_same(file: File, pinned: &Meta, name: &OsStr) -> io::Result<File> {
    let now = stat_file(&file)?;
    if now.kind == FileKind::File && (now.dev, now.ino) == (pinned.dev, pinned.ino) {
        return Ok(file);
    }
    let name = name.to_string_lossy();
    Err(io::Error::other(format!(
        "{name} was replaced while it was opened"
    )))
}

/// [`open_source`], refusing anything but a regular file.
pub(super) fn open_regular(dir: &Dir, name: &OsStr) -> io::Result<(File, Meta)> {
    let (file, meta) = open_source(dir, name)?.map_err(|meta| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is a {}, not a regular file: not read",
                name.to_string_lossy(),
                meta.kind
            ),
        )
    })?;
    make_blocking(&file)?;
    Ok((file, meta))
}

/// Clear `O_NONBLOCK` once the fd is known to be a regular file (some network and FUSE
/// filesystems would answer `EAGAIN` to reads otherwise).
fn make_blocking(file: &File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    let flags = OFlag::from_bits_truncate(fcntl::fcntl(fd, fcntl::F_GETFL)?);
    fcntl::fcntl(fd, fcntl::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Create the destination file: it must not exist, it is never a symlink, mode 0600.
fn create_dest(dst: &Dir, dst_name: &OsStr) -> io::Result<File> {
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = fcntl::openat(
        Some(dst.raw()),
        dst_name,
        flags,
        Mode::from_bits_truncate(0o600),
    )?;
    Ok(File::from(owned(fd)))
}

/// Bytes of allocated blocks the new copy uses; a reflink shares its blocks (0).
fn allocated_by(out: &File, method: Method) -> io::Result<u64> {
    match method {
        Method::Reflink => Ok(0),
        _ => Ok(stat_file(out)?.allocated),
    }
}

/// A source-side failure: a vanished entry is [`CopyError::Vanished`].
pub(super) fn src_fail(name: &OsStr, e: io::Error) -> Retry {
    let name = name.to_os_string();
    Retry::Fail(match e.kind() {
        io::ErrorKind::NotFound => CopyError::Vanished { name },
        _ => CopyError::Io { name, source: e },
    })
}

/// Any other failure, naming the entry it happened on.
pub(super) fn io_fail(name: &OsStr, e: io::Error) -> Retry {
    Retry::Fail(CopyError::Io {
        name: name.to_os_string(),
        source: e,
    })
}

/// A destination entry that is removed again unless [`Partial::keep`] is called: an
/// error or a torn copy never leaves anything behind.
pub(super) struct Partial<'a> {
    dir: &'a Dir,
    name: &'a OsStr,
    armed: bool,
}

impl<'a> Partial<'a> {
    /// Guard the just-created `name` in `dir`.
    pub(super) fn new(dir: &'a Dir, name: &'a OsStr) -> Partial<'a> {
        Partial {
            dir,
            name,
            armed: true,
        }
    }

    /// The entry is complete: keep it.
    pub(super) fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for Partial<'_> {
    fn drop(&mut self) {
        if self.armed {
            let res = unistd::unlinkat(Some(self.dir.raw()), self.name, UnlinkatFlags::NoRemoveDir);
            if let Err(e) = res {
                tracing::warn!(name = ?self.name, "could not remove a partial copy: {e}");
            }
        }
    }
}
