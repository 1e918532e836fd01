//! One side (source or vault) of a [`super::guard::MountGuard`]: its rule, its baseline
//! mount and its cached signature, and the verdict for a mount table. No writes, no jobs:
//! the guard owns those.

use std::path::{Path, PathBuf};

use super::fstab::{read_fstab, unmounted_target};
use super::mountinfo::{show, MountEntry, MountTable};
use super::signature::{probe, spec_matches, FsSignature};
use super::{MountCheck, Side};
use crate::config::FsSpec;
use crate::fs::MountId;

#[derive(Debug)]
pub(super) struct SideGuard {
    pub(super) path: PathBuf,
    pub(super) rule: Rule,
    /// The mount the path was on when last ready: the reference for fall-back and cover.
    pub(super) baseline: Option<MountEntry>,
    /// The last probed signature and what it was probed for.
    cache: Option<(ProbeKey, FsSignature)>,
    /// The fstab consulted for bare mountpoints (`/etc/fstab`; tests point it elsewhere).
    fstab: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Rule {
    Spec(FsSpec),
    /// `auto`: `Some` once recorded (or read from a trusted record).
    Auto(Option<FsSpec>),
    Absent,
}

/// A side that is not ready: what it waits for and why.
#[derive(Debug)]
pub(super) struct Halt {
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

impl Rule {
    pub(super) fn from_config(spec: Option<&FsSpec>) -> Rule {
        match spec {
            None => Rule::Absent,
            Some(FsSpec::Auto) => Rule::Auto(None),
            Some(spec) => Rule::Spec(spec.clone()),
        }
    }

    pub(super) fn spec(&self) -> Option<&FsSpec> {
        match self {
            Rule::Spec(spec) | Rule::Auto(Some(spec)) => Some(spec),
            Rule::Auto(None) | Rule::Absent => None,
        }
    }
}

impl Halt {
    pub(super) fn into_check(self, side: Side) -> MountCheck {
        MountCheck::Halted {
            side,
            awaiting: self.awaiting,
            reason: self.reason,
        }
    }
}

impl SideGuard {
    pub(super) fn new(path: &Path, spec: Option<&FsSpec>, fstab: &Path) -> SideGuard {
        SideGuard {
            path: path.to_owned(),
            rule: Rule::from_config(spec),
            baseline: None,
            cache: None,
            fstab: fstab.to_owned(),
        }
    }

    pub(super) fn check(
        &mut self,
        table: &MountTable,
        fresh: &mut Option<MountTable>,
    ) -> Result<MountEntry, Halt> {
        self.ensure_directory()?;
        let canonical = std::fs::canonicalize(&self.path).ok();
        let entry = self.lookup(table, fresh, canonical.as_deref())?;
        let table = fresh.as_ref().unwrap_or(table);
        match self.rule.spec().cloned() {
            Some(spec) => self.check_spec(&spec, &entry, table)?,
            None => self.check_unspecified(&entry, table, canonical.as_deref())?,
        }
        self.baseline = Some(entry.clone());
        Ok(entry)
    }

    fn ensure_directory(&self) -> Result<(), Halt> {
        match std::fs::metadata(&self.path) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(self.halt(format!("{} is not a directory", self.path.display()))),
            Err(e) => Err(self.halt(format!(
                "{} is not there ({e}): mount the disk that holds it (the job resumes when it \
                 is mounted), or create the folder and restart the daemon",
                self.path.display()
            ))),
        }
    }

    /// The path's mount (`canonical`: its canonical form); re-reads the table once when it
    /// is older than the path's mount.
    fn lookup(
        &self,
        table: &MountTable,
        fresh: &mut Option<MountTable>,
        canonical: Option<&Path>,
    ) -> Result<MountEntry, Halt> {
        let find = |t: &MountTable| t.mount_of_resolved(&self.path, canonical).cloned();
        if let Some(found) = find(fresh.as_ref().unwrap_or(table)) {
            return Ok(found);
        }
        if fresh.is_none() {
            *fresh = MountTable::read().ok();
        }
        fresh
            .as_ref()
            .and_then(find)
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

    fn check_unspecified(
        &mut self,
        entry: &MountEntry,
        table: &MountTable,
        canonical: Option<&Path>,
    ) -> Result<(), Halt> {
        let canonical = canonical.unwrap_or(&self.path);
        let fstab = read_fstab(&self.fstab);
        if let Some(want) = unmounted_target(&fstab, canonical, &entry.mount_point) {
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
        let base = self.baseline.as_ref();
        base.map_or(Relation::Same, |base| relation(base, cur, table))
    }

    pub(super) fn signature(&mut self, entry: &MountEntry) -> FsSignature {
        let key = ProbeKey {
            entry: entry.clone(),
            unique_id: crate::fs::mount_id(&self.path, MountId::Unique)
                .ok()
                .flatten(),
            fsid: crate::fs::fs_id(&self.path).ok(),
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
