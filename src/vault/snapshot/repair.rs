//! Repairs a writer makes before building, after a crash between the steps of a commit:
//! a committed version missing from `index.tsv` (killed between the rename and the index
//! replacement) gets its row back, measured from disk, and `latest` is pointed at the
//! newest version again. Both are journaled. Cost: the versions concerned (normally
//! none), never the whole vault.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;

use crate::fs::at::listing;
use crate::fs::{Dir, FileKind};
use crate::vault::index::{Index, IndexRow};
use crate::vault::layout::{JobFolder, VersionName, LATEST};

/// What a version owns: (allocated bytes, inodes).
pub(crate) type Owned = (u64, u64);

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
    let (size, inodes) = owned_by(&root)?;
    Ok(IndexRow {
        version: v.number,
        name: v.to_string(),
        iso_time: v.time.to_rfc3339(),
        size,
        inodes,
        changes: 0,
    })
}

/// Bytes and inodes a version folder owns: its real directories, plus every other inode
/// all of whose names are inside it (hard links into older versions are not its own).
pub(crate) fn owned_by(root: &Dir) -> io::Result<Owned> {
    let mut names: HashMap<(u64, u64), (u64, u64, u64)> = HashMap::new(); // -> seen, nlink, bytes
    let meta = root.stat_self()?;
    let mut owned = (meta.allocated, 1);
    walk(root, &mut names, &mut owned)?;
    for (seen, nlink, bytes) in names.into_values() {
        if seen >= nlink {
            owned.0 += bytes;
            owned.1 += 1;
        }
    }
    Ok(owned)
}

fn walk(
    dir: &Dir,
    names: &mut HashMap<(u64, u64), (u64, u64, u64)>,
    owned: &mut Owned,
) -> io::Result<()> {
    for (name, _) in listing(dir)? {
        let m = dir.stat(&name)?;
        if m.kind == FileKind::Dir {
            owned.0 += m.allocated;
            owned.1 += 1;
            walk(&dir.open_child(&name)?, names, owned)?;
        } else {
            let e = names
                .entry((m.dev, m.ino))
                .or_insert((0, m.nlink, m.allocated));
            e.0 += 1;
        }
    }
    Ok(())
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
