//! The per-job writer lock shared by the daemon and the one-shot commands: an exclusive
//! `flock` on `<job folder>/.reverberator/lock`. The lock lives as long as the
//! [`JobLock`] value (the kernel also drops it when the process dies, so a crash never
//! leaves a stale lock). The holder's pid is written into the file, for messages only.
//!
//! The lock is nix's `Flock` (an RAII `flock` that unlocks when dropped), used here directly:
//! it is this module's whole mechanism, and nothing else locks files.
//!
//! This module knows nothing about what the lock protects.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::fs::{Dir, OFlag};

/// The private folder inside a job folder (the layout's name for it).
pub use super::layout::PRIVATE_DIR;
/// The lock file's name inside [`PRIVATE_DIR`].
pub const LOCK_FILE: &str = "lock";

/// An exclusive hold on a job folder; released when dropped.
#[derive(Debug)]
pub struct JobLock {
    _lock: Flock<File>,
    path: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The job folder does not exist (it is created by the first snapshot, before locking).
    #[error("{path}: the job folder does not exist")]
    NoJobDir {
        /// The job folder.
        path: PathBuf,
    },
    /// Creating, opening or locking the lock file failed.
    #[error("{path}: cannot lock: {source}")]
    Io {
        /// The lock file (or the private folder).
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

impl JobLock {
    /// Take the lock of `job_dir`, waiting (with a log line saying so) while another
    /// process holds it. Creates `.reverberator/` and the lock file when missing; the
    /// job folder itself must exist.
    pub fn acquire(job_dir: &Path) -> Result<JobLock, LockError> {
        let file = open_lock_file(job_dir)?;
        let path = lock_path(job_dir);
        let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(JobLock::held(lock, path)),
            Err((file, Errno::EWOULDBLOCK)) => file,
            Err((_, e)) => return Err(io_error(&path, e.into())),
        };
        tracing::info!(
            lock = %path.display(),
            holder = read_pid(&file).map_or_else(|| "unknown".to_owned(), |p| p.to_string()),
            "waiting for the lock held by another reverberator process"
        );
        let lock = block_on(file).map_err(|e| io_error(&path, e))?;
        Ok(JobLock::held(lock, path))
    }

    /// Take the lock of `job_dir` if it is free: `Ok(None)` when another process (or
    /// another `JobLock` of this process) holds it.
    pub fn try_acquire(job_dir: &Path) -> Result<Option<JobLock>, LockError> {
        let file = open_lock_file(job_dir)?;
        let path = lock_path(job_dir);
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(JobLock::held(lock, path))),
            Err((_, Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(io_error(&path, e.into())),
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Wrap a taken lock, recording our pid in the file (best effort: messages only).
    fn held(mut lock: Flock<File>, path: PathBuf) -> JobLock {
        let _ = write_pid(&mut lock);
        JobLock { _lock: lock, path }
    }
}

/// `job_dir/.reverberator/lock`.
fn lock_path(job_dir: &Path) -> PathBuf {
    job_dir.join(PRIVATE_DIR).join(LOCK_FILE)
}

/// Make sure the private folder exists and open (create) the lock file, all relative to
/// the job folder's fd: a symlink planted at the job folder, the private folder or the
/// lock file is refused, never followed.
fn open_lock_file(job_dir: &Path) -> Result<File, LockError> {
    let dir = match Dir::open(job_dir) {
        Ok(dir) => dir,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(LockError::NoJobDir {
                path: job_dir.to_path_buf(),
            })
        }
        Err(e) => return Err(io_error(job_dir, e)),
    };
    let private = job_dir.join(PRIVATE_DIR);
    let private_dir = dir
        .ensure_child_dir(OsStr::new(PRIVATE_DIR), 0o755)
        .map_err(|e| io_error(&private, e))?;
    let flags = OFlag::O_RDWR | OFlag::O_CREAT;
    private_dir
        .open_file(OsStr::new(LOCK_FILE), flags, 0o600)
        .map_err(|e| io_error(&lock_path(job_dir), e))
}

/// Block until the exclusive lock is ours (retrying when a signal interrupts the wait).
fn block_on(mut file: File) -> io::Result<Flock<File>> {
    loop {
        match Flock::lock(file, FlockArg::LockExclusive) {
            Ok(lock) => return Ok(lock),
            Err((f, Errno::EINTR)) => file = f,
            Err((_, e)) => return Err(e.into()),
        }
    }
}

/// Replace the file's content with our pid.
fn write_pid(file: &mut File) -> io::Result<()> {
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())
}

/// The pid recorded by the current holder, if readable.
fn read_pid(mut file: &File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// A [`LockError::Io`] for `path`.
fn io_error(path: &Path, source: io::Error) -> LockError {
    LockError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn second_holder_is_refused_until_the_first_drops() {
        let dir = tempfile::tempdir().unwrap();
        let first = JobLock::try_acquire(dir.path()).unwrap().unwrap();
        assert!(first.path().ends_with(".reverberator/lock"));
        assert!(JobLock::try_acquire(dir.path()).unwrap().is_none());
        drop(first);
        assert!(JobLock::try_acquire(dir.path()).unwrap().is_some());
    }

    #[test]
    fn acquire_waits_for_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = JobLock::acquire(dir.path()).unwrap();
        let text = std::fs::read_to_string(first.path()).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        let (tx, rx) = mpsc::channel();
        let job = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            let lock = JobLock::acquire(&job);
            let _ = tx.send(lock.is_ok());
        });
        // Still blocked while the first lock is held.
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        drop(first);
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(true));
        waiter.join().unwrap();
    }

    #[test]
    fn a_missing_job_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = JobLock::acquire(&dir.path().join("nojob")).unwrap_err();
        assert!(matches!(err, LockError::NoJobDir { .. }));
        assert!(err.to_string().contains("nojob"));
    }

    #[test]
    fn planted_symlinks_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let job = dir.path().join("job");
        std::fs::create_dir(&job).unwrap();
        std::os::unix::fs::symlink(&outside, job.join(PRIVATE_DIR)).unwrap();
        assert!(JobLock::acquire(&job).is_err());
        std::fs::remove_file(job.join(PRIVATE_DIR)).unwrap();
        std::fs::create_dir(job.join(PRIVATE_DIR)).unwrap();
        std::os::unix::fs::symlink(outside.join("lock"), lock_path(&job)).unwrap();
        assert!(JobLock::acquire(&job).is_err());
        let linked_job = dir.path().join("linked");
        std::os::unix::fs::symlink(&outside, &linked_job).unwrap();
        assert!(JobLock::acquire(&linked_job).is_err());
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "wrote outside"
        );
    }
}
