//! The pure part of building a version: which paths are dirty (must be real directories
//! or fresh entries in the new version) and where each path's previous content lives
//! (`prev`, following `Moved` records). No I/O here.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::change::{Change, ChangeSet};

/// The ChangeSet seen from the builder.
///
/// Dirty paths (directories that must be real in the new version because something below
/// them changed): every strict ancestor of a path in the ChangeSet (the root, the empty
/// path, whenever the set is not empty), and the parent of every `Moved { from }` source
/// with its ancestors, so that the directory a moved entry left is rebuilt without it. A
/// changed path itself is not dirty: a moved directory with nothing changed below it stays
/// one structural link.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    changes: &'a ChangeSet,
    dirty: HashSet<PathBuf>,
}

impl<'a> Plan<'a> {
    /// Compute the dirty set of `changes`.
    pub(crate) fn new(changes: &'a ChangeSet) -> Self {
        let mut dirty = HashSet::new();
        for (path, change) in changes.iter() {
            if let Some(parent) = path.parent() {
                mark_with_ancestors(&mut dirty, parent);
            }
            if let Change::Moved { from } = change {
                if let Some(parent) = from.parent() {
                    mark_with_ancestors(&mut dirty, parent);
                }
            }
        }
        Plan { changes, dirty }
    }

    /// True when `path` must be a real directory because something below it changed.
    pub(crate) fn is_dirty(&self, path: &Path) -> bool {
        self.dirty.contains(path)
    }

    /// The change recorded for `path` itself.
    pub(crate) fn change(&self, path: &Path) -> Option<&'a Change> {
        self.changes.get(path)
    }

    /// The path in the previous version whose content `path` had: the longest
    /// ancestor-or-self `a` of `path` recorded as `Moved { from }` has its prefix replaced by
    /// `from`; otherwise `path` itself.
    pub(crate) fn prev(&self, path: &Path) -> PathBuf {
        for a in path.ancestors() {
            if let Some(Change::Moved { from }) = self.changes.get(a) {
                let rest = path.strip_prefix(a).unwrap_or(Path::new(""));
                return join_rel(from, rest);
            }
        }
        path.to_path_buf()
    }
}

/// Insert `path` and every ancestor of it (down to the empty root path). A path already in
/// the set has all its ancestors there too, so the walk stops at the first known one.
fn mark_with_ancestors(set: &mut HashSet<PathBuf>, path: &Path) {
    for a in path.ancestors() {
        if !set.insert(a.to_path_buf()) {
            return;
        }
    }
}

/// `base/rest` where either may be empty, never producing a leading or trailing `/`.
pub(crate) fn join_rel(base: &Path, rest: &Path) -> PathBuf {
    if rest.as_os_str().is_empty() {
        base.to_path_buf()
    } else if base.as_os_str().is_empty() {
        rest.to_path_buf()
    } else {
        base.join(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(entries: &[(&str, Change)]) -> ChangeSet {
        let mut c = ChangeSet::new();
        for (p, ch) in entries {
            c.record(*p, ch.clone());
        }
        c
    }

    #[test]
    fn dirty_covers_paths_ancestors_and_move_sources() {
        let c = set(&[
            ("a/b/c.txt", Change::Modified),
            (
                "x/y",
                Change::Moved {
                    from: "old/place/y".into(),
                },
            ),
        ]);
        let plan = Plan::new(&c);
        for p in ["", "a", "a/b", "x", "old", "old/place"] {
            assert!(plan.is_dirty(Path::new(p)), "{p} should be dirty");
        }
        for p in ["a/b/d", "a/b/c.txt", "x/y", "old/place/y", "z"] {
            assert!(!plan.is_dirty(Path::new(p)), "{p} should be clean");
        }
    }

    #[test]
    fn empty_changeset_dirties_nothing() {
        let c = ChangeSet::new();
        assert!(!Plan::new(&c).is_dirty(Path::new("")));
    }

    #[test]
    fn prev_follows_the_longest_moved_ancestor() {
        let c = set(&[
            ("n", Change::Moved { from: "m".into() }),
            ("n/sub", Change::Moved { from: "q/r".into() }),
        ]);
        let plan = Plan::new(&c);
        assert_eq!(plan.prev(Path::new("n/file")), PathBuf::from("m/file"));
        assert_eq!(plan.prev(Path::new("n/sub/f")), PathBuf::from("q/r/f"));
        assert_eq!(plan.prev(Path::new("n")), PathBuf::from("m"));
        assert_eq!(plan.prev(Path::new("other")), PathBuf::from("other"));
    }
}
