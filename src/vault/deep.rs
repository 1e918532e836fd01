//! The depth limit of the walks over versions. A source path may be any length and any
//! depth (the kernel bounds only one path *argument*), so every walk is iterative (an
//! explicit stack, never recursion: no stack overflow at any depth) and works through
//! directory fds. The walks that keep folders open per level (the snapshot builder, `diff`,
//! `log`, the restore plan, tar export, the retire's real copies) stop, with an error
//! naming the folder, past [`MAX_DEPTH`] levels instead of running out of open files. The
//! walks that keep one folder open at a time (`fs::walk`, `fs::remove_tree`) need no limit.

use std::io;

/// Folder levels a walk that keeps folders open per level descends into.
pub(crate) const MAX_DEPTH: usize = 10_000;

/// The error of a walk that reached [`MAX_DEPTH`].
pub(crate) fn too_deep() -> io::Error {
    io::Error::other(format!(
        "more than {MAX_DEPTH} folders deep (the limit of the walks)"
    ))
}
