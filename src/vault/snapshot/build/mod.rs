//! The builder of one version folder (the layout of the README's "The vault"): an
//! iterative walk (a stack of open folders, no recursion, so no big stack at any depth).
//!
//! It lists only source directories on dirty paths; everything else is one hard link (an
//! unchanged non-directory) or one structural link (an unchanged directory) into the
//! previous version. It writes only below the hidden build folder and never follows a
//! source symlink: every source access goes through the open parent directory.
//! Per-entry problems (unreadable, vanished, changing files) are collected as
//! [`Skipped`] and the build goes on; problems writing the vault are fatal.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};

mod write;

use write::tolerable_lookup;

use super::plan::Plan;
use super::{Progress, Skipped};
use crate::change::Change;
use crate::config::JobConfig;
use crate::error::{IoContext, PathError};
use crate::fs::at::{join, listing, read_link as read_link_at};
use crate::fs::{CopyOptions, Dir, FileKind};
use crate::vault::layout::navigate::{classify, copy_options, open_real, Child, Real};
use crate::vault::layout::{Resolver, VersionName};

/// Where a version being built holds a multiply-linked source file.
pub(super) struct Sibling {
    /// The entry, relative to the job folder.
    pub at: PathBuf,
    /// Copied from the source in this build (else: linked to an older version's inode,
    /// whose size and mtime follow).
    pub fresh: bool,
    pub size: u64,
    pub mtime: crate::fs::Timestamp,
}

/// What a build produced, for the commit and the index row.
#[derive(Debug, Default)]
pub(crate) struct Output {
    /// Structural links inside the new version (paths relative to its root).
    pub links: Vec<PathBuf>,
    /// Per target version k: the link paths of the new version pointing into k.
    pub refs: BTreeMap<u64, Vec<PathBuf>>,
    /// Allocated bytes of the inodes created.
    pub size: u64,
    /// Inodes created.
    pub inodes: u64,
    /// Entries that could not be stored.
    pub skipped: Vec<Skipped>,
}

/// The previous version's counterpart of a directory being built: open, and listed.
pub(super) struct PrevDir {
    real: Real,
    dir: Dir,
    kinds: HashMap<OsString, Option<FileKind>>,
}

/// The previous version's entry for one child.
pub(super) struct PrevEntry<'p> {
    pub real: Real,
    pub kind: FileKind,
    /// The real directory holding the entry (absent for a directory reached by a link).
    pub parent: Option<ParentRef<'p>>,
}

pub(super) enum ParentRef<'p> {
    Borrowed(&'p Dir),
    Owned(Dir),
}

impl PrevEntry<'_> {
    pub(super) fn parent(&self) -> Option<&Dir> {
        match &self.parent {
            Some(ParentRef::Borrowed(d)) => Some(d),
            Some(ParentRef::Owned(d)) => Some(d),
            None => None,
        }
    }

    pub(super) fn name(&self) -> &OsStr {
        self.real.path.file_name().unwrap_or(OsStr::new(""))
    }
}

/// Everything one build needs. Built by the commit session, used once.
pub(crate) struct Builder<'a> {
    pub job: &'a JobConfig,
    pub plan: &'a Plan<'a>,
    pub resolver: &'a Resolver,
    /// The newest committed version (absent for version 0).
    pub prev: Option<&'a VersionName>,
    pub jobdir: &'a Dir,
    /// The hidden build folder's name (relative to the job folder).
    pub build_name: PathBuf,
    pub opts: CopyOptions,
    /// The longest symlink target the vault filesystem stores.
    pub symlink_max: usize,
    pub progress: &'a Progress,
    pub out: Output,
    /// Source (dev, ino) of multiply-linked files written so far -> where this version
    /// holds it, so names sharing an inode in the source share one in the version.
    pub(super) hardlinks: HashMap<(u64, u64), Sibling>,
    /// Real folders open below the root right now (the walk's depth).
    pub(super) depth: usize,
    /// The real folder just made by [`Builder::real_dir`], for the walk to fill next.
    pub(super) descend: Option<Frame>,
}

/// A real folder being filled: its source and version fds, the previous version's folder,
/// the entries still to do, and what to give it once they are done.
pub(super) struct Frame {
    pub src: Dir,
    pub dst: Dir,
    pub prev: Option<PrevDir>,
    pub rel: PathBuf,
    /// The folder's name in its parent and its source attributes.
    pub name: OsString,
    pub meta: crate::fs::Meta,
    pub entries: std::vec::IntoIter<crate::fs::DirEntry>,
}

pub(super) type Res = Result<(), PathError>;

impl<'a> Builder<'a> {
    /// A builder with empty output.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        job: &'a JobConfig,
        plan: &'a Plan<'a>,
        resolver: &'a Resolver,
        prev: Option<&'a VersionName>,
        jobdir: &'a Dir,
        build_name: PathBuf,
        symlink_max: usize,
        progress: &'a Progress,
    ) -> Self {
        Builder {
            job,
            plan,
            resolver,
            prev,
            jobdir,
            build_name,
            opts: copy_options(job),
            symlink_max,
            progress,
            out: Output::default(),
            hardlinks: HashMap::new(),
            depth: 0,
            descend: None,
        }
    }

    /// Fill the (already created) build root `dst` from the source root `src`.
    pub fn build_root(&mut self, src: &Dir, dst: &Dir) -> Res {
        let prev = match self.prev {
            Some(v) => self.open_prev(&Real {
                version: v.number,
                path: PathBuf::new(),
            }),
            None => None,
        };
        self.build_dir(src, Path::new(""), dst, prev.as_ref())
    }

    /// Referenced version 0: one absolute symlink per top-level source entry.
    pub fn build_referenced(&mut self, src: &Dir, dst: &Dir) -> Res {
        let entries = src.entries().at(&self.job.source)?;
        for e in entries {
            let path = PathBuf::from(&e.name);
            if self.excluded(&path) {
                continue;
            }
            let target = self.job.source.join(&e.name);
            crate::fs::at::symlink(&target, dst, &e.name).at(self.vault_path(&path))?;
            self.count_new(dst, &e.name, &path)?;
        }
        Ok(())
    }

    fn excluded(&self, path: &Path) -> bool {
        self.job.skips_entry(path)
    }

    /// The path of `rel` (inside the version) below the job folder, for messages.
    pub(super) fn vault_path(&self, rel: &Path) -> PathBuf {
        self.job.job_dir().join(&self.build_name).join(rel)
    }

    pub(super) fn skip(&mut self, path: &Path, reason: impl ToString) {
        self.out.skipped.push(Skipped {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        });
    }

    /// Fill `dst` from `src` (at `rel`) and every real folder made below it: each entry is
    /// built in its parent's listing order; a real folder made for one is filled next (its
    /// frame pushed), and takes its source attributes once its own entries are done.
    fn build_dir(&mut self, src: &Dir, rel: &Path, dst: &Dir, prev: Option<&PrevDir>) -> Res {
        let mut top = self.list(src.entries(), rel);
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            let (s, d, p, r, next) = match stack.last_mut() {
                Some(f) => (
                    &f.src,
                    &f.dst,
                    f.prev.as_ref(),
                    f.rel.as_path(),
                    f.entries.next(),
                ),
                None => (src, dst, prev, rel, top.next()),
            };
            let Some(entry) = next else {
                let Some(done) = stack.pop() else {
                    return Ok(());
                };
                self.depth = stack.len();
                let (s, d) = stack.last().map_or((src, dst), |f| (&f.src, &f.dst));
                self.finish_dir(s, d, done)?;
                continue;
            };
            let path = join(r, &entry.name);
            if !self.excluded(&path) {
                self.build_child(s, &entry.name, &path, d, p)?;
            }
            if let Some(child) = self.descend.take() {
                stack.push(child);
                self.depth = stack.len();
            }
        }
    }

    /// The entries of the folder at `rel`, or none (and a skip) when it cannot be listed.
    pub(super) fn list(
        &mut self,
        listed: io::Result<Vec<crate::fs::DirEntry>>,
        rel: &Path,
    ) -> std::vec::IntoIter<crate::fs::DirEntry> {
        listed
            .unwrap_or_else(|e| {
                self.skip(rel, format!("cannot list: {e}"));
                Vec::new()
            })
            .into_iter()
    }

    fn build_child(
        &mut self,
        src: &Dir,
        name: &OsStr,
        path: &Path,
        dst: &Dir,
        prev: Option<&PrevDir>,
    ) -> Res {
        let meta = match src.stat(name) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                self.skip(path, e);
                return Ok(());
            }
        };
        Progress::add(&self.progress.written, 1);
        let change = self.plan.change(path);
        if matches!(
            change,
            Some(Change::Created | Change::Modified | Change::Deleted)
        ) {
            return self.copy(src, name, &meta, path, dst);
        }
        let Some(pe) = self.prev_entry(path, name, change, prev)? else {
            return self.copy(src, name, &meta, path, dst);
        };
        let attrib = matches!(change, Some(Change::Attrib));
        if pe.kind != meta.kind {
            if self.is_live_reference(&pe, path) && change.is_none() && !self.plan.is_dirty(path) {
                return self.hard_link(&pe, src, name, &meta, path, dst);
            }
            return self.copy(src, name, &meta, path, dst);
        }
        if meta.kind == FileKind::Dir {
            if self.plan.is_dirty(path) || attrib {
                return self.real_dir(src, name, &meta, path, dst, Some(pe));
            }
            return self.structural_link(src, name, &meta, path, dst, pe);
        }
        if attrib {
            if meta.kind == FileKind::File && self.job.settings.attributes_only {
                return self.clone_with_attributes(&pe, src, name, &meta, path, dst);
            }
            return self.copy(src, name, &meta, path, dst);
        }
        self.hard_link(&pe, src, name, &meta, path, dst)
    }

    /// Where `path`'s previous content is: through the open previous directory, or (for a
    /// moved entry) resolved afresh in the previous version.
    fn prev_entry<'p>(
        &self,
        path: &Path,
        name: &OsStr,
        change: Option<&Change>,
        prev: Option<&'p PrevDir>,
    ) -> Result<Option<PrevEntry<'p>>, PathError> {
        if let Some(Change::Moved { .. }) = change {
            return self.resolve_fresh(&self.plan.prev(path));
        }
        let Some(p) = prev else { return Ok(None) };
        let Some(kind) = p.kinds.get(name) else {
            return Ok(None);
        };
        let child = classify(self.resolver, &p.real, &p.dir, name, *kind);
        match child {
            Ok(Child::Linked(real)) => Ok(Some(PrevEntry {
                real,
                kind: FileKind::Dir,
                parent: None,
            })),
            Ok(Child::Entry(kind)) => Ok(Some(PrevEntry {
                real: Real {
                    version: p.real.version,
                    path: join(&p.real.path, name),
                },
                kind,
                parent: Some(ParentRef::Borrowed(&p.dir)),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PathError::new(
                self.prev_path(&join(&p.real.path, name), p.real.version),
                e,
            )),
        }
    }

    pub(super) fn prev_path(&self, rel: &Path, version: u64) -> PathBuf {
        let v = self
            .resolver
            .version(version)
            .map(|v| v.to_string())
            .unwrap_or_default();
        self.job.job_dir().join(v).join(rel)
    }

    fn resolve_fresh(&self, prev_path: &Path) -> Result<Option<PrevEntry<'static>>, PathError> {
        let Some(v) = self.prev else { return Ok(None) };
        let located = match self.resolver.locate(v, prev_path) {
            Ok(Some(l)) => l,
            Ok(None) => return Ok(None),
            Err(e) if tolerable_lookup(&e) => return Ok(None),
            Err(e) => return Err(PathError::new(self.prev_path(prev_path, v.number), e)),
        };
        let (entry, parent) = (located.entry, located.parent);
        let real = Real {
            version: entry.version.number,
            path: entry.path,
        };
        // A directory is opened afresh (it may lie behind a structural link); anything
        // else is a direct entry of the real directory it was found in, kept open.
        let parent = match (entry.meta.kind, parent) {
            (FileKind::Dir, _) | (_, None) => None,
            (_, Some((dir, _))) => Some(ParentRef::Owned(dir)),
        };
        Ok(Some(PrevEntry {
            real,
            kind: entry.meta.kind,
            parent,
        }))
    }

    /// Open and list a real directory of an older version; `None` (copy from the source
    /// instead) when it cannot be read.
    fn open_prev(&self, real: &Real) -> Option<PrevDir> {
        let dir = open_real(self.resolver, real).ok()?;
        self.prev_from_dir(real.clone(), dir)
    }

    fn prev_from_dir(&self, real: Real, dir: Dir) -> Option<PrevDir> {
        let kinds = match listing(&dir) {
            Ok(l) => l.into_iter().collect(),
            Err(e) => {
                tracing::warn!(
                    "{}: cannot list ({e}); copying from the source instead",
                    self.prev_path(&real.path, real.version).display()
                );
                return None;
            }
        };
        Some(PrevDir { real, dir, kinds })
    }

    pub(super) fn open_prev_entry(&self, pe: &PrevEntry<'_>) -> Option<PrevDir> {
        match pe.parent() {
            Some(parent) => {
                let dir = parent.open_child(pe.name()).ok()?;
                self.prev_from_dir(pe.real.clone(), dir)
            }
            None => self.open_prev(&pe.real),
        }
    }

    /// True for a top-level symlink of a referenced version 0 pointing at the live source.
    pub(super) fn is_live_reference(&self, pe: &PrevEntry<'_>, path: &Path) -> bool {
        if self.job.settings.keep_full_copy || pe.kind != FileKind::Symlink {
            return false;
        }
        if path.components().count() != 1 {
            return false;
        }
        let Some(parent) = pe.parent() else {
            return false;
        };
        read_link_at(parent, pe.name()).is_ok_and(|t| t == self.job.source.join(path))
    }
}
