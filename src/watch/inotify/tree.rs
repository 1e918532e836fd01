//! The watch maps: watch descriptor <-> directory path (relative to the source root).
//!
//! Kept right across renames (a moved directory keeps its watches, its paths change),
//! deletions (`IN_IGNORED`, a removed subtree) and watch-descriptor reuse (adding a watch
//! that returns a descriptor already mapped replaces the stale mapping). Generic over the
//! handle stored per watch so it can be tested without inotify.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// wd id -> (handle, path) and path -> wd id. `by_path` is keyed by the path's bytes:
/// byte order keeps every path with the prefix `dir/` contiguous (a subtree is one range)
/// and compares with `memcmp` instead of walking path components.
#[derive(Debug)]
pub(super) struct WatchTree<H> {
    by_wd: HashMap<i32, (H, PathBuf)>,
    by_path: BTreeMap<Vec<u8>, i32>,
}

fn key(path: &Path) -> Vec<u8> {
    path.as_os_str().as_bytes().to_vec()
}

/// The byte prefix every path strictly below `dir` starts with (`""` for the root).
fn below_prefix(dir: &Path) -> Vec<u8> {
    let mut k = key(dir);
    if !k.is_empty() {
        k.push(b'/');
    }
    k
}

fn from_key(k: &[u8]) -> PathBuf {
    PathBuf::from(std::ffi::OsStr::from_bytes(k))
}

/// What a stale mapping said when [`WatchTree::insert`] replaced it. The maps follow
/// events that are read after the fact: a folder made, renamed and made again before the
/// read leaves the first watch added under the wrong path. A replaced mapping says so.
#[derive(Debug)]
pub(super) struct Displaced<H> {
    /// The path the wd was mapped to before: that folder is now at the new path, so
    /// whatever is at the old path has no watch of its own.
    pub(super) path: Option<PathBuf>,
    /// The handle of another wd mapped to the new path: its folder is elsewhere (or gone).
    pub(super) handle: Option<H>,
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
    /// Map `wd` to `path`, dropping any stale mapping of either; returns what the stale
    /// mappings said (see [`Displaced`]).
    pub(super) fn insert(&mut self, wd: i32, handle: H, path: PathBuf) -> Displaced<H> {
        let mut displaced = Displaced {
            path: None,
            handle: None,
        };
        if let Some((_, old)) = self.by_wd.remove(&wd) {
            self.by_path.remove(&key(&old));
            displaced.path = (old != path).then_some(old);
        }
        if let Some(old_wd) = self.by_path.insert(key(&path), wd) {
            if old_wd != wd {
                displaced.handle = self.by_wd.remove(&old_wd).map(|(h, _)| h);
            }
        }
        self.by_wd.insert(wd, (handle, path));
        displaced
    }

    /// The directory watched by `wd`.
    pub(super) fn path(&self, wd: i32) -> Option<&Path> {
        self.by_wd.get(&wd).map(|(_, p)| p.as_path())
    }

    /// True when `path` has a watch.
    pub(super) fn contains(&self, path: &Path) -> bool {
        self.by_path.contains_key(path.as_os_str().as_bytes())
    }

    /// Forget `wd` (its watch is gone: `IN_IGNORED`, or its path was wrong); returns its
    /// handle.
    pub(super) fn forget(&mut self, wd: i32) -> Option<H> {
        let (handle, path) = self.by_wd.remove(&wd)?;
        if self.by_path.get(&key(&path)) == Some(&wd) {
            self.by_path.remove(&key(&path));
        }
        Some(handle)
    }

    /// `path` and every path below it, with their wd ids.
    pub(super) fn subtree(&self, path: &Path) -> Vec<(PathBuf, i32)> {
        let own = key(path);
        let head = self.by_path.get(&own).map(|wd| (path.to_path_buf(), *wd));
        let prefix = below_prefix(path);
        let below = self
            .by_path
            .range::<[u8], _>((Bound::Included(prefix.as_slice()), Bound::Unbounded))
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| !p.is_empty())
            .map(|(p, wd)| (from_key(p), *wd));
        head.into_iter().chain(below).collect()
    }

    /// Remove `path` and everything below it; returns their handles (to `rm_watch`).
    pub(super) fn remove_subtree(&mut self, path: &Path) -> Vec<H> {
        let mut handles = Vec::new();
        for (p, wd) in self.subtree(path) {
            self.by_path.remove(&key(&p));
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
            self.by_path.remove(&key(&p));
            if let Some(old_wd) = self.by_path.insert(key(&new), wd) {
                if old_wd != wd {
                    self.by_wd.remove(&old_wd);
                }
            }
            if let Some(entry) = self.by_wd.get_mut(&wd) {
                entry.1 = new;
            }
        }
    }

    /// Keep the wds `keep` accepts; returns the handles of the others (to `rm_watch`).
    pub(super) fn retain(&mut self, keep: impl Fn(i32) -> bool) -> Vec<H> {
        let gone: Vec<i32> = self.by_wd.keys().copied().filter(|wd| !keep(*wd)).collect();
        let mut handles = Vec::new();
        for wd in gone {
            if let Some((h, path)) = self.by_wd.remove(&wd) {
                if self.by_path.get(&key(&path)) == Some(&wd) {
                    self.by_path.remove(&key(&path));
                }
                handles.push(h);
            }
        }
        handles
    }

    /// How many directories are watched.
    pub(super) fn len(&self) -> usize {
        self.by_wd.len()
    }

    /// Every watched path, sorted (tests).
    #[cfg(test)]
    pub(super) fn paths(&self) -> Vec<PathBuf> {
        self.by_path.keys().map(|k| from_key(k)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(entries: &[(i32, &str)]) -> WatchTree<()> {
        let mut t = WatchTree::default();
        for (wd, p) in entries {
            let _ = t.insert(*wd, (), PathBuf::from(p));
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
        let d = t.insert(2, (), PathBuf::from("b"));
        assert_eq!(d.path, Some(PathBuf::from("a")));
        assert!(d.handle.is_none());
        assert_eq!(paths(&t), vec![(1, "".into()), (2, "b".into())]);
        assert!(!t.contains(Path::new("a")));
        let d = t.insert(5, (), PathBuf::from("b"));
        assert_eq!((d.path, d.handle), (None, Some(())));
        assert_eq!(paths(&t), vec![(1, "".into()), (5, "b".into())]);
        assert!(t.forget(5).is_some());
        assert!(t.forget(9).is_none());
        assert_eq!(t.path(1), Some(Path::new("")));
        assert_eq!(t.len(), 1);
    }
}
