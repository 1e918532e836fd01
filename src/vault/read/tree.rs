//! Walking the real entries of versions: open a resolved real directory, list it, resolve
//! its children (following structural links one hop, never source symlinks), find an
//! entry's real parent. Shared by `diff` and `restore`; errors name the full path.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};

use super::ReadError;
use crate::error::PathError;
use crate::fs::{Dir, FileKind};
use crate::vault::layout::{direct_name, JobFolder, Located, Resolved, Resolver, VersionName};

/// A job folder and a resolver over its committed versions.
#[derive(Debug)]
pub(crate) struct Tree<'a> {
    pub folder: &'a JobFolder,
    pub resolver: Resolver,
}

impl<'a> Tree<'a> {
    pub fn new(folder: &'a JobFolder) -> Result<Tree<'a>, ReadError> {
        let resolver = Resolver::new(folder).map_err(|e| PathError::new(folder.root(), e))?;
        Ok(Tree { folder, resolver })
    }

    fn error(&self, r: &Resolved, e: io::Error) -> ReadError {
        PathError::new(r.full_path(self.folder.root()), e).into()
    }

    /// The root directory of version `v`.
    pub fn version_root(&self, v: &VersionName) -> Result<Resolved, ReadError> {
        self.resolver
            .version_root(v)
            .map_err(|e| PathError::new(self.folder.version_path(v), e).into())
    }

    /// `rel` (plain components) in version `v` resolved to its real entry through the
    /// shared fd walk of [`Resolver::locate`] (any path length); also the real directory
    /// that holds it, open (`None` for the root). `None` when `rel` is not in the version
    /// (or passes through a non-directory, e.g. a source symlink).
    pub fn locate(&self, v: &VersionName, rel: &Path) -> Result<Option<Located>, ReadError> {
        self.resolver
            .locate(v, rel)
            .map_err(|e| PathError::new(self.folder.version_path(v).join(rel), e).into())
    }

    /// Open the real directory `dir` without following any symlink.
    pub fn open(&self, dir: &Resolved) -> Result<Dir, ReadError> {
        self.resolver.open(dir).map_err(|e| self.error(dir, e))
    }

    /// The names in the open real directory `dir` (found at `at`), sorted by bytes.
    pub fn names(&self, dir: &Dir, at: &Resolved) -> Result<Vec<OsString>, ReadError> {
        let entries = dir.entries().map_err(|e| self.error(at, e))?;
        Ok(entries.into_iter().map(|e| e.name).collect())
    }

    /// Open the real directory `child`, a child of the real directory `parent` (open as
    /// `parent_dir`): relative to `parent_dir` when it lives there (so paths of any length
    /// work), else — behind a structural link — from the job folder by its (short) path.
    pub fn open_in(
        &self,
        parent_dir: &Dir,
        parent: &Resolved,
        child: &Resolved,
    ) -> Result<Dir, ReadError> {
        self.resolver
            .open_child(parent_dir, parent, child)
            .map_err(|e| self.error(child, e))
    }

    /// The real directory holding `child` (reached from `parent`, open as `parent_dir`)
    /// and the entry's name in it.
    pub fn parent_of(
        &self,
        parent_dir: &Dir,
        parent: &Resolved,
        child: &Resolved,
    ) -> Result<(Dir, OsString), ReadError> {
        match direct_name(parent, child) {
            Some(name) => {
                let dir = parent_dir
                    .open_beneath(Path::new(""))
                    .map_err(|e| self.error(parent, e))?;
                Ok((dir, name.to_os_string()))
            }
            None => self.real_parent(child),
        }
    }

    /// The child `name` of the real directory `parent` (open as `dir`), through
    /// [`Resolver::child`]: a structural link is followed (one hop, never through another
    /// link) to the real directory it names; `None` when it does not exist.
    pub fn child(
        &self,
        dir: &Dir,
        parent: &Resolved,
        name: &OsStr,
    ) -> Result<Option<Resolved>, ReadError> {
        self.resolver
            .child(dir, parent, name)
            .map_err(|e| PathError::new(parent.full_path(self.folder.root()).join(name), e).into())
    }

    /// The real directory holding the entry `r` and the entry's name in it (for a version
    /// root: the job folder and the version folder's name).
    pub fn real_parent(&self, r: &Resolved) -> Result<(Dir, OsString), ReadError> {
        let in_job = Path::new(&r.version.to_string()).join(&r.path);
        let parent = in_job.parent().unwrap_or(Path::new(""));
        let name = in_job.file_name().unwrap_or_default().to_os_string();
        let dir = self
            .folder
            .dir()
            .open_beneath(parent)
            .map_err(|e| self.error(r, e))?;
        Ok((dir, name))
    }

    /// The target of the source symlink `r`, an entry of the real directory `dir`.
    fn read_link_in(&self, dir: &Dir, r: &Resolved) -> Result<PathBuf, ReadError> {
        let name = r.path.file_name().unwrap_or_default();
        crate::fs::at::read_link(dir, name).map_err(|e| self.error(r, e))
    }

    /// The xxh3-128 of the regular file `r`, an entry of the real directory `dir`.
    fn hash_in(&self, dir: &Dir, r: &Resolved) -> Result<u128, ReadError> {
        let name = r.path.file_name().unwrap_or_default();
        crate::fs::hash_file(dir, name).map_err(|e| self.error(r, e))
    }

    /// Two non-directories of one kind, entries of the real directories `da` and `db`,
    /// hold the same data: size, then the symlink target, the device number or the xxh3
    /// of the bytes.
    pub fn same_content(
        &self,
        (a, da): (&Resolved, &Dir),
        (b, db): (&Resolved, &Dir),
    ) -> Result<bool, ReadError> {
        if a.meta.size != b.meta.size {
            return Ok(false);
        }
        match a.meta.kind {
            FileKind::Symlink => Ok(self.read_link_in(da, a)? == self.read_link_in(db, b)?),
            FileKind::File => Ok(self.hash_in(da, a)? == self.hash_in(db, b)?),
            FileKind::CharDevice | FileKind::BlockDevice => Ok(a.meta.rdev == b.meta.rdev),
            _ => Ok(true),
        }
    }
}
