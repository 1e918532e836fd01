//! Decoding: one raw inotify record plus the watch maps' answer for its wd -> a typed
//! [`Decoded`] event with a path relative to the source root. No watch bookkeeping here.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use inotify::{EventMask, WatchDescriptor};

/// One record as read from the inotify fd (owned, so the read buffer can be reused).
#[derive(Debug, Clone)]
pub(super) struct Raw {
    /// The watch it came from (for `rm_watch`).
    pub(super) wd: WatchDescriptor,
    /// The event bits.
    pub(super) mask: EventMask,
    /// Pairs `MOVED_FROM` with `MOVED_TO`.
    pub(super) cookie: u32,
    /// The child's name, for events about an entry of the watched directory.
    pub(super) name: Option<OsString>,
}

/// What happened to a child of a watched directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    /// `IN_CREATE`.
    Create,
    /// `IN_MODIFY` or `IN_CLOSE_WRITE`.
    Modify,
    /// `IN_ATTRIB`.
    Attrib,
    /// `IN_DELETE`.
    Delete,
    /// `IN_MOVED_FROM`.
    MovedFrom,
    /// `IN_MOVED_TO`.
    MovedTo,
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decoded {
    /// `IN_Q_OVERFLOW`: events were lost.
    Overflow,
    /// An entry of a watched directory changed.
    Child {
        /// What happened.
        op: Op,
        /// The entry, relative to the source root.
        path: PathBuf,
        /// `IN_ISDIR`.
        dir: bool,
        /// The move cookie (0 otherwise).
        cookie: u32,
    },
    /// The source root's own attributes changed.
    RootAttrib,
    /// The source root was deleted or moved away.
    RootGone,
    /// The watch `wd` is gone (`IN_IGNORED`).
    Ignored(i32),
    /// The filesystem of a watched directory was unmounted (a hint only).
    Unmount,
    /// Nothing to do (a stale wd, or a self event the parent already reports).
    Skip,
}

/// Decode `raw`; `dir` is the watched directory of its wd (None: unknown or stale wd).
pub(super) fn decode(raw: &Raw, dir: Option<&Path>) -> Decoded {
    let m = raw.mask;
    if m.contains(EventMask::Q_OVERFLOW) {
        return Decoded::Overflow;
    }
    if m.contains(EventMask::IGNORED) {
        return Decoded::Ignored(raw.wd.get_watch_descriptor_id());
    }
    if m.contains(EventMask::UNMOUNT) {
        return Decoded::Unmount;
    }
    let Some(dir) = dir else {
        return Decoded::Skip;
    };
    match &raw.name {
        None => decode_self(m, dir),
        Some(name) => decode_child(m, dir.join(name), raw.cookie),
    }
}

fn decode_self(m: EventMask, dir: &Path) -> Decoded {
    let root = dir.as_os_str().is_empty();
    if root && m.intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF) {
        Decoded::RootGone
    } else if root && m.contains(EventMask::ATTRIB) {
        Decoded::RootAttrib
    } else {
        Decoded::Skip
    }
}

fn decode_child(m: EventMask, path: PathBuf, cookie: u32) -> Decoded {
    let op = if m.contains(EventMask::CREATE) {
        Op::Create
    } else if m.intersects(EventMask::MODIFY | EventMask::CLOSE_WRITE) {
        Op::Modify
    } else if m.contains(EventMask::ATTRIB) {
        Op::Attrib
    } else if m.contains(EventMask::DELETE) {
        Op::Delete
    } else if m.contains(EventMask::MOVED_FROM) {
        Op::MovedFrom
    } else if m.contains(EventMask::MOVED_TO) {
        Op::MovedTo
    } else {
        return Decoded::Skip;
    };
    Decoded::Child {
        op,
        path,
        dir: m.contains(EventMask::ISDIR),
        cookie,
    }
}
