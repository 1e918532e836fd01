//! The one way a job gets a version, for the daemon's workers and the `snapshot` command
//! alike: open a writer [`Session`] (the job lock), take the ChangeSet (the watches' one,
//! or a delta scan of the source against the newest version, run under the same lock so
//! nothing commits in between), commit it, then retire under the job's rules and limits,
//! all before the lock is released.
//!
//! ```text
//!  watch ──► ChangeSet ─┐
//!                       ├──► Session::commit ──► Session::enforce
//!  scan (delta) ────────┘
//! ```
//!
//! It sits above `scan` and `vault`, which do not know each other's writers: `scan` reads
//! versions through `vault::layout`, and `vault::snapshot` builds whatever ChangeSet it is
//! given.

use std::path::PathBuf;

use crate::change::{ChangeSet, Progress};
use crate::config::JobConfig;
use crate::fs::FileKind;
use crate::scan::{ScanError, ScanOutcome};
use crate::vault::layout::VersionName;
use crate::vault::retire::{RetireError, RetireReport};
use crate::vault::session::Session;
use crate::vault::snapshot::{SnapshotError, SnapshotOutcome};

/// Where the ChangeSet of a write comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'c> {
    /// The watches' ChangeSet, collected since version `base` (`None`: not known). Under
    /// the job lock, when the newest version is not `base` any more (another writer
    /// committed meanwhile, e.g. a `snapshot` run that did not go through the daemon), it
    /// is not built on that version: it was coalesced against `base`, so it is not the
    /// difference to the newest one (what that version already holds would be copied
    /// again, and a path that changed and changed back since `base` has no record
    /// although the newest may differ there: a rename `a -> b`, a commit, and `b -> a`
    /// leave only `b: Deleted`). A delta scan against the newest version replaces it
    /// instead. So does a ChangeSet touching a file with other names in the source.
    Changes {
        /// The ChangeSet.
        changes: &'c ChangeSet,
        /// The version it was collected against.
        base: Option<u64>,
    },
    /// A delta scan of the source against the newest version; `full`: without the ctime
    /// shortcut ([`crate::scan::delta_full`]), for the daemon's `rescan_interval` scans,
    /// which must catch what the shortcut cannot see.
    Scan {
        /// Compare every entry.
        full: bool,
    },
}

/// Why a write failed (nothing visible changed).
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Opening the session or committing failed.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The delta scan failed.
    #[error(transparent)]
    Scan(#[from] ScanError),
}

/// What a write did, with the newest version it saw under the job lock (the daemon keeps
/// that number as the base of the ChangeSet it collects next).
#[derive(Debug)]
pub struct Written {
    /// What was committed, if anything.
    pub outcome: SnapshotOutcome,
    /// The newest version when the lock was released (the committed one, or the newest
    /// that already held everything).
    pub newest: Option<VersionName>,
    /// Set when the ChangeSet's base was not the newest version any more (another writer
    /// committed in between): the version found, whose delta scan replaced the ChangeSet.
    pub rebased: Option<VersionName>,
    /// The retire after a commit (`None`: nothing was committed, so nothing to retire). A
    /// failed retire leaves the committed version committed; the next commit tries again.
    pub retired: Option<Result<RetireReport, RetireError>>,
}

/// Commit a version of `job` from `source`, then, after a commit, retire under the job's
/// rules and limits, under one job lock (see the module docs).
pub fn write(
    job: &JobConfig,
    source: Source<'_>,
    progress: &Progress,
) -> Result<Written, WriteError> {
    let session = Session::open(job)?;
    let mut written = commit(&session, source, progress)?;
    if matches!(written.outcome, SnapshotOutcome::Committed(_)) {
        written.retired = Some(session.enforce());
    }
    Ok(written)
}

/// Delta scan plus commit, without the retire: the library's and the tests' one-shot
/// version of the source as it is now (the command and the daemon use [`write()`]).
pub fn snapshot_with_scan(job: &JobConfig) -> Result<SnapshotOutcome, WriteError> {
    let session = Session::open(job)?;
    Ok(commit(&session, Source::Scan { full: false }, &Progress::default())?.outcome)
}

/// The commit part of [`write`], inside an open session.
fn commit(
    session: &Session<'_>,
    source: Source<'_>,
    progress: &Progress,
) -> Result<Written, WriteError> {
    let job = session.job();
    let (changes, base) = match source {
        Source::Scan { full } => return scan_and_commit(session, progress, !full),
        Source::Changes { changes, base } => (changes, base),
    };
    let newest = session.newest()?;
    if base.is_some() && newest.as_ref().map(|v| v.number) != base {
        let mut written = scan_and_commit(session, progress, true)?;
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
        return scan_and_commit(session, progress, true);
    }
    let outcome = session.commit(changes, progress)?;
    Ok(written(outcome, newest))
}

/// Scan (with or without the ctime shortcut) and commit, then record the scan base of a
/// version committed from this scan (`crate::scan::base`). A scan that could not read some
/// source entry, or a version with skipped entries, removes the record instead: the source
/// may hold something that version does not. Versions built from the watches' ChangeSets
/// leave the record as it is.
fn scan_and_commit(
    session: &Session<'_>,
    progress: &Progress,
    shortcut: bool,
) -> Result<Written, WriteError> {
    let job = session.job();
    let started = std::time::Instant::now();
    let before = session.newest()?;
    let stamp = crate::scan::base::capture(&job.source).ok();
    let (outcome, complete) = crate::scan::scan(job, progress, shortcut)?;
    let stamp = stamp.filter(|_| complete);
    tracing::debug!(job = %job.name, "delta scan: {:?}", started.elapsed());
    let result = match &outcome {
        ScanOutcome::NoVersion => session.commit(&ChangeSet::new(), progress),
        ScanOutcome::Delta(changes) => session.commit(changes, progress),
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
            if stamp.is_some() && matches!(&outcome, ScanOutcome::Delta(c) if c.is_empty()) =>
        {
            record_scan_base(job, newest.number, stamp)
        }
        _ => {}
    }
    tracing::debug!(job = %job.name, "scan + build + commit: {:?}", started.elapsed());
    Ok(written(result?, before))
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
        retired: None,
    }
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
/// copy costs). A walk that fails (an unreadable folder, one moved meanwhile) and an
/// excluded file answer true: one delta scan more, never one less.
fn holds_linked_file(top: crate::fs::Dir) -> bool {
    let mut linked = false;
    let walked = crate::fs::walk(top, &mut |_, meta| {
        linked = meta.kind == FileKind::File && meta.nlink > 1;
        match linked {
            true => crate::fs::Visit::Stop,
            false => crate::fs::Visit::Descend,
        }
    });
    linked || walked.is_err()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The daemon runs writes on worker threads and sends results back.
    #[test]
    fn outcomes_and_errors_cross_threads() {
        fn send<T: Send + 'static>() {}
        send::<Written>();
        send::<WriteError>();
        send::<ScanOutcome>();
    }
}
