//! Build a version from a ChangeSet under a hidden name and commit it by rename.
//!
//! Owns the write path of a job folder: taking the job lock, clearing leftover partial
//! builds, building `V{n}` (a full copy for V0, otherwise only the directories on changed
//! paths, with hard links for unchanged files and one-hop structural links for unchanged
//! directories, see `VAULT-DESIGN.md`), and the atomic commit (fsync, rename, `latest`,
//! `index.tsv`, journal). It does not know where the ChangeSet came from (inotify or the
//! delta scan) and keeps no global state: [`snapshot`] and [`snapshot_with_scan`] may run
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
use crate::fs::FileKind;
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
    /// The delta scan failed ([`snapshot_with_scan`] only).
    #[error(transparent)]
    Scan(#[from] crate::scan::ScanError),
}

/// Build and commit the next version of `job` from `changes` (see the module docs). With no
/// committed version yet, `changes` is ignored and version 0 is built (a full copy, or a
/// referenced version when `keep_full_copy = false`). An empty `changes` with a version
/// present commits nothing ([`SnapshotOutcome::Unchanged`]).
pub fn snapshot(job: &JobConfig, changes: &ChangeSet) -> Result<SnapshotOutcome, SnapshotError> {
    snapshot_observed(job, changes, &Progress::default())
}

/// [`snapshot`], updating `progress` as entries are written.
pub fn snapshot_observed(
    job: &JobConfig,
    changes: &ChangeSet,
    progress: &Progress,
) -> Result<SnapshotOutcome, SnapshotError> {
    let session = commit::Session::begin(job)?;
    session.run(changes, progress)
}

/// What a writer did, with the newest version it saw under the job lock (the daemon keeps
/// that number as the base of the ChangeSet it collects next).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// What was committed, if anything.
    pub outcome: SnapshotOutcome,
    /// The newest version when the lock was released (the committed one, or the newest
    /// that already held everything).
    pub newest: Option<VersionName>,
    /// Set when the ChangeSet's base was not the newest version any more (another writer
    /// committed in between): the version found, whose delta scan replaced the ChangeSet.
    pub rebased: Option<VersionName>,
}

/// [`snapshot`] of a ChangeSet collected since version `base` (the daemon's inotify
/// ChangeSets). Under the job lock, when the newest version is not `base` any more
/// (another writer committed meanwhile, e.g. a `snapshot` run that did not go through the
/// daemon), the ChangeSet is not built on it: it was coalesced against `base`, so it is
/// not the difference to the newest version (what that version already holds would be
/// copied again, and a path that changed and changed back since `base` has no record
/// although the newest may differ there: a rename `a -> b`, a commit, and `b -> a` leave
/// only `b: Deleted`). A delta scan against the newest version replaces it instead: what
/// that version already holds is not committed again, and an empty result commits nothing. `base = None` (not
/// known) builds `changes` as [`snapshot`] does.
pub fn snapshot_since(
    job: &JobConfig,
    changes: &ChangeSet,
    base: Option<u64>,
) -> Result<Written, SnapshotError> {
    let session = commit::Session::begin(job)?;
    let newest = session.newest()?;
    let moved = base.is_some() && newest.as_ref().map(|v| v.number) != base;
    if moved {
        let mut written = scan_in(session, job, &Progress::default(), true)?;
        written.rebased = newest;
        return Ok(written);
    }
    if let Some(path) = newest.as_ref().and(multiply_linked(job, changes)) {
        tracing::info!(
            job = %job.name,
            "{} has other names the watches cannot see change: a delta scan replaces the \
             ChangeSet",
            path.display()
        );
        return scan_in(session, job, &Progress::default(), true);
    }
    let outcome = session.run(changes, &Progress::default())?;
    Ok(written(outcome, newest))
}

/// The first path of `changes` (other than a delete) that is a regular file with more than
/// one name in the source, if any. inotify reports a write or chmod through one name for
/// that name's folder only, so the other names of the inode change unseen (their versions
/// would keep the old bytes); a ChangeSet that touches such a file is replaced by a delta
/// scan, which compares every name (a write moves the ctime of the inode, so the shortcut
/// does not skip them). One `fstatat` per changed path, through directory fds; a folder
/// recorded `Created` or `Modified` is walked (what is below it has no records of its own).
fn multiply_linked(job: &JobConfig, changes: &ChangeSet) -> Option<PathBuf> {
    use crate::change::Change;
    let root = crate::fs::Dir::open(&job.source).ok()?;
    changes
        .iter()
        .filter(|(_, c)| !matches!(c, Change::Deleted))
        .find(|(path, change)| {
            let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
                return false;
            };
            let Ok(dir) = root.open_beneath(parent) else {
                return false;
            };
            match dir.stat(name) {
                // Taken from the source whole: nothing below it has a record.
                Ok(m) if m.kind == FileKind::Dir => {
                    matches!(change, Change::Created | Change::Modified)
                        && dir.open_child(name).is_ok_and(holds_linked_file)
                }
                Ok(m) => m.kind == FileKind::File && m.nlink > 1,
                Err(_) => false,
            }
        })
        .map(|(path, _)| path.to_path_buf())
}

/// True when the tree below `top` holds a regular file with more than one name (a folder
/// recorded whole, e.g. `Created`, is copied from the source whole: its walk costs what the
/// copy costs). Unreadable folders are skipped (the build reports them); an excluded file
/// may answer true (one delta scan more, never one less).
fn holds_linked_file(top: crate::fs::Dir) -> bool {
    let mut stack = vec![top];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = dir.entries() else { continue };
        for e in entries {
            let kind = match e.kind {
                Some(k) if k != FileKind::File => k,
                _ => match dir.stat(&e.name) {
                    Ok(m) if m.kind == FileKind::File && m.nlink > 1 => return true,
                    Ok(m) => m.kind,
                    Err(_) => continue,
                },
            };
            if kind == FileKind::Dir {
                if let Ok(sub) = dir.open_child(&e.name) {
                    stack.push(sub);
                }
            }
        }
    }
    false
}

/// The [`Written`] of an outcome, `before` being the newest version before it.
fn written(outcome: SnapshotOutcome, before: Option<VersionName>) -> Written {
    let newest = match &outcome {
        SnapshotOutcome::Committed(v) => Some(v.name.clone()),
        SnapshotOutcome::Unchanged => before,
    };
    Written {
        outcome,
        newest,
        rebased: None,
    }
}

/// Delta scan (`crate::scan::delta`) plus [`snapshot`], under one job lock so nothing can
/// commit between the scan and the build. Used by `reverberator snapshot` and the daemon's
/// cold start.
pub fn snapshot_with_scan(job: &JobConfig) -> Result<SnapshotOutcome, SnapshotError> {
    snapshot_with_scan_observed(job, &Progress::default())
}

/// [`snapshot_with_scan`], updating `progress` while scanning and writing.
pub fn snapshot_with_scan_observed(
    job: &JobConfig,
    progress: &Progress,
) -> Result<SnapshotOutcome, SnapshotError> {
    scan_and_commit(job, progress, true)
}

/// [`snapshot_with_scan`] with [`crate::scan::delta_full`] (no ctime shortcut): for the
/// daemon's `rescan_interval` scans, which must catch what the shortcut cannot see.
pub fn snapshot_with_full_scan(job: &JobConfig) -> Result<SnapshotOutcome, SnapshotError> {
    scan_and_commit(job, &Progress::default(), false)
}

/// [`snapshot_with_scan`] (`full`: [`snapshot_with_full_scan`]), also reporting the newest
/// version under the lock (the daemon's scans).
pub fn scan_written(job: &JobConfig, full: bool) -> Result<Written, SnapshotError> {
    let session = commit::Session::begin(job)?;
    scan_in(session, job, &Progress::default(), !full)
}

/// Lock, scan (with or without the shortcut), commit, and record the scan base of a
/// version committed from this scan (`crate::scan::base`). A scan that could not read some
/// source entry, or a version with skipped entries, removes the record instead: the source
/// may hold something that version does not.
/// Versions built from inotify ChangeSets ([`snapshot`]) leave the record as it is.
fn scan_and_commit(
    job: &JobConfig,
    progress: &Progress,
    shortcut: bool,
) -> Result<SnapshotOutcome, SnapshotError> {
    let session = commit::Session::begin(job)?;
    Ok(scan_in(session, job, progress, shortcut)?.outcome)
}

/// [`scan_and_commit`] inside an open session.
fn scan_in(
    session: commit::Session<'_>,
    job: &JobConfig,
    progress: &Progress,
    shortcut: bool,
) -> Result<Written, SnapshotError> {
    let started = std::time::Instant::now();
    let before = session.newest()?;
    let stamp = crate::scan::base::capture(&job.source).ok();
    let (outcome, complete) = crate::scan::scan(job, progress, shortcut)?;
    let stamp = stamp.filter(|_| complete);
    tracing::debug!(job = %job.name, "delta scan: {:?}", started.elapsed());
    let result = match &outcome {
        crate::scan::ScanOutcome::NoVersion => session.run(&ChangeSet::new(), progress),
        crate::scan::ScanOutcome::Delta(changes) => session.run(changes, progress),
    };
    match (&result, &before) {
        (Ok(SnapshotOutcome::Committed(v)), _) => {
            record_scan_base(job, v.name.number, stamp.filter(|_| v.skipped == 0))
        }
        // A complete scan that found nothing saw the newest version's state at its start
        // as well as a commit would have: its stamp is as good a base (and a better one
        // than the version's own, whose bound may lie before the last burst of writes,
        // which every later start would otherwise compare in full again).
        (Ok(SnapshotOutcome::Unchanged), Some(newest))
            if stamp.is_some()
                && matches!(&outcome, crate::scan::ScanOutcome::Delta(c) if c.is_empty()) =>
        {
            record_scan_base(job, newest.number, stamp)
        }
        _ => {}
    }
    tracing::debug!(job = %job.name, "scan + build + commit: {:?}", started.elapsed());
    Ok(written(result?, before))
}

/// Write (or, after skipped entries or without a stamp, remove) the scan base. Failing
/// only costs the shortcut, so it is logged, not returned.
fn record_scan_base(job: &JobConfig, version: u64, stamp: Option<crate::scan::base::Stamp>) {
    use crate::scan::base;
    let dir = job.job_dir();
    let done = match stamp {
        Some(stamp) => base::write(&dir, &base::ScanBase { version, stamp }),
        None => base::remove(&dir),
    };
    if let Err(e) = done {
        tracing::warn!(job = %job.name, "{}: {e}", base::path(&dir).display());
        let _ = base::remove(&dir);
    }
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
        send::<crate::scan::ScanOutcome>();
        send::<crate::scan::ScanError>();
        sync::<Progress>();
        sync::<JobConfig>();
        sync::<ChangeSet>();
    }
}
