//! Recursive inotify watcher: wd<->path maps, watches for new directories, drain to typed
//! events.
//!
//! A [`Watcher`] watches one source tree (minus the excluded paths and the ignored ones,
//! such as a vault inside the source). Its fd is non-blocking and edge-triggered in the
//! daemon's `mio::Poll`: on every wakeup [`Watcher::drain`] reads until `WouldBlock`, then
//! each record goes through decode (`decode.rs`) → watch-map update (`tree.rs`) → emit.
//!
//! - A new directory gets its watch first and is then listed, so entries created before
//!   the watch existed (`mkdir -p a/b/c && touch a/b/c/f`) are reported as `Created`.
//! - `MOVED_FROM`/`MOVED_TO` are paired by cookie. The two records of one rename are
//!   adjacent in the queue, so a `MOVED_FROM` followed by anything else is unpaired (moved
//!   out: `Deleted`, its watches dropped). Only a `MOVED_FROM` that ends a read waits, for
//!   [`MOVE_WAIT`] (the loop calls [`Watcher::flush`] at [`Watcher::deadline`]). An unpaired
//!   `MOVED_TO` is `MovedIn`: a directory moved in from outside is watched and listed whole.
//! - `IN_Q_OVERFLOW` → [`WatchEvent::Overflow`]; `ENOSPC` from `inotify_add_watch` →
//!   [`WatchError::Limit`] (kept in [`Watcher::limit_error`]) plus one
//!   [`WatchEvent::LimitReached`]; no more watches are added after it (the daemon falls back
//!   to periodic delta scans).
//!
//! Watches are added through `/proc/self/fd/N` of a directory opened with `O_NOFOLLOW`
//! beneath the root, so a symlink swapped in by a user never redirects a watch. This module
//! knows nothing about the vault or the daemon.
//!
//! Over 600 lines: the setup walk, the event loop and the move pairing all change the one
//! watch set and its limit state; what stands alone is in submodules already (`decode`,
//! `tree`, `reconcile`), and the tests are in `inotify_tests.rs`.

mod decode;
mod reconcile;
mod tree;

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use inotify::{Inotify, WatchDescriptor, WatchMask};

use crate::change::Change;
use crate::config::Excludes;
use crate::fs::{Dir, DirEntry, FileKind};

use decode::{decode, Decoded, Op, Raw};
use tree::WatchTree;

/// How long a `MOVED_FROM` that ended a read waits for its `MOVED_TO`.
pub const MOVE_WAIT: Duration = Duration::from_millis(20);

/// Read buffer size: many events per `read`, and far more than one maximal event
/// (`sizeof(struct inotify_event) + NAME_MAX + 1` = 272 bytes).
const BUFFER: usize = 64 * 1024;

/// Log a progress line every this many directories while setting up watches.
const PROGRESS_EVERY: usize = 10_000;

/// A change seen in the watched tree; paths are relative to the source root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// A new entry (also every entry found when listing a new directory).
    Created {
        /// The entry.
        path: PathBuf,
        /// True for a directory.
        dir: bool,
    },
    /// A file's content was written (`IN_MODIFY`, `IN_CLOSE_WRITE`).
    Modified {
        /// The file.
        path: PathBuf,
    },
    /// Attributes changed (`IN_ATTRIB`).
    Attrib {
        /// The entry (the empty path is the root).
        path: PathBuf,
    },
    /// An entry was removed, or moved out of the watched tree.
    Deleted {
        /// The entry.
        path: PathBuf,
        /// True for a directory.
        dir: bool,
    },
    /// An entry was renamed inside the tree.
    Moved {
        /// The old path.
        from: PathBuf,
        /// The new path.
        to: PathBuf,
        /// True for a directory.
        dir: bool,
    },
    /// An entry was moved in from outside the tree (it may replace an existing one).
    MovedIn {
        /// The entry.
        path: PathBuf,
        /// True for a directory (it was listed whole: `Created` events follow).
        dir: bool,
    },
    /// The kernel queue overflowed: events were lost, a delta scan is needed.
    Overflow,
    /// A watch could not be added (the inotify watch limit); see [`Watcher::limit_error`].
    LimitReached,
    /// The source root itself was deleted or moved away.
    RootGone,
    /// A watched filesystem was unmounted (a hint; the mount table is the authority).
    Unmounted,
    /// The watcher lost track of a folder: a watch it held turned out to be at an unknown
    /// path (folders were made, moved and removed again before their events were read).
    /// Like an overflow, a [`Watcher::resync`] and a delta scan are needed.
    LostTrack,
}

impl WatchEvent {
    /// The ChangeSet record for this event, if it is a change of an entry.
    pub fn to_change(&self) -> Option<(PathBuf, Change)> {
        let (path, change) = match self {
            WatchEvent::Created { path, .. } => (path, Change::Created),
            WatchEvent::Modified { path } => (path, Change::Modified),
            WatchEvent::Attrib { path } => (path, Change::Attrib),
            WatchEvent::Deleted { path, .. } => (path, Change::Deleted),
            WatchEvent::MovedIn { path, .. } => (path, Change::Modified),
            WatchEvent::Moved { from, to, .. } => (to, Change::Moved { from: from.clone() }),
            _ => return None,
        };
        Some((path.clone(), change))
    }
}

/// Why the watcher failed.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// `inotify_add_watch` hit the per-user watch limit (`ENOSPC`).
    #[error(
        "{path}: the inotify watch limit is reached ({watches} watches in place); raise \
         /proc/sys/fs/inotify/max_user_watches (e.g. `sysctl fs.inotify.max_user_watches=1048576`); \
         until then changes below unwatched folders are found by periodic delta scans"
    )]
    Limit {
        /// The directory that could not be watched.
        path: PathBuf,
        /// How many watches this watcher holds.
        watches: usize,
    },
    /// `inotify_init` hit the per-user instance limit (`EMFILE`).
    #[error(
        "cannot create an inotify instance: raise /proc/sys/fs/inotify/max_user_instances ({0})"
    )]
    Instances(#[source] io::Error),
    /// Any other I/O error, with the path it concerns.
    #[error(transparent)]
    Io(#[from] crate::error::PathError),
}

/// What the watcher must leave out: the job's excludes and paths (relative to the root)
/// that are never watched, such as a vault inside the source.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The job's exclude globs.
    pub excludes: Excludes,
    /// Relative paths ignored with everything below them.
    pub ignored: Vec<PathBuf>,
}

impl Filter {
    /// True when `rel` is left out.
    pub fn skips(&self, rel: &Path) -> bool {
        self.ignored.iter().any(|i| rel.starts_with(i)) || self.excludes.is_excluded(rel)
    }
}

/// How a walk below a folder reports what it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Setup or resync: nothing reported (a delta scan finds the content).
    Whole,
    /// A folder that appeared: every entry is `Created` (they may predate the watch);
    /// subfolders already watched are not walked again.
    New,
    /// The end-of-drain check (`reconcile.rs`): every folder is walked; the entries of a
    /// folder that was not watched under its path are reported `Created`.
    Verify,
}

/// A `MOVED_FROM` waiting for its `MOVED_TO`.
#[derive(Debug, Clone)]
struct PendingMove {
    cookie: u32,
    path: PathBuf,
    dir: bool,
    expires: Instant,
}

/// The recursive watcher of one source tree.
pub struct Watcher {
    inotify: Inotify,
    // The root is reopened by path when needed, never held open: an open fd would pin the
    // source filesystem, and a plain `umount` of it would fail with EBUSY.
    root_path: PathBuf,
    filter: Filter,
    tree: WatchTree<WatchDescriptor>,
    pending: Option<PendingMove>,
    limit: Option<WatchError>,
    buffer: Vec<u8>,
    /// Tests only: behave as if the kernel said ENOSPC after this many watches.
    budget: Option<usize>,
    /// During [`Watcher::resync`]: the wds the walk met (the others are stale).
    seen: Option<HashSet<i32>>,
    /// What the last whole walk (setup or resync) found.
    walked: Walked,
    /// Folder paths the events of this drain named (made, moved, removed) or whose watch
    /// turned out to belong to another path (see `tree::Displaced`): checked against the
    /// tree at the end of the drain (`reconcile.rs`).
    touched: Vec<PathBuf>,
    /// Watches whose mapping was dropped although their folder may still exist (displaced,
    /// or under a deleted path): at the end of the drain, one still unmapped and still alive
    /// in the kernel means the watcher lost track ([`WatchEvent::LostTrack`]).
    homeless: Vec<WatchDescriptor>,
}

/// What a whole walk of the source found: the folders it met and those it could not watch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Walked {
    /// Folders met (the root included), watched or not.
    pub folders: usize,
    /// Folders met that could not be opened or watched (permissions, gone meanwhile, or
    /// the watch limit).
    pub unwatched: usize,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("root", &self.root_path)
            .field("watches", &self.tree.len())
            .finish_non_exhaustive()
    }
}

fn mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MODIFY
        | WatchMask::CLOSE_WRITE
        | WatchMask::ATTRIB
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
        | WatchMask::EXCL_UNLINK
}

impl Watcher {
    /// Watch every directory below `root` that `filter` does not skip. Hitting the watch
    /// limit is not an error here: see [`Watcher::limit_error`].
    pub fn new(root: &Path, filter: Filter) -> Result<Watcher, WatchError> {
        Self::with_budget(root, filter, None)
    }

    /// [`Watcher::new`] that runs out of watches after `budget` (tests of the ENOSPC path,
    /// which would otherwise need a lowered system-wide limit).
    fn with_budget(
        root: &Path,
        filter: Filter,
        budget: Option<usize>,
    ) -> Result<Watcher, WatchError> {
        let inotify = Inotify::init().map_err(WatchError::Instances)?;
        let mut w = Watcher {
            inotify,
            root_path: root.to_path_buf(),
            filter,
            tree: WatchTree::default(),
            pending: None,
            limit: None,
            buffer: vec![0; BUFFER],
            budget,
            seen: None,
            walked: Walked::default(),
            touched: Vec::new(),
            homeless: Vec::new(),
        };
        let root_dir = w
            .open(Path::new(""))
            .map_err(|e| crate::error::PathError::new(root, e))?;
        let mut sink = Vec::new();
        w.walked = Walked::default();
        w.watch_tree(root_dir, PathBuf::new(), Mode::Whole, &mut sink);
        tracing::debug!(root = %root.display(), watches = w.tree.len(), "watches in place");
        Ok(w)
    }

    /// The inotify fd, to register in a `mio::Poll` (through `SourceFd`).
    pub fn raw_fd(&self) -> RawFd {
        self.inotify.as_raw_fd()
    }

    /// How many directories are watched.
    pub fn watch_count(&self) -> usize {
        self.tree.len()
    }

    /// What the last whole walk of the source (setup or [`Watcher::resync`]) found.
    pub fn walked(&self) -> Walked {
        self.walked
    }

    /// Make the watch set equal the tree again, after events may have been lost (queue
    /// overflow, or any other reason for a delta scan): walk the whole source, add a watch
    /// to every folder that has none (the kernel hands back the same wd for a folder already
    /// watched, and its path is refreshed), and drop the watches of folders the walk did
    /// not meet (gone, or moved out). A watch limit hit earlier is tried again; events
    /// returned are [`WatchEvent::LimitReached`] when the limit is hit now and was not
    /// before. Nothing is reported as `Created`: the delta scan that follows finds the
    /// content.
    pub fn resync(&mut self) -> Result<Vec<WatchEvent>, WatchError> {
        let root = self
            .open(Path::new(""))
            .map_err(|e| crate::error::PathError::new(&self.root_path, e))?;
        let was_limited = self.limit.take();
        self.pending = None;
        self.seen = Some(HashSet::new());
        self.walked = Walked::default();
        let mut out = Vec::new();
        self.watch_tree(root, PathBuf::new(), Mode::Whole, &mut out);
        let seen = self.seen.take().unwrap_or_default();
        self.touched.clear();
        let homeless = std::mem::take(&mut self.homeless);
        if self.limit.is_none() {
            let stale = self.tree.retain(|wd| seen.contains(&wd));
            let unmet = homeless
                .into_iter()
                .filter(|h| !seen.contains(&h.get_watch_descriptor_id()));
            for handle in stale.into_iter().chain(unmet) {
                // The folder may be gone already (its watch with it): nothing to undo.
                let _ = self.inotify.watches().remove(handle);
            }
        }
        if was_limited.is_some() {
            out.retain(|e| *e != WatchEvent::LimitReached);
        }
        tracing::debug!(root = %self.root_path.display(), watches = self.tree.len(), folders = self.walked.folders, "watches resynced");
        Ok(out)
    }

    /// The watch-limit error, once one happened (the watches are then incomplete).
    pub fn limit_error(&self) -> Option<&WatchError> {
        self.limit.as_ref()
    }

    /// When [`Watcher::flush`] must be called (a `MOVED_FROM` waiting for its pair).
    pub fn deadline(&self) -> Option<Instant> {
        self.pending.as_ref().map(|p| p.expires)
    }

    /// Read every queued record (until `WouldBlock`) and turn them into events.
    pub fn drain(&mut self, now: Instant) -> Result<Vec<WatchEvent>, WatchError> {
        let raws = self.read_all()?;
        let mut out = Vec::new();
        for raw in &raws {
            let decoded = decode(raw, self.tree.path(raw.wd.get_watch_descriptor_id()));
            self.handle(decoded, now, &mut out);
        }
        self.reconcile(&mut out);
        Ok(out)
    }

    /// Resolve a `MOVED_FROM` whose wait expired: it was a move out of the tree.
    pub fn flush(&mut self, now: Instant) -> Vec<WatchEvent> {
        let mut out = Vec::new();
        if self.pending.as_ref().is_some_and(|p| p.expires <= now) {
            self.settle_pending(&mut out);
        }
        out
    }

    /// Read batches until the fd says `WouldBlock`.
    fn read_all(&mut self) -> Result<Vec<Raw>, WatchError> {
        let mut raws = Vec::new();
        loop {
            match self.inotify.read_events(&mut self.buffer) {
                Ok(events) => raws.extend(events.map(|e| Raw {
                    wd: e.wd,
                    mask: e.mask,
                    cookie: e.cookie,
                    name: e.name.map(OsStr::to_os_string),
                })),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(raws),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(crate::error::PathError::new(&self.root_path, e).into()),
            }
        }
    }

    /// Update the watch maps for one decoded record and emit its events, in order.
    fn handle(&mut self, decoded: Decoded, now: Instant, out: &mut Vec<WatchEvent>) {
        let pairs = matches!(
            (&decoded, &self.pending),
            (Decoded::Child { op: Op::MovedTo, cookie, .. }, Some(p)) if p.cookie == *cookie
        );
        if !pairs && !matches!(decoded, Decoded::Skip | Decoded::Ignored(_)) {
            self.settle_pending(out);
        }
        match decoded {
            Decoded::Overflow => out.push(WatchEvent::Overflow),
            Decoded::RootAttrib => out.push(WatchEvent::Attrib {
                path: PathBuf::new(),
            }),
            Decoded::RootGone => out.push(WatchEvent::RootGone),
            Decoded::Unmount => out.push(WatchEvent::Unmounted),
            Decoded::Ignored(wd) => self.ignored(wd),
            Decoded::Skip => {}
            Decoded::Child {
                op,
                path,
                dir,
                cookie,
            } => self.handle_child(op, path, dir, cookie, now, out),
        }
    }

    fn handle_child(
        &mut self,
        op: Op,
        path: PathBuf,
        dir: bool,
        cookie: u32,
        now: Instant,
        out: &mut Vec<WatchEvent>,
    ) {
        match op {
            Op::MovedFrom => {
                self.pending = Some(PendingMove {
                    cookie,
                    path,
                    dir,
                    expires: now + MOVE_WAIT,
                })
            }
            Op::MovedTo => self.moved_to(path, dir, cookie, out),
            _ if self.filter.skips(&path) => {}
            Op::Create => self.created(path, dir, out),
            Op::Modify => out.push(WatchEvent::Modified { path }),
            Op::Attrib => out.push(WatchEvent::Attrib { path }),
            Op::Delete => self.deleted(path, dir, out),
        }
    }

    fn created(&mut self, path: PathBuf, dir: bool, out: &mut Vec<WatchEvent>) {
        out.push(WatchEvent::Created {
            path: path.clone(),
            dir,
        });
        if dir {
            self.watch_new_dir(path.clone(), out);
            self.touched.push(path);
        }
    }

    fn deleted(&mut self, path: PathBuf, dir: bool, out: &mut Vec<WatchEvent>) {
        if dir {
            // Normally gone with their folders; a watch added after the fact for a new
            // folder at the same path would be alive (checked at the end of the drain).
            let dropped = self.tree.remove_subtree(&path);
            self.homeless.extend(dropped);
            self.touched.push(path.clone());
        }
        out.push(WatchEvent::Deleted { path, dir });
    }

    /// A `MOVED_TO`: the pair of the pending `MOVED_FROM`, or a move in from outside.
    fn moved_to(&mut self, to: PathBuf, dir: bool, cookie: u32, out: &mut Vec<WatchEvent>) {
        let from = match self.pending.take() {
            Some(p) if p.cookie == cookie => p.path,
            other => {
                self.pending = other;
                self.settle_pending(out);
                return self.moved_in(to, dir, out);
            }
        };
        match (self.filter.skips(&from), self.filter.skips(&to)) {
            (false, false) => {
                if dir {
                    self.tree.rename_subtree(&from, &to);
                    // A folder made and renamed before its events were read has no watch
                    // yet (its `CREATE` found nothing at the old path): the check at the
                    // end of the drain watches and lists it.
                    self.touched.push(from.clone());
                    self.touched.push(to.clone());
                }
                out.push(WatchEvent::Moved { from, to, dir });
            }
            (false, true) => self.moved_out(from, dir, out),
            (true, false) => self.moved_in(to, dir, out),
            (true, true) => {}
        }
    }

    fn moved_in(&mut self, path: PathBuf, dir: bool, out: &mut Vec<WatchEvent>) {
        if self.filter.skips(&path) {
            return;
        }
        out.push(WatchEvent::MovedIn {
            path: path.clone(),
            dir,
        });
        if dir {
            self.watch_new_dir(path.clone(), out);
            self.touched.push(path);
        }
    }

    fn moved_out(&mut self, path: PathBuf, dir: bool, out: &mut Vec<WatchEvent>) {
        if dir {
            for wd in self.tree.remove_subtree(&path) {
                let _ = self.inotify.watches().remove(wd);
            }
            self.touched.push(path.clone());
        }
        out.push(WatchEvent::Deleted { path, dir });
    }

    /// An unpaired `MOVED_FROM` is a move out of the tree.
    fn settle_pending(&mut self, out: &mut Vec<WatchEvent>) {
        if let Some(p) = self.pending.take() {
            if !self.filter.skips(&p.path) {
                self.moved_out(p.path, p.dir, out);
            }
        }
    }

    /// Watch a directory that appeared after setup and report everything already in it.
    fn watch_new_dir(&mut self, rel: PathBuf, out: &mut Vec<WatchEvent>) {
        match self.open(&rel) {
            Ok(dir) => {
                // Not a whole walk: what the last one found stays as it was.
                let walked = self.walked;
                self.watch_tree(dir, rel, Mode::New, out);
                self.walked = walked;
            }
            Err(e) => {
                tracing::debug!(path = %rel.display(), "new folder gone before its watch: {e}")
            }
        }
    }

    /// Add watches to `dir` (at `rel`) and every folder below it; see [`Mode`] for what
    /// is reported as `Created`. A queued folder is its parent (shared) and its name, opened
    /// when its turn comes, so the walk holds about one open folder per level, never one per
    /// queued folder (a folder of 10,000 subfolders would otherwise hold 10,000 fds).
    fn watch_tree(&mut self, dir: Dir, rel: PathBuf, mode: Mode, out: &mut Vec<WatchEvent>) {
        let mut stack = vec![(rel, Queued::Open(dir))];
        let mut done = 0usize;
        while let Some((rel, queued)) = stack.pop() {
            self.walked.folders += 1;
            let dir = match queued {
                Queued::Open(dir) => dir,
                Queued::Child(parent, name) => match parent.open_child(&name) {
                    Ok(dir) => dir,
                    Err(e) => {
                        tracing::debug!(path = %rel.display(), "cannot open folder: {e}");
                        self.walked.unwatched += 1;
                        continue;
                    }
                },
            };
            let Some(changed) = self.add_watch(&dir, &rel, &mut *out) else {
                self.walked.unwatched += 1 + stack.len();
                return;
            };
            done += 1;
            if done % PROGRESS_EVERY == 0 {
                tracing::info!(root = %self.root_path.display(), watches = done, "setting up watches");
            }
            let report = mode == Mode::New || (mode == Mode::Verify && changed);
            self.list_children(
                Rc::new(dir),
                &rel,
                report,
                mode == Mode::New,
                out,
                &mut stack,
            );
        }
    }

    /// List `dir`, report its entries (with `report`), and queue its subdirectories
    /// (by name under `dir`; with `skip_watched`, not those already watched).
    fn list_children(
        &mut self,
        dir: Rc<Dir>,
        rel: &Path,
        report: bool,
        skip_watched: bool,
        out: &mut Vec<WatchEvent>,
        stack: &mut Vec<(PathBuf, Queued)>,
    ) {
        let entries = match dir.list_once() {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!(path = %rel.display(), "cannot list folder: {e}");
                return;
            }
        };
        for entry in entries {
            let child = rel.join(&entry.name);
            if self.filter.skips(&child) {
                continue;
            }
            let is_dir = is_dir(&dir, &entry);
            if report {
                out.push(WatchEvent::Created {
                    path: child.clone(),
                    dir: is_dir,
                });
            }
            if is_dir && !(skip_watched && self.tree.contains(&child)) {
                stack.push((child, Queued::Child(Rc::clone(&dir), entry.name)));
            }
        }
    }

    /// Add one watch; `None` once the watch limit is hit (no more are tried), else whether
    /// the maps changed (the folder was not watched under this path before).
    fn add_watch(&mut self, dir: &Dir, rel: &Path, out: &mut Vec<WatchEvent>) -> Option<bool> {
        if self.limit.is_some() {
            return None;
        }
        let added = match self.budget {
            Some(b) if self.tree.len() >= b => {
                Err(io::Error::from_raw_os_error(crate::fs::errno::ENOSPC))
            }
            _ => self.inotify.watches().add(proc_path(dir), mask()),
        };
        match added {
            Ok(wd) => {
                let id = wd.get_watch_descriptor_id();
                if let Some(seen) = self.seen.as_mut() {
                    seen.insert(id);
                }
                let changed = self.tree.path(id) != Some(rel);
                let displaced = self.tree.insert(id, wd, rel.to_path_buf());
                self.touched.extend(displaced.path);
                self.homeless.extend(displaced.handle);
                Some(changed)
            }
            Err(e) if e.raw_os_error() == Some(crate::fs::errno::ENOSPC) => {
                self.hit_limit(rel, out);
                None
            }
            Err(e) => {
                tracing::debug!(path = %rel.display(), "cannot watch folder: {e}");
                self.walked.unwatched += 1;
                Some(false)
            }
        }
    }

    /// The folder `rel` beneath the source root, opened by fd without following a symlink
    /// anywhere (the root's own path is the trusted one from the config).
    fn open(&self, rel: &Path) -> io::Result<Dir> {
        Dir::open(&self.root_path)?.open_beneath(rel)
    }

    fn hit_limit(&mut self, rel: &Path, out: &mut Vec<WatchEvent>) {
        let err = WatchError::Limit {
            path: self.root_path.join(rel),
            watches: self.tree.len(),
        };
        tracing::error!("{err}");
        self.limit = Some(err);
        out.push(WatchEvent::LimitReached);
    }
}

/// A folder [`Watcher::watch_tree`] has yet to watch: open (the top), or a name in its
/// parent folder, opened when its turn comes.
enum Queued {
    Open(Dir),
    Child(Rc<Dir>, std::ffi::OsString),
}

/// True for a real directory (not a symlink to one); an entry whose type the listing did
/// not give is `stat`ed, one that vanished is not a directory.
fn is_dir(dir: &Dir, entry: &DirEntry) -> bool {
    match entry.kind {
        Some(kind) => kind == FileKind::Dir,
        None => dir.stat(&entry.name).is_ok_and(|m| m.kind == FileKind::Dir),
    }
}

/// The `/proc/self/fd/N` path of an open directory: `inotify_add_watch` on it watches
/// exactly the inode we opened (no path race, no symlink followed on the way).
fn proc_path(dir: &Dir) -> String {
    format!("/proc/self/fd/{}", dir.raw())
}

#[cfg(test)]
#[path = "inotify_tests.rs"]
mod tests;
