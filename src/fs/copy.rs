//! Regular files.

use std::ffi::OsStr;
use std::io;

use super::{CopyError, CopyOptions, CopyOutcome, Dir};

/// Copy the non-directory entry `name` of `src` to `dst_name` in `dst` (which must not
/// exist): regular files by reflink, else `copy_file_range`, else read/write, keeping holes;
/// symlinks as symlinks; FIFOs/sockets/devices recreated with `mknod` (never opened);
/// then mode, owner, xattrs and atime/mtime (ns). A file that changes during the copy
/// (size, mtime or ctime before vs after) is retried a few times and then reported as
/// [`CopyError::Changing`], leaving nothing at `dst_name`.
pub fn copy_entry(
    src: &Dir,
    name: &OsStr,
    dst: &Dir,
    dst_name: &OsStr,
    opts: &CopyOptions,
) -> Result<CopyOutcome, CopyError> {
    let _ = (src, name, dst, dst_name, opts);
    todo!("fs: copy_entry")
}

/// Clone (reflink, else copy, keeping holes) the regular file `name` in `src` to
/// `dst_name` in `dst`, data only. Used for attribute-only changes and for hard-link limit
/// (`EMLINK`) fallbacks inside the vault.
pub fn clone_file(src: &Dir, name: &OsStr, dst: &Dir, dst_name: &OsStr) -> io::Result<u64> {
    let _ = (src, name, dst, dst_name);
    todo!("fs: clone_file")
}
