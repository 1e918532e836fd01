//! How one source entry compares with its counterpart in the newest version.

use std::ffi::OsStr;
use std::io;

use crate::change::Change;
use crate::fs::{hash_file, Dir, FileKind, Meta};
use crate::vault::snapshot::view::read_link_at;

/// One side of a comparison: the open directory holding the entry, its name, its metadata.
pub(crate) struct Side<'a> {
    pub dir: &'a Dir,
    pub name: &'a OsStr,
    pub meta: &'a Meta,
}

/// The change that turns `old` (in the version) into `new` (in the source), if any.
/// Both have the same type (the caller handles replacements). `suspect`: the source entry's
/// ctime moved since the last full scan, so equal size and mtime do not prove equal content
/// (e.g. `touch -d` after a write): regular files are then hashed.
pub(crate) fn compare(new: &Side<'_>, old: &Side<'_>, suspect: bool) -> io::Result<Option<Change>> {
    let (n, o) = (new.meta, old.meta);
    match n.kind {
        FileKind::Dir => Ok(attrs_differ(n, o, true).then_some(Change::Attrib)),
        FileKind::File => compare_files(new, old, suspect),
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

fn compare_files(new: &Side<'_>, old: &Side<'_>, suspect: bool) -> io::Result<Option<Change>> {
    let (n, o) = (new.meta, old.meta);
    if n.size != o.size {
        return Ok(Some(Change::Modified));
    }
    if (n.mtime != o.mtime || suspect)
        && hash_file(new.dir, new.name)? != hash_file(old.dir, old.name)?
    {
        return Ok(Some(Change::Modified));
    }
    Ok(attrs_differ(n, o, true).then_some(Change::Attrib))
}

/// Mode, owner, group and (when `with_mtime`) mtime differ.
fn attrs_differ(n: &Meta, o: &Meta, with_mtime: bool) -> bool {
    n.mode != o.mode || n.uid != o.uid || n.gid != o.gid || (with_mtime && n.mtime != o.mtime)
}
