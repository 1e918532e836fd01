//! The scan base: what the last full delta scan vouches for, in
//! `<job>/.reverberator/scan-base`.
//!
//! A version committed from a delta scan ([`crate::writer::Source::Scan`])
//! records here its number, the scan's start (`CLOCK_REALTIME` read just before the walk),
//! and the identity of the source root (device, inode, mount id). A later scan trusts a
//! non-directory source entry whose ctime is older than `start - MARGIN` to equal the
//! newest version's entry without stat-ing the version side (see the `scan` module docs for
//! the rule and its trade-off). This file owns only the record: capturing, writing
//! (temp + rename), reading and validating it; it knows nothing about walks or versions.

use std::io;
use std::path::{Path, PathBuf};

use crate::fs::{Dir, Timestamp};
use crate::vault::layout::PRIVATE_DIR;

/// File name of the record inside the job's private folder.
pub const FILE: &str = "scan-base";
/// First line of the record (format version). Version 2: the scan that wrote it compared
/// xattrs (for jobs that copy them). A version-1 record is not read: its scan did not, so
/// versions may hold stale xattrs on entries it vouches for; the next scan is a full
/// comparison and records version 2.
const HEADER: &str = "reverberator scan-base 2";
/// Safety margin below the recorded start: covers the kernel's coarse ctime clock (it lags
/// `CLOCK_REALTIME` by up to a tick, at most 10 ms) with a wide margin.
pub const MARGIN_NS: i128 = 2_000_000_000;

/// Filesystems whose ctime is a real change time set by the local kernel clock (ext2/3/4,
/// XFS, btrfs, tmpfs, f2fs, ZFS, bcachefs). Elsewhere (FAT: ctime is the creation time;
/// NFS, SMB, FUSE: another machine's clock) the shortcut is off.
const TRUSTED_FS: [i64; 7] = [
    crate::fs::EXT4_MAGIC,
    crate::fs::XFS_MAGIC,
    0x9123_683E,
    0x0102_1994,
    0xF2F5_2010,
    0x2FC1_2FC1,
    0xCA45_1A4E,
];

/// The source root's identity and the moment a scan of it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// `CLOCK_REALTIME` in ns just before the walk started.
    pub start_ns: i128,
    /// `st_dev` of the source root.
    pub dev: u64,
    /// `st_ino` of the source root.
    pub ino: u64,
    /// The mount id of the source root (`statx` `STATX_MNT_ID`), when the kernel says.
    pub mnt_id: Option<u64>,
}

/// A recorded scan base: the version a full scan committed, and its [`Stamp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanBase {
    /// The version committed from that scan.
    pub version: u64,
    /// When and what it scanned.
    pub stamp: Stamp,
}

/// `CLOCK_REALTIME` now, in ns since the epoch.
pub fn now_ns() -> i128 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    i128::try_from(d).unwrap_or(i128::MAX)
}

/// Capture the stamp of `source` now (call just before the walk starts).
pub fn capture(source: &Path) -> io::Result<Stamp> {
    let start_ns = now_ns();
    let dir = Dir::open(source)?;
    identity(&dir, start_ns)
}

/// The stamp of the open source root `dir` with the given start.
pub fn identity(dir: &Dir, start_ns: i128) -> io::Result<Stamp> {
    let m = dir.stat_self()?;
    Ok(Stamp {
        start_ns,
        dev: m.dev,
        ino: m.ino,
        mnt_id: dir.mount_id().ok().flatten(),
    })
}

/// Whether the filesystem holding `dir` keeps a trustworthy local ctime.
pub fn trusted_fs(dir: &Dir) -> bool {
    dir.fs_type().is_ok_and(|t| TRUSTED_FS.contains(&t.magic))
}

/// `<job_dir>/.reverberator/scan-base`.
pub fn path(job_dir: &Path) -> PathBuf {
    job_dir.join(PRIVATE_DIR).join(FILE)
}

/// Write the record atomically (temp file + rename, through the private folder's fd: a
/// symlink planted at either name is never followed).
pub fn write(job_dir: &Path, base: &ScanBase) -> io::Result<()> {
    let s = base.stamp;
    let mnt = s.mnt_id.map_or_else(|| "-".to_owned(), |m| m.to_string());
    let text = format!(
        "{HEADER}\nversion {}\nstart_ns {}\nmargin_ns {MARGIN_NS}\ndev {}\nino {}\nmnt_id {mnt}\n",
        base.version, s.start_ns, s.dev, s.ino
    );
    crate::fs::write_atomic(&path(job_dir), text.as_bytes())
}

/// Remove the record (no shortcut until the next clean full scan). Absent is fine.
pub fn remove(job_dir: &Path) -> io::Result<()> {
    match std::fs::remove_file(path(job_dir)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Read the record; `None` when absent, unreadable or malformed.
pub fn read(job_dir: &Path) -> Option<ScanBase> {
    parse(&std::fs::read_to_string(path(job_dir)).ok()?)
}

fn parse(text: &str) -> Option<ScanBase> {
    let mut lines = text.lines();
    if lines.next()? != HEADER {
        return None;
    }
    let mut field = |key: &str| {
        let line = lines.next()?;
        line.strip_prefix(key)?.strip_prefix(' ').map(str::to_owned)
    };
    let version = field("version")?.parse().ok()?;
    let start_ns = field("start_ns")?.parse().ok()?;
    let _margin: i128 = field("margin_ns")?.parse().ok()?;
    let dev = field("dev")?.parse().ok()?;
    let ino = field("ino")?.parse().ok()?;
    let mnt = field("mnt_id")?;
    let mnt_id = if mnt == "-" {
        None
    } else {
        Some(mnt.parse().ok()?)
    };
    Some(ScanBase {
        version,
        stamp: Stamp {
            start_ns,
            dev,
            ino,
            mnt_id,
        },
    })
}

/// Why a recorded base cannot be used for this scan, or `None` when it can.
pub fn refuse(base: &ScanBase, newest: u64, now: &Stamp) -> Option<&'static str> {
    let b = &base.stamp;
    if base.version > newest {
        Some("names a version newer than the newest")
    } else if b.start_ns > now.start_ns {
        Some("starts in the future (clock moved back?)")
    } else if (b.dev, b.ino) != (now.dev, now.ino) {
        Some("names another source root (device/inode differ)")
    } else if b.mnt_id.is_some() && b.mnt_id != now.mnt_id {
        Some("names another mount of the source")
    } else {
        None
    }
}

/// The ctime bound of a usable base, in ns: entries changed strictly before it are vouched for.
pub fn bound_ns(base: &ScanBase) -> i128 {
    base.stamp.start_ns - MARGIN_NS
}

/// `t` in ns since the epoch.
pub fn ns(t: &Timestamp) -> i128 {
    i128::from(t.sec) * 1_000_000_000 + i128::from(t.nsec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ScanBase {
        ScanBase {
            version: 3,
            stamp: Stamp {
                start_ns: 1_700_000_000_123_456_789,
                dev: 2049,
                ino: 77,
                mnt_id: Some(31),
            },
        }
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join(PRIVATE_DIR)).unwrap();
        assert_eq!(read(t.path()), None);
        write(t.path(), &base()).unwrap();
        assert_eq!(read(t.path()), Some(base()));
        let mut no_mnt = base();
        no_mnt.stamp.mnt_id = None;
        write(t.path(), &no_mnt).unwrap();
        assert_eq!(read(t.path()), Some(no_mnt));
        std::fs::write(path(t.path()), "reverberator scan-base 2\nversion x\n").unwrap();
        assert_eq!(read(t.path()), None);
        let body = "version 3\nstart_ns 1\nmargin_ns 2000000000\ndev 1\nino 2\nmnt_id -\n";
        std::fs::write(path(t.path()), format!("{HEADER}\n{body}")).unwrap();
        assert_eq!(read(t.path()).map(|b| b.version), Some(3));
        std::fs::write(path(t.path()), format!("reverberator scan-base 1\n{body}")).unwrap();
        assert_eq!(
            read(t.path()),
            None,
            "format 1 (xattrs not compared) is not trusted"
        );
        std::fs::write(path(t.path()), "").unwrap();
        assert_eq!(read(t.path()), None);
        remove(t.path()).unwrap();
        remove(t.path()).unwrap();
        assert_eq!(read(t.path()), None);
    }

    #[test]
    fn refuses_what_it_cannot_vouch_for() {
        let b = base();
        let mut now = b.stamp;
        now.start_ns += 1;
        assert_eq!(refuse(&b, 3, &now), None);
        assert!(refuse(&b, 2, &now).is_some());
        let mut past = now;
        past.start_ns = b.stamp.start_ns - 1;
        assert!(refuse(&b, 3, &past).is_some());
        let mut other = now;
        other.ino = 78;
        assert!(refuse(&b, 3, &other).is_some());
        let mut remounted = now;
        remounted.mnt_id = Some(32);
        assert!(refuse(&b, 3, &remounted).is_some());
    }
}
