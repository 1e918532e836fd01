//! The parallel walk of (source directory, version directory) pairs.
//!
//! Work items sit on one shared stack; each worker pops a pair, lists both sides, records
//! changes into its own vector and pushes the common subdirectories. An item holds its
//! parents (shared `Arc<Dir>`) and a name, not open fds of its own, so a wide directory
//! queues names, not thousands of open descriptors.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::base::{self, ScanBase};
use super::compare::{attrs_differ, compare, xattrs_equal, Doubt, Side};
use super::ScanError;
use crate::change::Progress;
use crate::change::{Change, ChangeSet};
use crate::config::JobConfig;
use crate::fs::at::{join, read_link as read_link_at};
use crate::fs::{Dir, DirEntry, FileKind, Meta};
use crate::vault::layout::navigate::{classify, copy_options, Child, Real};
use crate::vault::layout::{JobFolder, Resolver, VersionName};

/// How to open one side of a work item.
enum Opener {
    Open(Dir),
    Child(Arc<Dir>, OsString),
    /// A real directory of some version, below the job folder.
    Beneath(PathBuf),
}

struct Task {
    rel: PathBuf,
    src: Opener,
    vault: Opener,
    real: Real,
}

#[derive(Default)]
struct Queue {
    tasks: Vec<Task>,
    busy: usize,
    failed: Option<ScanError>,
}

/// What a usable scan base lets this walk assume (see the `scan` module docs).
#[derive(Debug, Clone, Copy)]
struct Vouch {
    /// Entries whose ctime (ns) is strictly below this equal the newest version's.
    bound_ns: i128,
    /// `st_dev` of the source root: entries on another filesystem are never vouched for.
    dev: u64,
    /// Skip the version side of vouched-for entries (false: [`super::delta_full`]).
    skip: bool,
}

/// One delta scan.
pub(crate) struct Walk<'a> {
    job: &'a JobConfig,
    folder: &'a JobFolder,
    resolver: &'a Resolver,
    latest: &'a VersionName,
    progress: &'a Progress,
    base: Option<ScanBase>,
    shortcut: bool,
    vouch: Option<Vouch>,
    /// The job copies xattrs, so an xattr difference is a change.
    xattrs: bool,
    /// Some source entry could not be read: this scan vouches for nothing.
    incomplete: AtomicBool,
    queue: Mutex<Queue>,
    ready: Condvar,
    threads: usize,
}

impl<'a> Walk<'a> {
    pub fn new(
        job: &'a JobConfig,
        folder: &'a JobFolder,
        resolver: &'a Resolver,
        latest: &'a VersionName,
        progress: &'a Progress,
        base: Option<ScanBase>,
        shortcut: bool,
    ) -> Self {
        Walk {
            job,
            folder,
            resolver,
            latest,
            progress,
            base,
            shortcut,
            vouch: None,
            xattrs: copy_options(job).xattrs,
            incomplete: AtomicBool::new(false),
            queue: Mutex::default(),
            ready: Condvar::new(),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get().min(16)),
        }
    }

    /// Walk everything; the changes and whether every source entry could be read, or the
    /// first fatal error.
    pub fn run(mut self) -> Result<(ChangeSet, bool), ScanError> {
        let mut changes = ChangeSet::new();
        let src = Dir::open(&self.job.source).map_err(|e| self.source_err(Path::new(""), e))?;
        self.vouch = self.vouch_for(&src);
        self.compare_roots(src, &mut changes)?;
        let found: Vec<Vec<(PathBuf, Change)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..self.threads)
                .map(|_| s.spawn(|| self.worker()))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let mut queue = self.queue.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = queue.failed.take() {
            return Err(e);
        }
        for (path, change) in found.into_iter().flatten() {
            changes.record(path, change);
        }
        Ok((changes, !self.incomplete.load(Ordering::Relaxed)))
    }

    /// What the recorded scan base (if any) vouches for in this scan, if it is usable.
    fn vouch_for(&self, src: &Dir) -> Option<Vouch> {
        let recorded = self.base?;
        let now = base::identity(src, base::now_ns()).ok()?;
        let refused = if !self.job.settings.keep_full_copy {
            Some("referenced mode (keep_full_copy = false)")
        } else if !base::trusted_fs(src) {
            Some("the source filesystem's ctime is not trusted")
        } else {
            base::refuse(&recorded, self.latest.number, &now)
        };
        if let Some(why) = refused {
            tracing::info!(job = %self.job.name, "scan base ignored: {why}; full comparison");
            return None;
        }
        Some(Vouch {
            bound_ns: base::bound_ns(&recorded),
            dev: now.dev,
            skip: self.shortcut,
        })
    }

    /// A non-directory source entry of the type the version lists, on the source root's
    /// filesystem, unchanged since before the scan base's bound: equal to the version's
    /// entry without looking at it.
    fn vouched(&self, sm: &Meta, v: &DirEntry) -> bool {
        sm.kind != FileKind::Dir && v.kind == Some(sm.kind) && self.ctime_vouches(sm)
    }

    /// The shortcut is on and the source entry's inode is as the scan base saw it: ctime
    /// below the bound, on the source root's filesystem (for a directory this covers its
    /// own attributes and xattrs, not its listing).
    fn ctime_vouches(&self, sm: &Meta) -> bool {
        self.vouch
            .is_some_and(|b| b.skip && sm.dev == b.dev && base::ns(&sm.ctime) < b.bound_ns)
    }

    /// What a full comparison of this source entry must check beyond its metadata: content
    /// when its ctime moved, xattrs when the job copies them and the shortcut cannot vouch
    /// for them (every `setxattr`/`removexattr` moves the ctime, so an entry whose ctime
    /// is below the bound has the xattrs the base scan compared).
    fn doubt(&self, sm: &Meta) -> Doubt {
        Doubt {
            content: self.suspect(sm),
            xattrs: self.xattrs && !self.ctime_vouches(sm),
        }
    }

    /// The source entry's ctime moved since the scan base's bound (content may differ
    /// even with equal size and mtime).
    fn suspect(&self, sm: &Meta) -> bool {
        self.vouch
            .is_some_and(|b| base::ns(&sm.ctime) >= b.bound_ns)
    }

    /// Compare the two roots' attributes and queue them.
    fn compare_roots(&self, src: Dir, changes: &mut ChangeSet) -> Result<(), ScanError> {
        let vault = self
            .folder
            .dir()
            .open_child(OsStr::new(&self.latest.to_string()))
            .map_err(|e| self.vault_err(self.latest.to_string(), e))?;
        let sm = src
            .stat_self()
            .map_err(|e| self.source_err(Path::new(""), e))?;
        let vm = vault
            .stat_self()
            .map_err(|e| self.vault_err(self.latest.to_string(), e))?;
        if self.roots_differ(&src, &sm, &vault, &vm) {
            changes.record(PathBuf::new(), Change::Attrib);
        }
        let task = Task {
            rel: PathBuf::new(),
            src: Opener::Open(src),
            vault: Opener::Open(vault),
            real: Real {
                version: self.latest.number,
                path: PathBuf::new(),
            },
        };
        self.queue_lock().tasks.push(task);
        Ok(())
    }

    /// The roots' own attributes differ (mode, owner, mtime, and xattrs when in doubt;
    /// unreadable xattrs count as different).
    fn roots_differ(&self, src: &Dir, sm: &Meta, vault: &Dir, vm: &Meta) -> bool {
        if attrs_differ(sm, vm, true) {
            return true;
        }
        let here = OsStr::new(".");
        let new = Side::new(src, here, sm);
        let old = Side::new(vault, here, vm);
        self.doubt(sm).xattrs && !xattrs_equal(&new, &old).unwrap_or(false)
    }

    fn queue_lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn worker(&self) -> Vec<(PathBuf, Change)> {
        let mut found = Vec::new();
        while let Some(task) = self.next_task() {
            let mut pushed = Vec::new();
            let result = self.process(task, &mut found, &mut pushed);
            let mut q = self.queue_lock();
            q.busy -= 1;
            let new = pushed.len();
            match result {
                Ok(()) => q.tasks.append(&mut pushed),
                Err(e) => {
                    q.failed.get_or_insert(e);
                }
            }
            let finished = q.failed.is_some() || (q.busy == 0 && q.tasks.is_empty());
            drop(q);
            // Wake sleepers only when there is work for them, or when everything is done.
            if finished {
                self.ready.notify_all();
            } else {
                for _ in 0..new.min(self.threads) {
                    self.ready.notify_one();
                }
            }
        }
        found
    }

    /// The next task, or `None` when all work is done (or a worker failed).
    fn next_task(&self) -> Option<Task> {
        let mut q = self.queue_lock();
        loop {
            if q.failed.is_some() {
                return None;
            }
            if let Some(t) = q.tasks.pop() {
                q.busy += 1;
                return Some(t);
            }
            if q.busy == 0 {
                return None;
            }
            q = self.ready.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn open(&self, opener: Opener) -> io::Result<Dir> {
        match opener {
            Opener::Open(d) => Ok(d),
            Opener::Child(parent, name) => parent.open_child(&name),
            Opener::Beneath(rel) => self.folder.dir().open_beneath(&rel),
        }
    }

    fn process(
        &self,
        task: Task,
        found: &mut Vec<(PathBuf, Change)>,
        pushed: &mut Vec<Task>,
    ) -> Result<(), ScanError> {
        let rel = task.rel;
        let src = match self.open(task.src) {
            Ok(d) => Arc::new(d),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                found.push((rel, Change::Deleted));
                return Ok(());
            }
            Err(e) => return self.unreadable(&rel, e),
        };
        let vault_at = self.real_path(&task.real);
        let vault = Arc::new(
            self.open(task.vault)
                .map_err(|e| self.vault_err(&vault_at, e))?,
        );
        let s_entries = match src.list_once() {
            Ok(e) => e,
            Err(e) => return self.unreadable(&rel, e),
        };
        let v_entries = vault
            .list_once()
            .map_err(|e| self.vault_err(&vault_at, e))?;
        Progress::add(&self.progress.scanned, s_entries.len() as u64);
        let pair = Pair {
            rel: &rel,
            src: &src,
            vault: &vault,
            real: &task.real,
        };
        for (s, v) in crate::fs::merge(&s_entries, &v_entries) {
            let path = join(&rel, s.or(v).map_or(OsStr::new(""), |e| e.name.as_os_str()));
            if self.excluded(&path) {
                continue;
            }
            match (s, v) {
                (Some(_), None) => found.push((path, Change::Created)),
                (None, Some(_)) => found.push((path, Change::Deleted)),
                (Some(s), Some(v)) => self.both(&pair, s, v, path, found, pushed)?,
                (None, None) => {}
            }
        }
        Ok(())
    }

    /// A source directory that cannot be read: report nothing for it (its versioned
    /// content stays as it is), and say so.
    fn unreadable(&self, rel: &Path, e: io::Error) -> Result<(), ScanError> {
        self.incomplete.store(true, Ordering::Relaxed);
        tracing::warn!(
            job = %self.job.name,
            "{}: cannot read ({e}); left as in the newest version",
            self.job.source.join(rel).display()
        );
        Ok(())
    }

    fn both(
        &self,
        pair: &Pair<'_>,
        s: &DirEntry,
        v: &DirEntry,
        path: PathBuf,
        found: &mut Vec<(PathBuf, Change)>,
        pushed: &mut Vec<Task>,
    ) -> Result<(), ScanError> {
        let name = s.name.as_os_str();
        let sm = match pair.src.stat(name) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                found.push((path, Change::Deleted));
                return Ok(());
            }
            Err(e) => return self.unreadable(&path, e),
        };
        if self.vouched(&sm, v) {
            return Ok(());
        }
        // The vault path for messages, built only on error (formatting a version name per
        // entry would cost more than the stat).
        let vault_err = |e| {
            let at = self.real_path(&Real {
                version: pair.real.version,
                path: join(&pair.real.path, name),
            });
            self.vault_err(at, e)
        };
        let child =
            classify(self.resolver, pair.real, pair.vault, name, v.kind).map_err(vault_err)?;
        match child {
            Child::Linked(real) => self.linked_dir(pair, &sm, path, real, found, pushed),
            Child::Entry(_) => {
                let vm = pair.vault.stat(name).map_err(vault_err)?;
                if self.is_live_reference(pair, name, &sm, &vm, &path) {
                    return Ok(());
                }
                if vm.kind != sm.kind {
                    found.push((path, Change::Created));
                    return Ok(());
                }
                let real = Real {
                    version: pair.real.version,
                    path: join(&pair.real.path, name),
                };
                self.same_kind(pair, name, &sm, &vm, path, real, found, pushed)
            }
        }
    }

    fn linked_dir(
        &self,
        pair: &Pair<'_>,
        sm: &Meta,
        path: PathBuf,
        real: Real,
        found: &mut Vec<(PathBuf, Change)>,
        pushed: &mut Vec<Task>,
    ) -> Result<(), ScanError> {
        if sm.kind != FileKind::Dir {
            found.push((path, Change::Created));
            return Ok(());
        }
        let at = self.real_path(&real);
        let vm = (self.folder.dir().stat(at.as_os_str())).map_err(|e| self.vault_err(&at, e))?;
        let name = path.file_name().unwrap_or_default().to_os_string();
        if attrs_differ(sm, &vm, true)
            || (self.doubt(sm).xattrs && !self.linked_xattrs_equal(pair, &name, sm, &at))
        {
            found.push((path.clone(), Change::Attrib));
        }
        pushed.push(Task {
            rel: path,
            src: Opener::Child(pair.src.clone(), name),
            vault: Opener::Beneath(at),
            real,
        });
        Ok(())
    }

    /// Whether the source directory `name` and the real directory `at` (below the job
    /// folder) that its structural link names hold the same xattrs; unreadable: no.
    fn linked_xattrs_equal(&self, pair: &Pair<'_>, name: &OsStr, sm: &Meta, at: &Path) -> bool {
        let new = Side::new(pair.src, name, sm);
        let old = Side::new(self.folder.dir(), at.as_os_str(), sm);
        xattrs_equal(&new, &old).unwrap_or(false)
    }

    #[allow(clippy::too_many_arguments)]
    fn same_kind(
        &self,
        pair: &Pair<'_>,
        name: &OsStr,
        sm: &Meta,
        vm: &Meta,
        path: PathBuf,
        real: Real,
        found: &mut Vec<(PathBuf, Change)>,
        pushed: &mut Vec<Task>,
    ) -> Result<(), ScanError> {
        let new = Side::new(pair.src, name, sm);
        let old = Side::new(pair.vault, name, vm);
        match compare(&new, &old, self.doubt(sm)) {
            Ok(Some(change)) => found.push((path.clone(), change)),
            Ok(None) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                found.push((path, Change::Deleted));
                return Ok(());
            }
            // Unreadable content: store it again (the copy will journal the error).
            Err(_) => found.push((path.clone(), Change::Modified)),
        }
        if sm.kind == FileKind::Dir {
            pushed.push(Task {
                rel: path,
                src: Opener::Child(pair.src.clone(), name.to_os_string()),
                vault: Opener::Child(pair.vault.clone(), name.to_os_string()),
                real,
            });
        }
        Ok(())
    }

    /// In referenced mode, a top-level entry of the version may be a symlink to the live
    /// source entry: nothing to compare (see `vault::snapshot`, referenced mode).
    fn is_live_reference(
        &self,
        pair: &Pair<'_>,
        name: &OsStr,
        sm: &Meta,
        vm: &Meta,
        path: &Path,
    ) -> bool {
        !self.job.settings.keep_full_copy
            && pair.rel.as_os_str().is_empty()
            && vm.kind == FileKind::Symlink
            && sm.kind != FileKind::Symlink
            && read_link_at(pair.vault, name).is_ok_and(|t| t == self.job.source.join(path))
    }

    fn excluded(&self, path: &Path) -> bool {
        self.job.skips_entry(path)
    }

    /// `V{k}--time/path` for messages and opening.
    fn real_path(&self, real: &Real) -> PathBuf {
        let v = self
            .resolver
            .version(real.version)
            .map(|v| v.to_string())
            .unwrap_or_else(|| format!("V{}", real.version));
        Path::new(&v).join(&real.path)
    }

    fn source_err(&self, rel: &Path, source: io::Error) -> ScanError {
        ScanError::Source {
            job: self.job.name.clone(),
            path: self.job.source.join(rel),
            source,
        }
    }

    fn vault_err(&self, rel: impl AsRef<Path>, source: io::Error) -> ScanError {
        ScanError::Vault {
            job: self.job.name.clone(),
            path: self.folder.root().join(rel),
            source,
        }
    }
}

/// The directory pair being compared.
struct Pair<'p> {
    rel: &'p Path,
    src: &'p Arc<Dir>,
    vault: &'p Arc<Dir>,
    real: &'p Real,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(source: &Path, vault: &Path) -> JobConfig {
        JobConfig::for_test("walk test", source, vault)
    }

    /// One walk of `job` against its newest version, xattrs compared or not.
    fn walk(job: &JobConfig, xattrs: bool, shortcut: bool) -> Vec<(PathBuf, Change)> {
        let folder = JobFolder::open(&job.job_dir()).unwrap();
        let resolver = Resolver::new(&folder).unwrap();
        let latest = folder.latest().unwrap().expect("a version");
        let progress = Progress::default();
        let recorded = base::read(&job.job_dir());
        let mut w = Walk::new(
            job, &folder, &resolver, &latest, &progress, recorded, shortcut,
        );
        w.xattrs = xattrs;
        let (changes, complete) = w.run().unwrap();
        assert!(complete);
        changes
            .iter()
            .map(|(p, c)| (p.to_path_buf(), c.clone()))
            .collect()
    }

    /// An xattr-only change is a change only for a job that copies xattrs: otherwise the
    /// scan finds nothing and no version is made for it.
    #[test]
    fn xattr_only_changes_count_when_the_job_copies_xattrs() {
        let t = tempfile::tempdir().unwrap();
        let (src, vault) = (t.path().join("src"), t.path().join("vault"));
        std::fs::create_dir_all(src.join("d")).unwrap();
        std::fs::create_dir(&vault).unwrap();
        std::fs::write(src.join("d/f"), b"f").unwrap();
        let job = job(&src, &vault);
        crate::writer::snapshot_with_scan(&job).unwrap();
        if let Err(e) = xattr::set(src.join("d/f"), "user.t", b"1") {
            crate::skip_test!("user xattrs not supported here: {e}");
        }
        xattr::set(src.join("d"), "user.t", b"2").unwrap();
        xattr::set(&src, "user.t", b"3").unwrap();
        for shortcut in [true, false] {
            assert_eq!(walk(&job, false, shortcut), vec![], "xattrs not copied");
            let attrib = |p: &str| (PathBuf::from(p), Change::Attrib);
            let want = vec![attrib(""), attrib("d"), attrib("d/f")];
            assert_eq!(walk(&job, true, shortcut), want, "xattrs copied");
        }
    }
}
