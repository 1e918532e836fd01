//! Walking the real entries of versions: open a resolved real directory, list it, resolve
//! its children (following structural links one hop, never source symlinks), find an
//! entry's real parent. Shared by `diff` and `restore`; errors name the full path.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use super::ReadError;
use crate::error::PathError;
use crate::fs::{Dir, FileKind};
use crate::vault::layout::{parse_link_target, JobFolder, Resolved, Resolver, VersionName};

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

    /// `rel` (plain components) in version `v` resolved to its real entry, walking from the
    /// version root through open directories (any path length); also the real directory
    /// that holds it, open (`None` for the root). `None` when `rel` is not in the version
    /// (or passes through a non-directory, e.g. a source symlink).
    pub fn locate(&self, v: &VersionName, rel: &Path) -> Result<Option<Located>, ReadError> {
        let mut cur = self.version_root(v)?;
        let mut parent: Option<(Dir, Resolved)> = None;
        for name in rel.iter() {
            if cur.meta.kind != FileKind::Dir {
                return Ok(None);
            }
            let dir = match &parent {
                Some((pd, pr)) => self.open_in(pd, pr, &cur)?,
                None => self.open(&cur)?,
            };
            let Some(next) = self.child(&dir, &cur, name)? else {
                return Ok(None);
            };
            parent = Some((dir, std::mem::replace(&mut cur, next)));
        }
        Ok(Some(Located { entry: cur, parent }))
    }

    /// Open the real directory `dir` without following any symlink.
    pub fn open(&self, dir: &Resolved) -> Result<Dir, ReadError> {
        let in_job = Path::new(&dir.version.to_string()).join(&dir.path);
        self.folder
            .dir()
            .open_beneath(&in_job)
            .map_err(|e| self.error(dir, e))
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
        match direct_name(parent, child) {
            Some(name) => parent_dir
                .open_child(name)
                .map_err(|e| self.error(child, e)),
            None => self.open(child),
        }
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

    /// The child `name` of the real directory `parent` (open as `dir`): a structural link
    /// is followed (one hop, never through another link) to the real directory it names;
    /// `None` when it does not exist.
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
        let at = |e: io::Error| -> ReadError {
            PathError::new(parent.full_path(self.folder.root()).join(name), e).into()
        };
        if links.contains(&path) {
            return self.follow(dir, &path, name).map(Some).map_err(at);
        }
        match dir.stat(name) {
            Ok(meta) => Ok(Some(Resolved {
                version: parent.version.clone(),
                path,
                meta,
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(at(e)),
        }
    }

    /// Follow the structural link `name` (at `path` in its version) in `dir`: read it
    /// relative to `dir`, parse it with [`parse_link_target`], open its target from the
    /// job folder without following any symlink.
    fn follow(&self, dir: &Dir, path: &Path, name: &OsStr) -> io::Result<Resolved> {
        let text = nix::fcntl::readlinkat(Some(dir.as_fd().as_raw_fd()), name)?;
        let (version, target) = parse_link_target(path, Path::new(&text)).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("malformed structural link `{}`", Path::new(&text).display()),
            )
        })?;
        let real = self
            .folder
            .dir()
            .open_beneath(&Path::new(&version.to_string()).join(&target))?;
        Ok(Resolved {
            version,
            path: target,
            meta: real.stat_self()?,
        })
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
    pub fn read_link_in(&self, dir: &Dir, r: &Resolved) -> Result<PathBuf, ReadError> {
        let name = r.path.file_name().unwrap_or_default();
        nix::fcntl::readlinkat(Some(dir.as_fd().as_raw_fd()), name)
            .map(PathBuf::from)
            .map_err(|e| self.error(r, e.into()))
    }

    /// The xxh3-128 of the regular file `r`, an entry of the real directory `dir`.
    pub fn hash_in(&self, dir: &Dir, r: &Resolved) -> Result<u128, ReadError> {
        let name = r.path.file_name().unwrap_or_default();
        crate::fs::hash_file(dir, name).map_err(|e| self.error(r, e))
    }
}

/// A path of a version, resolved: the real entry, and the real directory holding it.
#[derive(Debug)]
pub(crate) struct Located {
    pub entry: Resolved,
    pub parent: Option<(Dir, Resolved)>,
}

/// The name of `child` in `parent` when `child` is a real entry of that very directory
/// (not reached through a structural link).
fn direct_name<'r>(parent: &Resolved, child: &'r Resolved) -> Option<&'r OsStr> {
    let same = child.version == parent.version && child.path.parent() == Some(&parent.path);
    same.then(|| child.path.file_name()).flatten()
}
