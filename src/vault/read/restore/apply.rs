//! Writing a checked [`RestorePlan`]: a stack of open (source, destination) directory
//! pairs follows the plan's pre-order; directories get their attributes when they are
//! left, entries sharing a vault inode become hard links to the first one restored. It
//! writes only below the destination folder, through directory fds, never through a symlink
//! it finds there; what to write and what is in the way is the plan's business.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};

use super::{shown, Item, ReadError, RestorePlan, RestoreReport};
use crate::error::PathError;
use crate::fs::{at, copy_attributes, copy_entry, CopyOptions, CopyOutcome, Dir, FileKind};
use crate::vault::layout::Resolved;

impl RestorePlan<'_> {
    /// Write the plan. Refuses (writing nothing) while [`blocking`](Self::blocking)
    /// conflicts exist. `progress` is called after each entry with the entries and bytes
    /// done so far. Errors on single entries are collected in the report; an error on the
    /// destination folder itself stops the restore.
    pub fn apply(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<RestoreReport, ReadError> {
        if let Some(first) = self.blocking().first() {
            return Err(PathError::new(
                &first.path,
                io::Error::new(io::ErrorKind::AlreadyExists, "in the way; nothing restored"),
            )
            .into());
        }
        if self.create_to {
            std::fs::create_dir_all(&self.to).map_err(|e| PathError::new(&self.to, e))?;
        }
        let mut run = Apply {
            plan: self,
            report: RestoreReport::default(),
            links: HashMap::new(),
            stack: Vec::new(),
        };
        let base_dst = Dir::open(&self.to).map_err(|e| PathError::new(&self.to, e))?;
        let base_src = self.reopen_base()?;
        run.stack.push(Frame {
            src: base_src,
            at: self.base.clone(),
            dst: base_dst,
            item: None,
            path: PathBuf::new(),
        });
        for (i, item) in self.items.iter().enumerate() {
            run.unwind(item.depth);
            run.item(i, item);
            progress(run.report.entries, run.report.bytes);
        }
        run.unwind(1);
        if self.create_to && self.path.as_os_str().is_empty() {
            run.root_attributes();
        }
        Ok(run.report)
    }
}

/// An open destination directory and the real source directory it is restored from.
struct Frame {
    src: Dir,
    /// Where `src` is in the vault.
    at: Resolved,
    dst: Dir,
    /// The plan item this directory comes from (`None`: the destination folder).
    item: Option<usize>,
    /// Its path relative to the destination folder.
    path: PathBuf,
}

struct Apply<'p, 'a> {
    plan: &'p RestorePlan<'a>,
    report: RestoreReport,
    /// Vault inode (dev, ino) -> the destination path (relative) it was restored to.
    links: HashMap<(u64, u64), PathBuf>,
    stack: Vec<Frame>,
}

const COPY: CopyOptions = CopyOptions {
    reflink: true,
    owner: true,
    xattrs: true,
    specials: true,
};

impl Apply<'_, '_> {
    /// Record that the destination entry `path` (relative) could not be written. The
    /// message names the destination, escaped; an I/O error adds only the OS's words.
    fn fail(&mut self, path: &Path, e: ReadError) {
        let full = self.plan.to.join(path);
        let why = match &e {
            ReadError::Io(p) => p.source.to_string(),
            other => other.to_string(),
        };
        self.report.errors.push(format!("{}: {why}", shown(&full)));
    }

    /// Close the directories deeper than `depth`, giving each its attributes.
    fn unwind(&mut self, depth: usize) {
        while self.stack.len() > depth {
            let Some(frame) = self.stack.pop() else {
                return;
            };
            let Some(i) = frame.item else { continue };
            let item = &self.plan.items[i];
            if item.exists && !self.plan.overwrite {
                continue;
            }
            let Some(parent) = self.stack.last() else {
                return;
            };
            let real = self.plan.tree.parent_of(&parent.src, &parent.at, &item.src);
            let result = real.and_then(|(src, name)| {
                copy_attributes(&src, &name, &item.src.meta, &parent.dst, &item.name, &COPY)
                    .map_err(|e| PathError::new(&frame.path, e).into())
            });
            if let Err(e) = result {
                self.fail(&frame.path, e);
            }
        }
    }

    fn item(&mut self, index: usize, item: &Item) {
        let Some(parent) = self.stack.last() else {
            return;
        };
        let path = parent.path.join(&item.name);
        let result = match item.src.meta.kind {
            FileKind::Dir => self.dir(index, item, &path),
            _ => self.leaf(item, &path),
        };
        if let Err(e) = result {
            self.fail(&path, e);
        }
    }

    fn dir(&mut self, index: usize, item: &Item, path: &Path) -> Result<(), ReadError> {
        let Some(parent) = self.stack.last() else {
            return Ok(());
        };
        let at = |e: io::Error| ReadError::from(PathError::new(self.plan.to.join(path), e));
        if item.exists {
            let meta = parent.dst.stat(&item.name).map_err(at)?;
            if meta.kind != FileKind::Dir {
                parent.dst.unlink(&item.name).map_err(at)?;
            }
        }
        match at::mkdir(&parent.dst, &item.name, 0o700) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && item.exists => {}
            Err(e) => return Err(at(e)),
        }
        let dst = parent.dst.open_child(&item.name).map_err(at)?;
        let src = self.plan.tree.open_in(&parent.src, &parent.at, &item.src)?;
        self.report.entries += 1;
        self.stack.push(Frame {
            src,
            at: item.src.clone(),
            dst,
            item: Some(index),
            path: path.to_path_buf(),
        });
        Ok(())
    }

    /// A file, symlink or special file: a hard link to an earlier copy of the same vault
    /// inode, else a copy; over an existing name through a temporary name and a rename.
    fn leaf(&mut self, item: &Item, path: &Path) -> Result<(), ReadError> {
        let Some(parent) = self.stack.last() else {
            return Ok(());
        };
        let at = |e: io::Error| ReadError::from(PathError::new(self.plan.to.join(path), e));
        let tmp = if item.exists {
            let mut t = OsString::from(".");
            t.push(&item.name);
            t.push(format!(".restore-{}", std::process::id()));
            t
        } else {
            item.name.clone()
        };
        let key = (item.src.meta.dev, item.src.meta.ino);
        let linked = item.src.meta.nlink > 1 && self.link_to_earlier(key, &parent.dst, &tmp);
        if linked {
            self.report.hard_links += 1;
        } else {
            let src_name = item.src.path.file_name().unwrap_or_default();
            match copy_entry(&parent.src, src_name, &parent.dst, &tmp, &COPY) {
                Ok(CopyOutcome::Copied { meta, .. }) => {
                    if meta.kind == FileKind::File {
                        self.report.bytes += meta.size;
                    }
                }
                Ok(CopyOutcome::Skipped { reason }) => {
                    let full = self.plan.to.join(path);
                    self.report
                        .skipped
                        .push(format!("{}: {reason}", shown(&full)));
                    return Ok(());
                }
                Err(e) => return Err(at(io::Error::other(e.to_string()))),
            }
            if item.src.meta.nlink > 1 {
                self.links.insert(key, path.to_path_buf());
            }
        }
        if item.exists {
            if let Err(e) = parent.dst.rename(&tmp, &item.name) {
                // Leave no temporary name behind (it is ours: created with O_EXCL).
                let _ = parent.dst.unlink(&tmp);
                return Err(at(e));
            }
        }
        self.report.entries += 1;
        Ok(())
    }

    /// Hard-link `dst/name` to the destination entry already restored from vault inode
    /// `key`; false when there is none or linking failed (then the caller copies).
    fn link_to_earlier(&self, key: (u64, u64), dst: &Dir, name: &OsStr) -> bool {
        let Some(first) = self.links.get(&key) else {
            return false;
        };
        let Some(root) = self.stack.first() else {
            return false;
        };
        // Open the first copy's folder without following a symlink; any path length works.
        let (Some(first_parent), Some(first_name)) = (first.parent(), first.file_name()) else {
            return false;
        };
        let Ok(holder) = root.dst.open_beneath(first_parent) else {
            return false;
        };
        at::link(&holder, first_name, dst, name).is_ok()
    }

    /// The whole tree restored into a folder we created: give it the root's attributes.
    fn root_attributes(&mut self) {
        let to = &self.plan.to;
        let parent = to
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let Some(name) = to.file_name() else { return };
        let result = Dir::open(parent)
            .map_err(|e| ReadError::from(PathError::new(parent, e)))
            .and_then(|dst| {
                let (src, src_name) = self.plan.tree.real_parent(&self.plan.base)?;
                copy_attributes(&src, &src_name, &self.plan.base.meta, &dst, name, &COPY)
                    .map_err(|e| PathError::new(to, e).into())
            });
        if let Err(e) = result {
            self.fail(Path::new(""), e);
        }
    }
}
