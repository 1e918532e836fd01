//! Walking the real entries of versions: open a resolved real directory, list it, resolve
//! its children (following structural links one hop, never source symlinks), find an
//! entry's real parent. Shared by `diff` and `restore`; errors name the full path.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use super::ReadError;
use crate::error::PathError;
use crate::fs::Dir;
use crate::vault::layout::{JobFolder, Resolved, Resolver, VersionName};

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

    /// `rel` in version `v` resolved to its real entry (`None`: not in that version).
    pub fn resolve(&self, v: &VersionName, rel: &Path) -> Result<Option<Resolved>, ReadError> {
        self.resolver
            .resolve(v, rel)
            .map_err(|e| PathError::new(self.folder.version_path(v).join(rel), e).into())
    }

    /// Open the real directory `dir` without following any symlink.
    pub fn open(&self, dir: &Resolved) -> Result<Dir, ReadError> {
        let in_job = Path::new(&dir.version.to_string()).join(&dir.path);
        self.folder
            .dir()
            .open_beneath(&in_job)
            .map_err(|e| self.error(dir, e))
    }

    /// Open the real directory `dir` and list its names (sorted by bytes).
    pub fn listing(&self, dir: &Resolved) -> Result<(Dir, Vec<OsString>), ReadError> {
        let d = self.open(dir)?;
        let names = d.entries().map_err(|e| self.error(dir, e))?;
        Ok((d, names.into_iter().map(|e| e.name).collect()))
    }

    /// The child `name` of the real directory `parent` (open as `dir`): a structural link
    /// is followed to the real directory it names; `None` when it does not exist.
    pub fn child(
        &self,
        dir: &Dir,
        parent: &Resolved,
        name: &OsStr,
    ) -> Result<Option<Resolved>, ReadError> {
        let path = parent.path.join(name);
        let links = self
            .resolver
            .links(parent.version.number)
            .map_err(|e| self.error(parent, e))?;
        if links.contains(&path) {
            return self.resolver.child(parent, name).map_err(|e| {
                PathError::new(parent.full_path(self.folder.root()).join(name), e).into()
            });
        }
        match dir.stat(name) {
            Ok(meta) => Ok(Some(Resolved {
                version: parent.version.clone(),
                path,
                meta,
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => {
                Err(PathError::new(parent.full_path(self.folder.root()).join(name), e).into())
            }
        }
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

    /// The target of the source symlink `r`.
    pub fn read_link(&self, r: &Resolved) -> Result<PathBuf, ReadError> {
        let (dir, name) = self.real_parent(r)?;
        nix::fcntl::readlinkat(Some(dir.as_fd().as_raw_fd()), name.as_os_str())
            .map(PathBuf::from)
            .map_err(|e| self.error(r, e.into()))
    }

    /// The xxh3-128 of the regular file `r`.
    pub fn hash(&self, r: &Resolved) -> Result<u128, ReadError> {
        let (dir, name) = self.real_parent(r)?;
        crate::fs::hash_file(&dir, &name).map_err(|e| self.error(r, e))
    }
}
