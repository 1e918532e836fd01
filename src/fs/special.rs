//! Entries that are not regular files or directories: symlinks are stored as symlinks
//! with the same target (never followed); FIFOs, sockets and device nodes are recreated
//! with `mknod` and never opened. Both get owner, mode (not for symlinks), xattrs other
//! than `user.*`, and atime/mtime, all through no-follow `*at` calls. It knows nothing
//! about versions or jobs.

use std::ffi::OsStr;

use nix::errno::Errno;
use nix::fcntl;
use nix::sys::stat::{self, Mode};
use nix::unistd;

use super::attr::set_path_attributes;
use super::copy::{io_fail, src_fail, Partial, Retry};
use super::meta::mode_type;
use super::{CopyOptions, CopyOutcome, Dir, Meta};

/// Store the symlink `name` (as `listed` by `stat`) as a symlink with the same target.
pub(super) fn copy_symlink(
    src: &Dir,
    name: &OsStr,
    listed: &Meta,
    dst: &Dir,
    dst_name: &OsStr,
    opts: &CopyOptions,
) -> Result<CopyOutcome, Retry> {
    let target = match fcntl::readlinkat(Some(src.raw()), name) {
        Ok(target) => target,
        Err(Errno::EINVAL) => return Err(Retry::Changed), // no longer a symlink
        Err(e) => return Err(src_fail(name, e.into())),
    };
    ensure_unchanged(src, name, listed)?;
    unistd::symlinkat(target.as_os_str(), Some(dst.raw()), dst_name)
        .map_err(|e| io_fail(dst_name, e.into()))?;
    finish(src, name, listed, dst, dst_name, opts)
}

/// Recreate the FIFO, socket or device node `name` with `mknod` (never opened).
pub(super) fn copy_special(
    src: &Dir,
    name: &OsStr,
    listed: &Meta,
    dst: &Dir,
    dst_name: &OsStr,
    opts: &CopyOptions,
) -> Result<CopyOutcome, Retry> {
    if !opts.specials {
        return Ok(skipped(
            listed,
            "special files are not copied (specials = false)",
        ));
    }
    let perm = Mode::from_bits_truncate(listed.mode & 0o777);
    let res = stat::mknodat(
        Some(dst.raw()),
        dst_name,
        mode_type(listed.kind),
        perm,
        listed.rdev,
    );
    match res {
        Ok(()) => finish(src, name, listed, dst, dst_name, opts),
        Err(Errno::EPERM) => Ok(skipped(listed, "creating it needs CAP_MKNOD")),
        Err(e) => Err(io_fail(dst_name, e.into())),
    }
}

/// Attributes of the new entry, then the check that the source did not change; the new
/// entry is removed if anything fails.
fn finish(
    src: &Dir,
    name: &OsStr,
    listed: &Meta,
    dst: &Dir,
    dst_name: &OsStr,
    opts: &CopyOptions,
) -> Result<CopyOutcome, Retry> {
    let partial = Partial::new(dst, dst_name);
    set_path_attributes(Some((src, name)), listed, dst, dst_name, opts)
        .map_err(|e| io_fail(dst_name, e))?;
    ensure_unchanged(src, name, listed)?;
    let allocated = dst
        .stat(dst_name)
        .map_err(|e| io_fail(dst_name, e))?
        .allocated;
    partial.keep();
    Ok(CopyOutcome::Copied {
        meta: *listed,
        allocated,
    })
}

/// `Retry::Changed` unless `name` is still the entry `listed` describes.
fn ensure_unchanged(src: &Dir, name: &OsStr, listed: &Meta) -> Result<(), Retry> {
    let now = src.stat(name).map_err(|e| src_fail(name, e))?;
    if listed.same_content_state(&now) {
        Ok(())
    } else {
        Err(Retry::Changed)
    }
}

/// A [`CopyOutcome::Skipped`] naming the kind and the reason.
fn skipped(listed: &Meta, why: &str) -> CopyOutcome {
    CopyOutcome::Skipped {
        reason: format!("{} not copied: {why}", listed.kind),
    }
}
