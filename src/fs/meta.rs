//! Turning `struct stat` into [`Meta`] and [`FileKind`], and back into the values the
//! `*at` syscalls want; [`stat_file`] is its one call. It knows nothing about files beyond
//! their `stat`.

use std::fmt;
use std::io;

use nix::sys::stat::{FileStat, SFlag};
use nix::sys::time::TimeSpec;

use super::{FileKind, Meta, Timestamp};

/// `fstat` of an open file.
pub fn stat_file(file: &std::fs::File) -> io::Result<Meta> {
    use std::os::fd::AsRawFd;
    meta_from_stat(&nix::sys::stat::fstat(file.as_raw_fd())?)
}

/// The kind named by the `S_IFMT` bits of `mode`, if it is one we know.
pub(super) fn kind_from_mode(mode: u32) -> Option<FileKind> {
    let fmt = SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits());
    Some(match fmt {
        SFlag::S_IFREG => FileKind::File,
        SFlag::S_IFDIR => FileKind::Dir,
        SFlag::S_IFLNK => FileKind::Symlink,
        SFlag::S_IFIFO => FileKind::Fifo,
        SFlag::S_IFSOCK => FileKind::Socket,
        SFlag::S_IFCHR => FileKind::CharDevice,
        SFlag::S_IFBLK => FileKind::BlockDevice,
        _ => return None,
    })
}

/// The `S_IFMT` bits for `kind` (for `mknod`).
pub(super) fn mode_type(kind: FileKind) -> SFlag {
    match kind {
        FileKind::File => SFlag::S_IFREG,
        FileKind::Dir => SFlag::S_IFDIR,
        FileKind::Symlink => SFlag::S_IFLNK,
        FileKind::Fifo => SFlag::S_IFIFO,
        FileKind::Socket => SFlag::S_IFSOCK,
        FileKind::CharDevice => SFlag::S_IFCHR,
        FileKind::BlockDevice => SFlag::S_IFBLK,
    }
}

/// [`Meta`] from a `struct stat`; an unknown file type is `InvalidData`.
pub(super) fn meta_from_stat(st: &FileStat) -> io::Result<Meta> {
    let kind = kind_from_mode(st.st_mode).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown file type in mode {:o}", st.st_mode),
        )
    })?;
    Ok(Meta {
        kind,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        size: u64::try_from(st.st_size).unwrap_or(0),
        allocated: u64::try_from(st.st_blocks).unwrap_or(0).saturating_mul(512),
        mtime: Timestamp::new(st.st_mtime, st.st_mtime_nsec),
        atime: Timestamp::new(st.st_atime, st.st_atime_nsec),
        ctime: Timestamp::new(st.st_ctime, st.st_ctime_nsec),
        ino: st.st_ino,
        dev: st.st_dev,
        rdev: st.st_rdev,
        nlink: st.st_nlink,
    })
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::File => "regular file",
            FileKind::Dir => "directory",
            FileKind::Symlink => "symlink",
            FileKind::Fifo => "fifo",
            FileKind::Socket => "socket",
            FileKind::CharDevice => "character device",
            FileKind::BlockDevice => "block device",
        })
    }
}

impl Timestamp {
    /// A timestamp from seconds and nanoseconds.
    pub fn new(sec: i64, nsec: i64) -> Timestamp {
        Timestamp { sec, nsec }
    }

    /// As a `timespec` for `futimens`/`utimensat`.
    pub(crate) fn to_timespec(self) -> TimeSpec {
        TimeSpec::new(self.sec, self.nsec)
    }
}

impl Meta {
    /// True when `other` shows the same inode with the same size, mtime and ctime: the
    /// test for "did not change while it was copied".
    pub fn same_content_state(&self, other: &Meta) -> bool {
        (
            self.dev, self.ino, self.kind, self.size, self.mtime, self.ctime,
        ) == (
            other.dev,
            other.ino,
            other.kind,
            other.size,
            other.mtime,
            other.ctime,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_mode_bits() {
        for kind in [
            FileKind::File,
            FileKind::Dir,
            FileKind::Symlink,
            FileKind::Fifo,
            FileKind::Socket,
            FileKind::CharDevice,
            FileKind::BlockDevice,
        ] {
            let mode = mode_type(kind).bits() | 0o644;
            assert_eq!(kind_from_mode(mode), Some(kind));
        }
        assert_eq!(kind_from_mode(0o644), None);
    }

    #[test]
    fn timestamps_order_by_seconds_then_nanos() {
        assert!(Timestamp::new(1, 999) < Timestamp::new(2, 0));
        assert!(Timestamp::new(2, 1) > Timestamp::new(2, 0));
    }
}
