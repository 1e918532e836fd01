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

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use nix::fcntl::AtFlags;
use nix::sys::stat::Mode;
use nix::unistd::UnlinkatFlags;

use super::tree::Tree;
use super::{newest, source_relative, version, version_at, ReadError};
use crate::error::PathError;
use crate::fs::{copy_attributes, copy_entry, CopyOptions, CopyOutcome, Dir, FileKind};
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
        if self.fatal {
            write!(
                f,
                "{}: a directory is in the way (never replaced; remove it to restore here)",
                self.path.display()
            )
        } else {
            write!(
                f,
                "{}: exists (not replaced without --overwrite)",
                self.path.display()
            )
        }
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
    let v = match &req.which {
        Which::Newest => newest(folder)?,
        Which::Number(n) => version(folder, *n)?,
        Which::At(t) => version_at(folder, t)?,
    };
    let tree = Tree::new(folder)?;
    let found = tree
        .resolve(&v, &rel)?
        .ok_or_else(|| ReadError::NotInVersion {
            path: req.path.clone(),
            version: v.to_string(),
        })?;
    let create_to = match std::fs::metadata(&req.to) {
        Ok(m) if m.is_dir() => false,
        Ok(_) => {
            return Err(PathError::new(
                &req.to,
                io::Error::new(io::ErrorKind::AlreadyExists, "not a directory"),
            )
            .into())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => true,
        Err(e) => return Err(PathError::new(&req.to, e).into()),
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
        base: found.clone(),
        items: Vec::new(),
    };
    if rel.as_os_str().is_empty() {
        plan.add_children(&found, &req.to, 1, !create_to)?;
    } else {
        plan.base = real_parent_of(&found);
        let name = rel.file_name().unwrap_or_default().to_os_string();
        plan.add(found, name, &req.to, 1, !create_to)?;
    }
    Ok(plan)
}

/// The resolved real parent directory of `r` (its metadata is not needed).
fn real_parent_of(r: &Resolved) -> Resolved {
    Resolved {
        version: r.version.clone(),
        path: r.path.parent().map(Path::to_path_buf).unwrap_or_default(),
        meta: r.meta,
    }
}

impl RestorePlan<'_> {
    /// Add `src` as `dst_dir/name` (and everything below it); `look` says whether the
    /// destination folder exists, so the name may be taken.
    fn add(
        &mut self,
        src: Resolved,
        name: OsString,
        dst_dir: &Path,
        depth: usize,
        look: bool,
    ) -> Result<(), ReadError> {
        let dst = dst_dir.join(&name);
        let existing = if look {
            match std::fs::symlink_metadata(&dst) {
                Ok(m) => Some(m.file_type().is_dir()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(PathError::new(&dst, e).into()),
            }
        } else {
            None
        };
        let is_dir = src.meta.kind == FileKind::Dir;
        match existing {
            Some(true) if is_dir => {}
            Some(dst_is_dir) => self.conflicts.push(Conflict {
                path: dst.clone(),
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
            name,
            src: src.clone(),
            exists: existing.is_some(),
        });
        if is_dir {
            self.add_children(&src, &dst, depth + 1, existing == Some(true))?;
        }
        Ok(())
    }

    fn add_children(
        &mut self,
        dir: &Resolved,
        dst: &Path,
        depth: usize,
        look: bool,
    ) -> Result<(), ReadError> {
        let (d, names) = self.tree.listing(dir)?;
        for name in names {
            if let Some(child) = self.tree.child(&d, dir, &name)? {
                self.add(child, name, dst, depth, look)?;
            }
        }
        Ok(())
    }

    /// The conflicts that stop [`apply`](Self::apply): all of them without `overwrite`,
    /// only the fatal ones with it.
    pub fn blocking(&self) -> Vec<&Conflict> {
        self.conflicts
            .iter()
            .filter(|c| c.fatal || !self.overwrite)
            .collect()
    }

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
        let base_src = self.tree.open(&self.base)?;
        run.stack.push(Frame {
            src: base_src,
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
    fn fail(&mut self, path: &Path, e: impl std::fmt::Display) {
        let full = self.plan.to.join(path);
        self.report.errors.push(format!("{}: {e}", full.display()));
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
            let result = self
                .plan
                .tree
                .real_parent(&item.src)
                .and_then(|(src, name)| {
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
        let fd = parent.dst.as_fd().as_raw_fd();
        if item.exists {
            let meta = parent.dst.stat(&item.name).map_err(at)?;
            if meta.kind != FileKind::Dir {
                nix::unistd::unlinkat(Some(fd), item.name.as_os_str(), UnlinkatFlags::NoRemoveDir)
                    .map_err(|e| at(e.into()))?;
            }
        }
        match nix::sys::stat::mkdirat(
            Some(fd),
            item.name.as_os_str(),
            Mode::from_bits_truncate(0o700),
        ) {
            Ok(()) => {}
            Err(nix::errno::Errno::EEXIST) if item.exists => {}
            Err(e) => return Err(at(e.into())),
        }
        let dst = parent.dst.open_child(&item.name).map_err(at)?;
        let src = self.plan.tree.open(&item.src)?;
        self.report.entries += 1;
        self.stack.push(Frame {
            src,
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
                        .push(format!("{}: {reason}", full.display()));
                    return Ok(());
                }
                Err(e) => return Err(at(io::Error::other(e.to_string()))),
            }
            if item.src.meta.nlink > 1 {
                self.links.insert(key, path.to_path_buf());
            }
        }
        if item.exists {
            let fd = parent.dst.as_fd().as_raw_fd();
            nix::fcntl::renameat(Some(fd), tmp.as_os_str(), Some(fd), item.name.as_os_str())
                .map_err(|e| at(e.into()))?;
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
        nix::unistd::linkat(
            Some(root.dst.as_fd().as_raw_fd()),
            first.as_path(),
            Some(dst.as_fd().as_raw_fd()),
            Path::new(name),
            AtFlags::empty(),
        )
        .is_ok()
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::MetadataExt;

    use super::super::fixture::Fixture;
    use super::*;

    fn request(path: &str, which: Which, to: &Path) -> RestoreRequest {
        RestoreRequest {
            path: PathBuf::from(path),
            which,
            to: to.to_path_buf(),
            overwrite: false,
        }
    }

    fn restore(f: &Fixture, req: &RestoreRequest) -> RestoreReport {
        let plan = plan_restore(&f.folder, req).unwrap();
        assert!(plan.blocking().is_empty(), "{:?}", plan.conflicts);
        let report = plan.apply(&mut |_, _| {}).unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        report
    }

    /// What a restored tree holds, without following anything: path -> description.
    fn tree(root: &Path) -> BTreeMap<String, String> {
        fn walk(root: &Path, path: &Path, out: &mut BTreeMap<String, String>) {
            let meta = std::fs::symlink_metadata(path).unwrap();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let desc = if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(path).unwrap().display())
            } else if meta.is_dir() {
                for e in std::fs::read_dir(path).unwrap() {
                    walk(root, &e.unwrap().path(), out);
                }
                format!("dir {:o} {}", meta.mode() & 0o7777, meta.mtime())
            } else {
                let data = std::fs::read(path).unwrap();
                format!("{} {}", String::from_utf8_lossy(&data), meta.mtime())
            };
            out.insert(rel, desc);
        }
        let mut out = BTreeMap::new();
        walk(root, root, &mut out);
        out
    }

    #[test]
    fn a_file_from_a_version() {
        let f = Fixture::three_versions();
        let to = f.tmp.path().join("out");
        restore(&f, &request("a/x", Which::Number(1), &to));
        assert_eq!(std::fs::read(to.join("x")).unwrap(), b"x1");
        let m = std::fs::symlink_metadata(to.join("x")).unwrap();
        assert!(m.is_file());
        assert_eq!(m.mtime(), 1001);
        restore(
            &f,
            &request("a/x", Which::Number(0), &f.tmp.path().join("old")),
        );
        assert_eq!(std::fs::read(f.tmp.path().join("old/x")).unwrap(), b"x0");
    }

    #[test]
    fn a_directory_through_structural_links() {
        let f = Fixture::three_versions();
        let to = f.tmp.path().join("out");
        // V2/a -> V1/a, whose b -> V0/a/b: all of it comes back as real folders.
        restore(&f, &request("a", Which::Newest, &to));
        let got = tree(&to);
        let want: BTreeMap<String, String> = [
            ("", "dir"),
            ("a", "dir 755 1000"),
            ("a/b", "dir 755 1000"),
            ("a/b/deep", "d 1000"),
            ("a/x", "x1 1001"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (k, v) in want.iter().skip(1) {
            assert_eq!(&got[k], v, "{k}");
        }
        // A moved directory is restored under its new name from its old bytes.
        restore(&f, &request("moved", Which::Number(2), &to));
        assert_eq!(std::fs::read(to.join("moved/m")).unwrap(), b"m");
    }

    #[test]
    fn the_whole_tree_with_links_kept_and_symlinks_not_followed() {
        let f = Fixture::three_versions();
        let to = f.tmp.path().join("all");
        let report = restore(&f, &request(".", Which::Number(1), &to));
        let got = tree(&to);
        let names: Vec<&str> = got.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "", "a", "a/b", "a/b/deep", "a/x", "hl1", "hl2", "keep", "keep/k", "moved",
                "moved/m", "new", "new/n", "sym", "todir", "todir/t", "tofile", "top",
            ]
        );
        assert_eq!(got["sym"], "-> /etc");
        assert!(std::fs::symlink_metadata(to.join("sym"))
            .unwrap()
            .file_type()
            .is_symlink());
        let (h1, h2) = (
            std::fs::metadata(to.join("hl1")).unwrap(),
            std::fs::metadata(to.join("hl2")).unwrap(),
        );
        assert_eq!(h1.ino(), h2.ino());
        assert_eq!(h1.nlink(), 2);
        assert_eq!(report.hard_links, 1);
        assert_ne!(
            std::fs::metadata(to.join("top")).unwrap().ino(),
            std::fs::metadata(f.at(0, "top")).unwrap().ino(),
            "restored files are copies, not links into the vault"
        );
        // The folder created for the whole tree gets the root's attributes.
        assert_eq!(got[""], "dir 755 1001");
    }

    #[test]
    fn at_a_time_takes_the_newest_version_not_after_it() {
        let f = Fixture::three_versions();
        let t = Fixture::name(1).time + chrono::Duration::seconds(30);
        let to = f.tmp.path().join("out");
        let plan = plan_restore(&f.folder, &request("top", Which::At(t), &to)).unwrap();
        assert_eq!(plan.version, Fixture::name(1));
        let exact = Fixture::name(2).time;
        let plan = plan_restore(&f.folder, &request("top", Which::At(exact), &to)).unwrap();
        assert_eq!(plan.version, Fixture::name(2));
        let early = Fixture::name(0).time - chrono::Duration::seconds(1);
        let err = plan_restore(&f.folder, &request("top", Which::At(early), &to)).unwrap_err();
        assert!(matches!(err, ReadError::NoneAtTime { .. }), "{err}");
    }

    #[test]
    fn conflicts_are_found_before_anything_is_written() {
        let f = Fixture::three_versions();
        let to = f.tmp.path().join("out");
        restore(&f, &request(".", Which::Number(1), &to));
        std::fs::write(to.join("top"), b"mine").unwrap();
        std::fs::remove_file(to.join("a/x")).unwrap();
        let req = request(".", Which::Number(2), &to);
        let plan = plan_restore(&f.folder, &req).unwrap();
        let conflicts: Vec<String> = plan.blocking().iter().map(|c| c.to_string()).collect();
        assert!(conflicts.contains(&format!(
            "{}: exists (not replaced without --overwrite)",
            to.join("top").display()
        )));
        assert!(
            !conflicts.iter().any(|c| c.contains("a/x")),
            "{conflicts:?}"
        );
        assert!(plan.apply(&mut |_, _| {}).is_err());
        assert_eq!(std::fs::read(to.join("top")).unwrap(), b"mine");
        assert!(!to.join("a/x").exists(), "nothing was written");
        // With --overwrite, files are replaced.
        let req = RestoreRequest {
            overwrite: true,
            ..req
        };
        restore(&f, &req);
        assert_eq!(std::fs::read(to.join("top")).unwrap(), b"t2");
        assert_eq!(std::fs::read(to.join("a/x")).unwrap(), b"x1");
        assert!(!to.join("new").exists() || to.join("new/n").exists());
    }

    #[test]
    fn a_directory_in_the_way_is_never_replaced() {
        let f = Fixture::three_versions();
        let to = f.tmp.path().join("out");
        std::fs::create_dir_all(to.join("top/inside")).unwrap();
        let req = RestoreRequest {
            overwrite: true,
            ..request("top", Which::Newest, &to)
        };
        let plan = plan_restore(&f.folder, &req).unwrap();
        assert_eq!(
            plan.blocking(),
            [&Conflict {
                path: to.join("top"),
                fatal: true
            }]
        );
        assert!(to.join("top/inside").is_dir());
    }

    #[test]
    fn bad_paths_are_refused() {
        let f = Fixture::three_versions();
        let to = f.tmp.path().join("out");
        for bad in ["/etc", "../x", "a/../../x"] {
            let err = plan_restore(&f.folder, &request(bad, Which::Newest, &to)).unwrap_err();
            assert!(matches!(err, ReadError::BadPath { .. }), "{bad}: {err}");
        }
        let err = plan_restore(&f.folder, &request("nope", Which::Newest, &to)).unwrap_err();
        assert!(matches!(err, ReadError::NotInVersion { .. }), "{err}");
        // A source symlink is a leaf: nothing below it is reachable.
        let err = plan_restore(&f.folder, &request("sym/passwd", Which::Newest, &to)).unwrap_err();
        assert!(matches!(err, ReadError::NotInVersion { .. }), "{err}");
        let err = plan_restore(&f.folder, &request("top", Which::Number(7), &to)).unwrap_err();
        assert!(err.to_string().contains("existing versions: 0-2"), "{err}");
        assert!(!to.exists());
    }

    #[test]
    fn sparse_files_stay_sparse() {
        let f = Fixture::new();
        f.dir(0, "");
        let file = std::fs::File::create(f.at(0, "sparse")).unwrap();
        file.set_len(64 << 20).unwrap();
        std::os::unix::fs::FileExt::write_at(&file, b"end", (64 << 20) - 3).unwrap();
        drop(file);
        f.commit(&[0]);
        let to = f.tmp.path().join("out");
        restore(&f, &request("sparse", Which::Newest, &to));
        let m = std::fs::metadata(to.join("sparse")).unwrap();
        assert_eq!(m.len(), 64 << 20);
        assert!(m.blocks() * 512 < 1 << 20, "{} blocks", m.blocks());
    }
}
