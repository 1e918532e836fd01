//! The delta scan: walk a job's source against its newest version and return the
//! ChangeSet between them. Used by the `snapshot` command, the daemon's start, inotify
//! overflow, resume after a remount and (as [`delta_full`]) `rescan_interval`.
//!
//! Each pair of directories (source, real directory of the newest version behind the
//! structural links) is listed once; names only in the source are `Created` (a new
//! directory is one entry: its subtree comes with it), names only in the version are
//! `Deleted`. For names in both: a different type is `Created` (a replacement); otherwise
//! size, mtime (ns), mode, uid and gid are compared. Equal size with a different mtime
//! compares xxh3 hashes: equal content is `Attrib`, else `Modified` (the seed's
//! `check_duplicate` rule). Symlinks compare their target text, owner and group (not their
//! own mtime). A directory whose mode, owner or mtime differs is `Attrib` (its mtime moves
//! whenever a name in it comes or goes).
//!
//! When the job copies xattrs (`vault::layout::navigate::copy_options`: every job today), an entry
//! equal in all of that is also compared on its xattrs, names and values, and a difference
//! is `Attrib` (the build then clones or copies it with the source's xattrs). Compared are
//! exactly those the copy reproduces (`fs::same_xattrs`): `user.*` on files and
//! directories (Linux has them nowhere else), `trusted.*`, the POSIX ACLs and, when root,
//! `security.capability`. Not compared: LSM labels (`security.selinux`, ...) and
//! filesystem-specific names (`btrfs.*`, ...), which the vault may hold differently by
//! design (comparing them would report the same entries at every scan), and everything
//! when the vault's filesystem has no xattrs. They are listed by directory fd and name
//! (`listxattrat`, else a `/proc/self/fd` path), never by opening the entry or following a
//! symlink. Also not compared: atime, and which names share an inode (a new hard link to an
//! unchanged file is not a change); ctime only decides what may be skipped, hashed or have
//! its xattrs read (below).
//!
//! # The ctime shortcut (git-index style)
//! A version committed from a delta scan records a scan base (`scan::base`,
//! `<job>/.reverberator/scan-base`): its number, the scan's start `T` (`CLOCK_REALTIME`
//! just before the walk) and the source root's device, inode and mount id. A complete
//! delta scan that finds nothing records one too, naming the newest version with its own
//! start: it saw that version's state as well as a commit would have, and without it every
//! daemon start would compare in full again whatever was written shortly before the last
//! commit (on a 100k-file tree made just before its V0: 1.1 s per start instead of 0.12 s). Every write,
//! truncate, chmod, chown, utimes, link and rename sets an entry's ctime to the kernel's
//! now, and nobody can set it back; so an entry whose ctime is older than `T - 2 s` (the
//! margin covers the kernel's coarse ctime clock) is in the state that scan saw, hence in
//! that version, hence (carried forward by later versions and retires) in the newest one.
//! [`delta`] therefore takes a non-directory source entry whose ctime is strictly below
//! that bound, whose type the version's listing shows and which lies on the root's
//! filesystem as unchanged **without stat-ing the version side**: one `fstatat` per entry,
//! like `find`. Directories are always compared and both sides always listed (a name
//! only in one side is still found). An entry whose ctime is at or above the bound gets
//! the full comparison, and a regular file of equal size and mtime is then hashed (a write
//! followed by `touch -d` to the old mtime is caught). `setxattr` and `removexattr` move the
//! ctime too, so xattrs are read only for entries at or above the bound: a directory below
//! it is stat-ed and listed but its xattrs are not read. Without a usable base (and in
//! [`delta_full`]) every entry's xattrs are listed, two calls per entry: on a 100k-file
//! tree in the page cache that full comparison took 0.53 s of CPU instead of 0.38 s, while
//! a scan with a base stayed at 0.26 s. The record's format says its scan compared xattrs;
//! a record from before (format 1) is ignored once. Versions built from inotify
//! ChangeSets keep the recorded base; a version with skipped entries, or committed from a
//! scan that could not read some source entry (its content was not compared), removes it.
//!
//! The base is ignored (full comparison) when it names a version newer than the newest,
//! starts in the future (the clock went back), names another source root or mount, in
//! referenced mode, and on filesystems whose ctime is not the local kernel's (only ext2/3/4,
//! XFS, btrfs, tmpfs, f2fs, ZFS, bcachefs are trusted; not FAT, NFS, SMB, FUSE).
//!
//! **Trade-off**: a change whose ctime lies below the bound is missed: the system clock
//! was set back between the change and the recorded scan (or the scan base lies), or the
//! vault's copy was altered behind reverberator's back. [`delta_full`] (the daemon's
//! `rescan_interval` scan) compares every entry and catches those.
//!
//! The walk runs on all cores (std scoped threads over a shared stack of directory
//! pairs), through directory fds, never following a source symlink, skipping the job's
//! excludes and the vault when it lies inside the source. It reads the vault, never
//! writes it, and knows nothing about how versions are built.

use std::path::{Path, PathBuf};

use crate::change::ChangeSet;
use crate::change::Progress;
use crate::config::JobConfig;
use crate::vault::layout::{JobFolder, Resolver};

pub mod base;
mod compare;
mod walk;

/// What a delta scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanOutcome {
    /// The job has no committed version yet: the next snapshot is version 0, whatever
    /// the source holds.
    NoVersion,
    /// The changes between the newest version and the source (possibly empty).
    Delta(ChangeSet),
}

/// Why a delta scan failed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The source root cannot be opened or listed.
    #[error("job {job}: source {path}: {source}")]
    Source {
        /// The job name.
        job: String,
        /// The source path concerned.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The newest version (or its bookkeeping) cannot be read.
    #[error("job {job}: vault {path}: {source}")]
    Vault {
        /// The job name.
        job: String,
        /// The vault path concerned.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

/// Compare `job`'s source with its newest version, trusting a usable scan base (the ctime
/// shortcut, see the module docs).
pub fn delta(job: &JobConfig) -> Result<ScanOutcome, ScanError> {
    Ok(scan(job, &Progress::default(), true)?.0)
}

/// Compare `job`'s source with its newest version entry by entry, without the ctime
/// shortcut (the `rescan_interval` scan: it also catches what the shortcut cannot see).
pub fn delta_full(job: &JobConfig) -> Result<ScanOutcome, ScanError> {
    Ok(scan(job, &Progress::default(), false)?.0)
}

/// A delta scan with (`shortcut`) or without the ctime shortcut, and whether it read every
/// source entry (only a complete scan may record a scan base).
pub(crate) fn scan(
    job: &JobConfig,
    progress: &Progress,
    shortcut: bool,
) -> Result<(ScanOutcome, bool), ScanError> {
    let root = job.job_dir();
    let vault_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScanError::Vault {
            job: job.name.clone(),
            path,
            source,
        }
    };
    let folder = match JobFolder::open(&root) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((ScanOutcome::NoVersion, true))
        }
        Err(e) => return Err(vault_err(&root)(e)),
    };
    let Some(latest) = folder.latest().map_err(vault_err(&root))? else {
        return Ok((ScanOutcome::NoVersion, true));
    };
    let resolver = Resolver::new(&folder).map_err(vault_err(&root))?;
    let recorded = base::read(&root);
    let walk = walk::Walk::new(
        job, &folder, &resolver, &latest, progress, recorded, shortcut,
    );
    let (changes, complete) = walk.run()?;
    Ok((ScanOutcome::Delta(changes), complete))
}
