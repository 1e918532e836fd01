//! The watch maps: watch descriptor <-> directory path (relative to the source root).
//!
//! Kept right across renames (a moved directory keeps its watches, its paths change),
//! deletions (`IN_IGNORED`, a removed subtree) and watch-descriptor reuse (adding a watch
//! that returns a descriptor already mapped replaces the stale mapping). Generic over the
//! handle stored per watch so it can be tested without inotify.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::path::{Path, PathBuf};

/// wd id -> (handle, path) and path -> wd id.
#[derive(Debug)]
pub(super) struct WatchTree<H> {
    by_wd: HashMap<i32, (H, PathBuf)>,
    by_path: BTreeMap<PathBuf, i32>,
}

impl<H> Default for WatchTree<H> {
    fn default() -> Self {
        WatchTree {
            by_wd: HashMap::new(),
            by_path: BTreeMap::new(),
        }
    }
}

impl<H> WatchTree<H> {
    /// Map `wd` to `path`, dropping any stale mapping of either.
    pub(super) fn insert(&mut self, wd: i32, handle: H, path: PathBuf) {
        if let Some((_, old)) = self.by_wd.remove(&wd) {
            self.by_path.remove(&old);
        }
        if let Some(old_wd) = self.by_path.remove(&path) {
            self.by_wd.remove(&old_wd);
        }
        self.by_path.insert(path.clone(), wd);
        self.by_wd.insert(wd, (handle, path));
    }

    /// The directory watched by `wd`.
    pub(super) fn path(&self, wd: i32) -> Option<&Path> {
        self.by_wd.get(&wd).map(|(_, p)| p.as_path())
    }

    /// True when `path` has a watch.
    pub(super) fn contains(&self, path: &Path) -> bool {
        self.by_path.contains_key(path)
    }

    /// Forget `wd` (its watch is gone: `IN_IGNORED`).
    pub(super) fn forget(&mut self, wd: i32) {
        if let Some((_, path)) = self.by_wd.remove(&wd) {
            self.by_path.remove(&path);
        }
    }

    /// `path` and every path below it, with their wd ids.
    fn subtree(&self, path: &Path) -> Vec<(PathBuf, i32)> {
        let head = self.by_path.get(path).map(|wd| (path.to_path_buf(), *wd));
        let below = self
            .by_path
            .range::<Path, _>((Bound::Excluded(path), Bound::Unbounded))
            .take_while(|(p, _)| p.starts_with(path))
            .map(|(p, wd)| (p.clone(), *wd));
        head.into_iter().chain(below).collect()
    }

    /// Remove `path` and everything below it; returns their handles (to `rm_watch`).
    pub(super) fn remove_subtree(&mut self, path: &Path) -> Vec<H> {
        let mut handles = Vec::new();
        for (p, wd) in self.subtree(path) {
            self.by_path.remove(&p);
            if let Some((h, _)) = self.by_wd.remove(&wd) {
                handles.push(h);
            }
        }
        handles
    }

    /// A directory moved from `from` to `to`: its watches stay, their paths change.
    pub(super) fn rename_subtree(&mut self, from: &Path, to: &Path) {
        for (p, wd) in self.subtree(from) {
            let Ok(rel) = p.strip_prefix(from) else {
                continue;
            };
            let new = if rel.as_os_str().is_empty() {
                to.to_path_buf()
            } else {
                to.join(rel)
            };
            self.by_path.remove(&p);
            if let Some(old_wd) = self.by_path.insert(new.clone(), wd) {
                if old_wd != wd {
                    self.by_wd.remove(&old_wd);
                }
            }
            if let Some(entry) = self.by_wd.get_mut(&wd) {
                entry.1 = new;
            }
        }
    }

    /// How many directories are watched.
    pub(super) fn len(&self) -> usize {
        self.by_wd.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(entries: &[(i32, &str)]) -> WatchTree<()> {
        let mut t = WatchTree::default();
        for (wd, p) in entries {
            t.insert(*wd, (), PathBuf::from(p));
        }
        t
    }

    fn paths(t: &WatchTree<()>) -> Vec<(i32, String)> {
        let mut v: Vec<_> = t
            .by_wd
            .iter()
            .map(|(wd, (_, p))| (*wd, p.display().to_string()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn rename_moves_the_subtree_and_keeps_wds() {
        let mut t = tree(&[(1, ""), (2, "a"), (3, "a/b"), (4, "ab")]);
        t.rename_subtree(Path::new("a"), Path::new("x/y"));
        assert_eq!(
            paths(&t),
            vec![
                (1, "".into()),
                (2, "x/y".into()),
                (3, "x/y/b".into()),
                (4, "ab".into())
            ]
        );
        assert!(t.contains(Path::new("x/y/b")));
        assert!(!t.contains(Path::new("a/b")));
    }

    #[test]
    fn remove_subtree_returns_every_watch_below() {
        let mut t = tree(&[(1, ""), (2, "a"), (3, "a/b"), (4, "ab")]);
        assert_eq!(t.remove_subtree(Path::new("a")).len(), 2);
        assert_eq!(paths(&t), vec![(1, "".into()), (4, "ab".into())]);
    }

    #[test]
    fn a_reused_wd_replaces_the_stale_mapping() {
        let mut t = tree(&[(1, ""), (2, "a")]);
        t.insert(2, (), PathBuf::from("b"));
        assert_eq!(paths(&t), vec![(1, "".into()), (2, "b".into())]);
        assert!(!t.contains(Path::new("a")));
        t.insert(5, (), PathBuf::from("b"));
        assert_eq!(paths(&t), vec![(1, "".into()), (5, "b".into())]);
        t.forget(5);
        t.forget(9);
        assert_eq!(t.path(1), Some(Path::new("")));
        assert_eq!(t.len(), 1);
    }
}
