//! Mode, owner, times and xattrs.

use std::ffi::OsStr;
use std::io;

use super::{CopyOptions, Dir, Meta};

/// Give the existing entry `dst_name` in `dst` the attributes in `meta` (mode, owner,
/// atime/mtime) and the xattrs of `src`/`name` — used for directories after their children
/// are written, and for attribute-only changes. Never follows a symlink.
pub fn copy_attributes(
    src: &Dir,
    name: &OsStr,
    meta: &Meta,
    dst: &Dir,
    dst_name: &OsStr,
    opts: &CopyOptions,
) -> io::Result<()> {
    let _ = (src, name, meta, dst, dst_name, opts);
    todo!("fs: copy_attributes")
}
