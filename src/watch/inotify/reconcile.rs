//! The end-of-drain check: the watch maps against the tree, where this drain's events
//! named folders.
//!
//! Events are read after the fact: when a folder is watched and listed for its `CREATE`,
//! what is listed is today's tree, while the events still queued behind it describe the
//! tree as it was (`mkdir a; mv a b; mkdir a` read at once puts the first watch on the new
//! `a`; the move then renames it to `b`). Patching each such sequence does not end (the
//! soak and the fuzz test in `inotify_tests.rs` found several). So once a drain has applied
//! its events, every folder path they named (made, moved from or to, removed, or whose
//! watch turned out to be another folder's) is checked against the tree: the folder there
//! now is walked, each subfolder's watch is added (the kernel hands back the wd a folder
//! already has, so a right mapping costs one `inotify_add_watch`) and its mapping fixed; a
//! folder that was not watched under its path has its entries reported `Created`. A
//! mapping below a checked path that the walk did not meet is dropped. A dropped watch
//! that is still alive in the kernel belongs to a folder at a path no event named: the
//! watcher reports [`WatchEvent::LostTrack`] and the daemon resyncs and scans.
//!
//! Cost: a walk of each named folder's subtree (a folder just made was walked already, so
//! about twice its watch setup; renaming a folder with many subfolders costs one
//! `inotify_add_watch` per subfolder). Nothing is read but names and folder types.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{Mode, WatchEvent, Watcher};

/// How many rounds (a path named by the previous round's fixes) one drain checks before
/// it asks for a resync instead: the bound only guards against a tree that changes faster
/// than it can be walked.
const ROUNDS: usize = 64;

impl Watcher {
    /// After a drain: check the folders its events named (see the module docs).
    pub(super) fn reconcile(&mut self, out: &mut Vec<WatchEvent>) {
        let mut rounds = 0usize;
        while !self.touched.is_empty() {
            rounds += 1;
            if rounds > ROUNDS {
                self.touched.clear();
                out.push(WatchEvent::LostTrack);
                break;
            }
            for top in tops(std::mem::take(&mut self.touched)) {
                if self.limit.is_some() {
                    break;
                }
                if !self.filter.skips(&top) {
                    self.verify(top, out);
                }
            }
        }
        let mut lost = false;
        for handle in std::mem::take(&mut self.homeless) {
            let unmapped = self.tree.path(handle.get_watch_descriptor_id()).is_none();
            // Removing the watch of a deleted folder fails (the kernel dropped it with the
            // folder): only a live one is news.
            if unmapped && self.inotify.watches().remove(handle).is_ok() {
                lost = true;
            }
        }
        if lost && !out.contains(&WatchEvent::LostTrack) {
            tracing::debug!(root = %self.root_path.display(), "a watched folder is at a path no event named: resync needed");
            out.push(WatchEvent::LostTrack);
        }
    }

    /// Make the maps below `rel` equal the tree there now.
    fn verify(&mut self, rel: PathBuf, out: &mut Vec<WatchEvent>) {
        let before = self.tree.subtree(&rel);
        let opened = self.open(&rel);
        let outer = self.seen.replace(HashSet::new());
        if let Ok(dir) = opened {
            // Not a whole walk: what the last one found stays as it was.
            let walked = self.walked;
            self.watch_tree(dir, rel, Mode::Verify, out);
            self.walked = walked;
        }
        let seen = std::mem::replace(&mut self.seen, outer).unwrap_or_default();
        for (path, wd) in before {
            if !seen.contains(&wd) && self.tree.path(wd) == Some(path.as_path()) {
                self.homeless.extend(self.tree.forget(wd));
            }
        }
    }

    /// An `IN_IGNORED`: the kernel dropped the watch. Usually its folder is gone (its
    /// mapping went with the event that removed it); when a mapping is left and a folder
    /// still is at its path (a filesystem unmounted from there, a watch lost otherwise),
    /// that path is checked at the end of the drain.
    pub(super) fn ignored(&mut self, wd: i32) {
        if let Some(path) = self.tree.path(wd).map(Path::to_path_buf) {
            self.tree.forget(wd);
            self.touched.push(path);
        }
    }
}

/// The paths of `touched` that are not below another one of them (sorted by component,
/// a folder's subpaths follow it directly).
fn tops(mut touched: Vec<PathBuf>) -> Vec<PathBuf> {
    touched.sort();
    touched.dedup();
    let mut out: Vec<PathBuf> = Vec::new();
    for t in touched {
        if !out.last().is_some_and(|l| t.starts_with(l)) {
            out.push(t);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tops_keeps_the_outermost_paths() {
        let p = |v: &[&str]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(
            tops(p(&["a/b", "a", "a-c", "b/c", "a/b/c", "b/c"])),
            p(&["a", "a-c", "b/c"])
        );
    }
}
