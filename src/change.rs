//! ChangeSet: the paths that changed since the newest committed version, and how.
//!
//! Every new version is built from a ChangeSet, wherever it came from (inotify events in
//! the daemon, or a delta scan). Paths are relative to the source root; the root itself is
//! the empty path. A ChangeSet owns the coalescing rules (how a new event meets an older one
//! on the same path); it knows nothing about inotify or the vault.
//!
//! Meaning for the snapshot builder:
//! - `Created`, `Modified`: take the entry (and, for a directory, its whole subtree) from
//!   the source; `Created` additionally promises that the path did not exist in the newest
//!   version (so a later delete makes the record vanish);
//! - `Attrib`: the content is the previous version's, the attributes are the source's;
//! - `Deleted`: the entry is gone (its parent directory changed);
//! - `Moved { from }`: the entry at this path is the previous version's entry at `from`
//!   (link its old bytes, no copy); changes below it are separate entries.
//!
//! # Coalescing (lsyncd's absorb / replace / stack, per path)
//!
//! `old` is what is recorded for the path, `new` the observed change. "absorbed" means the
//! set does not change, "gone" means the record is removed.
//!
//! | old \ new  | Created  | Modified | Attrib   | Deleted |
//! |------------|----------|----------|----------|---------|
//! | (none)     | Created  | Modified | Attrib   | Deleted |
//! | Created    | Created  | Created  | Created  | gone    |
//! | Modified   | Modified | Modified | Modified | Deleted |
//! | Attrib     | Modified | Modified | Attrib   | Deleted |
//! | Deleted    | Modified | Modified | Modified | Deleted |
//! | Moved{f}   | Modified | Modified | Modified | Deleted |
//!
//! - A create over a recorded delete (or over anything that existed) is a replacement:
//!   `Modified`, never `Created`, because the path did exist in the newest version and a
//!   later delete must stay a delete.
//! - Attribute-only is dropped when the content also changed. `Moved{f}` then `Attrib`
//!   becomes `Modified` (there is no "moved with new attributes"; it costs one copy).
//!
//! Rules across paths:
//! - below a `Created` directory every change is absorbed: the whole subtree comes from
//!   the source; recording `Created` drops what was recorded below the path;
//! - `Deleted` (and `gone`) drops every record below the path;
//! - a move `a -> b` ([`ChangeSet::record_move`], or `record(b, Moved{from: a})`) records
//!   `a` as `Deleted` (gone if `a` was `Created`), carries the records below `a` to below
//!   `b`, and records at `b` what the moved entry was:
//!
//! | record at `a`  | record at `b` becomes                                              |
//! |----------------|--------------------------------------------------------------------|
//! | (none)         | `Moved{from: a}` (unless `a == b` chain back: gone)                |
//! | `Moved{f}`     | `Moved{from: f}` (chains a→b→c collapse to c: `Moved{from: a}`)    |
//! | `Created`      | `Created` if `b` was recorded `Created`, else `Modified`           |
//! | `Modified`, `Attrib`, `Deleted` | `Created` if `b` was recorded `Created`, else `Modified` |
//! | below a `Created` dir | as for `Created` (its bytes are only in the source)          |
//!
//!   A rename may silently replace an entry of the newest version at `b`, so a moved entry
//!   whose bytes must come from the source is `Modified` at `b` unless `b` is known new:
//!   an editor's save (write `tmp`, rename over `file`) ends as one `Modified` file.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// How one path changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// New since the newest version.
    Created,
    /// Content (and maybe attributes) changed.
    Modified,
    /// Only attributes (mode, owner, times, xattrs) changed.
    Attrib,
    /// Gone.
    Deleted,
    /// Moved here from `from` (relative to the source root).
    Moved {
        /// Where the entry was in the newest version.
        from: PathBuf,
    },
}

/// The outcome of one cell of the coalescing table.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cell {
    /// Store this change for the path.
    Set(Change),
    /// Remove the record (created, then deleted).
    Gone,
}

/// The per-path coalescing table (see the module docs): `old` recorded, `new` observed.
/// `new` is never `Moved` here (moves go through [`ChangeSet::record_move`]).
fn combine(old: Option<&Change>, new: &Change) -> Cell {
    use Change::*;
    let set = Cell::Set;
    match (old, new) {
        (None, n) => set(n.clone()),
        (Some(Created), Deleted) => Cell::Gone,
        (Some(Created), _) => set(Created),
        (Some(_), Deleted) => set(Deleted),
        (Some(Attrib), Attrib) => set(Attrib),
        (Some(_), _) => set(Modified),
    }
}

/// What changed since the newest committed version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    map: BTreeMap<PathBuf, Change>,
}

impl ChangeSet {
    /// An empty ChangeSet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fold one observed change into the set (coalescing with what is there, see the
    /// module docs). `Moved { from }` is the move `from -> path`.
    pub fn record(&mut self, path: impl Into<PathBuf>, change: Change) {
        let path = path.into();
        if let Change::Moved { from } = change {
            self.record_move(&from, &path);
            return;
        }
        if self.under_created(&path) {
            return;
        }
        let cell = combine(self.map.get(&path), &change);
        let drop_below = matches!(
            cell,
            Cell::Gone | Cell::Set(Change::Created) | Cell::Set(Change::Deleted)
        );
        if drop_below {
            self.remove_below(&path);
        }
        self.apply(path, cell);
    }

    /// Fold the move `from -> to` (both relative to the source root) into the set.
    pub fn record_move(&mut self, from: &Path, to: &Path) {
        if from == to || to.starts_with(from) {
            return;
        }
        let source_new = self.under_created(from);
        let moved = if source_new {
            None
        } else {
            self.map.remove(from)
        };
        let below = self.take_below(from);
        let target = self.move_target(from, moved.as_ref(), source_new, to);
        if !source_new {
            let at_from = combine(moved.as_ref(), &Change::Deleted);
            self.apply(from.to_path_buf(), at_from);
        }
        if self.under_created(to) {
            return;
        }
        self.remove_below(to);
        let keep_below = target != Cell::Set(Change::Created);
        self.apply(to.to_path_buf(), target);
        for (rel, change) in below.into_iter().filter(|_| keep_below) {
            self.map.insert(to.join(rel), change);
        }
    }

    /// What the target of a move gets, from the source's record (see the module docs).
    fn move_target(&self, from: &Path, moved: Option<&Change>, new: bool, to: &Path) -> Cell {
        let origin = match moved {
            _ if new => None,
            None => Some(from.to_path_buf()),
            Some(Change::Moved { from: f }) => Some(f.clone()),
            Some(_) => None,
        };
        match origin {
            Some(f) if f == to => Cell::Gone,
            Some(f) => Cell::Set(Change::Moved { from: f }),
            None if self.map.get(to) == Some(&Change::Created) => Cell::Set(Change::Created),
            None => Cell::Set(Change::Modified),
        }
    }

    fn apply(&mut self, path: PathBuf, cell: Cell) {
        match cell {
            Cell::Set(change) => {
                self.map.insert(path, change);
            }
            Cell::Gone => {
                self.map.remove(&path);
            }
        }
    }

    /// True when a strict ancestor of `path` is recorded `Created` (its subtree is taken
    /// from the source whole).
    fn under_created(&self, path: &Path) -> bool {
        path.ancestors()
            .skip(1)
            .filter(|a| !a.as_os_str().is_empty())
            .any(|a| self.map.get(a) == Some(&Change::Created))
    }

    /// The recorded paths strictly below `dir`.
    fn keys_below(&self, dir: &Path) -> Vec<PathBuf> {
        self.map
            .range::<Path, _>((Bound::Excluded(dir), Bound::Unbounded))
            .map(|(p, _)| p)
            .take_while(|p| p.starts_with(dir))
            .cloned()
            .collect()
    }

    fn remove_below(&mut self, dir: &Path) {
        for key in self.keys_below(dir) {
            self.map.remove(&key);
        }
    }

    /// Remove the records strictly below `dir`, returned relative to `dir`.
    fn take_below(&mut self, dir: &Path) -> Vec<(PathBuf, Change)> {
        let mut out = Vec::new();
        for key in self.keys_below(dir) {
            if let (Some(change), Ok(rel)) = (self.map.remove(&key), key.strip_prefix(dir)) {
                out.push((rel.to_path_buf(), change));
            }
        }
        out
    }

    /// The change recorded for `path`, if any.
    pub fn get(&self, path: &Path) -> Option<&Change> {
        self.map.get(path)
    }

    /// True when `path` or a path below it has a record that `accept` takes (one range
    /// of the sorted map, not a scan of the whole set).
    pub fn any_at_or_below(&self, path: &Path, accept: impl Fn(&Change) -> bool) -> bool {
        self.map.get(path).is_some_and(&accept)
            || self
                .map
                .range::<Path, _>((Bound::Excluded(path), Bound::Unbounded))
                .take_while(|(p, _)| p.starts_with(path))
                .any(|(_, c)| accept(c))
    }

    /// Every (path, change), sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = (&Path, &Change)> {
        self.map.iter().map(|(p, c)| (p.as_path(), c))
    }

    /// How many paths changed.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Counters a caller may watch while a ChangeSet is made by a delta scan and committed
/// (progress bars). All relaxed atomics;
/// share one by reference between the worker and the observer.
#[derive(Debug, Default)]
pub struct Progress {
    /// Source entries looked at by the delta scan.
    pub scanned: AtomicU64,
    /// Entries written into the new version (copies, links, directories).
    pub written: AtomicU64,
    /// Bytes of file content copied.
    pub bytes: AtomicU64,
}

impl Progress {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

#[cfg(test)]
#[path = "change_tests.rs"]
mod tests;
