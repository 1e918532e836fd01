//! `log`: the history of one path of the source, version by version — every version in
//! which the path was added, modified, changed attributes only, changed type or was
//! deleted, oldest first.
//!
//! It walks no version: the path is resolved in each version with the fd
//! [`Resolver`](crate::vault::layout::Resolver) (one lookup per component, following
//! structural links one hop), and consecutive versions are compared by identity first.
//! Versions never change once committed, and an unchanged entry is the *same* inode in the
//! next version (a hard link for a file, a structural link to the same real directory for
//! a folder; a retire moves real directories by rename, which keeps their inode). So an
//! unchanged version costs one lookup per component of the path, and the cost of a `log`
//! grows with the versions and the path's depth, not with the tree.
//!
//! Where the identities differ, what changed is decided like this:
//! - **kind differs** (a file became a folder, ...): [`PathChange::Replaced`];
//! - **not a folder**: the content (size and xxh3 of the bytes for a file, the target for
//!   a symlink, the device number for a device) differs: [`PathChange::Modified`]; else the
//!   attributes (mode, owner, group, mtime, xattrs; a symlink's only owner and group, as in
//!   `diff`) differ: [`PathChange::Attributes`]; else the version holds an identical new
//!   copy, and nothing is reported;
//! - **a folder** is [`PathChange::Modified`] when anything below it differs (an entry
//!   added, removed, or changed in content or attributes, at any depth), found by the same
//!   identity-pruned comparison `diff` makes, stopping at the first difference: it costs
//!   what the snapshot rebuilt below the folder, not the folder's size. A folder whose own
//!   attributes changed and nothing below it is [`PathChange::Attributes`].
//!
//! Sizes: a file's or a symlink's size in bytes; a folder reports its number of direct
//! entries instead (a byte total would need a walk of the folder).
//!
//! `--follow` ([`LogOptions::follow`]) continues across a rename: where the path is added in
//! version n, the previous version is searched for the same inode, first at the path's
//! parent folder (a rename inside one folder), then — for a folder reached through a
//! structural link — at the place the linked real directory has in version n-1 (a moved
//! folder with nothing changed below it keeps its real directory), then — for a folder
//! moved and changed at once, which got a new real directory — through an unchanged
//! subfolder it kept (still a link to its old real directory, whose path names the old
//! place, taken when that place is gone in version n). A moved folder that changed and
//! holds no unchanged subfolder is not followed (it shows as added).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::diff::same_entry;
use super::tree::Tree;
use super::{source_relative, versions, ReadError};
use crate::error::PathError;
use crate::fs::{same_xattrs, Dir, FileKind, Meta};
use crate::vault::deep::{too_deep, MAX_DEPTH};
use crate::vault::layout::{direct_name, JobFolder, Located, Resolved, VersionName};

/// How a path changed in a version, against the version before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathChange {
    /// The path appeared (it was not in the previous version, or this is the first one).
    Added,
    /// The content changed (for a folder: something below it changed).
    Modified,
    /// Only attributes changed (mode, owner, group, mtime, xattrs).
    Attributes,
    /// The path now holds another kind of entry (a file became a folder, ...).
    Replaced,
    /// The path is gone.
    Deleted,
    /// With `follow`: the path appeared here by a rename from [`LogEntry::from`].
    Moved,
}

impl PathChange {
    /// The name `log` prints and `--json` carries.
    pub fn as_str(self) -> &'static str {
        match self {
            PathChange::Added => "added",
            PathChange::Modified => "modified",
            PathChange::Attributes => "attributes",
            PathChange::Replaced => "replaced",
            PathChange::Deleted => "deleted",
            PathChange::Moved => "moved",
        }
    }
}

/// The short name of a kind of entry, as `log` prints it.
pub fn kind_name(kind: FileKind) -> &'static str {
    match kind {
        FileKind::File => "file",
        FileKind::Dir => "dir",
        FileKind::Symlink => "symlink",
        FileKind::Fifo => "fifo",
        FileKind::Socket => "socket",
        FileKind::CharDevice => "char-device",
        FileKind::BlockDevice => "block-device",
    }
}

/// One version in which the path changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The version.
    pub version: VersionName,
    /// How the path changed in it.
    pub change: PathChange,
    /// The path in this version, relative to the source root (it differs from the path
    /// asked for in the versions before a followed rename).
    pub path: PathBuf,
    /// What the path is in this version; `None` when deleted.
    pub kind: Option<FileKind>,
    /// Bytes of a file, a symlink (its target) or a special file; `None` for a folder or
    /// when deleted.
    pub size: Option<u64>,
    /// A folder's direct entries; `None` otherwise.
    pub entries: Option<u64>,
    /// What differs from the previous version: any of `content`, `type`, `mode`, `owner`,
    /// `group`, `mtime`, `xattrs`, `below` (a folder: something below it). Empty for added
    /// and deleted.
    pub what: Vec<&'static str>,
    /// For [`PathChange::Moved`]: the path in the previous version.
    pub from: Option<PathBuf>,
}

/// Options of [`log`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Follow the path back across renames (see the module docs).
    pub follow: bool,
}

/// The history of `path` (relative to the source root; `.` is the root) in `folder`,
/// oldest first: one [`LogEntry`] per version in which it changed (the oldest committed
/// version shows the path as added). An empty list when the path was never in any version.
pub fn log(folder: &JobFolder, path: &Path, opts: &LogOptions) -> Result<Vec<LogEntry>, ReadError> {
    let rel = source_relative(path)?;
    let all = versions(folder)?;
    if all.is_empty() {
        return Err(ReadError::NoVersions {
            root: folder.root().to_path_buf(),
        });
    }
    let tree = Tree::new(folder)?;
    let hist = History { tree: &tree };
    let mut out = hist.walk(&all, &rel)?;
    if opts.follow {
        hist.follow(&all, &mut out)?;
    }
    Ok(out)
}

/// Two real folders being compared, and the names left to compare.
struct Pair {
    da: Dir,
    a: Resolved,
    db: Dir,
    b: Resolved,
    names: std::vec::IntoIter<OsString>,
}

/// A located path of one version.
struct Here {
    loc: Located,
    /// The real directory holding the entry, open, and the entry's name in it.
    holder: (Dir, OsString),
}

struct History<'t, 'a> {
    tree: &'t Tree<'a>,
}

impl History<'_, '_> {
    /// The entries for `rel` over `versions` (in order), without following renames.
    fn walk(&self, versions: &[VersionName], rel: &Path) -> Result<Vec<LogEntry>, ReadError> {
        let mut out = Vec::new();
        let mut prev: Option<Here> = None;
        for v in versions {
            let cur = self.here(v, rel)?;
            let change = match (&prev, &cur) {
                (None, None) => None,
                (None, Some(_)) => Some((PathChange::Added, vec![])),
                (Some(_), None) => Some((PathChange::Deleted, vec![])),
                (Some(p), Some(c)) => self.compare(p, c)?,
            };
            if let Some((change, what)) = change {
                out.push(self.entry(v, rel, change, cur.as_ref(), what)?);
            }
            prev = cur;
        }
        Ok(out)
    }

    /// `rel` in version `v`, located, with the real directory that holds it.
    fn here(&self, v: &VersionName, rel: &Path) -> Result<Option<Here>, ReadError> {
        let Some(loc) = self.tree.locate(v, rel)? else {
            return Ok(None);
        };
        let holder = match &loc.parent {
            Some((pd, pr)) => self.tree.parent_of(pd, pr, &loc.entry)?,
            None => self.tree.real_parent(&loc.entry)?,
        };
        Ok(Some(Here { loc, holder }))
    }

    fn entry(
        &self,
        v: &VersionName,
        rel: &Path,
        change: PathChange,
        here: Option<&Here>,
        what: Vec<&'static str>,
    ) -> Result<LogEntry, ReadError> {
        let meta = here.map(|h| h.loc.entry.meta);
        let kind = meta.map(|m| m.kind);
        let entries = match (here, kind) {
            (Some(h), Some(FileKind::Dir)) => {
                let d = self.open_dir(h)?;
                Some(self.tree.names(&d, &h.loc.entry)?.len() as u64)
            }
            _ => None,
        };
        Ok(LogEntry {
            version: v.clone(),
            change,
            path: rel.to_path_buf(),
            kind,
            size: meta.filter(|m| m.kind != FileKind::Dir).map(|m| m.size),
            entries,
            what,
            from: None,
        })
    }

    fn open_dir(&self, h: &Here) -> Result<Dir, ReadError> {
        let e = &h.loc.entry;
        h.holder
            .0
            .open_child(&h.holder.1)
            .map_err(|err| PathError::new(e.full_path(self.tree.folder.root()), err).into())
    }

    /// How `b` differs from `a` (the same path in consecutive versions); `None` when not.
    fn compare(
        &self,
        a: &Here,
        b: &Here,
    ) -> Result<Option<(PathChange, Vec<&'static str>)>, ReadError> {
        let (ra, rb) = (&a.loc.entry, &b.loc.entry);
        if same_entry(ra, rb) {
            return Ok(None);
        }
        if ra.meta.kind != rb.meta.kind {
            return Ok(Some((PathChange::Replaced, vec!["type"])));
        }
        let mut what = self.attributes(ra, &a.holder, rb, &b.holder)?;
        let content = match ra.meta.kind {
            FileKind::Dir => {
                let (da, db) = (self.open_dir(a)?, self.open_dir(b)?);
                self.below_differs((da, ra.clone()), (db, rb.clone()))?
            }
            _ => !self
                .tree
                .same_content((ra, &a.holder.0), (rb, &b.holder.0))?,
        };
        if content {
            let word = if ra.meta.kind == FileKind::Dir {
                "below"
            } else {
                "content"
            };
            what.insert(0, word);
            return Ok(Some((PathChange::Modified, what)));
        }
        Ok((!what.is_empty()).then_some((PathChange::Attributes, what)))
    }

    /// Which attributes of two entries of one kind differ.
    fn attributes(
        &self,
        a: &Resolved,
        ha: &(Dir, OsString),
        b: &Resolved,
        hb: &(Dir, OsString),
    ) -> Result<Vec<&'static str>, ReadError> {
        let mut what = attribute_words(&a.meta, &b.meta);
        if matches!(a.meta.kind, FileKind::File | FileKind::Dir) {
            let same = same_xattrs((&hb.0, &hb.1), (&ha.0, &ha.1), a.meta.kind)
                .map_err(|e| PathError::new(b.full_path(self.tree.folder.root()), e))?;
            if !same {
                what.push("xattrs");
            }
        }
        Ok(what)
    }

    /// Whether anything below two real folders differs, stopping at the first difference
    /// and never descending into two entries that are the same real entry. Iterative: one
    /// open pair of folders per level.
    fn below_differs(
        &self,
        (da, a): (Dir, Resolved),
        (db, b): (Dir, Resolved),
    ) -> Result<bool, ReadError> {
        let mut stack: Vec<Pair> = Vec::new();
        let mut next = Some(((da, a), (db, b)));
        while let Some(((da, a), (db, b))) = next.take() {
            if stack.len() >= MAX_DEPTH {
                return Err(
                    PathError::new(b.full_path(self.tree.folder.root()), too_deep()).into(),
                );
            }
            let na = self.tree.names(&da, &a)?;
            if na != self.tree.names(&db, &b)? {
                return Ok(true);
            }
            stack.push(Pair {
                da,
                a,
                db,
                b,
                names: na.into_iter(),
            });
            while let Some(top) = stack.last_mut() {
                let Some(name) = top.names.next() else {
                    stack.pop();
                    continue;
                };
                let (da, a, db, b) = (&top.da, &top.a, &top.db, &top.b);
                let (Some(ca), Some(cb)) = (
                    self.tree.child(da, a, &name)?,
                    self.tree.child(db, b, &name)?,
                ) else {
                    return Ok(true);
                };
                if same_entry(&ca, &cb) {
                    continue;
                }
                if ca.meta.kind != cb.meta.kind {
                    return Ok(true);
                }
                let ha = self.tree.parent_of(da, a, &ca)?;
                let hb = self.tree.parent_of(db, b, &cb)?;
                if !self.attributes(&ca, &ha, &cb, &hb)?.is_empty() {
                    return Ok(true);
                }
                if ca.meta.kind == FileKind::Dir {
                    let sa = self.tree.open_in(da, a, &ca)?;
                    let sb = self.tree.open_in(db, b, &cb)?;
                    next = Some(((sa, ca), (sb, cb)));
                    break;
                }
                if !self.tree.same_content((&ca, &ha.0), (&cb, &hb.0))? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// With `follow`: where the earliest entry is an addition, look for the same entry
    /// under another path in the version before it and prepend that path's history.
    fn follow(&self, all: &[VersionName], out: &mut Vec<LogEntry>) -> Result<(), ReadError> {
        let mut guard = 0;
        while let Some(first) = out.first() {
            guard += 1;
            if first.change != PathChange::Added || guard > all.len() {
                return Ok(());
            }
            let Some(at) = all.iter().position(|v| v.number == first.version.number) else {
                return Ok(());
            };
            if at == 0 {
                return Ok(());
            }
            let (prev_v, v) = (&all[at - 1], &all[at]);
            let Some(from) = self.moved_from(prev_v, v, &first.path)? else {
                return Ok(());
            };
            let older = self.walk(&all[..at], &from)?;
            // What the move changed besides the name (nothing for a plain rename).
            let (then, now) = (self.here(prev_v, &from)?, self.here(v, &first.path)?);
            if let (Some(then), Some(now)) = (then, now) {
                out[0].what = self
                    .compare(&then, &now)?
                    .map(|(_, w)| w)
                    .unwrap_or_default();
            }
            out[0].change = PathChange::Moved;
            out[0].from = Some(from);
            let mut merged = older;
            merged.append(out);
            *out = merged;
        }
        Ok(())
    }

    /// The path in version `prev` holding the same entry that `rel` holds in `v`, when it
    /// is found where a rename leaves it (see the module docs).
    fn moved_from(
        &self,
        prev: &VersionName,
        v: &VersionName,
        rel: &Path,
    ) -> Result<Option<PathBuf>, ReadError> {
        let Some(now) = self.tree.locate(v, rel)? else {
            return Ok(None);
        };
        let e = &now.entry;
        // A folder behind a structural link: its real directory's own path in its version.
        if e.meta.kind == FileKind::Dir && e.version.number < v.number && e.path != rel {
            if let Some(then) = self.tree.locate(prev, &e.path)? {
                if same_entry(&then.entry, e) {
                    return Ok(Some(e.path.clone()));
                }
            }
        }
        if let Some(from) = self.moved_with_a_subfolder(prev, v, &now)? {
            return Ok(Some(from));
        }
        // A rename inside one folder: a sibling in the previous version with the same inode.
        let parent = rel.parent().unwrap_or(Path::new(""));
        let Some(dir) = self.tree.locate(prev, parent)? else {
            return Ok(None);
        };
        if dir.entry.meta.kind != FileKind::Dir {
            return Ok(None);
        }
        let d = match &dir.parent {
            Some((pd, pr)) => self.tree.open_in(pd, pr, &dir.entry)?,
            None => self.tree.open(&dir.entry)?,
        };
        for name in self.tree.names(&d, &dir.entry)? {
            if Some(name.as_os_str()) == rel.file_name() {
                continue;
            }
            if let Some(c) = self.tree.child(&d, &dir.entry, &name)? {
                if same_entry(&c, e) {
                    return Ok(Some(parent.join(name)));
                }
            }
        }
        Ok(None)
    }
}

impl History<'_, '_> {
    /// A folder moved and changed in one version (so it got a new real directory) that kept
    /// an unchanged subfolder: that subfolder is still a structural link to the real
    /// directory it had, whose path in version `prev` names the folder's old place. Taken
    /// only when that old place is gone in version `v` (a move leaves it) and `prev` holds
    /// the same subfolder there.
    fn moved_with_a_subfolder(
        &self,
        prev: &VersionName,
        v: &VersionName,
        now: &Located,
    ) -> Result<Option<PathBuf>, ReadError> {
        let e = &now.entry;
        if e.meta.kind != FileKind::Dir {
            return Ok(None);
        }
        let d = match &now.parent {
            Some((pd, pr)) => self.tree.open_in(pd, pr, e)?,
            None => self.tree.open(e)?,
        };
        for name in self.tree.names(&d, e)? {
            let Some(c) = self.tree.child(&d, e, &name)? else {
                continue;
            };
            let linked = direct_name(e, &c).is_none();
            if c.meta.kind != FileKind::Dir || !linked || c.version.number >= v.number {
                continue;
            }
            let (Some(old), Some(cname)) = (c.path.parent(), c.path.file_name()) else {
                continue;
            };
            if cname != name.as_os_str() || old == e.path {
                continue;
            }
            let same_then = self
                .tree
                .locate(prev, &c.path)?
                .is_some_and(|then| same_entry(&then.entry, &c));
            if same_then && self.tree.locate(v, old)?.is_none() {
                return Ok(Some(old.to_path_buf()));
            }
        }
        Ok(None)
    }
}

/// Mode, owner, group, mtime that differ (for a symlink only owner and group).
fn attribute_words(a: &Meta, b: &Meta) -> Vec<&'static str> {
    let mut out = Vec::new();
    let link = a.kind == FileKind::Symlink;
    if !link && a.mode != b.mode {
        out.push("mode");
    }
    if a.uid != b.uid {
        out.push("owner");
    }
    if a.gid != b.gid {
        out.push("group");
    }
    if !link && a.mtime != b.mtime {
        out.push("mtime");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture::Fixture;
    use super::*;

    fn changes(f: &Fixture, path: &str) -> Vec<(u64, PathChange, Vec<&'static str>)> {
        log(&f.folder, Path::new(path), &LogOptions::default())
            .unwrap()
            .into_iter()
            .map(|e| (e.version.number, e.change, e.what))
            .collect()
    }

    /// V1 rebuilds `d` as a real folder with nothing different in it (its file a hard link,
    /// then an identical new copy in V2); V3 changes the bytes, not the size or the times.
    #[test]
    fn a_rebuilt_folder_with_nothing_different_is_not_a_change() {
        let f = Fixture::new();
        f.dir(0, "d").file(0, "d/f", b"abc");
        f.dir(1, "d").hard(1, "d/f", 0, "d/f");
        f.dir(2, "d").file(2, "d/f", b"abc");
        f.dir(3, "d").file(3, "d/f", b"abd");
        for n in 0..4 {
            f.settle(n, 5000);
        }
        f.commit(&[0, 1, 2, 3]);
        let modified = vec!["below"];
        assert_eq!(
            changes(&f, "d"),
            [
                (0, PathChange::Added, vec![]),
                (3, PathChange::Modified, modified)
            ]
        );
        assert_eq!(
            changes(&f, "d/f"),
            [
                (0, PathChange::Added, vec![]),
                (3, PathChange::Modified, vec!["content"])
            ]
        );
    }

    #[test]
    fn no_versions_and_bad_paths_are_errors() {
        let f = Fixture::new();
        let err = log(&f.folder, Path::new("x"), &LogOptions::default()).unwrap_err();
        assert!(matches!(err, ReadError::NoVersions { .. }), "{err}");
        let f = Fixture::three_versions();
        let err = log(&f.folder, Path::new("../x"), &LogOptions::default()).unwrap_err();
        assert!(matches!(err, ReadError::BadPath { .. }), "{err}");
    }
}
