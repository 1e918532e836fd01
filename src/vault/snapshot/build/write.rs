//! Writing one entry of a version being built: a real directory, a structural link, a
//! hard link to the previous version (with the `EMLINK` fallback), a clone for an
//! attribute-only change, or a copy from the source (hard-linked source files stay
//! hard-linked). The decisions are made in the parent module; this only carries them out.
//! The system calls are `fs`'s (`fs::at`), and so are the errno values that decide a
//! fallback (`ENAMETOOLONG`, `EMLINK`, the lookups that mean "not there").

use std::ffi::OsStr;
use std::io;
use std::path::Path;

use crate::fs::errno;

use std::collections::hash_map::Entry;

use super::{Builder, Frame, PrevEntry, Res, Sibling};
use crate::change::Progress;
use crate::error::{IoContext, PathError};
use crate::fs::{self, at, CopyError, CopyOutcome, Dir, FileKind, Meta};
use crate::vault::deep::{too_deep, MAX_DEPTH};
use crate::vault::layout::navigate::version_dir;
use crate::vault::layout::{link_fits, link_target};

impl Builder<'_> {
    pub(super) fn real_dir(
        &mut self,
        src: &Dir,
        name: &OsStr,
        meta: &Meta,
        path: &Path,
        dst: &Dir,
        pe: Option<PrevEntry<'_>>,
    ) -> Res {
        let child_src = match src.open_child(name) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                self.skip(path, format!("cannot open: {e}"));
                return Ok(());
            }
        };
        if self.depth >= MAX_DEPTH {
            self.skip(path, too_deep());
            return Ok(());
        }
        at::mkdir(dst, name, 0o700).at(self.vault_path(path))?;
        let child_dst = dst.open_child(name).at(self.vault_path(path))?;
        let prev = pe.as_ref().and_then(|pe| self.open_prev_entry(pe));
        let entries = self.list(child_src.list_once(), path);
        self.descend = Some(Frame {
            src: child_src,
            dst: child_dst,
            prev,
            rel: path.to_path_buf(),
            name: name.to_os_string(),
            meta: *meta,
            entries,
        });
        Ok(())
    }

    /// A real folder's entries are all built: it takes its source attributes (`src` and
    /// `dst` are its parent's folders) and is counted.
    pub(super) fn finish_dir(&mut self, src: &Dir, dst: &Dir, done: Frame) -> Res {
        drop((done.src, done.dst, done.prev));
        let (name, path) = (done.name.as_os_str(), done.rel.as_path());
        if let Err(e) = fs::copy_attributes(src, name, &done.meta, dst, name, &self.opts) {
            self.skip(path, format!("attributes not copied: {e}"));
        }
        self.count_new(dst, name, path)
    }

    pub(super) fn structural_link(
        &mut self,
        src: &Dir,
        name: &OsStr,
        meta: &Meta,
        path: &Path,
        dst: &Dir,
        pe: PrevEntry<'_>,
    ) -> Res {
        let version = version_dir(self.resolver, pe.real.version).at(self.vault_path(path))?;
        let target = link_target(path, version, &pe.real.path);
        // Too long a target text for a symlink (the kernel's 4095 bytes, or less on the
        // vault's filesystem: XFS and ext4 with 1 KiB blocks 1023, ...): no link here, a
        // real folder whose children are linked (see the module doc of `snapshot`). Room
        // is kept for a longer version number: a retire repoints this link to the same
        // path in a newer version.
        if !link_fits(&target, pe.real.version, self.symlink_max) {
            return self.real_dir(src, name, meta, path, dst, Some(pe));
        }
        match at::symlink(&target, dst, name) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(errno::ENAMETOOLONG) => {
                return self.real_dir(src, name, meta, path, dst, Some(pe))
            }
            Err(e) => return Err(PathError::new(self.vault_path(path), e)),
        }
        self.out.links.push(path.to_path_buf());
        self.out
            .refs
            .entry(pe.real.version)
            .or_default()
            .push(path.to_path_buf());
        self.count_new(dst, name, path)
    }

    pub(super) fn hard_link(
        &mut self,
        pe: &PrevEntry<'_>,
        src: &Dir,
        name: &OsStr,
        meta: &Meta,
        path: &Path,
        dst: &Dir,
    ) -> Res {
        let Some(parent) = pe.parent() else {
            return self.copy(src, name, meta, path, dst);
        };
        if self.link_to_sibling(meta, dst, name) {
            return Ok(());
        }
        match at::link(parent, pe.name(), dst, name) {
            Ok(()) => {
                if meta.kind == FileKind::File && meta.nlink > 1 {
                    let old = parent.stat(pe.name()).ok();
                    self.note_source_inode(meta, path, old.as_ref());
                }
                Ok(())
            }
            Err(e) if e.raw_os_error() == Some(errno::EMLINK) => {
                self.unlinkable(pe, parent, path, dst, name)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.copy(src, name, meta, path, dst),
            Err(e) => Err(PathError::new(self.vault_path(path), e)),
        }
    }

    /// A multiply-linked source file already written into this version under another
    /// name: link `name` to that entry, so the names that share an inode in the source
    /// share one in the version. Only when that entry has the source's current content:
    /// copied in this build, or linked to an older inode whose size and mtime still match
    /// (a new name of an unchanged file). True when done.
    fn link_to_sibling(&self, meta: &Meta, dst: &Dir, name: &OsStr) -> bool {
        if meta.kind != FileKind::File || meta.nlink < 2 {
            return false;
        }
        let Some(sib) = self.hardlinks.get(&(meta.dev, meta.ino)) else {
            return false;
        };
        let current = sib.fresh || (sib.size == meta.size && sib.mtime == meta.mtime);
        current && self.link_from_job(&sib.at, dst, name).is_ok()
    }

    /// Hard-link `dst/name` to the entry `at` (relative to the job folder). Its folder is
    /// opened by directory fds first, so `at` may be longer than `PATH_MAX`.
    fn link_from_job(&self, at: &Path, dst: &Dir, name: &OsStr) -> io::Result<()> {
        let (Some(parent), Some(file)) = (at.parent(), at.file_name()) else {
            return Err(io::Error::from_raw_os_error(errno::EINVAL));
        };
        let dir = self.jobdir.open_beneath(parent)?;
        at::link(&dir, file, dst, name)
    }

    /// Remember where this version holds the source inode `meta` (multiply-linked files):
    /// `old` is the older version's inode it was linked to, `None` for a fresh copy.
    fn note_source_inode(&mut self, meta: &Meta, path: &Path, old: Option<&Meta>) {
        if meta.kind != FileKind::File || meta.nlink < 2 {
            return;
        }
        let sib = Sibling {
            at: self.build_name.join(path),
            fresh: old.is_none(),
            size: old.map_or(meta.size, |m| m.size),
            mtime: old.map_or(meta.mtime, |m| m.mtime),
        };
        match self.hardlinks.entry((meta.dev, meta.ino)) {
            Entry::Vacant(v) => {
                v.insert(sib);
            }
            // A fresh copy is the better target for later names.
            Entry::Occupied(mut o) if sib.fresh && !o.get().fresh => {
                o.insert(sib);
            }
            Entry::Occupied(_) => {}
        }
    }

    /// The previous inode is at the filesystem's link limit: clone its bytes (regular
    /// files) or copy it (anything else) within the vault.
    fn unlinkable(
        &mut self,
        pe: &PrevEntry<'_>,
        parent: &Dir,
        path: &Path,
        dst: &Dir,
        name: &OsStr,
    ) -> Res {
        let at = self.vault_path(path);
        if pe.kind == FileKind::File {
            let prev_meta = parent.stat(pe.name()).at(&at)?;
            let allocated = fs::clone_file(parent, pe.name(), dst, name).at(&at)?;
            fs::copy_attributes(parent, pe.name(), &prev_meta, dst, name, &self.opts).at(&at)?;
            self.out.inodes += 1;
            self.out.size += allocated;
            return Ok(());
        }
        match fs::copy_entry(parent, pe.name(), dst, name, &self.opts) {
            Ok(_) => self.count_new(dst, name, path),
            Err(e) => Err(PathError::new(at, io::Error::other(e.to_string()))),
        }
    }

    pub(super) fn clone_with_attributes(
        &mut self,
        pe: &PrevEntry<'_>,
        src: &Dir,
        name: &OsStr,
        meta: &Meta,
        path: &Path,
        dst: &Dir,
    ) -> Res {
        let Some(parent) = pe.parent() else {
            return self.copy(src, name, meta, path, dst);
        };
        let allocated = match fs::clone_file(parent, pe.name(), dst, name) {
            Ok(a) => a,
            Err(e) if tolerable_lookup(&e) => return self.copy(src, name, meta, path, dst),
            Err(e) => return Err(PathError::new(self.vault_path(path), e)),
        };
        if let Err(e) = fs::copy_attributes(src, name, meta, dst, name, &self.opts) {
            self.skip(path, format!("attributes not copied: {e}"));
        }
        self.out.inodes += 1;
        self.out.size += allocated;
        Ok(())
    }

    /// Take `name` from the source: a directory with its whole subtree, anything else by
    /// the copy engine (hard-linked source files stay hard-linked within the version).
    pub(super) fn copy(
        &mut self,
        src: &Dir,
        name: &OsStr,
        meta: &Meta,
        path: &Path,
        dst: &Dir,
    ) -> Res {
        if meta.kind == FileKind::Dir {
            return self.real_dir(src, name, meta, path, dst, None);
        }
        if self.link_to_sibling(meta, dst, name) {
            return Ok(());
        }
        match fs::copy_entry(src, name, dst, name, &self.opts) {
            Ok(CopyOutcome::Copied { meta: m, allocated }) => {
                self.out.inodes += 1;
                self.out.size += allocated;
                Progress::add(&self.progress.bytes, m.size);
                self.note_source_inode(&m, path, None);
                Ok(())
            }
            Ok(CopyOutcome::Skipped { reason }) => {
                self.skip(path, reason);
                Ok(())
            }
            Err(CopyError::Vanished { .. }) => Ok(()),
            Err(CopyError::Io { source, .. }) if vault_is_full(&source) => {
                Err(PathError::new(self.vault_path(path), source))
            }
            Err(e) => {
                self.skip(path, e);
                Ok(())
            }
        }
    }

    /// Count the inode just created at `name` in `dst`.
    pub(super) fn count_new(&mut self, dst: &Dir, name: &OsStr, path: &Path) -> Res {
        let m = dst.stat(name).at(self.vault_path(path))?;
        self.out.inodes += 1;
        self.out.size += m.allocated;
        Ok(())
    }
}

/// Errors of a lookup in an older version that mean "not there" (copy from the source).
pub(super) fn tolerable_lookup(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(errno::ENOENT | errno::ENOTDIR | errno::ENAMETOOLONG | errno::ELOOP)
    )
}

/// Errors that make every further write fail: stop the build.
fn vault_is_full(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(errno::ENOSPC | errno::EDQUOT | errno::EROFS)
    )
}
