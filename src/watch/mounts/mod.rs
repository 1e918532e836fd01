//! Mount awareness: which filesystem a job's source and vault are on, and whether that is
//! still the one they must be on (docs/MOUNTS.md has the rules and the identity caveats).
//!
//! - [`MountTable`] (`mountinfo`): `/proc/self/mountinfo` parsed, a path mapped to its
//!   mount by mount id, two tables diffed. The mount table is the authority: `IN_UNMOUNT`
//!   comes only when a superblock dies, never for `umount -l` with open files, for one of
//!   two bind mounts or for a filesystem mounted over a directory.
//! - [`FsSignature`], [`signature_of`], [`spec_matches`] (`signature`): a filesystem's
//!   identity (UUID, PARTUUID, LABEL, PARTLABEL, device) via `findmnt`/`blkid`.
//! - [`MountGuard`] (`guard`): per job, `Ready` or `Halted` with the side that left, the
//!   signature awaited and why; records `auto` signatures in the job folder (`record`).
//! - [`MountWatcher`] (`watcher`): the mount table as a `mio` source.
//!
//! This module knows the job's paths and the location of the `auto` records inside the job
//! folder, nothing else about vaults; it never halts or resumes anything itself.
//!
//! # In an event loop
//!
//! ```no_run
//! use mio::{Events, Interest, Poll, Token};
//! use reverberator::watch::mounts::{MountCheck, MountGuard, MountWatcher};
//! # fn jobs() -> Vec<reverberator::config::JobConfig> { Vec::new() }
//! # fn main() -> std::io::Result<()> {
//! const MOUNTS: Token = Token(0);
//! let jobs = jobs();
//! let mut poll = Poll::new()?;
//! let mut watcher = MountWatcher::new()?;
//! poll.registry().register(&mut watcher, MOUNTS, Interest::PRIORITY)?;
//! // At job start: a job whose paths are not there starts halted, the others run.
//! let mut guards: Vec<MountGuard> = jobs.iter().map(MountGuard::new).collect();
//! let mut events = Events::with_capacity(64);
//! loop {
//!     poll.poll(&mut events, None)?;
//!     let mount_event = events.iter().any(|e| e.token() == MOUNTS);
//!     if mount_event && watcher.drain() {
//!         for (job, guard) in jobs.iter().zip(&mut guards) {
//!             match guard.check(watcher.table()) {
//!                 MountCheck::Ready => { /* resume if halted: delta scan, snapshot */ }
//!                 MountCheck::Halted { side, awaiting, reason } => {
//!                     /* drop watches and the ChangeSet; status shows side + awaiting */
//!                 }
//!             }
//!             // After the job's first successful snapshot: guard.record_auto(job)
//! #           let _ = job;
//!         }
//!     }
//! }
//! # }
//! ```

use std::fmt;
use std::io;
use std::path::PathBuf;

pub mod fstab;
mod guard;
pub mod mountinfo;
pub mod record;
mod side;
mod signature;
mod watcher;

pub use guard::MountGuard;
pub use mountinfo::{MountDiff, MountEntry, MountTable, MountinfoError};
pub use signature::{parse_blkid_export, parse_findmnt, signature_of, spec_matches, FsSignature};
pub use watcher::MountWatcher;

use crate::config::JobConfig;

/// Which path of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The directory versions are taken of.
    Source,
    /// The vault root the job folder lives in.
    Vault,
}

impl Side {
    /// `source` or `vault` (also the record file names).
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Vault => "vault",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a job may run now, as far as mounts are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountCheck {
    /// Source and vault are on the filesystems they must be on.
    Ready,
    /// The job must not read its source or write its vault (the daemon's
    /// `halted-unmounted`; a one-shot `snapshot` refuses).
    Halted {
        /// Which side left (the source when both did).
        side: Side,
        /// What the job waits for: a spec text (`uuid=…`) or a description of the mount.
        awaiting: String,
        /// Why it is halted, naming the path and what it is on now.
        reason: String,
    },
}

impl MountCheck {
    /// True for [`MountCheck::Ready`].
    pub fn is_ready(&self) -> bool {
        matches!(self, MountCheck::Ready)
    }
}

impl fmt::Display for MountCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MountCheck::Ready => f.write_str("ready"),
            MountCheck::Halted {
                side,
                awaiting,
                reason,
            } => write!(
                f,
                "halted: the {side} is not available: {reason} (awaiting {awaiting})"
            ),
        }
    }
}

/// Why a mount fact could not be established or a record not written.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// `/proc/self/mountinfo` could not be read or parsed.
    #[error("cannot read {}: {source}", mountinfo::MOUNTINFO)]
    Mountinfo {
        /// What the OS or the parser said.
        source: io::Error,
    },
    /// No mount holds the path (it does not exist, or cannot be statted).
    #[error("{}: not found in the mount table (does it exist?)", path.display())]
    NoMount {
        /// The path asked about.
        path: PathBuf,
    },
    /// `record_auto` was called while a side is not ready: nothing was written.
    #[error("job {job}: not recording filesystem signatures: the {side} is not ready: {reason}")]
    NotReady {
        /// The job.
        job: String,
        /// The side that is not ready.
        side: Side,
        /// Why.
        reason: String,
    },
    /// A record file could not be written.
    #[error("job {job}: {}: {source}", path.display())]
    Record {
        /// The job.
        job: String,
        /// The record (or vault) path.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
}

/// The mount check of a one-shot command: a fresh [`MountGuard`] checked against the mount
/// table now. `snapshot` refuses a `Halted` job with its reason.
pub fn check_job_once(job: &JobConfig) -> MountCheck {
    let mut guard = MountGuard::new(job);
    match MountTable::read() {
        Ok(table) => guard.check(&table),
        Err(e) => MountCheck::Halted {
            side: Side::Source,
            awaiting: format!("a readable {}", mountinfo::MOUNTINFO),
            reason: format!("cannot read {}: {e}", mountinfo::MOUNTINFO),
        },
    }
}

#[cfg(test)]
mod tests;
