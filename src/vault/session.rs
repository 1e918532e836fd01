//! One locked writer session on a job folder, the way every writer writes: open (take the
//! job lock, finish a retire an earlier process left, clear partial builds, repair the
//! bookkeeping), commit ChangeSets, enforce the job's retention and limits, close (drop:
//! the lock is released). The daemon's workers and the commands write through one
//! (`crate::writer`), holding the lock from the commit through the retire, so nothing can
//! commit between a version and the retire that follows it.
//!
//! Where a ChangeSet comes from is not its business: the caller hands it one (from the
//! watches, or from a delta scan it ran under this session's lock).

use crate::config::JobConfig;
use crate::vault::layout::JobFolder;
use crate::vault::lock::JobLock;
use crate::vault::retire::{enforce_locked, Limits, RetireError, RetireReport};
use crate::vault::snapshot::SnapshotError;

/// A job folder open for writing, its lock held until the session is dropped. Committing
/// (`commit`, `newest`) is `vault::snapshot`'s part of it.
pub struct Session<'a> {
    pub(crate) job: &'a JobConfig,
    pub(crate) folder: JobFolder,
    lock: JobLock,
}

impl<'a> Session<'a> {
    /// Create the job folder if needed, take its lock (waiting while another writer holds
    /// it), finish a pending retire, remove leftover partial builds and repair the index
    /// and `latest`.
    pub fn open(job: &'a JobConfig) -> Result<Session<'a>, SnapshotError> {
        let root = job.job_dir();
        let folder = JobFolder::create(&root).map_err(|source| SnapshotError::Vault {
            job: job.name.clone(),
            path: root.clone(),
            source,
        })?;
        let lock = JobLock::acquire(&root).map_err(|source| SnapshotError::Lock {
            job: job.name.clone(),
            source,
        })?;
        let session = Session { job, folder, lock };
        crate::vault::retire::recover(&session.folder).map_err(|source| SnapshotError::Retire {
            job: job.name.clone(),
            source,
        })?;
        session.tidy()?;
        Ok(session)
    }

    /// The job written.
    pub fn job(&self) -> &'a JobConfig {
        self.job
    }

    /// Retire versions until the job's `keep` rules, `keep_versions` and budget hold
    /// ([`enforce_locked`]), under this session's lock.
    pub fn enforce(&self) -> Result<RetireReport, RetireError> {
        let limits = Limits::for_job(self.job)?;
        enforce_locked(&self.folder, &limits, &self.lock)
    }
}
