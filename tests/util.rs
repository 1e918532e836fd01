//! Test harness: temp trees, running the binary, comparing trees (shared: add, don't rewrite).
//!
//! - [`TempTree`] builds real trees: files with content, dirs, symlinks, FIFOs, hard links,
//!   sparse files, odd names (any bytes), and paths longer than `PATH_MAX` (through dir fds).
//! - [`tree_state`] records a tree without following symlinks; [`version_state`]
//!   dereferences a version like `cp -rL` would, but for STRUCTURAL links only (read from
//!   `.reverberator/links/V*.tsv`, parsed here independently of the library), and checks
//!   each structural link is one hop to a real directory.
//! - [`Env`] is a source + vault + config file; [`Env::run`] runs the binary.
//! - [`assert_all_versions`] compares every version with the state recorded for it.
//! - [`skip`]: a test that cannot run here says so visibly (`skip_test!`, [`skipped`],
//!   [`skip_part`]) and fails instead under `CI=true`.
//!
//! The walks use nix directly (not `reverberator::fs`) so the harness does not share bugs
//! with the code under test.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};

pub mod skip;
pub mod sysctl;
pub use skip::{skip_part, skipped};

// ---------------------------------------------------------------------------------------
// Low-level fd helpers (no PATH_MAX limit: every path is walked component by component).

/// Open directory `rel` below `root` component by component with `O_NOFOLLOW`.
pub fn open_dir(root: &Path, rel: &Path) -> OwnedFd {
    let mut fd = open_at(libc::AT_FDCWD, root.as_os_str(), true);
    for c in rel.components() {
        let Component::Normal(name) = c else { continue };
        fd = open_at(fd.as_raw_fd(), name, true);
    }
    fd
}

fn open_at(dirfd: RawFd, name: &OsStr, nofollow: bool) -> OwnedFd {
    let mut flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    if nofollow {
        flags |= OFlag::O_NOFOLLOW;
    }
    let fd = nix::fcntl::openat(Some(dirfd), name, flags, Mode::empty())
        .unwrap_or_else(|e| panic!("open dir {name:?}: {e}"));
    // SAFETY: openat returned a fresh fd we own.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// The parent directory fd of `rel` (below `root`) and its last component.
fn parent_of(root: &Path, rel: &Path) -> (OwnedFd, OsString) {
    let name = rel.file_name().expect("path has a name").to_os_string();
    let parent = rel.parent().unwrap_or(Path::new(""));
    (open_dir(root, parent), name)
}

fn lstat_at(dirfd: RawFd, name: &OsStr) -> nix::Result<FileStat> {
    nix::sys::stat::fstatat(Some(dirfd), name, AtFlags::AT_SYMLINK_NOFOLLOW)
}

fn names(dirfd: RawFd) -> Vec<OsString> {
    let mut d = nix::dir::Dir::openat(
        Some(dirfd),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .expect("list dir");
    let mut out: Vec<OsString> = d
        .iter()
        .filter_map(Result::ok)
        .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
        .filter(|n| n != "." && n != "..")
        .collect();
    out.sort();
    out
}

/// xxh3-128 of a regular file's content, canonicalised so holes cost nothing: runs of zero
/// bytes (holes found with `SEEK_DATA`/`SEEK_HOLE`, or written zero 4 KiB blocks) are hashed
/// as their length, so the hash depends on the bytes a reader sees, not on the hole layout,
/// and a 1 GiB sparse file hashes in microseconds even in a debug build.
fn content_hash(dirfd: RawFd, name: &OsStr) -> u128 {
    use std::io::{Seek, SeekFrom};
    let fd = nix::fcntl::openat(
        Some(dirfd),
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
        Mode::empty(),
    )
    .unwrap_or_else(|e| panic!("open {name:?}: {e}"));
    // SAFETY: fresh fd.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    let size = file.metadata().expect("fstat").len();
    let mut h = ZeroRunHasher::default();
    let mut buf = vec![0u8; 4096];
    let mut pos = 0u64;
    while pos < size {
        let data = match nix::unistd::lseek(fd, pos as i64, nix::unistd::Whence::SeekData) {
            Ok(d) => d as u64,
            Err(nix::errno::Errno::ENXIO) => size, // only a hole up to the end
            Err(e) => panic!("SEEK_DATA: {e}"),
        };
        h.zeros += data.min(size) - pos;
        if data >= size {
            break;
        }
        let hole = nix::unistd::lseek(fd, data as i64, nix::unistd::Whence::SeekHole)
            .map_or(size, |o| o as u64);
        file.seek(SeekFrom::Start(data)).expect("seek");
        let mut left = hole - data;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = file.read(&mut buf[..want]).expect("read");
            if n == 0 {
                break;
            }
            h.block(&buf[..n]);
            left -= n as u64;
        }
        pos = hole;
    }
    h.finish()
}

#[derive(Default)]
struct ZeroRunHasher {
    h: xxhash_rust::xxh3::Xxh3,
    zeros: u64,
}

impl ZeroRunHasher {
    fn flush(&mut self) {
        if self.zeros > 0 {
            self.h.update(b"\0zeros:");
            self.h.update(&self.zeros.to_le_bytes());
            self.zeros = 0;
        }
    }

    fn block(&mut self, b: &[u8]) {
        if b.iter().all(|&x| x == 0) {
            self.zeros += b.len() as u64;
        } else {
            self.flush();
            self.h.update(b);
        }
    }

    fn finish(mut self) -> u128 {
        self.flush();
        self.h.digest128()
    }
}

// ---------------------------------------------------------------------------------------
// TempTree

/// A temp directory to build trees in. Every `rel` path may hold any bytes but `/` and NUL
/// and may be longer than `PATH_MAX`.
pub struct TempTree {
    tmp: tempfile::TempDir,
}

impl Default for TempTree {
    fn default() -> Self {
        Self::new()
    }
}

impl TempTree {
    /// A fresh, empty tree.
    pub fn new() -> TempTree {
        TempTree {
            tmp: tempfile::Builder::new()
                .prefix("rvb-test")
                .tempdir()
                .expect("tempdir"),
        }
    }

    /// Its root.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// `mkdir -p rel`.
    pub fn dir(&self, rel: impl AsRef<Path>) -> &Self {
        let mut fd = open_at(libc::AT_FDCWD, self.path().as_os_str(), true);
        for c in rel.as_ref().components() {
            let Component::Normal(name) = c else { continue };
            match nix::sys::stat::mkdirat(
                Some(fd.as_raw_fd()),
                name,
                Mode::from_bits_truncate(0o755),
            ) {
                Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                Err(e) => panic!("mkdir {name:?}: {e}"),
            }
            fd = open_at(fd.as_raw_fd(), name, true);
        }
        self
    }

    fn parent(&self, rel: &Path) -> (OwnedFd, OsString) {
        if let Some(p) = rel.parent() {
            self.dir(p);
        }
        parent_of(self.path(), rel)
    }

    /// Write `content` to file `rel` (created or truncated; parents created).
    pub fn file(&self, rel: impl AsRef<Path>, content: impl AsRef<[u8]>) -> &Self {
        let (dir, name) = self.parent(rel.as_ref());
        let fd = nix::fcntl::openat(
            Some(dir.as_raw_fd()),
            name.as_os_str(),
            OFlag::O_WRONLY
                | OFlag::O_CREAT
                | OFlag::O_TRUNC
                | OFlag::O_NOFOLLOW
                | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .unwrap_or_else(|e| panic!("create {:?}: {e}", rel.as_ref()));
        // SAFETY: fresh fd.
        let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
        std::io::Write::write_all(&mut f, content.as_ref()).expect("write");
        self
    }

    /// Append `content` to file `rel`.
    pub fn append(&self, rel: impl AsRef<Path>, content: impl AsRef<[u8]>) -> &Self {
        let (dir, name) = parent_of(self.path(), rel.as_ref());
        let fd = nix::fcntl::openat(
            Some(dir.as_raw_fd()),
            name.as_os_str(),
            OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .expect("open for append");
        // SAFETY: fresh fd.
        let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
        std::io::Write::write_all(&mut f, content.as_ref()).expect("append");
        self
    }

    /// A symlink at `rel` with `target` (stored as is, never resolved).
    pub fn symlink(&self, rel: impl AsRef<Path>, target: impl AsRef<OsStr>) -> &Self {
        let (dir, name) = self.parent(rel.as_ref());
        nix::unistd::symlinkat(target.as_ref(), Some(dir.as_raw_fd()), name.as_os_str())
            .expect("symlink");
        self
    }

    /// A FIFO at `rel`.
    pub fn fifo(&self, rel: impl AsRef<Path>) -> &Self {
        let (dir, name) = self.parent(rel.as_ref());
        nix::sys::stat::mknodat(
            Some(dir.as_raw_fd()),
            name.as_os_str(),
            SFlag::S_IFIFO,
            Mode::from_bits_truncate(0o644),
            0,
        )
        .expect("mkfifo");
        self
    }

    /// A hard link `new` to the existing `existing`.
    pub fn hard_link(&self, existing: impl AsRef<Path>, new: impl AsRef<Path>) -> &Self {
        let (d1, n1) = parent_of(self.path(), existing.as_ref());
        let (d2, n2) = self.parent(new.as_ref());
        nix::unistd::linkat(
            Some(d1.as_raw_fd()),
            n1.as_os_str(),
            Some(d2.as_raw_fd()),
            n2.as_os_str(),
            AtFlags::empty(),
        )
        .expect("link");
        self
    }

    /// A sparse file of `size` bytes holding `data` at each offset (holes elsewhere).
    pub fn sparse(&self, rel: impl AsRef<Path>, size: u64, data: &[(u64, &[u8])]) -> &Self {
        use std::os::unix::fs::FileExt;
        self.file(rel.as_ref(), b"");
        let (dir, name) = parent_of(self.path(), rel.as_ref());
        let fd = nix::fcntl::openat(
            Some(dir.as_raw_fd()),
            name.as_os_str(),
            OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .expect("open sparse");
        // SAFETY: fresh fd.
        let f = unsafe { std::fs::File::from_raw_fd(fd) };
        f.set_len(size).expect("truncate");
        for (off, bytes) in data {
            f.write_all_at(bytes, *off).expect("write sparse");
        }
        self
    }

    /// `chmod mode rel` (never follows).
    pub fn chmod(&self, rel: impl AsRef<Path>, mode: u32) -> &Self {
        let fd = if rel.as_ref().as_os_str().is_empty() {
            open_dir(self.path(), Path::new(""))
        } else {
            let (dir, name) = parent_of(self.path(), rel.as_ref());
            let st = lstat_at(dir.as_raw_fd(), &name).expect("stat");
            assert_ne!(
                st.st_mode & libc::S_IFMT,
                libc::S_IFLNK,
                "chmod of a symlink"
            );
            nix::sys::stat::fchmodat(
                Some(dir.as_raw_fd()),
                name.as_os_str(),
                Mode::from_bits_truncate(mode),
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
            .expect("chmod");
            return self;
        };
        nix::sys::stat::fchmod(fd.as_raw_fd(), Mode::from_bits_truncate(mode)).expect("chmod");
        self
    }

    /// Set the mtime of `rel` (ns precision; never follows).
    pub fn touch(&self, rel: impl AsRef<Path>, sec: i64, nsec: i64) -> &Self {
        let (dir, name) = parent_of(self.path(), rel.as_ref());
        let t = nix::sys::time::TimeSpec::new(sec, nsec);
        nix::sys::stat::utimensat(
            Some(dir.as_raw_fd()),
            name.as_os_str(),
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .expect("utimensat");
        self
    }

    /// `rm -rf rel` (through fds).
    pub fn remove(&self, rel: impl AsRef<Path>) -> &Self {
        let (dir, name) = parent_of(self.path(), rel.as_ref());
        remove_at(dir.as_raw_fd(), &name);
        self
    }

    /// `mv from to` (same tree; `to`'s parent is created).
    pub fn rename(&self, from: impl AsRef<Path>, to: impl AsRef<Path>) -> &Self {
        let (d1, n1) = parent_of(self.path(), from.as_ref());
        let (d2, n2) = self.parent(to.as_ref());
        nix::fcntl::renameat(
            Some(d1.as_raw_fd()),
            n1.as_os_str(),
            Some(d2.as_raw_fd()),
            n2.as_os_str(),
        )
        .expect("rename");
        self
    }

    /// Create a chain of directories whose path is longer than `min_len` bytes, with a
    /// file `leaf` at the bottom; returns its path relative to the root.
    pub fn deep(&self, base: impl AsRef<Path>, min_len: usize) -> PathBuf {
        let mut rel = base.as_ref().to_path_buf();
        let mut i = 0;
        while rel.as_os_str().len() < min_len {
            rel.push(format!("{i:03}-{}", "d".repeat(200)));
            i += 1;
        }
        self.dir(&rel);
        rel.push("leaf");
        self.file(&rel, b"deep leaf");
        rel
    }
}

fn remove_at(dirfd: RawFd, name: &OsStr) {
    let st = match lstat_at(dirfd, name) {
        Ok(st) => st,
        Err(nix::errno::Errno::ENOENT) => return,
        Err(e) => panic!("stat {name:?}: {e}"),
    };
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        let fd = open_at(dirfd, name, true);
        let _ = nix::sys::stat::fchmod(fd.as_raw_fd(), Mode::from_bits_truncate(0o700));
        for n in names(fd.as_raw_fd()) {
            remove_at(fd.as_raw_fd(), &n);
        }
        nix::unistd::unlinkat(Some(dirfd), name, nix::unistd::UnlinkatFlags::RemoveDir)
            .expect("rmdir");
    } else {
        nix::unistd::unlinkat(Some(dirfd), name, nix::unistd::UnlinkatFlags::NoRemoveDir)
            .expect("unlink");
    }
}

// ---------------------------------------------------------------------------------------
// Tree states

/// What one entry of a tree looks like (atime and ctime are never compared; symlink mtimes
/// neither: the scan ignores them by design).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryState {
    /// 'f' file, 'd' dir, 'l' symlink, 'p' fifo, 's' socket, 'c'/'b' devices.
    pub kind: char,
    /// Permission bits (`& 0o7777`); 0 for symlinks.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// mtime (sec, nsec); `None` for symlinks.
    pub mtime: Option<(i64, i64)>,
    /// Size of regular files (0 otherwise).
    pub size: u64,
    /// xxh3-128 of a regular file's content.
    pub hash: Option<u128>,
    /// A symlink's target text.
    pub target: Option<OsString>,
    /// Device number of device nodes.
    pub rdev: u64,
    /// For a non-directory sharing its inode with other paths of the same tree: the
    /// smallest such path.
    pub link_group: Option<PathBuf>,
    /// The `user.*` and `trusted.*` xattrs (name, value), sorted by name: the ones a
    /// version must reproduce wherever the filesystems hold them (see [`xattrs_at`]).
    pub xattrs: Vec<(OsString, Vec<u8>)>,
}

/// A whole tree: path relative to the root (the root itself is the empty path) -> state.
pub type TreeState = BTreeMap<PathBuf, EntryState>;

fn kind_char(mode: u32) -> char {
    match mode & libc::S_IFMT {
        libc::S_IFREG => 'f',
        libc::S_IFDIR => 'd',
        libc::S_IFLNK => 'l',
        libc::S_IFIFO => 'p',
        libc::S_IFSOCK => 's',
        libc::S_IFCHR => 'c',
        libc::S_IFBLK => 'b',
        _ => '?',
    }
}

fn entry_state(dirfd: RawFd, name: &OsStr, st: &FileStat) -> EntryState {
    let kind = kind_char(st.st_mode);
    EntryState {
        kind,
        mode: if kind == 'l' { 0 } else { st.st_mode & 0o7777 },
        uid: st.st_uid,
        gid: st.st_gid,
        mtime: (kind != 'l').then_some((st.st_mtime, st.st_mtime_nsec)),
        size: if kind == 'f' { st.st_size as u64 } else { 0 },
        hash: (kind == 'f').then(|| content_hash(dirfd, name)),
        target: (kind == 'l').then(|| nix::fcntl::readlinkat(Some(dirfd), name).expect("readlink")),
        rdev: if matches!(kind, 'c' | 'b') {
            st.st_rdev
        } else {
            0
        },
        link_group: None,
        xattrs: xattrs_at(dirfd, name),
    }
}

/// The `user.*` and `trusted.*` xattrs of `name` in `dirfd`, sorted, read without following
/// a symlink in the last component (`/proc/self/fd/<dirfd>/<name>` with the `l*xattr`
/// calls, so a FIFO is never opened). Other namespaces (`security.*` labels, ACLs) are left
/// out: the policy, not the copy, decides them. No xattr support: none.
pub fn xattrs_at(dirfd: RawFd, name: &OsStr) -> Vec<(OsString, Vec<u8>)> {
    let path = PathBuf::from(format!("/proc/self/fd/{dirfd}")).join(name);
    let names = match xattr::list(&path) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return Vec::new(),
        Err(e) => panic!("listxattr {}: {e}", path.display()),
    };
    let mut out: Vec<(OsString, Vec<u8>)> = names
        .filter(|n| n.as_bytes().starts_with(b"user.") || n.as_bytes().starts_with(b"trusted."))
        .filter_map(|n| {
            let value = xattr::get(&path, &n).expect("getxattr")?;
            Some((n, value))
        })
        .collect();
    out.sort();
    out
}

/// Inode identities seen during a walk, to fill `link_group`.
#[derive(Default)]
struct Inodes(HashMap<(u64, u64), Vec<PathBuf>>);

impl Inodes {
    fn note(&mut self, st: &FileStat, path: &Path) {
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            self.0
                .entry((st.st_dev, st.st_ino))
                .or_default()
                .push(path.to_path_buf());
        }
    }

    fn apply(self, state: &mut TreeState) {
        for (_, mut paths) in self.0 {
            if paths.len() > 1 {
                paths.sort();
                let first = paths[0].clone();
                for p in paths {
                    if let Some(e) = state.get_mut(&p) {
                        e.link_group = Some(first.clone());
                    }
                }
            }
        }
    }
}

fn join(base: &Path, name: &OsStr) -> PathBuf {
    if base.as_os_str().is_empty() {
        PathBuf::from(name)
    } else {
        base.join(name)
    }
}

/// Record the tree at `root` without following any symlink. Paths in `skip` (relative)
/// are left out with everything below them.
pub fn tree_state_skipping(root: &Path, skip: &[&Path]) -> TreeState {
    let mut state = TreeState::new();
    let mut inodes = Inodes::default();
    let fd = open_dir(root, Path::new(""));
    let st = nix::sys::stat::fstat(fd.as_raw_fd()).expect("stat root");
    state.insert(
        PathBuf::new(),
        entry_state(fd.as_raw_fd(), OsStr::new("."), &st),
    );
    walk_plain(fd.as_raw_fd(), Path::new(""), skip, &mut state, &mut inodes);
    inodes.apply(&mut state);
    state
}

/// Record the tree at `root` without following any symlink.
pub fn tree_state(root: &Path) -> TreeState {
    tree_state_skipping(root, &[])
}

fn walk_plain(
    dirfd: RawFd,
    rel: &Path,
    skip: &[&Path],
    state: &mut TreeState,
    inodes: &mut Inodes,
) {
    for name in names(dirfd) {
        let path = join(rel, &name);
        if skip.contains(&path.as_path()) {
            continue;
        }
        let st = lstat_at(dirfd, &name).expect("lstat");
        inodes.note(&st, &path);
        state.insert(path.clone(), entry_state(dirfd, &name, &st));
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            let child = open_at(dirfd, &name, true);
            walk_plain(child.as_raw_fd(), &path, skip, state, inodes);
        }
    }
}

/// Undo the vault's TSV path escaping (`\\`, `\t`, `\n`, `\r`, `\xHH`).
pub fn unescape(text: &str) -> OsString {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'\\' => out.push(b'\\'),
                b't' => out.push(b'\t'),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b'x' if i + 3 < b.len() => {
                    let hex = std::str::from_utf8(&b[i + 2..i + 4]).expect("hex");
                    out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
                    i += 4;
                    continue;
                }
                other => panic!("bad escape \\{}", other as char),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    OsString::from_vec(out)
}

/// The structural links of version `number` of the job folder, read from disk.
pub fn links_of(job_dir: &Path, number: u64) -> std::collections::HashSet<PathBuf> {
    let file = job_dir.join(format!(".reverberator/links/V{number}.tsv"));
    match std::fs::read_to_string(&file) {
        Ok(text) => text
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| PathBuf::from(unescape(l)))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
        Err(e) => panic!("{}: {e}", file.display()),
    }
}

/// The number of a version folder name `V{n}--…`.
pub fn version_number(name: &str) -> u64 {
    name.strip_prefix('V')
        .and_then(|r| r.split_once("--"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("not a version name: {name}"))
}

/// Committed version folder names of a job folder, oldest first.
pub fn versions(job_dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(job_dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with('V') && n.contains("--"))
                .collect()
        })
        .unwrap_or_default();
    v.sort_by_key(|n| version_number(n));
    v
}

struct VersionWalk<'a> {
    job_dir: &'a Path,
    links: HashMap<u64, std::collections::HashSet<PathBuf>>,
    state: TreeState,
    inodes: Inodes,
}

impl VersionWalk<'_> {
    fn links(&mut self, number: u64) -> &std::collections::HashSet<PathBuf> {
        let job_dir = self.job_dir;
        self.links
            .entry(number)
            .or_insert_with(|| links_of(job_dir, number))
    }

    /// Walk the real directory `real_path` of version `real_v`, open as `dirfd`, which is
    /// `rel` in the version being dereferenced.
    fn walk(&mut self, dirfd: RawFd, rel: &Path, real_v: u64, real_path: &Path) {
        for name in names(dirfd) {
            let path = join(rel, &name);
            let in_real = join(real_path, &name);
            let st = lstat_at(dirfd, &name).expect("lstat");
            let structural =
                st.st_mode & libc::S_IFMT == libc::S_IFLNK && self.links(real_v).contains(&in_real);
            if structural {
                let (k, target_path) = self.check_link(dirfd, &name, &in_real);
                // Follow it the way the kernel (and `cp -rL`) does: from the link's parent.
                let child = open_at(dirfd, &name, false);
                let cst = nix::sys::stat::fstat(child.as_raw_fd()).expect("fstat");
                self.state
                    .insert(path.clone(), entry_state(dirfd, &name, &cst));
                let linked = self.state.get_mut(&path).expect("just inserted");
                linked.target = None;
                linked.xattrs = xattrs_at(child.as_raw_fd(), OsStr::new("."));
                self.walk(child.as_raw_fd(), &path, k, &target_path);
                continue;
            }
            self.inodes.note(&st, &path);
            self.state
                .insert(path.clone(), entry_state(dirfd, &name, &st));
            if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                let child = open_at(dirfd, &name, true);
                self.walk(child.as_raw_fd(), &path, real_v, &in_real);
            }
        }
    }

    /// Parse a structural link's target and check it is one hop to a real directory of a
    /// committed version: `"../"` × depth + `V{k}--…/path`.
    fn check_link(&self, dirfd: RawFd, name: &OsStr, link_path: &Path) -> (u64, PathBuf) {
        let text = nix::fcntl::readlinkat(Some(dirfd), name).expect("readlink");
        let text = PathBuf::from(text);
        let ups = link_path.components().count();
        let mut comps = text.components();
        for _ in 0..ups {
            assert_eq!(
                comps.next(),
                Some(Component::ParentDir),
                "link {} -> {}",
                link_path.display(),
                text.display()
            );
        }
        let Some(Component::Normal(vname)) = comps.next() else {
            panic!(
                "link {} -> {}: no version",
                link_path.display(),
                text.display()
            )
        };
        let vname = vname.to_str().expect("utf-8 version name");
        let k = version_number(vname);
        let rest = comps.as_path().to_path_buf();
        let target = open_dir(&self.job_dir.join(vname), Path::new(""));
        let mut fd = target;
        for c in rest.components() {
            let Component::Normal(n) = c else {
                panic!("bad target {}", text.display())
            };
            let st = lstat_at(fd.as_raw_fd(), n).expect("link target exists");
            assert_eq!(
                st.st_mode & libc::S_IFMT,
                libc::S_IFDIR,
                "link {} -> {} is not one hop to a real dir",
                link_path.display(),
                text.display()
            );
            fd = open_at(fd.as_raw_fd(), n, true);
        }
        (k, rest)
    }
}

/// Dereference version folder `version` of `job_dir` like `cp -rL` would for structural
/// links only (source symlinks stay symlinks), checking every structural link is one hop
/// to a real directory.
pub fn version_state(job_dir: &Path, version: &str) -> TreeState {
    let number = version_number(version);
    let root = open_dir(&job_dir.join(version), Path::new(""));
    let mut w = VersionWalk {
        job_dir,
        links: HashMap::new(),
        state: TreeState::new(),
        inodes: Inodes::default(),
    };
    let st = nix::sys::stat::fstat(root.as_raw_fd()).expect("stat root");
    w.state.insert(
        PathBuf::new(),
        entry_state(root.as_raw_fd(), OsStr::new("."), &st),
    );
    w.walk(root.as_raw_fd(), Path::new(""), number, Path::new(""));
    let mut state = w.state;
    w.inodes.apply(&mut state);
    state
}

/// Assert two states are equal, printing the first differences readably.
pub fn assert_same_state(what: &str, got: &TreeState, want: &TreeState) {
    if got == want {
        return;
    }
    let mut diffs = Vec::new();
    for (p, w) in want {
        match got.get(p) {
            None => diffs.push(format!("missing {}: {w:?}", p.display())),
            Some(g) if g != w => diffs.push(format!(
                "differs {}:\n   got  {g:?}\n   want {w:?}",
                p.display()
            )),
            _ => {}
        }
    }
    for (p, g) in got {
        if !want.contains_key(p) {
            diffs.push(format!("extra {}: {g:?}", p.display()));
        }
    }
    diffs.truncate(12);
    panic!("{what}: {} differences:\n{}", diffs.len(), diffs.join("\n"));
}

/// Every committed version of `job_dir` must dereference to the state recorded for it;
/// `recorded` maps version folder name -> state. Also checks that every version on disk
/// was recorded.
pub fn assert_all_versions(job_dir: &Path, recorded: &BTreeMap<String, TreeState>) {
    let on_disk = versions(job_dir);
    let names: Vec<&String> = recorded.keys().collect();
    assert_eq!(
        on_disk.len(),
        recorded.len(),
        "versions on disk {on_disk:?} vs recorded {names:?}"
    );
    for v in &on_disk {
        let want = recorded
            .get(v)
            .unwrap_or_else(|| panic!("version {v} on disk was not recorded"));
        assert_same_state(&format!("version {v}"), &version_state(job_dir, v), want);
    }
}

/// No hidden build is visible in the job folder.
pub fn assert_no_partial(job_dir: &Path) {
    for e in std::fs::read_dir(job_dir).expect("read job dir").flatten() {
        let n = e.file_name();
        let n = n.to_string_lossy();
        assert!(!n.ends_with(".partial"), "leftover partial build {n}");
    }
}

// ---------------------------------------------------------------------------------------
// Jobs, config files and the binary

/// A source tree, a vault folder and a config file naming one job `job` over them.
pub struct Env {
    /// The source tree.
    pub src: TempTree,
    /// Holds the vault folder and the config file.
    pub outer: TempTree,
    /// The job name.
    pub job: String,
    /// Extra TOML lines for the job table.
    pub extra: String,
}

impl Env {
    /// A fresh environment with job `job` (config written now).
    pub fn new(job: &str) -> Env {
        Env::with_extra(job, "")
    }

    /// A fresh environment whose job table also holds `extra` (TOML lines).
    pub fn with_extra(job: &str, extra: &str) -> Env {
        let env = Env {
            src: TempTree::new(),
            outer: TempTree::new(),
            job: job.to_owned(),
            extra: extra.to_owned(),
        };
        env.outer.dir("vault");
        env.write_config();
        env
    }

    /// The vault root.
    pub fn vault(&self) -> PathBuf {
        self.outer.path().join("vault")
    }

    /// The config file.
    pub fn config(&self) -> PathBuf {
        self.outer.path().join("reverberator.toml")
    }

    /// The job folder in the vault.
    pub fn job_dir(&self) -> PathBuf {
        self.vault()
            .join(reverberator::config::sanitize_job_name(&self.job))
    }

    fn write_config(&self) {
        let text = format!(
            "[jobs.{:?}]\nsource = {:?}\nvault = {:?}\n{}\n",
            self.job,
            self.src.path(),
            self.vault(),
            self.extra
        );
        std::fs::write(self.config(), text).expect("write config");
    }

    /// The job as the library sees it (built directly, not through the loader).
    pub fn job_config(&self) -> reverberator::config::JobConfig {
        job_config(&self.job, self.src.path(), &self.vault())
    }

    /// Run the binary with `--config` and `args`.
    pub fn run(&self, args: &[&str]) -> Output {
        run_bin(&self.config(), args)
    }
}

/// A job config with defaults (full copy, no attributes-only, no excludes).
pub fn job_config(name: &str, source: &Path, vault: &Path) -> reverberator::config::JobConfig {
    reverberator::config::JobConfig {
        name: name.to_owned(),
        source: source.to_path_buf(),
        vault: vault.to_path_buf(),
        source_fs: None,
        vault_fs: None,
        settings: reverberator::config::Settings {
            settle: Duration::from_secs(2),
            max_settle: Duration::from_secs(30),
            keep_versions: 1000,
            ..reverberator::config::Settings::for_test()
        },
    }
}

/// The binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_reverberator"))
}

/// Run the binary with `--config config` and `args`, capturing its output.
pub fn run_bin(config: &Path, args: &[&str]) -> Output {
    bin()
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("REVERBERATOR_CONFIG")
        .output()
        .expect("run reverberator")
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Poll `cond` every few ms until it holds or `timeout` passes; true when it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// True when the current process may create FIFOs, chown, etc. as root would.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A name that is not valid UTF-8.
pub fn invalid_utf8(prefix: &str) -> OsString {
    let mut v = prefix.as_bytes().to_vec();
    v.extend_from_slice(&[0xff, 0xfe, b'x']);
    OsString::from_vec(v)
}
