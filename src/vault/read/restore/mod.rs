//! `restore`: copy a path of a version out of the vault as real files with their
//! attributes — never as links into the vault.
//!
//! Two steps, so nothing is written when something is in the way:
//! 1. [`plan_restore`] resolves the path in the chosen version, walks everything below it
//!    (following structural links one hop, keeping source symlinks as symlinks) and checks
//!    every destination path: an existing non-directory is a [`Conflict`]; an existing
//!    directory where a directory goes is merged into.
//! 2. [`RestorePlan::apply`] writes, only when there is no conflict or `overwrite` was
//!    asked for: directories are created, everything else is copied with
//!    [`crate::fs::copy_entry`] (sparse files stay sparse; mode, owner where permitted,
//!    xattrs, times in ns), entries that share an inode inside the version (hard links in
//!    the source) become hard links in the destination, and each directory gets its
//!    attributes after its children. With `overwrite` an existing file is replaced by
//!    rename from a temporary name, so a reader never sees it half written.
//!
//! The destination is written through directory fds; a name that appears between plan
//! and apply is never replaced without `overwrite` (the copy fails with "exists").

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};

use super::shown;
use super::tree::Tree;
use super::{source_relative, ReadError};
use crate::error::PathError;
use crate::fs::{Dir, FileKind};
use crate::vault::deep::{too_deep, MAX_DEPTH};
use crate::vault::layout::{JobFolder, Resolved, VersionName};

/// Which version to restore from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    /// The newest committed version.
    Newest,
    /// Version `n`.
    Number(u64),
    /// The newest version taken at or before this time.
    At(DateTime<FixedOffset>),
}

/// What to restore, from where, to where.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    /// The path relative to the source root (`.` is the whole tree).
    pub path: PathBuf,
    /// The version.
    pub which: Which,
    /// The destination folder: the whole tree fills it, anything else is created in it
    /// under its last component. Created (with parents) when missing.
    pub to: PathBuf,
    /// Replace existing files.
    pub overwrite: bool,
}

/// A destination path that already exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The destination path.
    pub path: PathBuf,
    /// `true` when even `overwrite` does not replace it (a directory where a file goes:
    /// restore never deletes a directory tree).
    pub fatal: bool,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match self.fatal {
            true => "a directory is in the way (never replaced; remove it to restore here)",
            false => "exists (not replaced without --overwrite)",
        };
        write!(f, "{}: {why}", shown(&self.path))
    }
}

/// One entry to restore: its destination name at `depth` (1 = directly in the
/// destination folder) and the real entry in the vault.
#[derive(Debug, Clone)]
struct Item {
    depth: usize,
    name: OsString,
    src: Resolved,
    /// The destination already has something of this name (seen while planning).
    exists: bool,
}

/// A checked restore, ready to apply.
#[derive(Debug)]
pub struct RestorePlan<'a> {
    tree: Tree<'a>,
    /// The version restored from.
    pub version: VersionName,
    /// What is restored (relative to the source root; empty: the whole tree).
    pub path: PathBuf,
    /// The destination folder.
    pub to: PathBuf,
    /// Everything in the way.
    pub conflicts: Vec<Conflict>,
    /// Entries to write (not counting the destination folder itself).
    pub entries: u64,
    /// Bytes of regular files to copy.
    pub bytes: u64,
    overwrite: bool,
    create_to: bool,
    /// The real directory the depth-1 items live in (the version root for the whole tree).
    base: Resolved,
    /// `base`, open.
    base_dir: Dir,
    items: Vec<Item>,
}

/// What [`RestorePlan::apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Entries written (directories, files, symlinks, special files, hard links).
    pub entries: u64,
    /// Bytes of regular files copied.
    pub bytes: u64,
    /// Entries restored as hard links to an entry restored earlier.
    pub hard_links: u64,
    /// Entries not restored, with the reason (special files the copy engine skipped).
    pub skipped: Vec<String>,
    /// Entries that failed (`path: error`); the rest was restored.
    pub errors: Vec<String>,
}

/// Check the request and plan it: which version, which entries, what is in the way.
pub fn plan_restore<'a>(
    folder: &'a JobFolder,
    req: &RestoreRequest,
) -> Result<RestorePlan<'a>, ReadError> {
    let rel = source_relative(&req.path)?;
    let v = super::which_version(folder, &req.which)?;
    let tree = Tree::new(folder)?;
    let located = tree
        .locate(&v, &rel)?
        .ok_or_else(|| ReadError::NotInVersion {
            path: req.path.clone(),
            version: v.to_string(),
        })?;
    let found = located.entry.clone();
    // Not followed: restore never writes through a symlink, not even the folder named.
    let create_to = match std::fs::symlink_metadata(&req.to) {
        Ok(m) if m.is_dir() => false,
        Ok(m) => {
            let why = match m.file_type().is_symlink() {
                true => "a symlink (restore never writes through one: name the real folder)",
                false => "not a directory",
            };
            return Err(
                PathError::new(&req.to, io::Error::new(io::ErrorKind::AlreadyExists, why)).into(),
            );
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => true,
        Err(e) => return Err(PathError::new(&req.to, e).into()),
    };
    let (base_dir, base) = match located.parent {
        Some(parent) => parent,
        None => (tree.open(&found)?, found.clone()),
    };
    let mut plan = RestorePlan {
        tree,
        version: v,
        path: rel.clone(),
        to: req.to.clone(),
        conflicts: Vec::new(),
        entries: 0,
        bytes: 0,
        overwrite: req.overwrite,
        create_to,
        base,
        base_dir,
        items: Vec::new(),
    };
    let dst = match create_to {
        true => None,
        false => Some(Dir::open(&req.to).map_err(|e| PathError::new(&req.to, e))?),
    };
    let base_dir = plan.reopen_base()?;
    let base = plan.base.clone();
    let names = match rel.file_name() {
        None => plan.tree.names(&base_dir, &found)?,
        Some(_) => Vec::new(),
    };
    let top = Level {
        dir: base,
        d: base_dir,
        names: names.into_iter(),
        dst,
        path: req.to.clone(),
        depth: 1,
    };
    let single = rel.file_name().map(|name| (found, name.to_owned()));
    plan.plan_tree(top, single)?;
    Ok(plan)
}

/// A real folder whose children are being planned: the folder (open), the names still to
/// plan, where they go (the destination folder, open when it exists) and their depth.
struct Level {
    dir: Resolved,
    d: Dir,
    names: std::vec::IntoIter<OsString>,
    dst: Option<Dir>,
    path: PathBuf,
    depth: usize,
}

impl RestorePlan<'_> {
    /// A new fd for the base directory.
    fn reopen_base(&self) -> Result<Dir, ReadError> {
        self.base_dir
            .open_beneath(Path::new(""))
            .map_err(|e| PathError::new(self.base.full_path(self.tree.folder.root()), e).into())
    }

    /// Plan the names of `top` (after `single`, an entry of `top`'s folder planned alone)
    /// and everything below them, depth first in name order (the order `apply` replays):
    /// an iterative walk, one open folder pair per level.
    fn plan_tree(
        &mut self,
        top: Level,
        single: Option<(Resolved, OsString)>,
    ) -> Result<(), ReadError> {
        let mut stack = vec![top];
        if let Some((src, name)) = single {
            let l = &stack[0];
            let below = self.add(src, name, (&l.d, &l.dir), l.dst.as_ref(), &l.path, l.depth)?;
            stack.extend(below);
        }
        while let Some(top) = stack.last_mut() {
            let Some(name) = top.names.next() else {
                stack.pop();
                continue;
            };
            let Some(child) = self.tree.child(&top.d, &top.dir, &name)? else {
                continue;
            };
            let parent = (&top.d, &top.dir);
            let below = self.add(child, name, parent, top.dst.as_ref(), &top.path, top.depth)?;
            stack.extend(below);
        }
        Ok(())
    }

    /// Add `src` (a child of the real directory `parent`) as `name` in `dst` (at
    /// `dst_path`); for a directory, the level of its children.
    fn add(
        &mut self,
        src: Resolved,
        name: OsString,
        parent: (&Dir, &Resolved),
        dst: Option<&Dir>,
        dst_path: &Path,
        depth: usize,
    ) -> Result<Option<Level>, ReadError> {
        let path = dst_path.join(&name);
        if depth > MAX_DEPTH {
            return Err(PathError::new(&path, too_deep()).into());
        }
        let existing = match dst.map(|d| d.stat(&name)) {
            Some(Ok(meta)) => Some(meta.kind == FileKind::Dir),
            Some(Err(e)) if e.kind() != io::ErrorKind::NotFound => {
                return Err(PathError::new(&path, e).into())
            }
            _ => None,
        };
        let is_dir = src.meta.kind == FileKind::Dir;
        match existing {
            Some(true) if is_dir => {}
            Some(dst_is_dir) => self.conflicts.push(Conflict {
                path: path.clone(),
                fatal: dst_is_dir,
            }),
            None => {}
        }
        self.entries += 1;
        if src.meta.kind == FileKind::File {
            self.bytes += src.meta.size;
        }
        self.items.push(Item {
            depth,
            name: name.clone(),
            src: src.clone(),
            exists: existing.is_some(),
        });
        if !is_dir {
            return Ok(None);
        }
        let d = self.tree.open_in(parent.0, parent.1, &src)?;
        let below = match (existing, dst) {
            (Some(true), Some(dst)) => Some(
                dst.open_child(&name)
                    .map_err(|e| PathError::new(&path, e))?,
            ),
            _ => None,
        };
        let names = self.tree.names(&d, &src)?;
        Ok(Some(Level {
            dir: src,
            d,
            names: names.into_iter(),
            dst: below,
            path,
            depth: depth + 1,
        }))
    }

    /// The conflicts that stop [`apply`](Self::apply): all of them without `overwrite`,
    /// only the fatal ones with it.
    pub fn blocking(&self) -> Vec<&Conflict> {
        self.conflicts
            .iter()
            .filter(|c| c.fatal || !self.overwrite)
            .collect()
    }
}

mod apply;
#[cfg(test)]
mod tests;
