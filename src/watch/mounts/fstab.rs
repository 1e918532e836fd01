//! `/etc/fstab` as a hint about where filesystems belong: a path below an fstab mount point
//! that is not mounted now sits in a bare mountpoint directory on the parent filesystem.
//! Used only where no signature is configured or recorded (absent spec, `auto` before its
//! first run). Parsing is pure and tested on literal text; nothing here knows about jobs.

use std::path::{Path, PathBuf};

use super::mountinfo::unescape;

/// Where the system's static mount list lives.
pub const FSTAB: &str = "/etc/fstab";

/// One mount point listed in fstab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FstabEntry {
    /// The first field as written (`UUID=…`, `LABEL=…`, `/dev/sdb1`).
    pub spec: String,
    /// The mount point (absolute; `\040` decoded).
    pub target: PathBuf,
}

/// The mount points of `text` (fstab syntax). Comments, blank lines, swap and entries
/// whose target is not an absolute path (`none`) are skipped. `noauto` entries are kept:
/// a backup disk that is mounted by hand is exactly what must not be mistaken for its
/// empty mountpoint.
pub fn parse_fstab(text: &str) -> Vec<FstabEntry> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let spec = fields.next()?.to_owned();
            let target = PathBuf::from(unescape(fields.next()?.as_bytes()));
            let fstype = fields.next().unwrap_or("");
            (target.is_absolute() && fstype != "swap").then_some(FstabEntry { spec, target })
        })
        .collect()
}

/// Read an fstab file ([`FSTAB`] in production); an unreadable or missing file lists
/// nothing.
pub fn read_fstab(path: &Path) -> Vec<FstabEntry> {
    std::fs::read(path)
        .map(|b| parse_fstab(&String::from_utf8_lossy(&b)))
        .unwrap_or_default()
}

/// The deepest fstab mount point that holds `canonical` (at or above it) and lies strictly
/// below `current_mount_point`, the mount point `canonical` is on now: a filesystem that
/// belongs there is not mounted.
pub fn unmounted_target<'a>(
    fstab: &'a [FstabEntry],
    canonical: &Path,
    current_mount_point: &Path,
) -> Option<&'a FstabEntry> {
    fstab
        .iter()
        .filter(|e| canonical.starts_with(&e.target))
        .filter(|e| e.target.starts_with(current_mount_point) && e.target != current_mount_point)
        .max_by_key(|e| e.target.components().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# /etc/fstab\n\
        UUID=1111 / ext4 defaults 0 1\n\
        \n\
        LABEL=backup /mnt/back\\040up ext4 noauto,nofail 0 2\n\
        /dev/sda2 none swap sw 0 0\n\
        /dev/sdc1 /srv/data xfs defaults 0 0\n\
        tmpfs /srv/data/cache tmpfs defaults 0 0\n";

    #[test]
    fn parses_targets_and_skips_swap_and_comments() {
        let targets: Vec<_> = parse_fstab(TEXT).into_iter().map(|e| e.target).collect();
        let want = ["/", "/mnt/back up", "/srv/data", "/srv/data/cache"];
        assert_eq!(targets, want.map(PathBuf::from));
    }

    #[test]
    fn finds_the_deepest_unmounted_target() {
        let fstab = parse_fstab(TEXT);
        let hit = |path: &str, mp: &str| {
            unmounted_target(&fstab, Path::new(path), Path::new(mp)).map(|e| e.spec.clone())
        };
        assert_eq!(hit("/mnt/back up/job", "/"), Some("LABEL=backup".into()));
        assert_eq!(hit("/mnt/back up/job", "/mnt/back up"), None);
        assert_eq!(hit("/srv/data/cache/x", "/"), Some("tmpfs".into()));
        assert_eq!(hit("/srv/data/cache/x", "/srv/data"), Some("tmpfs".into()));
        assert_eq!(hit("/srv/data/cache/x", "/srv/data/cache"), None);
        assert_eq!(hit("/home/u", "/"), None);
        assert_eq!(hit("/mnt/back upx", "/"), None);
    }
}
