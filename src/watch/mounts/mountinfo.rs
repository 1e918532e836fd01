//! The mount table: `/proc/self/mountinfo` parsed into [`MountEntry`]s, the path → mount
//! mapping ([`MountTable::mount_of`]) and the difference between two tables.
//!
//! Parsing is pure ([`MountTable::from_str`]) and tested on literal text; [`MountTable::read`]
//! is the thin I/O wrapper. This module knows nothing about jobs, specs or vaults.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use crate::fs::{MountId, Unsupported};

/// Where the kernel publishes the calling process's mount table.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";

/// One line of `/proc/self/mountinfo` (see `proc(5)`), with the octal escapes
/// (`\040` space, `\011` tab, `\012` newline, `\134` backslash) decoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MountEntry {
    /// The mount id (unique among the mounts present now; the kernel reuses freed ids).
    pub mount_id: u64,
    /// The id of the parent mount (the mount this one is mounted on).
    pub parent_id: u64,
    /// Major number of `st_dev` for files on this mount.
    pub major: u32,
    /// Minor number of `st_dev` for files on this mount.
    pub minor: u32,
    /// The directory inside the filesystem that forms the root of this mount (not `/` for a
    /// bind mount of a subdirectory or a btrfs subvolume).
    pub root: PathBuf,
    /// Where it is mounted, relative to the process's root directory.
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,relatime`).
    pub options: String,
    /// The optional fields (`shared:1`, `master:2`, `propagate_from:3`, `unbindable`).
    pub optional: Vec<String>,
    /// The filesystem type (`ext4`, `btrfs`, `fuse.sshfs`).
    pub fstype: String,
    /// The mount source: a device (`/dev/sdb1`) or filesystem-specific text (`tmpfs`,
    /// `server:/export`).
    pub source: OsString,
    /// Per-superblock options.
    pub super_options: String,
}

impl MountEntry {
    /// `major:minor`, as `findmnt` and `lsblk` print it.
    pub fn devno(&self) -> String {
        format!("{}:{}", self.major, self.minor)
    }

    /// True when `other` shows the same directory of the same filesystem (same device and
    /// same root): a remount or a second mount of the same thing.
    pub fn same_content(&self, other: &MountEntry) -> bool {
        (self.major, self.minor) == (other.major, other.minor) && self.root == other.root
    }
}

/// A malformed mountinfo line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mountinfo line {line}: {reason}: {text:?}")]
pub struct MountinfoError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
    /// The line as read.
    pub text: String,
}

/// The mount table of this process's mount namespace, in kernel order (a mount always comes
/// after the mount it sits on, so for stacked mounts the later entry is on top).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountTable {
    entries: Vec<MountEntry>,
}

/// What changed between two mount tables ([`MountTable::diff`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountDiff {
    /// Mounts present only in the newer table.
    pub mounted: Vec<MountEntry>,
    /// Mounts present only in the older table.
    pub unmounted: Vec<MountEntry>,
}

impl MountTable {
    /// Read and parse `/proc/self/mountinfo`.
    pub fn read() -> io::Result<MountTable> {
        let bytes = fs::read(MOUNTINFO)?;
        Self::from_bytes(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Parse mountinfo text (see [`MountTable::from_bytes`]).
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str) -> Result<MountTable, MountinfoError> {
        Self::from_bytes(text.as_bytes())
    }

    /// Parse mountinfo bytes; mount points and sources need not be UTF-8. Blank lines are
    /// skipped; any other malformed line is an error naming its line number.
    pub fn from_bytes(bytes: &[u8]) -> Result<MountTable, MountinfoError> {
        let entries = bytes
            .split(|&b| b == b'\n')
            .enumerate()
            .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
            .map(|(i, line)| parse_line(line).map_err(|reason| line_error(i + 1, reason, line)))
            .collect::<Result<_, _>>()?;
        Ok(MountTable { entries })
    }

    /// Every mount, in kernel order.
    pub fn entries(&self) -> &[MountEntry] {
        &self.entries
    }

    /// The mount with this id.
    pub fn by_id(&self, mount_id: u64) -> Option<&MountEntry> {
        self.entries.iter().find(|e| e.mount_id == mount_id)
    }

    /// The mount that `path` is on.
    ///
    /// Where the kernel supports `statx(STATX_MNT_ID)` (Linux 5.8+), the path is asked for
    /// its mount id and the entry with that id is returned: this is exact for bind mounts,
    /// btrfs subvolumes (whose `st_dev` differs from their mount's) and stacked mounts.
    /// `None` then means the path does not exist or this table is older than the path's
    /// mount (re-read the table). Without `statx` the canonical path is resolved through
    /// the table: from the top-most `/` mount, each component descends into the top-most
    /// child mounted there (so a mount hidden under another one is never chosen).
    pub fn mount_of(&self, path: &Path) -> Option<&MountEntry> {
        self.mount_of_resolved(path, fs::canonicalize(path).ok().as_deref())
    }

    /// [`MountTable::mount_of`] with the path's canonical form already at hand (`None`:
    /// it has none), so a caller that needs it too resolves it once.
    pub fn mount_of_resolved(&self, path: &Path, canonical: Option<&Path>) -> Option<&MountEntry> {
        match crate::fs::mount_id(path, MountId::Plain) {
            // Mount ids are reused: in a table read before the path's mount was made, its
            // id may name a mount made and unmounted since, elsewhere. An entry whose mount
            // point does not hold the path is such a stale one (the caller reads the table
            // again).
            Ok(Some(id)) => self
                .by_id(id)
                .filter(|e| canonical.map_or(true, |c| c.starts_with(&e.mount_point))),
            Ok(None) | Err(Unsupported) => self.resolve_by_path(canonical?),
        }
    }

    /// Resolve a canonical absolute path by walking mount points (the fallback of
    /// [`MountTable::mount_of`]).
    pub fn resolve_by_path(&self, canonical: &Path) -> Option<&MountEntry> {
        let mut cur = self.top_of(self.root_mount()?);
        let mut prefix = PathBuf::from("/");
        for comp in canonical.components() {
            if let Component::Normal(name) = comp {
                prefix.push(name);
                if let Some(child) = self.child_at(cur.mount_id, &prefix) {
                    cur = self.top_of(child);
                }
            }
        }
        Some(cur)
    }

    /// Mounts in `newer` that are not in `self`, and mounts in `self` not in `newer`
    /// (compared as whole entries: a remount with other options is both).
    pub fn diff(&self, newer: &MountTable) -> MountDiff {
        let missing_from = |t: &MountTable, e: &MountEntry| !t.entries.contains(e);
        MountDiff {
            mounted: newer
                .entries
                .iter()
                .filter(|e| missing_from(self, e))
                .cloned()
                .collect(),
            unmounted: self
                .entries
                .iter()
                .filter(|e| missing_from(newer, e))
                .cloned()
                .collect(),
        }
    }

    fn root_mount(&self) -> Option<&MountEntry> {
        let is_root = |e: &&MountEntry| e.mount_point == Path::new("/");
        // The namespace root is the `/` mount whose parent is not in the table.
        let mut roots = self.entries.iter().filter(is_root);
        roots
            .clone()
            .find(|e| self.by_id(e.parent_id).is_none() || e.parent_id == e.mount_id)
            .or_else(|| roots.next())
    }

    fn child_at(&self, parent: u64, point: &Path) -> Option<&MountEntry> {
        self.entries
            .iter()
            .find(|e| e.parent_id == parent && e.mount_point == point && e.mount_id != parent)
    }

    fn top_of<'a>(&'a self, mut cur: &'a MountEntry) -> &'a MountEntry {
        // Bounded: a well-formed table has no cycles, a malformed one must not hang us.
        for _ in 0..self.entries.len() {
            match self.child_at(cur.mount_id, &cur.mount_point) {
                Some(over) => cur = over,
                None => break,
            }
        }
        cur
    }
}

impl FromStr for MountTable {
    type Err = MountinfoError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MountTable::from_bytes(s.as_bytes())
    }
}

fn line_error(line: usize, reason: String, text: &[u8]) -> MountinfoError {
    MountinfoError {
        line,
        reason,
        text: String::from_utf8_lossy(text).into_owned(),
    }
}

/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
fn parse_line(line: &[u8]) -> Result<MountEntry, String> {
    let fields: Vec<&[u8]> = line
        .split(|b| *b == b' ')
        .filter(|f| !f.is_empty())
        .collect();
    let sep = fields
        .iter()
        .position(|f| *f == b"-")
        .ok_or("no ` - ` separator")?;
    if sep < 6 || fields.len() < sep + 3 {
        return Err("too few fields".into());
    }
    let (major, minor) = parse_devno(fields[2])?;
    Ok(MountEntry {
        mount_id: parse_num(fields[0], "mount id")?,
        parent_id: parse_num(fields[1], "parent id")?,
        major,
        minor,
        root: PathBuf::from(unescape(fields[3])),
        mount_point: PathBuf::from(unescape(fields[4])),
        options: text(fields[5]),
        optional: fields[6..sep].iter().map(|f| text(f)).collect(),
        fstype: text(&unescape_bytes(fields[sep + 1])),
        source: unescape(fields[sep + 2]),
        super_options: fields.get(sep + 3).map(|f| text(f)).unwrap_or_default(),
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn parse_num<T: FromStr>(field: &[u8], what: &str) -> Result<T, String> {
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad {what}"))
}

fn parse_devno(field: &[u8]) -> Result<(u32, u32), String> {
    let colon = field
        .iter()
        .position(|&b| b == b':')
        .ok_or("bad major:minor")?;
    let major = parse_num(&field[..colon], "major")?;
    let minor = parse_num(&field[colon + 1..], "minor")?;
    Ok((major, minor))
}

/// Decode the kernel's `\ooo` octal escapes (space, tab, newline and backslash).
pub fn unescape(field: &[u8]) -> OsString {
    OsString::from_vec(unescape_bytes(field))
}

fn unescape_bytes(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        match octal_at(field, i) {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

fn octal_at(field: &[u8], i: usize) -> Option<u8> {
    let digits = field.get(i + 1..i + 4)?;
    if field[i] != b'\\' || !digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
        return None;
    }
    let value = digits
        .iter()
        .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
    u8::try_from(value).ok()
}

/// `OsStr` display helper for messages.
pub(crate) fn show(s: &OsStr) -> String {
    s.to_string_lossy().into_owned()
}
