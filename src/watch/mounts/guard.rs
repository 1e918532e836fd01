//! [`MountGuard`]: per job, whether its source and vault are on the filesystems they must
//! be on, judged against a [`MountTable`]. Sans-policy about what to do when they are not:
//! the daemon halts the job, the one-shot `snapshot` refuses. The only write it ever makes is
//! [`MountGuard::record_auto`], inside the job folder of a vault that matches.
//!
//! Rules per side (`source_fs` / `vault_fs`):
//! - an explicit spec (or the spec `auto` recorded): the path's filesystem must match it;
//! - `auto` before its first record, and an absent spec: the path must stay on the mount it
//!   was on when the guard started (or when it first became available); it is halted when
//!   it falls back to a parent filesystem (unmounted, `umount -l`, moved away), when another
//!   mount covers it, and when `/etc/fstab` lists a mount point between the path and the
//!   mount it is on now (a bare mountpoint);
//! - any spec: a missing or non-directory path is halted (not an error), and another mount
//!   stacked over the path while the baseline mount is still mounted is halted.

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use super::fstab::{read_fstab, unmounted_target};
use super::mountinfo::{mount_id_of, mount_id_of_fd, show, MountEntry, MountTable};
use super::signature::{probe, spec_matches, FsSignature};
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

#[derive(Debug)]
struct SideGuard {
    path: PathBuf,
    rule: Rule,
    /// The mount the path was on when last ready: the reference for fall-back and cover.
    baseline: Option<MountEntry>,
    /// The last probed signature and what it was probed for.
    cache: Option<(ProbeKey, FsSignature)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    Spec(FsSpec),
    /// `auto`: `Some` once recorded (or read from a trusted record).
    Auto(Option<FsSpec>),
    Absent,
}

/// A side that is not ready: what it waits for and why.
#[derive(Debug)]
struct Halt {
    awaiting: String,
    reason: String,
}

/// How the path's current mount relates to the baseline mount.
#[derive(Debug, PartialEq, Eq)]
enum Relation {
    /// The same mount, or the same directory of the same device at the same place.
    Same,
    /// The baseline is gone and another mount sits at the same mount point.
    Replaced,
    /// The baseline is gone and the path is now on a mount above it.
    FellBack,
    /// Another mount now decides what the path shows.
    Covered,
}

/// What a cached signature was probed for: the same entry, the same never-reused mount id
/// (Linux 6.8+) and the same `statvfs` fsid (derived from the UUID on ext4 and btrfs), so
/// a freed-and-reused mount id of another filesystem is probed afresh.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProbeKey {
    entry: MountEntry,
    unique_id: Option<u64>,
    fsid: Option<u64>,
}

impl MountGuard {
    /// The guard of `job`, with its baseline taken from the mount table now: which mount
    /// each path is on, and for `auto` the recorded signatures in
    /// `<job folder>/.reverberator/fs/{source,vault}` (read only when the vault path is on a
    /// filesystem that matches; a vault record that names another filesystem than the one
    /// holding it is ignored and re-recorded at the next [`MountGuard::record_auto`]).
    pub fn new(job: &JobConfig) -> MountGuard {
        let mut guard = MountGuard {
            job: job.name.clone(),
            job_dir: job.job_dir(),
            source: SideGuard::new(&job.source, job.source_fs.as_ref()),
            vault: SideGuard::new(&job.vault, job.vault_fs.as_ref()),
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
    fn open_checked_vault(&self) -> Result<std::os::fd::OwnedFd, MountError> {
        let record_err = |source| MountError::Record {
            job: self.job.clone(),
            path: self.vault.path.clone(),
            source,
        };
        let fd = record::open_vault(&self.vault.path).map_err(record_err)?;
        let expected = self.vault.baseline.as_ref().map(|b| b.mount_id);
        match mount_id_of_fd(fd.as_fd()) {
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
        vault_fd: &std::os::fd::OwnedFd,
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

impl Rule {
    fn from_config(spec: Option<&FsSpec>) -> Rule {
        match spec {
            None => Rule::Absent,
            Some(FsSpec::Auto) => Rule::Auto(None),
            Some(spec) => Rule::Spec(spec.clone()),
        }
    }

    fn spec(&self) -> Option<&FsSpec> {
        match self {
            Rule::Spec(spec) | Rule::Auto(Some(spec)) => Some(spec),
            Rule::Auto(None) | Rule::Absent => None,
        }
    }
}

impl Halt {
    fn into_check(self, side: Side) -> MountCheck {
        MountCheck::Halted {
            side,
            awaiting: self.awaiting,
            reason: self.reason,
        }
    }
}

impl SideGuard {
    fn new(path: &Path, spec: Option<&FsSpec>) -> SideGuard {
        SideGuard {
            path: path.to_owned(),
            rule: Rule::from_config(spec),
            baseline: None,
            cache: None,
        }
    }

    fn check(
        &mut self,
        table: &MountTable,
        fresh: &mut Option<MountTable>,
    ) -> Result<MountEntry, Halt> {
        self.ensure_directory()?;
        let entry = self.lookup(table, fresh)?;
        let table = fresh.as_ref().unwrap_or(table);
        match self.rule.spec().cloned() {
            Some(spec) => self.check_spec(&spec, &entry, table)?,
            None => self.check_unspecified(&entry, table)?,
        }
        self.baseline = Some(entry.clone());
        Ok(entry)
    }

    fn ensure_directory(&self) -> Result<(), Halt> {
        match std::fs::metadata(&self.path) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(self.halt(format!("{} is not a directory", self.path.display()))),
            Err(e) => Err(self.halt(format!("{} is not there ({e})", self.path.display()))),
        }
    }

    /// The path's mount; re-reads the table once when it is older than the path's mount.
    fn lookup(
        &self,
        table: &MountTable,
        fresh: &mut Option<MountTable>,
    ) -> Result<MountEntry, Halt> {
        if let Some(found) = fresh.as_ref().unwrap_or(table).mount_of(&self.path) {
            return Ok(found.clone());
        }
        if fresh.is_none() {
            *fresh = MountTable::read().ok();
        }
        fresh
            .as_ref()
            .and_then(|t| t.mount_of(&self.path).cloned())
            .ok_or_else(|| self.halt(format!("no mount holds {}", self.path.display())))
    }

    fn check_spec(
        &mut self,
        spec: &FsSpec,
        entry: &MountEntry,
        table: &MountTable,
    ) -> Result<(), Halt> {
        let sig = self.signature(entry);
        if !spec_matches(spec, &sig) {
            let path = self.path.display();
            return Err(self.halt(format!("{path} is on {}, not {spec}", sig.describe())));
        }
        match self.relation(entry, table) {
            Relation::Covered => Err(self.covered(entry)),
            _ => Ok(()),
        }
    }

    fn check_unspecified(&mut self, entry: &MountEntry, table: &MountTable) -> Result<(), Halt> {
        let canonical = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        let fstab = read_fstab();
        if let Some(want) = unmounted_target(&fstab, &canonical, &entry.mount_point) {
            return Err(self.halt(format!(
                "/etc/fstab mounts {} at {}, which is not mounted: {} is a bare directory on {}",
                want.spec,
                want.target.display(),
                self.path.display(),
                entry.mount_point.display()
            )));
        }
        match self.relation(entry, table) {
            Relation::Same | Relation::Replaced => Ok(()),
            Relation::Covered => Err(self.covered(entry)),
            Relation::FellBack => Err(self.fell_back(entry)),
        }
    }

    fn relation(&self, cur: &MountEntry, table: &MountTable) -> Relation {
        let Some(base) = &self.baseline else {
            return Relation::Same;
        };
        relation(base, cur, table)
    }

    fn signature(&mut self, entry: &MountEntry) -> FsSignature {
        let key = ProbeKey {
            entry: entry.clone(),
            unique_id: mount_id_of(&self.path, libc::STATX_MNT_ID_UNIQUE)
                .ok()
                .flatten(),
            fsid: nix::sys::statvfs::statvfs(&self.path)
                .ok()
                .map(|s| s.filesystem_id()),
        };
        if let Some((cached_key, sig)) = &self.cache {
            if *cached_key == key {
                return sig.clone();
            }
        }
        let sig = probe(&self.path, entry);
        self.cache = Some((key, sig.clone()));
        sig
    }

    /// What this side waits for, in words.
    fn awaiting(&self) -> String {
        if let Some(spec) = self.rule.spec() {
            return spec.to_string();
        }
        match &self.baseline {
            Some(b) => format!(
                "the filesystem that was mounted at {} ({} {})",
                b.mount_point.display(),
                b.fstype,
                show(&b.source)
            ),
            None => format!(
                "{} to be a directory on its filesystem",
                self.path.display()
            ),
        }
    }

    fn halt(&self, reason: String) -> Halt {
        Halt {
            awaiting: self.awaiting(),
            reason,
        }
    }

    fn covered(&self, cur: &MountEntry) -> Halt {
        self.halt(format!(
            "another mount ({} {}) at {} covers {}",
            cur.fstype,
            show(&cur.source),
            cur.mount_point.display(),
            self.path.display()
        ))
    }

    fn fell_back(&self, cur: &MountEntry) -> Halt {
        let was = self
            .baseline
            .as_ref()
            .map(|b| b.mount_point.display().to_string());
        self.halt(format!(
            "unmounted: {} was on the mount at {} and is now on {} ({} {})",
            self.path.display(),
            was.as_deref().unwrap_or("?"),
            cur.mount_point.display(),
            cur.fstype,
            show(&cur.source)
        ))
    }
}

fn relation(base: &MountEntry, cur: &MountEntry, table: &MountTable) -> Relation {
    if cur.mount_point == base.mount_point && cur.same_content(base) {
        return Relation::Same;
    }
    let base_present = table
        .by_id(base.mount_id)
        .is_some_and(|b| b.mount_point == base.mount_point && b.same_content(base));
    if base_present {
        Relation::Covered
    } else if cur.mount_point == base.mount_point {
        Relation::Replaced
    } else if base.mount_point.starts_with(&cur.mount_point) {
        Relation::FellBack
    } else {
        Relation::Covered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
        1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\
        20 1 8:17 / /mnt/usb rw - ext4 /dev/sdb1 rw\n\
        21 20 0:40 / /mnt/usb/src rw - tmpfs tmpfs rw\n";

    fn entry(table: &MountTable, id: u64) -> MountEntry {
        table.by_id(id).unwrap().clone()
    }

    #[test]
    fn relations_from_the_table() {
        let t = MountTable::from_str(TABLE).unwrap();
        let (root, usb, over) = (entry(&t, 1), entry(&t, 20), entry(&t, 21));
        assert_eq!(relation(&usb, &usb, &t), Relation::Same);
        // A tmpfs mounted over a directory below the baseline mount, baseline still there.
        assert_eq!(relation(&usb, &over, &t), Relation::Covered);
        // The baseline gone: the path shows the root filesystem again.
        let gone = MountTable::from_str("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n").unwrap();
        assert_eq!(relation(&usb, &root, &gone), Relation::FellBack);
        // The same disk back under another id and device number: replaced.
        let back = MountTable::from_str(
            "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n33 1 8:33 / /mnt/usb rw - ext4 /dev/sdc1 rw\n",
        )
        .unwrap();
        assert_eq!(relation(&usb, &entry(&back, 33), &back), Relation::Replaced);
        // The same device and root under a reused or new id: the same.
        let same = MountTable::from_str(
            "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n34 1 8:17 / /mnt/usb ro - ext4 /dev/sdb1 ro\n",
        )
        .unwrap();
        assert_eq!(relation(&usb, &entry(&same, 34), &same), Relation::Same);
        // Something stacked on the same mount point while the baseline is still under it.
        let stacked = MountTable::from_str(&format!(
            "{TABLE}40 20 0:50 / /mnt/usb rw - tmpfs none rw\n"
        ))
        .unwrap();
        assert_eq!(
            relation(&usb, &entry(&stacked, 40), &stacked),
            Relation::Covered
        );
    }

    #[test]
    fn rules_from_config() {
        assert_eq!(Rule::from_config(None), Rule::Absent);
        assert_eq!(Rule::from_config(Some(&FsSpec::Auto)), Rule::Auto(None));
        let uuid = FsSpec::Uuid("x".into());
        assert_eq!(Rule::from_config(Some(&uuid)).spec(), Some(&uuid));
        assert_eq!(Rule::Auto(None).spec(), None);
    }
}
