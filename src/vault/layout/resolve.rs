//! The [`Resolver`]: which real entry a path of a version stands for. It walks a version
//! the way `cp -rL` would for structural links (one hop each, never through another
//! link) while treating source symlinks as data, and it does so through open directory
//! fds only: a real directory is held open and its children are looked up through it, so
//! a path of any length works (a source tree may be deeper than `PATH_MAX`, 4096 bytes;
//! only the text of a structural link is bounded, by the kernel's symlink limit).
//!
//! This is the one place that decides whether a child is a structural link: it is one
//! exactly when its path is listed in the links file of the version holding its directory
//! **and** it is a symlink there (a listed path that is a real directory is real: a retire
//! interrupted between its exchange and its links-file rewrite leaves exactly that until it
//! is replayed). The snapshot builder, the delta scan and the read commands all go through
//! it. Nothing here writes, and nothing here follows a source symlink.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::PRIVATE_DIR;
use super::{parse_link_target, read_lines, tsv_name, unescape_path, JobFolder, VersionName};
use crate::fs::{Dir, FileKind, Meta};

/// The real entry behind a path of a version: which version holds it and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The version whose folder holds the real entry.
    pub version: VersionName,
    /// The entry's path inside that version.
    pub path: PathBuf,
    /// Its metadata (`lstat`: a source symlink is reported as a symlink).
    pub meta: Meta,
}

impl Resolved {
    /// The entry's absolute path under the job folder `root` (for messages: it may be
    /// longer than `PATH_MAX`).
    pub fn full_path(&self, root: &Path) -> PathBuf {
        root.join(self.version.to_string()).join(&self.path)
    }

    /// Its path relative to the job folder: `V{n}--{time}/path`.
    fn in_job(&self) -> PathBuf {
        Path::new(&self.version.to_string()).join(&self.path)
    }
}

/// A path of a version, resolved: the real entry, and (except for a version root) the
/// open real directory it was looked up in, with what that directory is. For an entry that
/// is not a directory, that directory holds it under its own name.
#[derive(Debug)]
pub struct Located {
    /// The real entry.
    pub entry: Resolved,
    /// The real directory the entry was found in, open; `None` for a version root.
    pub parent: Option<(Dir, Resolved)>,
}

/// Resolves paths of versions to real entries, following structural links (one hop each)
/// and never source symlinks, through directory fds. Cheap to clone; clones share the job
/// folder's fd and the cache of links files, so one resolver can serve several threads.
#[derive(Debug, Clone)]
pub struct Resolver {
    root: PathBuf,
    jobdir: Arc<Dir>,
    versions: Arc<BTreeMap<u64, VersionName>>,
    links: Arc<Mutex<HashMap<u64, Arc<HashSet<PathBuf>>>>>,
}

impl Resolver {
    /// A resolver over the committed versions of `folder` as they are now.
    pub fn new(folder: &JobFolder) -> io::Result<Resolver> {
        let versions = folder
            .versions()?
            .into_iter()
            .map(|v| (v.number, v))
            .collect();
        Ok(Resolver {
            root: folder.root().to_path_buf(),
            jobdir: Arc::new(folder.dir().open_beneath(Path::new(""))?),
            versions: Arc::new(versions),
            links: Arc::default(),
        })
    }

    /// A resolver that also knows `extra` (e.g. a version being built or just committed).
    pub fn with_version(&self, extra: VersionName) -> Resolver {
        let mut versions = (*self.versions).clone();
        versions.insert(extra.number, extra);
        Resolver {
            root: self.root.clone(),
            jobdir: self.jobdir.clone(),
            versions: Arc::new(versions),
            links: self.links.clone(),
        }
    }

    /// The job folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The version called `number`, if it is known.
    pub fn version(&self, number: u64) -> Option<&VersionName> {
        self.versions.get(&number)
    }

    /// The structural links inside version `number` (cached).
    pub fn links(&self, number: u64) -> io::Result<Arc<HashSet<PathBuf>>> {
        let mut cache = self.links.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(set) = cache.get(&number) {
            return Ok(set.clone());
        }
        let path = self
            .root
            .join(PRIVATE_DIR)
            .join("links")
            .join(tsv_name(number));
        let set: HashSet<PathBuf> = read_lines(&path)?
            .iter()
            .map(|l| unescape_path(l))
            .collect::<io::Result<_>>()?;
        let set = Arc::new(set);
        cache.insert(number, set.clone());
        Ok(set)
    }

    /// The root directory of version `v`.
    pub fn version_root(&self, v: &VersionName) -> io::Result<Resolved> {
        let meta = self
            .jobdir
            .open_child(v.to_string().as_ref())?
            .stat_self()?;
        Ok(Resolved {
            version: v.clone(),
            path: PathBuf::new(),
            meta,
        })
    }

    /// Open the real directory `dir` from the job folder, without following any symlink
    /// (any path length).
    pub fn open(&self, dir: &Resolved) -> io::Result<Dir> {
        self.jobdir.open_beneath(&dir.in_job())
    }

    /// Open the real directory `path` of version `number` (see [`Resolver::open`]).
    pub fn open_in_version(&self, number: u64, path: &Path) -> io::Result<Dir> {
        let v = self.version(number).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("version {number} is not committed"),
            )
        })?;
        self.jobdir
            .open_beneath(&Path::new(&v.to_string()).join(path))
    }

    /// Open the real directory `child`, found in the real directory `parent` (open as
    /// `parent_dir`): relative to `parent_dir` when it lives there, else (behind a
    /// structural link) from the job folder.
    pub fn open_child(
        &self,
        parent_dir: &Dir,
        parent: &Resolved,
        child: &Resolved,
    ) -> io::Result<Dir> {
        match direct_name(parent, child) {
            Some(name) => parent_dir.open_child(name),
            None => self.open(child),
        }
    }

    /// Where the child `name` of the real directory at `path`'s parent in version
    /// `version` (open as `dir`) links to, when it is a structural link: the version and
    /// the path inside it. `None` for anything else (a real entry, a source symlink, a
    /// listed path that is a real directory). `path` is the child's path in `version`.
    pub fn structural(
        &self,
        dir: &Dir,
        version: u64,
        path: &Path,
        name: &OsStr,
    ) -> io::Result<Option<(VersionName, PathBuf)>> {
        if !self.links(version)?.contains(path) {
            return Ok(None);
        }
        let text = match crate::fs::at::read_link(dir, name) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => return Ok(None),
            Err(e) => return Err(e),
        };
        match parse_link_target(path, &text) {
            Some(target) => Ok(Some(target)),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "structural link {} in version {version} is malformed: `{}`",
                    path.display(),
                    text.display()
                ),
            )),
        }
    }

    /// The entry `name` inside the real directory `parent` (open as `dir`); `None` when it
    /// does not exist. A structural link is followed to the real directory it names;
    /// anything else (including a source symlink) is returned as it is.
    pub fn child(
        &self,
        dir: &Dir,
        parent: &Resolved,
        name: &OsStr,
    ) -> io::Result<Option<Resolved>> {
        let path = parent.path.join(name);
        if let Some((version, target)) = self.structural(dir, parent.version.number, &path, name)? {
            let real = self
                .jobdir
                .open_beneath(&Path::new(&version.to_string()).join(&target))?;
            return Ok(Some(Resolved {
                version,
                path: target,
                meta: real.stat_self()?,
            }));
        }
        match dir.stat(name) {
            Ok(meta) => Ok(Some(Resolved {
                version: parent.version.clone(),
                path,
                meta,
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `rel` (plain components) in version `v`, resolved to its real entry by walking from
    /// the version root through open directories (any path length). `None` when `rel` is
    /// not in the version (or passes through a non-directory, e.g. a source symlink).
    pub fn locate(&self, v: &VersionName, rel: &Path) -> io::Result<Option<Located>> {
        let mut cur = self.version_root(v)?;
        let mut parent: Option<(Dir, Resolved)> = None;
        for name in rel.iter() {
            if name == "." {
                continue;
            }
            if name == ".." || name == "/" {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{}: not a plain relative path", rel.display()),
                ));
            }
            if cur.meta.kind != FileKind::Dir {
                return Ok(None);
            }
            let dir = match &parent {
                Some((pd, pr)) => self.open_child(pd, pr, &cur)?,
                None => self.open(&cur)?,
            };
            let Some(next) = self.child(&dir, &cur, name)? else {
                return Ok(None);
            };
            parent = Some((dir, std::mem::replace(&mut cur, next)));
        }
        Ok(Some(Located { entry: cur, parent }))
    }

    /// Resolve `rel` (relative to the root of version `v`) to its real entry; `None` when
    /// the path does not exist in that version (or passes through a non-directory).
    pub fn resolve(&self, v: &VersionName, rel: &Path) -> io::Result<Option<Resolved>> {
        Ok(self.locate(v, rel)?.map(|l| l.entry))
    }
}

/// The name of `child` in `parent` when `child` is a real entry of that very directory
/// (not reached through a structural link).
pub fn direct_name<'r>(parent: &Resolved, child: &'r Resolved) -> Option<&'r OsStr> {
    let same = child.version == parent.version && child.path.parent() == Some(&parent.path);
    same.then(|| child.path.file_name()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::OFlag;
    use crate::vault::layout::link_target;

    fn name(n: u64) -> VersionName {
        let v: VersionName = "V0--2026-11-23_10-00-00_+0100".parse().unwrap();
        VersionName { number: n, ..v }
    }

    /// Make the folders of `rel` below `dir` (by fds) and return the deepest, open.
    fn mkdirs(dir: &Dir, rel: &Path) -> Dir {
        let mut cur = dir.open_beneath(Path::new("")).unwrap();
        for c in rel.iter() {
            cur = cur.ensure_child_dir(c, 0o755).unwrap();
        }
        cur
    }

    fn file(dir: &Dir, name: &str) {
        let flags = OFlag::O_CREAT | OFlag::O_WRONLY;
        dir.open_file(OsStr::new(name), flags, 0o644).unwrap();
    }

    fn symlink(dir: &Dir, name: &Path, text: &Path) {
        crate::fs::at::symlink(text, dir, name.as_os_str()).unwrap();
    }

    /// V0 holds `short/x/f`; V1 holds a 5 KB deep chain whose `x` is a structural link to
    /// V0's `short/x` (a short text at a long path), plus a malformed listed link.
    fn deep_folder() -> (tempfile::TempDir, JobFolder, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let folder = JobFolder::create(&tmp.path().join("job")).unwrap();
        let (v0, v1) = (name(0), name(1));
        let x0 = mkdirs(folder.dir(), &Path::new(&v0.to_string()).join("short/x"));
        file(&x0, "f");
        let mut deep = PathBuf::new();
        for i in 0..25 {
            deep.push(format!("{i:02}{}", "d".repeat(198)));
        }
        assert!(deep.as_os_str().len() > 4096);
        let bottom = mkdirs(folder.dir(), &Path::new(&v1.to_string()).join(&deep));
        let text = link_target(&deep.join("x"), &v0, Path::new("short/x"));
        symlink(&bottom, Path::new("x"), &text);
        symlink(&bottom, Path::new("bad"), Path::new("../elsewhere"));
        symlink(&bottom, Path::new("plain"), Path::new("x"));
        let links = [deep.join("x"), deep.join("bad")];
        folder
            .write_links(1, links.iter().map(PathBuf::as_path))
            .unwrap();
        (tmp, folder, deep)
    }

    #[test]
    fn locate_follows_a_structural_link_at_a_path_longer_than_path_max() {
        let (_tmp, folder, deep) = deep_folder();
        let r = Resolver::new(&folder).unwrap();
        let found = r.locate(&name(1), &deep.join("x/f")).unwrap().unwrap();
        assert_eq!(found.entry.version.number, 0);
        assert_eq!(found.entry.path, Path::new("short/x/f"));
        assert_eq!(found.entry.meta.kind, FileKind::File);
        let (parent_dir, parent) = found.parent.unwrap();
        assert_eq!(parent.path, Path::new("short/x"));
        assert!(parent_dir.stat(OsStr::new("f")).is_ok());
        assert_eq!(r.resolve(&name(1), &deep.join("nope")).unwrap(), None);
    }

    #[test]
    fn a_malformed_listed_link_is_an_error_and_a_plain_symlink_is_data() {
        let (_tmp, folder, deep) = deep_folder();
        let r = Resolver::new(&folder).unwrap();
        let err = r.locate(&name(1), &deep.join("bad")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let plain = r.resolve(&name(1), &deep.join("plain")).unwrap().unwrap();
        assert_eq!(
            (plain.version.number, plain.meta.kind),
            (1, FileKind::Symlink)
        );
        assert_eq!(r.resolve(&name(1), &deep.join("plain/f")).unwrap(), None);
        let err = r.locate(&name(1), Path::new("../x")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
