//! `diff`: what differs between two versions of a job, one [`DiffLine`] per path.
//!
//! Both versions are walked together through open directory fds, following structural
//! links one hop (the links files come from the
//! [`Resolver`](crate::vault::layout::Resolver)'s cache) and never source symlinks, so
//! paths of any length work. Identity is checked before anything is read: two directories
//! that resolve to the same real directory are equal with everything below them (versions
//! never change once committed), and two entries that are the same inode are equal. So diffing neighbouring versions costs what changed
//! between them, not the size of the tree. Entries that are different inodes are compared
//! on type, mode, owner, group, mtime (ns), then size, symlink target or device number,
//! and — for regular files whose attributes all agree — their xxh3 content hash.
//!
//! Rules (documented in `docs/COMMANDS.md`):
//! - `A path`: only in B; `D path`: only in A; `M path`: in both, content or attributes
//!   differ. The root is `.`.
//! - A directory that exists only on one side is listed with everything below it.
//! - A path whose type changed is `M`; the children of the old directory are `D`, the
//!   children of the new one `A`.
//! - A symlink is `M` when its target or owner differ (its own mode and times are not
//!   data: the scan ignores them too).
//! - A directory is `M` when its own mode, owner, group or mtime differ (adding or removing
//!   a child changes a directory's mtime, so its parent shows up as `M` too).
//! - Lines are sorted by the raw bytes of the path; paths are escaped like TSV fields
//!   ([`crate::vault::escape::escape`]).

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use super::tree::Tree;
use super::{shown_or_dot, version, ReadError};
use crate::error::PathError;
use crate::fs::{Dir, FileKind, Meta};
use crate::vault::deep::{too_deep, MAX_DEPTH};
use crate::vault::layout::{JobFolder, Resolved};

/// How a path differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// Only in the second version.
    Added,
    /// Only in the first version.
    Deleted,
    /// In both, with different content or attributes.
    Modified,
}

impl Change {
    /// The letter `diff` prints.
    pub fn letter(self) -> char {
        match self {
            Change::Added => 'A',
            Change::Deleted => 'D',
            Change::Modified => 'M',
        }
    }
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    /// What changed.
    pub change: Change,
    /// The path relative to the source root (empty for the root).
    pub path: PathBuf,
}

impl fmt::Display for DiffLine {
    /// `A path`, the path escaped like a TSV field, `.` for the root.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.change.letter(), shown_or_dot(&self.path))
    }
}

/// The differences between versions `a` and `b` of `folder`, sorted by path bytes.
pub fn diff(folder: &JobFolder, a: u64, b: u64) -> Result<Vec<DiffLine>, ReadError> {
    let va = version(folder, a)?;
    let vb = version(folder, b)?;
    let mut walk = Walk {
        tree: Tree::new(folder)?,
        lines: Vec::new(),
    };
    let ra = walk.tree.version_root(&va)?;
    let rb = walk.tree.version_root(&vb)?;
    walk.roots(ra, rb)?;
    let mut lines = walk.lines;
    // By the raw bytes (`OsStr` orders so; a `Path` would compare component by component).
    lines.sort_by(|x, y| x.path.as_os_str().cmp(y.path.as_os_str()));
    Ok(lines)
}

struct Walk<'a> {
    tree: Tree<'a>,
    lines: Vec<DiffLine>,
}

/// A real directory, open, and where it is.
type Parent<'d> = (&'d Dir, &'d Resolved);

/// One level of the walk: two real directories whose children are merged, or one whose
/// entries are all added or deleted.
enum Level {
    /// The children of `a` (in A) and `b` (in B), merged by name.
    Pair {
        rel: PathBuf,
        a: (Dir, Resolved),
        b: (Dir, Resolved),
        names: std::vec::IntoIter<(Option<OsString>, Option<OsString>)>,
    },
    /// Every entry below `dir`, marked `change`.
    One {
        change: Change,
        rel: PathBuf,
        dir: (Dir, Resolved),
        names: std::vec::IntoIter<OsString>,
    },
}

impl Walk<'_> {
    fn push(&mut self, change: Change, path: &Path) {
        self.lines.push(DiffLine {
            change,
            path: path.to_path_buf(),
        });
    }

    /// Compare the two version roots and everything below them: an iterative walk, one
    /// level (one or two open folders) per folder depth, in name order.
    fn roots(&mut self, a: Resolved, b: Resolved) -> Result<(), ReadError> {
        if same_entry(&a, &b) {
            return Ok(());
        }
        if !same_attributes(&a.meta, &b.meta) {
            self.push(Change::Modified, Path::new(""));
        }
        let (da, db) = (self.tree.open(&a)?, self.tree.open(&b)?);
        let mut stack = vec![self.pair(PathBuf::new(), (da, a), (db, b))?];
        while let Some(level) = stack.last_mut() {
            let below = match level {
                Level::Pair { rel, a, b, names } => {
                    let Some((na, nb)) = names.next() else {
                        stack.pop();
                        continue;
                    };
                    let (pa, pb) = ((&a.0, &a.1), (&b.0, &b.1));
                    let child = |(d, r): Parent<'_>, name: &Option<OsString>| match name {
                        Some(n) => self.tree.child(d, r, n),
                        None => Ok(None),
                    };
                    let (ca, cb) = (child(pa, &na)?, child(pb, &nb)?);
                    let path = rel.join(na.or(nb).unwrap_or_default());
                    match (ca, cb) {
                        (Some(ca), Some(cb)) => self.entries(path, (&ca, pa), (&cb, pb))?,
                        (Some(ca), None) => self.one_side(Change::Deleted, path, &ca, pa)?,
                        (None, Some(cb)) => self.one_side(Change::Added, path, &cb, pb)?,
                        (None, None) => None,
                    }
                }
                Level::One {
                    change,
                    rel,
                    dir,
                    names,
                } => {
                    let Some(name) = names.next() else {
                        stack.pop();
                        continue;
                    };
                    let Some(child) = self.tree.child(&dir.0, &dir.1, &name)? else {
                        continue;
                    };
                    self.one_side(*change, rel.join(&name), &child, (&dir.0, &dir.1))?
                }
            };
            if let Some(below) = below {
                if stack.len() >= MAX_DEPTH {
                    let rel = match &below {
                        Level::Pair { rel, .. } | Level::One { rel, .. } => rel.clone(),
                    };
                    return Err(PathError::new(rel, too_deep()).into());
                }
                stack.push(below);
            }
        }
        Ok(())
    }

    /// The level that merges the children of two real directories.
    fn pair(
        &self,
        rel: PathBuf,
        a: (Dir, Resolved),
        b: (Dir, Resolved),
    ) -> Result<Level, ReadError> {
        let na = self.tree.names(&a.0, &a.1)?;
        let nb = self.tree.names(&b.0, &b.1)?;
        let names: Vec<_> = crate::fs::merge(na, nb).collect();
        Ok(Level::Pair {
            rel,
            a,
            b,
            names: names.into_iter(),
        })
    }

    /// Compare two resolved entries found at `rel` in A and B, children of `pa` and `pb`;
    /// the level to walk below them, if any.
    fn entries(
        &mut self,
        rel: PathBuf,
        (a, pa): (&Resolved, Parent<'_>),
        (b, pb): (&Resolved, Parent<'_>),
    ) -> Result<Option<Level>, ReadError> {
        if same_entry(a, b) {
            return Ok(None);
        }
        let (ka, kb) = (a.meta.kind, b.meta.kind);
        if ka != kb {
            self.push(Change::Modified, &rel);
            return match (ka, kb) {
                (FileKind::Dir, _) => self.below(Change::Deleted, rel, a, pa).map(Some),
                (_, FileKind::Dir) => self.below(Change::Added, rel, b, pb).map(Some),
                _ => Ok(None),
            };
        }
        if ka != FileKind::Dir {
            if !self.same_leaf(a, pa.0, b, pb.0)? {
                self.push(Change::Modified, &rel);
            }
            return Ok(None);
        }
        if !same_attributes(&a.meta, &b.meta) {
            self.push(Change::Modified, &rel);
        }
        let da = self.tree.open_in(pa.0, pa.1, a)?;
        let db = self.tree.open_in(pb.0, pb.1, b)?;
        self.pair(rel, (da, a.clone()), (db, b.clone())).map(Some)
    }

    /// An entry present on one side only: itself and, for a directory, the level of
    /// everything below it.
    fn one_side(
        &mut self,
        change: Change,
        rel: PathBuf,
        entry: &Resolved,
        parent: Parent<'_>,
    ) -> Result<Option<Level>, ReadError> {
        self.push(change, &rel);
        match entry.meta.kind {
            FileKind::Dir => self.below(change, rel, entry, parent).map(Some),
            _ => Ok(None),
        }
    }

    /// The level of every entry below the real directory `dir` (a child of `parent`).
    fn below(
        &self,
        change: Change,
        rel: PathBuf,
        dir: &Resolved,
        parent: Parent<'_>,
    ) -> Result<Level, ReadError> {
        let d = self.tree.open_in(parent.0, parent.1, dir)?;
        let names = self.tree.names(&d, dir)?.into_iter();
        Ok(Level::One {
            change,
            rel,
            dir: (d, dir.clone()),
            names,
        })
    }

    /// Two non-directories of the same type with different inodes, entries of the real
    /// directories `da` and `db`: equal attributes and equal content (symlink target,
    /// device number, xxh3 of the bytes).
    fn same_leaf(&self, a: &Resolved, da: &Dir, b: &Resolved, db: &Dir) -> Result<bool, ReadError> {
        let attributes = if a.meta.kind == FileKind::Symlink {
            // A symlink's own mode and times are not data (the scan ignores them too).
            (a.meta.uid, a.meta.gid) == (b.meta.uid, b.meta.gid)
        } else {
            same_attributes(&a.meta, &b.meta)
        };
        Ok(attributes && self.tree.same_content((a, da), (b, db))?)
    }
}

/// The same real entry (same place, or same inode): equal without reading anything.
pub(super) fn same_entry(a: &Resolved, b: &Resolved) -> bool {
    (a.version == b.version && a.path == b.path)
        || (a.meta.dev == b.meta.dev && a.meta.ino == b.meta.ino)
}

/// Mode, owner, group and mtime agree.
fn same_attributes(a: &Meta, b: &Meta) -> bool {
    (a.mode, a.uid, a.gid, a.mtime) == (b.mode, b.uid, b.gid, b.mtime)
}

#[cfg(test)]
mod tests {
    use super::super::fixture::Fixture;
    use super::*;

    fn text(f: &Fixture, a: u64, b: u64) -> Vec<String> {
        diff(&f.folder, a, b)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn every_kind_of_change_between_neighbours() {
        let f = Fixture::three_versions();
        assert_eq!(
            text(&f, 0, 1),
            [
                "M .",
                "M a/x",
                "A moved",
                "A moved/m",
                "D mv",
                "D mv/m",
                "A new",
                "A new/n",
                "M todir",
                "A todir/t",
                "M tofile",
                "D tofile/inner",
            ]
        );
        assert_eq!(text(&f, 1, 2), ["M .", "D new", "D new/n", "M top"]);
    }

    #[test]
    fn reversed_order_swaps_added_and_deleted() {
        let f = Fixture::three_versions();
        assert_eq!(text(&f, 2, 1), ["M .", "A new", "A new/n", "M top"]);
        assert!(text(&f, 1, 1).is_empty());
    }

    #[test]
    fn across_several_versions() {
        let f = Fixture::three_versions();
        let lines = text(&f, 0, 2);
        assert!(lines.contains(&"M top".to_owned()));
        assert!(lines.contains(&"M a/x".to_owned()));
        assert!(!lines.iter().any(|l| l.contains("new")), "{lines:?}");
        assert!(!lines.iter().any(|l| l.contains("keep")), "{lines:?}");
    }

    #[test]
    fn equal_attributes_fall_back_to_content() {
        let f = Fixture::new();
        f.dir(0, "").file(0, "same", b"abc").file(0, "diff", b"abc");
        f.dir(1, "").file(1, "same", b"abc").file(1, "diff", b"abd");
        for n in [0, 1] {
            f.settle(n, 5000);
        }
        f.commit(&[0, 1]);
        assert_eq!(text(&f, 0, 1), ["M diff"]);
    }

    #[test]
    fn symlink_targets_and_modes_are_compared() {
        let f = Fixture::new();
        f.dir(0, "").symlink(0, "l", "/etc").file(0, "m", b"x");
        f.dir(1, "").symlink(1, "l", "/usr").file(1, "m", b"x");
        std::fs::set_permissions(
            f.at(1, "m"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        for n in [0, 1] {
            f.settle(n, 5000).mtime(n, "l", 5000);
        }
        f.commit(&[0, 1]);
        assert_eq!(text(&f, 0, 1), ["M l", "M m"]);
    }

    #[test]
    fn awkward_names_are_escaped_and_sorted_by_bytes() {
        let f = Fixture::new();
        f.dir(0, "a");
        f.dir(1, "a").file(1, "a-b", b"").file(1, "a/t\tab", b"");
        f.settle(0, 5000).settle(1, 5000);
        f.commit(&[0, 1]);
        assert_eq!(text(&f, 0, 1), ["A a-b", "A a/t\\tab"]);
    }

    #[test]
    fn unknown_versions_name_the_existing_ones() {
        let f = Fixture::three_versions();
        let err = diff(&f.folder, 0, 9).unwrap_err();
        assert!(matches!(err, ReadError::UnknownVersion { number: 9, .. }));
        assert!(err.to_string().contains("existing versions: 0-2"), "{err}");
    }
}
