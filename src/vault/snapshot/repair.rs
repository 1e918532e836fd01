//! Repairs a writer makes before building, after a crash between the steps of a commit:
//! a committed version missing from `index.tsv` (killed between the rename and the index
//! replacement) gets its row back, measured from disk, and `latest` is pointed at the
//! newest version again. Both are journaled. Cost: the versions concerned (normally
//! none), never the whole vault.

use std::ffi::OsStr;
use std::io;

use crate::fs::Dir;
use crate::vault::index::{Index, IndexRow};
use crate::vault::layout::{JobFolder, VersionName, LATEST};

/// Versions on disk that index.tsv does not list, oldest first.
pub(crate) fn missing_rows(folder: &JobFolder, index: &Index) -> io::Result<Vec<VersionName>> {
    Ok(folder
        .versions()?
        .into_iter()
        .filter(|v| index.get(v.number).is_none())
        .collect())
}

/// The row a version would have had, measured from disk (`changes` is unknown: 0).
pub(crate) fn measured_row(folder: &JobFolder, v: &VersionName) -> io::Result<IndexRow> {
    let root = folder.dir().open_child(OsStr::new(&v.to_string()))?;
    let owned = crate::vault::retire::owned(root, &|_| false)?;
    Ok(IndexRow {
        version: v.number,
        name: v.to_string(),
        iso_time: v.time.to_rfc3339(),
        size: owned.bytes,
        inodes: owned.inodes,
        changes: 0,
    })
}

/// Point `latest` at `newest` when it names anything else (or is missing); true when it
/// was changed.
pub(crate) fn fix_latest(jobdir: &Dir, newest: &VersionName) -> io::Result<bool> {
    let want = newest.to_string();
    match crate::fs::at::readlink(jobdir, OsStr::new(LATEST)) {
        Ok(t) if t == OsStr::new(&want) => return Ok(false),
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    super::commit::replace_latest(jobdir, &want)?;
    Ok(true)
}
