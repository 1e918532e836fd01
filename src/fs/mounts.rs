//! What the kernel says about the filesystem and the mount an open directory or a path is
//! on: mount ids (`statx`), the filesystem type and block size (`fstatfs`) and the
//! filesystem id (`statvfs`). The watcher's mount checks and the scan's shortcut ask here;
//! this module knows nothing about mount tables or signatures.

use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::Dir;

/// The ext2/3/4 superblock magic (`statfs.f_type`).
pub const EXT4_MAGIC: i64 = 0xEF53;
/// The XFS superblock magic.
pub const XFS_MAGIC: i64 = 0x5846_5342;

/// `statx` or the asked-for field is not available (old kernel, or a seccomp filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported;

/// Which mount id to ask `statx` for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountId {
    /// `STATX_MNT_ID` (Linux 5.8+): the id in `/proc/self/mountinfo`, reused after unmount.
    Plain,
    /// `STATX_MNT_ID_UNIQUE` (Linux 6.8+): never reused while the system runs.
    Unique,
}

impl MountId {
    fn mask(self) -> libc::c_uint {
        match self {
            MountId::Plain => libc::STATX_MNT_ID,
            MountId::Unique => libc::STATX_MNT_ID_UNIQUE,
        }
    }
}

/// The mount id of `path` (following symlinks, as a path lookup does). `Ok(None)`: the
/// path cannot be statted (missing, no permission); `Err(Unsupported)`: no `statx`, or the
/// kernel does not fill that field.
pub fn mount_id(path: &Path, which: MountId) -> Result<Option<u64>, Unsupported> {
    let Ok(cpath) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return Ok(None);
    };
    statx_mount_id(libc::AT_FDCWD, &cpath, 0, which.mask())
}

/// Type and block size of a filesystem (`fstatfs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsType {
    /// The superblock magic (`f_type`, as the kernel's 32-bit value).
    pub magic: i64,
    /// The block size in bytes.
    pub block_size: u64,
}

impl Dir {
    /// The `STATX_MNT_ID` of this directory's mount (see [`mount_id`]).
    pub fn mount_id(&self) -> Result<Option<u64>, Unsupported> {
        statx_mount_id(self.raw(), c"", libc::AT_EMPTY_PATH, libc::STATX_MNT_ID)
    }

    /// The type of the filesystem holding this directory.
    pub fn fs_type(&self) -> io::Result<FsType> {
        let st = nix::sys::statfs::fstatfs(self)?;
        #[allow(clippy::unnecessary_cast)]
        let magic = st.filesystem_type().0 as i64 & 0xFFFF_FFFF;
        Ok(FsType {
            magic,
            block_size: u64::try_from(st.block_size()).unwrap_or(0),
        })
    }
}

/// The filesystem id of the filesystem holding `path` (`statvfs.f_fsid`).
pub fn fs_id(path: &Path) -> io::Result<u64> {
    Ok(nix::sys::statvfs::statvfs(path)?.filesystem_id())
}

fn statx_mount_id(
    dirfd: libc::c_int,
    path: &CStr,
    flags: libc::c_int,
    mask: libc::c_uint,
) -> Result<Option<u64>, Unsupported> {
    let mut buf = MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: `path` is NUL-terminated and `buf` is a valid, writable statx buffer.
    let rc = unsafe {
        libc::statx(
            dirfd,
            path.as_ptr(),
            flags | libc::AT_STATX_SYNC_AS_STAT,
            mask,
            buf.as_mut_ptr(),
        )
    };
    if rc != 0 {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ENOSYS) | Some(libc::EPERM) => Err(Unsupported),
            _ => Ok(None),
        };
    }
    // SAFETY: statx succeeded, so the kernel initialised the buffer (it was zeroed anyway).
    let stx = unsafe { buf.assume_init() };
    if stx.stx_mask & mask == 0 {
        return Err(Unsupported);
    }
    Ok(Some(stx.stx_mnt_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_and_its_path_name_the_same_mount() {
        let t = tempfile::tempdir().unwrap();
        let dir = Dir::open(t.path()).unwrap();
        match (dir.mount_id(), mount_id(t.path(), MountId::Plain)) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (a, b) => eprintln!("statx mount ids unsupported here: {a:?} {b:?}"),
        }
        assert_eq!(
            mount_id(&t.path().join("missing"), MountId::Plain).ok(),
            Some(None)
        );
        assert!(dir.fs_type().unwrap().block_size > 0);
        assert_eq!(fs_id(t.path()).ok(), fs_id(&t.path().join(".")).ok());
    }
}
