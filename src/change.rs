//! ChangeSet: the paths that changed since the newest committed version, and how.
//!
//! Every new version is built from a ChangeSet, wherever it came from (inotify events in
//! the daemon, or a delta scan). Paths are relative to the source root; the root itself is
//! the empty path. A ChangeSet owns the coalescing rules (how a new event meets an older one
//! on the same path); it knows nothing about inotify or the vault.
//!
//! Meaning for the snapshot builder:
//! - `Created`, `Modified`: take the entry (and, for a directory, its whole subtree) from
//!   the source;
//! - `Attrib`: the content is the previous version's, the attributes are the source's;
//! - `Deleted`: the entry is gone (its parent directory changed);
//! - `Moved { from }`: the entry at this path is the previous version's entry at `from`
//!   (link its old bytes, no copy); changes below it are separate entries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

    /// Fold one observed change into the set (coalescing with what is there).
    pub fn record(&mut self, path: impl Into<PathBuf>, change: Change) {
        self.map.insert(path.into(), change);
    }

    /// The change recorded for `path`, if any.
    pub fn get(&self, path: &Path) -> Option<&Change> {
        self.map.get(path)
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
