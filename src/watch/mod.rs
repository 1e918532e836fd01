//! Watchers: the recursive inotify watcher of a source tree, and the mount-table watcher.
//! Nothing in here knows about the vault.

pub mod inotify;
pub mod mounts;
