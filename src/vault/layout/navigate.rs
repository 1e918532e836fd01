//! Fd-based navigation of a committed version, shared by the builder and the delta scan,
//! and how a build copies entries ([`copy_options`]: the scan compares exactly that).
//!
//! The builder and the scan walk a version directory by directory with the kinds its
//! listing gives, addressing real entries as [`Real`] (version number + path). Whether a
//! child is a structural link, and where it points, is decided by
//! [`Resolver::structural`], the one fd-based rule shared with the read commands; this only
//! skips that lookup for children that are not symlinks. Nothing here follows a source
//! symlink, and every directory is opened through fds (any path length).

use std::ffi::OsStr;
use std::io;
use std::path::PathBuf;

use crate::config::JobConfig;
use crate::fs::at::join;
use crate::fs::{CopyOptions, Dir, FileKind};
use crate::vault::layout::{Resolver, VersionName};

/// How a build of `job` copies entries from its source. One place, because the delta scan
/// compares exactly what these options copy (an xattr difference is a change only when
/// xattrs are copied). Every job copies everything today; a per-job setting goes here.
pub fn copy_options(_job: &JobConfig) -> CopyOptions {
    CopyOptions::default()
}

/// A real entry of some version: the version number and the path inside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Real {
    /// The version whose folder holds the entry.
    pub version: u64,
    /// The entry's path inside that version (empty: the version root).
    pub path: PathBuf,
}

/// What a child of a real version directory is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Child {
    /// A structural link: the child is the real directory `Real` (in an older version).
    Linked(Real),
    /// A real entry of the directory's own version, of this kind.
    Entry(FileKind),
}

/// Look up child `name` (listed with `kind`, `None` = unknown) of the real directory
/// `parent` (open as `dir`). Only symlinks can be structural links, so only they cost a
/// lookup in the links set.
pub fn classify(
    resolver: &Resolver,
    parent: &Real,
    dir: &Dir,
    name: &OsStr,
    kind: Option<FileKind>,
) -> io::Result<Child> {
    let kind = match kind {
        Some(k) => k,
        None => dir.stat(name)?.kind,
    };
    if kind != FileKind::Symlink {
        return Ok(Child::Entry(kind));
    }
    let path = join(&parent.path, name);
    Ok(
        match resolver.structural(dir, parent.version, &path, name)? {
            Some((version, path)) => Child::Linked(Real {
                version: version.number,
                path,
            }),
            None => Child::Entry(kind),
        },
    )
}

/// The version folder name of `number`, as a path relative to the job folder.
pub fn version_dir(resolver: &Resolver, number: u64) -> io::Result<&VersionName> {
    resolver.version(number).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("version {number} is not committed"),
        )
    })
}

/// Open the real directory `real` (through [`Resolver::open_in_version`]).
pub fn open_real(resolver: &Resolver, real: &Real) -> io::Result<Dir> {
    resolver.open_in_version(real.version, &real.path)
}
