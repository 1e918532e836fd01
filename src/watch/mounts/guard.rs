//! [`MountGuard`]: per job, whether its source and vault are on the filesystems they must
//! be on, judged against a [`MountTable`]. Sans-policy about what to do when they are not:
//! the daemon halts the job, the one-shot `snapshot` refuses. The only write it ever makes is
//! [`MountGuard::record_auto`], inside the job folder of a vault that matches.
//!
//! Rules per side (`source_fs` / `vault_fs`, judged by `side.rs`):
//! - an explicit spec (or the spec `auto` recorded): the path's filesystem must match it;
//! - `auto` before its first record, and an absent spec: the path must stay on the mount it
//!   was on when the guard started (or when it first became available); it is halted when
//!   it falls back to a parent filesystem (unmounted, `umount -l`, moved away), when another
//!   mount covers it, and when `/etc/fstab` lists a mount point between the path and the
//!   mount it is on now (a bare mountpoint);
//! - any spec: a missing or non-directory path is halted (not an error), and another mount
//!   stacked over the path while the baseline mount is still mounted is halted.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::fstab::FSTAB;
use super::mountinfo::MountTable;
use super::side::{Rule, SideGuard};
use super::signature::{spec_matches, FsSignature};
use super::{record, MountCheck, MountError, Side};
use crate::config::{sanitize_job_name, FsSpec, JobConfig};

/// The mount guard of one job (see the module docs for the rules).
#[derive(Debug)]
pub struct MountGuard {
    job: String,
    job_dir: PathBuf,
    source: SideGuard,
    vault: SideGuard,
}

impl MountGuard {
    /// The guard of `job`, with its baseline taken from the mount table now: which mount
    /// each path is on, and for `auto` the recorded signatures in
    /// `<job folder>/.reverberator/fs/{source,vault}` (read only when the vault path is on a
    /// filesystem that matches; a vault record that names another filesystem than the one
    /// holding it is ignored and re-recorded at the next [`MountGuard::record_auto`]).
    pub fn new(job: &JobConfig) -> MountGuard {
        Self::with_fstab(job, Path::new(FSTAB))
    }

    /// [`MountGuard::new`] consulting `fstab` instead of `/etc/fstab` (tests).
    pub(crate) fn with_fstab(job: &JobConfig, fstab: &Path) -> MountGuard {
        let mut guard = MountGuard {
            job: job.name.clone(),
            job_dir: job.job_dir(),
            source: SideGuard::new(&job.source, job.source_fs.as_ref(), fstab),
            vault: SideGuard::new(&job.vault, job.vault_fs.as_ref(), fstab),
        };
        match MountTable::read() {
            Ok(table) => {
                guard.check(&table);
            }
            Err(e) => tracing::warn!(job = %guard.job, "cannot read the mount table: {e}"),
        }
        guard
    }

    /// Judge both sides against `table` (re-read once when the table is older than a
    /// path's mount). The source is reported first when both are halted. Cost: a few
    /// `stat`s, plus `findmnt`/`blkid` only when a path's mount changed since the last
    /// check; a path on a dead network filesystem can block in `stat`.
    pub fn check(&mut self, table: &MountTable) -> MountCheck {
        let mut fresh = None;
        let vault = self.vault.check(table, &mut fresh);
        if vault.is_ok() {
            self.load_records();
        }
        let source = self.source.check(table, &mut fresh);
        match (source, vault) {
            (Err(h), _) => h.into_check(Side::Source),
            (Ok(_), Err(h)) => h.into_check(Side::Vault),
            (Ok(_), Ok(_)) => MountCheck::Ready,
        }
    }

    /// Record the signature of every `auto` side that has none yet into
    /// `<job folder>/.reverberator/fs/{source,vault}`; call it after the job's first
    /// successful run, with both sides ready. Returns whether anything was written.
    ///
    /// Refuses (error, nothing written) unless a fresh check says both sides are ready.
    /// The writes go through a vault directory fd whose mount id is checked against the
    /// mount just judged, so an unmount between the check and the write cannot send them
    /// into a bare mountpoint. Creates the job folder only under those conditions.
    pub fn record_auto(&mut self, job: &JobConfig) -> Result<bool, MountError> {
        let pending: Vec<Side> = [Side::Vault, Side::Source]
            .into_iter()
            .filter(|s| self.side(*s).rule == Rule::Auto(None))
            .collect();
        if pending.is_empty() {
            return Ok(false);
        }
        let table = MountTable::read().map_err(|source| MountError::Mountinfo { source })?;
        if let MountCheck::Halted { side, reason, .. } = self.check(&table) {
            return Err(self.not_ready(side, reason));
        }
        let vault_fd = self.open_checked_vault()?;
        for side in pending {
            self.record_side(job, side, &vault_fd)?;
        }
        Ok(true)
    }

    /// The spec each side requires now (`None`: no signature configured or recorded yet).
    pub fn required(&self, side: Side) -> Option<&FsSpec> {
        self.side(side).rule.spec()
    }

    fn side(&self, side: Side) -> &SideGuard {
        match side {
            Side::Source => &self.source,
            Side::Vault => &self.vault,
        }
    }

    fn side_mut(&mut self, side: Side) -> &mut SideGuard {
        match side {
            Side::Source => &mut self.source,
            Side::Vault => &mut self.vault,
        }
    }

    fn not_ready(&self, side: Side, reason: String) -> MountError {
        MountError::NotReady {
            job: self.job.clone(),
            side,
            reason,
        }
    }

    /// An fd of the vault directory, provided it is on the mount the last check accepted.
    fn open_checked_vault(&self) -> Result<crate::fs::Dir, MountError> {
        let record_err = |source| MountError::Record {
            job: self.job.clone(),
            path: self.vault.path.clone(),
            source,
        };
        let fd = record::open_vault(&self.vault.path).map_err(record_err)?;
        let expected = self.vault.baseline.as_ref().map(|b| b.mount_id);
        match fd.mount_id() {
            Ok(id) if id == expected => Ok(fd),
            Err(_) if expected.is_some() => Ok(fd),
            _ => Err(self.not_ready(
                Side::Vault,
                "the vault's mount changed during the check".into(),
            )),
        }
    }

    fn record_side(
        &mut self,
        job: &JobConfig,
        side: Side,
        vault_fd: &crate::fs::Dir,
    ) -> Result<(), MountError> {
        let guard = self.side_mut(side);
        let entry = guard.baseline.clone().ok_or_else(|| MountError::NoMount {
            path: guard.path.clone(),
        })?;
        let sig = guard.signature(&entry);
        let spec = sig.to_spec().ok_or_else(|| MountError::NoMount {
            path: guard.path.clone(),
        })?;
        let text = record_text(job, side, &spec, &sig);
        let folder = OsString::from(sanitize_job_name(&job.name));
        record::write(vault_fd, &folder, side, &text).map_err(|source| MountError::Record {
            job: job.name.clone(),
            path: record::record_path(&job.job_dir(), side),
            source,
        })?;
        tracing::info!(job = %job.name, %side, %spec, "recorded the filesystem signature");
        self.side_mut(side).rule = Rule::Auto(Some(spec));
        Ok(())
    }

    /// Adopt the records of `auto` sides that have none yet (the vault is ready).
    fn load_records(&mut self) {
        for side in [Side::Vault, Side::Source] {
            if self.side(side).rule != Rule::Auto(None) {
                continue;
            }
            let Some(spec) = self.read_record(side) else {
                continue;
            };
            if side == Side::Vault && !self.vault_record_trusted(&spec) {
                continue;
            }
            self.side_mut(side).rule = Rule::Auto(Some(spec));
        }
    }

    fn read_record(&self, side: Side) -> Option<FsSpec> {
        match record::read(&self.job_dir, side) {
            Ok(text) => text.as_deref().and_then(record::parse_record),
            Err(e) => {
                let path = record::record_path(&self.job_dir, side);
                tracing::warn!(job = %self.job, "cannot read {}: {e}", path.display());
                None
            }
        }
    }

    fn vault_record_trusted(&mut self, spec: &FsSpec) -> bool {
        let Some(entry) = self.vault.baseline.clone() else {
            return false;
        };
        let sig = self.vault.signature(&entry);
        let trusted = spec_matches(spec, &sig);
        if !trusted {
            tracing::warn!(
                job = %self.job,
                "the vault record names {spec} but the vault is on {}: ignoring the record",
                sig.describe()
            );
        }
        trusted
    }
}

fn record_text(job: &JobConfig, side: Side, spec: &FsSpec, sig: &FsSignature) -> String {
    format!(
        "{spec}\n# recorded by reverberator {} for job {:?} ({side} {:?}) at {}: {}\n",
        env!("CARGO_PKG_VERSION"),
        job.name,
        match side {
            Side::Source => &job.source,
            Side::Vault => &job.vault,
        },
        chrono::Local::now().to_rfc3339(),
        sig.describe(),
    )
}
