//! Hand-built job folders for the read side's unit tests, following the layout contract of
//! [`crate::vault`] exactly: real version folders, hard links to older versions' files,
//! structural links listed in `links/V{n}.tsv` and `refs/V{k}.tsv`, `index.tsv`, `latest`.
//! nix sets a symlink's own times (`utimensat` without following), which `std` cannot.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration};

use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;

use crate::vault::layout::{link_target, JobFolder, VersionName};

/// A temporary vault holding one job folder.
pub(crate) struct Fixture {
    pub tmp: tempfile::TempDir,
    pub folder: JobFolder,
    links: RefCell<BTreeMap<u64, Vec<PathBuf>>>,
}

impl Fixture {
    pub fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let folder = JobFolder::create(&tmp.path().join("job")).unwrap();
        Fixture {
            tmp,
            folder,
            links: RefCell::default(),
        }
    }

    /// Version `n`, taken `n` minutes after 2026-11-23 10:00:00 +01:00.
    pub fn name(n: u64) -> VersionName {
        let t0 = DateTime::parse_from_rfc3339("2026-11-23T10:00:00+01:00").unwrap();
        VersionName::at(n, t0 + Duration::minutes(n as i64))
    }

    pub fn root(&self) -> &Path {
        self.folder.root()
    }

    /// The path of `rel` inside version `n`'s folder.
    pub fn at(&self, n: u64, rel: &str) -> PathBuf {
        let base = self.root().join(Self::name(n).to_string());
        if rel.is_empty() {
            base
        } else {
            base.join(rel)
        }
    }

    pub fn dir(&self, n: u64, rel: &str) -> &Self {
        std::fs::create_dir_all(self.at(n, rel)).unwrap();
        self
    }

    pub fn file(&self, n: u64, rel: &str, data: &[u8]) -> &Self {
        std::fs::write(self.at(n, rel), data).unwrap();
        self
    }

    /// A hard link at `rel` in version `n` to `krel` in version `k`.
    pub fn hard(&self, n: u64, rel: &str, k: u64, krel: &str) -> &Self {
        std::fs::hard_link(self.at(k, krel), self.at(n, rel)).unwrap();
        self
    }

    /// A source symlink (user data) at `rel` in version `n`.
    pub fn symlink(&self, n: u64, rel: &str, target: &str) -> &Self {
        symlink(target, self.at(n, rel)).unwrap();
        self
    }

    /// A structural link at `rel` in version `n` to the real directory `krel` of version
    /// `k`, recorded in `links/V{n}.tsv` and `refs/V{k}.tsv`.
    pub fn link(&self, n: u64, rel: &str, k: u64, krel: &str) -> &Self {
        let text = link_target(Path::new(rel), &Self::name(k), Path::new(krel));
        symlink(text, self.at(n, rel)).unwrap();
        self.record_link(n, rel);
        self.folder.append_refs(k, &[(n, Path::new(rel))]).unwrap();
        self
    }

    /// Add `rel` to `links/V{n}.tsv` only (for broken fixtures).
    pub fn record_link(&self, n: u64, rel: &str) -> &Self {
        let mut links = self.links.borrow_mut();
        let list = links.entry(n).or_default();
        list.push(PathBuf::from(rel));
        self.folder
            .write_links(n, list.iter().map(PathBuf::as_path))
            .unwrap();
        self
    }

    /// Write `index.tsv` rows for `versions` (size = 100·n, inodes = n, changes = n + 1)
    /// and point `latest` at the last one.
    pub fn commit(&self, versions: &[u64]) -> &Self {
        let mut text = String::from("version\tname\tiso_time\tsize\tinodes\tchanges\n");
        for &n in versions {
            let name = Self::name(n);
            text.push_str(&format!(
                "{n}\t{name}\t{}\t{}\t{n}\t{}\n",
                name.time.to_rfc3339(),
                100 * n,
                n + 1
            ));
        }
        std::fs::write(self.root().join("index.tsv"), text).unwrap();
        if let Some(&last) = versions.last() {
            self.set_latest(&Self::name(last).to_string());
        }
        self
    }

    /// Set the mtime of `rel` in version `n` (not following a symlink) to `sec`.
    pub fn mtime(&self, n: u64, rel: &str, sec: i64) -> &Self {
        set_mtime(&self.at(n, rel), sec);
        self
    }

    /// Give every real file and directory of version `n`'s folder (hard-linked files
    /// included, symlinks not) the mtime `sec`, so attribute comparisons are deterministic.
    pub fn settle(&self, n: u64, sec: i64) -> &Self {
        fn walk(path: &Path, sec: i64) {
            let meta = std::fs::symlink_metadata(path).unwrap();
            if meta.is_dir() {
                for e in std::fs::read_dir(path).unwrap() {
                    walk(&e.unwrap().path(), sec);
                }
            }
            if !meta.file_type().is_symlink() {
                set_mtime(path, sec);
            }
        }
        walk(&self.at(n, ""), sec);
        self
    }

    pub fn set_latest(&self, target: &str) -> &Self {
        let latest = self.root().join("latest");
        let _ = std::fs::remove_file(&latest);
        symlink(target, latest).unwrap();
        self
    }

    /// The standard three-version vault used by several tests:
    ///
    /// - V0: `a/x` "x0", `a/b/deep` "d", `keep/k` "k", `top` "t0", `sym -> /etc`,
    ///   `hl1` + `hl2` hard-linked, `mv/m` "m", `tofile/` (dir), `todir` file.
    /// - V1: `a/` real: `x` modified "x1", `b` → link V0 a/b; `keep` → link V0 keep;
    ///   `top` hard link; `sym` hard link; `hl1`/`hl2` hard links; `moved` → link V0 mv
    ///   (mv renamed); `new/n` added; `tofile` is now a file; `todir/` is now a dir with `t`.
    /// - V2: `a` → link V1 a; `keep` → link V0 keep; `top` copy "t2"; rest hard links
    ///   or links like V1; `new` deleted.
    pub fn three_versions() -> Fixture {
        let f = Fixture::new();
        f.dir(0, "a/b")
            .file(0, "a/x", b"x0")
            .file(0, "a/b/deep", b"d")
            .dir(0, "keep")
            .file(0, "keep/k", b"k")
            .file(0, "top", b"t0")
            .symlink(0, "sym", "/etc")
            .file(0, "hl1", b"same inode")
            .hard(0, "hl2", 0, "hl1")
            .dir(0, "mv")
            .file(0, "mv/m", b"m")
            .dir(0, "tofile")
            .file(0, "tofile/inner", b"i")
            .file(0, "todir", b"was a file");
        f.settle(0, 1000);
        f.dir(1, "a")
            .file(1, "a/x", b"x1")
            .link(1, "a/b", 0, "a/b")
            .link(1, "keep", 0, "keep")
            .hard(1, "top", 0, "top")
            .hard(1, "sym", 0, "sym")
            .hard(1, "hl1", 0, "hl1")
            .hard(1, "hl2", 0, "hl2")
            .link(1, "moved", 0, "mv")
            .dir(1, "new")
            .file(1, "new/n", b"n")
            .file(1, "tofile", b"now a file")
            .dir(1, "todir")
            .file(1, "todir/t", b"t");
        f.settle(1, 1001).mtime(1, "a", 1000);
        f.dir(2, "")
            .link(2, "a", 1, "a")
            .link(2, "keep", 0, "keep")
            .hard(2, "sym", 0, "sym")
            .hard(2, "hl1", 0, "hl1")
            .hard(2, "hl2", 0, "hl2")
            .link(2, "moved", 0, "mv")
            .hard(2, "tofile", 1, "tofile")
            .link(2, "todir", 1, "todir");
        f.file(2, "top", b"t2").settle(2, 1002);
        f.commit(&[0, 1, 2]);
        f
    }
}

/// Set the atime and mtime of `path` (not following a symlink) to `sec` seconds.
pub(crate) fn set_mtime(path: &Path, sec: i64) {
    let t = TimeSpec::new(sec, 0);
    utimensat(None, path, &t, &t, UtimensatFlags::NoFollowSymlink).unwrap();
}
