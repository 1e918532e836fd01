//! Build a version from a ChangeSet under a hidden name and commit it by rename.
//!
//! Owns the write path of a job folder: taking the job lock, clearing leftover partial
//! builds, building `V{n}` (a full copy for V0, otherwise only the directories on changed
//! paths, with hard links for unchanged files and one-hop structural links for unchanged
//! directories, see the README's "The vault"), and the atomic commit (fsync, rename, `latest`,
//! `index.tsv`, journal). It does not know where the ChangeSet came from (inotify or the
//! delta scan) and keeps no global state: [`snapshot`] and [`Session`](crate::vault::session::Session) may run
//! on any thread, one per job at a time (the job lock enforces that across processes).
//!
//! # `keep_full_copy = false` (referenced mode)
//! Version 0 is then not a copy: its root is a real directory whose entries are absolute
//! symlinks to the live source entries (`/src/a` for top-level `a`), costing one inode per
//! top-level entry. Later versions are built as usual; an entry that is still unchanged
//! keeps pointing at the live source (hard links to those symlinks), and the first change
//! under a top-level entry copies that entry from the source into the version that records
//! the change (its old bytes were never kept). So: a version is exact for every top-level
//! entry that changed at or before it; a top-level entry that never changed since V0 shows
//! the source as it is now. The delta scan cannot see changes below a live reference (it
//! would compare the source with itself): in referenced mode it reports a top-level entry
//! only when its type or attributes differ from the reference; the daemon's inotify
//! ChangeSets record every change.
//!
//! # Trees deeper than `PATH_MAX`
//! A source path may be any length (40 nested 200-byte names make 8 KB); the kernel refuses
//! only *one path argument* of 4096 bytes or more. So nothing here passes a long path to a
//! syscall: the source, the version being built and the older versions are all walked
//! through open directory fds ([`crate::vault::layout::Resolver`] for older versions, also
//! for a moved entry), and a multiply-linked source file's earlier name is reached by
//! opening its folder beneath the job folder before `linkat`.
//!
//! What is bounded is the **text of a symlink**: at most 4095 bytes in the kernel, less on
//! some filesystems (XFS 1024; ext2/3/4 one block minus one, so 1023 with 1 KiB blocks).
//! A structural link's text is `"../"` × depth + the version name + the target's path, so
//! an unchanged folder deep in the tree may need a text that cannot be stored. Decision:
//! the layout stays as it is (a structural link is always exactly that relative text, so
//! retire and every reader stay unchanged), and where the text does not fit, there is no
//! link: the folder is made **real** in the new version and its children are built the
//! usual way: unchanged files hard-linked to the older inodes, unchanged subfolders again
//! structural links where *their* text fits (e.g. a folder moved from a short path to a
//! deep one links with a short text), real folders otherwise. The check is a length test
//! against the vault filesystem's limit (from `fstatfs`), backed by `ENAMETOOLONG` from
//! `symlinkat` for filesystems with a lower one. It keeps room for a 20-digit version
//! number: a retire repoints a link to the same path in a newer version, whose number may
//! be longer (`V9` → `V10`), and that text must fit too. The cost: one inode per real
//! folder below the depth where texts stop fitting (about 4 KB of path), never a copy of
//! file data.
//!
//! Not covered by that room: a retire that moves a folder into the heir at a *longer*
//! path than the one it had (a folder moved deep after the retired version) would have to
//! repoint later links to that longer path. Where that text does not fit, the retire makes
//! the link a real folder instead (`vault::retire`, module `real`).

use std::io;
use std::path::PathBuf;

use crate::change::{ChangeSet, Progress};
use crate::config::JobConfig;
use crate::vault::layout::VersionName;

mod build;
mod commit;
mod plan;
mod repair;

/// A committed version, as [`snapshot`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedVersion {
    /// The version folder name (`V{n}--{time}`).
    pub name: VersionName,
    /// Bytes of allocated blocks of the inodes this version created.
    pub size: u64,
    /// Inodes this version created (copies, real directories, structural links).
    pub inodes: u64,
    /// Entries in the ChangeSet it was built from (0 for a first version).
    pub changes: u64,
    /// Entries that could not be stored (unreadable, changing, skipped specials); each has
    /// an `error` line in the journal and is retried by the next ChangeSet.
    pub skipped: u64,
}

/// What [`snapshot`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotOutcome {
    /// A new version was committed.
    Committed(CommittedVersion),
    /// The ChangeSet was empty and a version exists: nothing was written.
    Unchanged,
}

/// Why a snapshot failed (nothing visible changed: a partial build is removed now or by the
/// next writer).
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Another process (or thread) holds the job lock.
    #[error("job {job}: {source}")]
    Lock {
        /// The job name.
        job: String,
        /// What the lock said.
        #[source]
        source: crate::vault::lock::LockError,
    },
    /// Reading or writing the job folder failed.
    #[error("job {job}: {path}: {source}")]
    Vault {
        /// The job name.
        job: String,
        /// The file or folder concerned.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The source root cannot be opened.
    #[error("job {job}: source {path}: {source}")]
    Source {
        /// The job name.
        job: String,
        /// The source path.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// index.tsv could not be read or replaced.
    #[error("job {job}: {source}")]
    Index {
        /// The job name.
        job: String,
        /// The index error (names the file).
        #[source]
        source: crate::vault::index::IndexError,
    },
    /// A retire an earlier process left unfinished could not be completed (every writer
    /// finishes it before changing anything).
    #[error("job {job}: finishing an interrupted retire: {source}")]
    Retire {
        /// The job name.
        job: String,
        /// What the retire said.
        #[source]
        source: crate::vault::retire::RetireError,
    },
}

/// Build and commit the next version of `job` from `changes` (see the module docs). With no
/// committed version yet, `changes` is ignored and version 0 is built (a full copy, or a
/// referenced version when `keep_full_copy = false`). An empty `changes` with a version
/// present commits nothing ([`SnapshotOutcome::Unchanged`]).
pub fn snapshot(job: &JobConfig, changes: &ChangeSet) -> Result<SnapshotOutcome, SnapshotError> {
    crate::vault::session::Session::open(job)?.commit(changes, &Progress::default())
}

/// An entry that could not be stored, for the journal.
#[derive(Debug, Clone)]
pub(crate) struct Skipped {
    /// Path relative to the source root.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The daemon runs snapshots on worker threads and sends results back.
    #[test]
    fn outcomes_and_errors_cross_threads() {
        fn send<T: Send + 'static>() {}
        fn sync<T: Sync>() {}
        send::<SnapshotOutcome>();
        send::<SnapshotError>();
        sync::<Progress>();
        sync::<JobConfig>();
        sync::<ChangeSet>();
    }
}
