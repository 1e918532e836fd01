//! One locked writer session on a job folder, the way every writer writes: open (take the
//! job lock, finish a retire an earlier process left, clear partial builds, repair the
//! bookkeeping), commit ChangeSets, enforce the job's retention and limits, close (drop:
//! the lock is released). The daemon's workers and the commands write through one
//! (`crate::writer`), holding the lock from the commit through the retire, so nothing can
//! commit between a version and the retire that follows it.
//!
//! Where a ChangeSet comes from is not its business: the caller hands it one (from the
//! watches, or from a delta scan it ran under this session's lock).

use crate::change::{ChangeSet, Progress};
use crate::config::JobConfig;
use crate::vault::layout::{JobFolder, VersionName};
use crate::vault::retire::{enforce_locked, Limits, RetireError, RetireReport};
use crate::vault::snapshot::{self, SnapshotError, SnapshotOutcome};

/// A job folder open for writing, its lock held until the session is dropped.
pub struct Session<'a> {
    inner: snapshot::Session<'a>,
}

impl<'a> Session<'a> {
    /// Create the job folder if needed, take its lock (waiting while another writer holds
    /// it), finish a pending retire, remove leftover partial builds and repair the index
    /// and `latest`.
    pub fn open(job: &'a JobConfig) -> Result<Session<'a>, SnapshotError> {
        Ok(Session {
            inner: snapshot::Session::begin(job)?,
        })
    }

    /// The job written.
    pub fn job(&self) -> &'a JobConfig {
        self.inner.job()
    }

    /// The job folder.
    pub fn folder(&self) -> &JobFolder {
        self.inner.folder()
    }

    /// The newest committed version.
    pub fn newest(&self) -> Result<Option<VersionName>, SnapshotError> {
        self.inner.newest()
    }

    /// Build and commit the next version from `changes` ([`snapshot::snapshot`]'s rules:
    /// version 0 is built whatever `changes` holds; an empty `changes` otherwise commits
    /// nothing).
    pub fn commit(
        &self,
        changes: &ChangeSet,
        progress: &Progress,
    ) -> Result<SnapshotOutcome, SnapshotError> {
        self.inner.run(changes, progress)
    }

    /// Retire versions until the job's `keep` rules, `keep_versions` and budget hold
    /// ([`enforce_locked`]), under this session's lock.
    pub fn enforce(&self) -> Result<RetireReport, RetireError> {
        let limits = Limits::for_job(self.job())?;
        enforce_locked(self.folder(), &limits, self.inner.lock())
    }
}
