//! File primitives without policy: directory fds, `O_NOFOLLOW` opens beneath a root,
//! metadata, the copy engine (reflink, `copy_file_range`, sparse, special files, xattrs),
//! content hashing, filesystem capacity and mount facts, the errno values others match on.
//!
//! The daemon runs as root over user-writable trees, so everything here works relative to
//! directory fds and never follows a symlink in a source tree: a symlink swapped in during a
//! copy cannot make a root process read outside the source. FIFOs and devices are never
//! opened for reading. This module knows nothing about versions, vaults or jobs.
//!
//! CONTRACT: the names below are what `vault`, `scan` and `daemon` code against.
//!
//! Submodules: `dir` (opening and listing directories, `statvfs`), `atomic` (replacing
//! whole files: one, or many with one `syncfs`), `meta` (stat results),
//! `copy` (one entry: safe opens, regular files, torn-copy checks), `data` (moving bytes:
//! reflink, `copy_file_range`, read/write, holes kept),
//! `special` (symlinks, FIFOs, sockets, devices), `attr` (mode, owner, times, xattrs),
//! `xattrs` (comparing two entries' xattrs without opening them) and `hash` (xxh3-128 of a
//! file's content).

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

pub mod at;
mod atomic;
mod attr;
mod copy;
mod data;
mod dir;
mod hash;
mod list;
mod meta;
mod mounts;
mod special;
mod tree;
mod xattrs;

pub use atomic::{create_new, open_nofollow, write_atomic, write_atomic_at, write_atomic_batch};
pub use attr::copy_attributes;
pub use copy::{clone_file, copy_entry, ATTEMPTS};
pub use dir::{capacity, raise_open_files_limit, FsCapacity};
pub use hash::hash_file;
pub use meta::stat_file;

/// The errno values code outside `fs` matches on to choose a fallback (a name too long for
/// a link, a link count at its limit, a full vault, a watch limit): the one place they come
/// from, so no module above `fs` needs `libc` for them.
pub mod errno {
    pub use libc::{EDQUOT, EINVAL, ELOOP, EMLINK, ENAMETOOLONG, ENOENT, ENOSPC, ENOTDIR, EROFS};
}

/// The effective user id of this process (`geteuid`).
pub fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// True when this process can write to `path` (`access(W_OK)`, as the real user).
pub fn writable(path: &std::path::Path) -> bool {
    nix::unistd::access(path, nix::unistd::AccessFlags::W_OK).is_ok()
}
pub use list::merge;
pub use mounts::{fs_id, mount_id, FsType, MountId, Unsupported, EXT4_MAGIC, XFS_MAGIC};
/// The open flags [`Dir::open_file`] takes.
pub use nix::fcntl::OFlag;
pub use tree::{remove_tree, walk, Freed, Visit};
pub use xattrs::read_xattrs;
pub(crate) use xattrs::same_xattrs;

/// An open directory (an `O_DIRECTORY` fd). All access to its children goes through it.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

/// The type of a directory entry, from `st_mode` (never from following a symlink).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (stored as a link, never followed).
    Symlink,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
}

/// A timestamp with nanoseconds, as in `struct timespec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Seconds since the epoch.
    pub sec: i64,
    /// Nanoseconds (0..1e9).
    pub nsec: i64,
}

/// What `fstatat(.., AT_SYMLINK_NOFOLLOW)` says about an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Entry type.
    pub kind: FileKind,
    /// Permission bits including setuid/setgid/sticky (`st_mode & 0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Bytes of allocated blocks (`st_blocks * 512`).
    pub allocated: u64,
    /// Last modification.
    pub mtime: Timestamp,
    /// Last access.
    pub atime: Timestamp,
    /// Last status change.
    pub ctime: Timestamp,
    /// Inode number.
    pub ino: u64,
    /// Device of the filesystem holding the entry.
    pub dev: u64,
    /// Device number for character/block devices (`st_rdev`).
    pub rdev: u64,
    /// Number of hard links.
    pub nlink: u64,
}

/// One name in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name (any bytes but `/` and NUL).
    pub name: OsString,
    /// Its type, when the directory listing says (`d_type`); `None` means stat it.
    pub kind: Option<FileKind>,
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Options for [`copy_entry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyOptions {
    /// Try `FICLONE` first (falls back silently where the filesystem cannot).
    pub reflink: bool,
    /// Copy owner and group (needs root for other users' files; failure is not an error
    /// for non-root runs).
    pub owner: bool,
    /// Copy extended attributes where both filesystems have them.
    pub xattrs: bool,
    /// Recreate FIFOs, sockets and device nodes (`mknod`); when false they are skipped.
    pub specials: bool,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            reflink: true,
            owner: true,
            xattrs: true,
            specials: true,
        }
    }
}

/// What [`copy_entry`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyOutcome {
    /// The entry exists at the destination with the source's content and attributes.
    Copied {
        /// The source's metadata as copied (stable before and after the copy).
        meta: Meta,
        /// Bytes of allocated blocks the new entry uses (0 for a reflink when known).
        allocated: u64,
    },
    /// The entry was not copied (a special file with `specials = false`, ...).
    Skipped {
        /// Why, for the journal.
        reason: String,
    },
}

/// Why a copy failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The source kept changing while it was copied: nothing torn was left behind.
    #[error("{name:?} kept changing while it was copied")]
    Changing {
        /// The entry name.
        name: OsString,
    },
    /// The source vanished (deleted between listing and copy).
    #[error("{name:?} vanished before it could be copied")]
    Vanished {
        /// The entry name.
        name: OsString,
    },
    /// Any other I/O error.
    #[error("{name:?}: {source}")]
    Io {
        /// The entry name.
        name: OsString,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod bench;
