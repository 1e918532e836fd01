//! A writer session's snapshot work: clear leftovers and repair when it opens, build and
//! commit versions.
//!
//! Commit order (a crash at any instant leaves every visible version whole):
//! build under `.V{n}--{time}.partial` → write `links/V{n}.tsv` and append to
//! `refs/V{k}.tsv` (fsynced; lines naming an uncommitted version are ignored by readers)
//! → `syncfs` of the vault filesystem (the build's data, inodes and directories are
//! durable) → rename the build to `V{n}--{time}` → fsync the job folder → replace
//! `latest` (symlink at a temp name + rename) → replace `index.tsv` (temp + rename) →
//! append the `snapshot` line (and one `error` line per skipped entry) to the journal.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use super::build::{Builder, Output};
use super::plan::Plan;
use super::repair;
use super::{CommittedVersion, Progress, SnapshotError, SnapshotOutcome};
use crate::change::ChangeSet;
use crate::config::JobConfig;
use crate::fs::{self, CopyOptions, Dir};
use crate::vault::index::{Index, IndexRow};
use crate::vault::journal::{Event, Journal, JournalLine};
use crate::vault::layout::{symlink_max, Resolver, VersionName, LATEST};
use crate::vault::session::Session;

/// Temp name of the next `latest` link.
const LATEST_TMP: &str = ".latest.tmp";

/// The snapshot's part of a writer session: clearing leftovers and repairing the
/// bookkeeping when it opens, then building and committing versions.
impl Session<'_> {
    fn root(&self) -> &Path {
        self.folder.root()
    }

    /// Remove leftover partial builds and repair the index and `latest` (a session opens
    /// with this).
    pub(crate) fn tidy(&self) -> Result<(), SnapshotError> {
        self.clear_partials()?;
        self.repair()
    }

    fn clear_partials(&self) -> Result<(), SnapshotError> {
        let partials = self
            .folder
            .partials()
            .map_err(vault_err(self.job, self.root()))?;
        for name in partials {
            let at = self.root().join(&name);
            remove_tree(self.folder.dir(), &name).map_err(vault_err(self.job, &at))?;
            tracing::warn!(job = %self.job.name, "removed leftover partial build {}", at.display());
            self.journal(
                JournalLine::now(Event::Error)
                    .path(name)
                    .message("removed a leftover partial build"),
            );
        }
        Ok(())
    }

    /// After a crash between the rename and the index/`latest` updates: give committed
    /// versions missing from index.tsv their row back (measured from disk) and point
    /// `latest` at the newest version. Each repair is journaled.
    fn repair(&self) -> Result<(), SnapshotError> {
        let job = self.job;
        let index_err = |source| SnapshotError::Index {
            job: job.name.clone(),
            source,
        };
        let mut index = Index::from_job_dir(self.root()).map_err(index_err)?;
        let missing =
            repair::missing_rows(&self.folder, &index).map_err(vault_err(job, self.root()))?;
        for v in &missing {
            let row = repair::measured_row(&self.folder, v)
                .map_err(vault_err(job, &self.folder.version_path(v)))?;
            index.rows.push(row);
            self.journal(
                JournalLine::now(Event::Error)
                    .path(v.to_string())
                    .message("index row rebuilt from disk after an interrupted commit")
                    .version(v.number),
            );
        }
        if !missing.is_empty() {
            index.rows.sort_by_key(|r| r.version);
            Index::write_atomic(self.root(), &index.rows).map_err(index_err)?;
        }
        let newest = self.folder.latest().map_err(vault_err(job, self.root()))?;
        if let Some(newest) = newest {
            let fixed = repair::fix_latest(self.folder.dir(), &newest)
                .map_err(vault_err(job, &self.root().join(LATEST)))?;
            if fixed {
                self.journal(
                    JournalLine::now(Event::Error)
                        .path(LATEST)
                        .message(format!("pointed at {newest} after an interrupted commit")),
                );
            }
        }
        Ok(())
    }

    /// The newest committed version.
    pub fn newest(&self) -> Result<Option<VersionName>, SnapshotError> {
        self.folder
            .latest()
            .map_err(vault_err(self.job, self.root()))
    }

    /// Build and commit the next version from `changes` ([`super::snapshot`]'s rules:
    /// version 0 is built whatever `changes` holds; an empty `changes` otherwise commits
    /// nothing).
    pub fn commit(
        &self,
        changes: &ChangeSet,
        progress: &Progress,
    ) -> Result<SnapshotOutcome, SnapshotError> {
        let versions = self
            .folder
            .versions()
            .map_err(vault_err(self.job, self.root()))?;
        let latest = versions.last().cloned();
        if latest.is_some() && changes.is_empty() {
            return Ok(SnapshotOutcome::Unchanged);
        }
        let name = VersionName::now(self.next_number(latest.as_ref())?);
        let started = std::time::Instant::now();
        let out = self.build(&name, latest.as_ref(), changes, progress)?;
        tracing::debug!(job = %self.job.name, "build {name}: {:?}", started.elapsed());
        let changed = if latest.is_some() { changes.len() } else { 0 };
        self.rename_and_record(&name, out, changed as u64, started)
    }

    /// One more than the newest version committed or listed in the index (a retired
    /// number is never reused).
    fn next_number(&self, latest: Option<&VersionName>) -> Result<u64, SnapshotError> {
        let from_dirs = latest.map_or(0, |v| v.number + 1);
        let index = Index::from_job_dir(self.root()).map_err(|source| SnapshotError::Index {
            job: self.job.name.clone(),
            source,
        })?;
        let from_index = index.rows.iter().map(|r| r.version + 1).max().unwrap_or(0);
        Ok(from_dirs.max(from_index))
    }

    fn build(
        &self,
        name: &VersionName,
        latest: Option<&VersionName>,
        changes: &ChangeSet,
        progress: &Progress,
    ) -> Result<Output, SnapshotError> {
        let partial = name.partial_name();
        let at = self.root().join(&partial);
        let jobdir = self.folder.dir();
        fs::at::mkdir(jobdir, OsStr::new(&partial), 0o700).map_err(vault_err(self.job, &at))?;
        let result = self.fill(name, &partial, latest, changes, progress);
        if result.is_err() {
            if let Err(e) = remove_tree(jobdir, OsStr::new(&partial)) {
                tracing::warn!("{}: could not remove the failed build: {e}", at.display());
            }
        }
        result
    }

    fn fill(
        &self,
        name: &VersionName,
        partial: &str,
        latest: Option<&VersionName>,
        changes: &ChangeSet,
        progress: &Progress,
    ) -> Result<Output, SnapshotError> {
        let job = self.job;
        let jobdir = self.folder.dir();
        let dst = jobdir
            .open_child(OsStr::new(partial))
            .map_err(vault_err(job, &self.root().join(partial)))?;
        let src = Dir::open(&job.source).map_err(|source| SnapshotError::Source {
            job: job.name.clone(),
            path: job.source.clone(),
            source,
        })?;
        let resolver = Resolver::new(&self.folder)
            .map_err(vault_err(job, self.root()))?
            .with_version(name.clone());
        // The root's attributes as they were before it was listed: an entry added during
        // the build moves the source's mtime past this one, so the next scan sees it.
        let root_meta = src.stat_self().map_err(vault_err(job, &job.source))?;
        let plan = Plan::new(changes);
        let mut b = Builder::new(
            job,
            &plan,
            &resolver,
            latest,
            jobdir,
            PathBuf::from(partial),
            symlink_max(jobdir),
            progress,
        );
        let built = match latest {
            None if !job.settings.keep_full_copy => b.build_referenced(&src, &dst),
            _ => b.build_root(&src, &dst),
        };
        built.map_err(|e| vault_err(job, &e.path)(e.source))?;
        self.root_attributes(&root_meta, partial, &mut b.out)?;
        Ok(b.out)
    }

    /// The version root takes the source root's attributes `meta` (after its children).
    fn root_attributes(
        &self,
        meta: &fs::Meta,
        partial: &str,
        out: &mut Output,
    ) -> Result<(), SnapshotError> {
        let job = self.job;
        let at = self.root().join(partial);
        if let (Some(parent), Some(name)) = (job.source.parent(), job.source.file_name()) {
            let parent = Dir::open(parent).map_err(vault_err(job, parent))?;
            fs::copy_attributes(
                &parent,
                name,
                meta,
                self.folder.dir(),
                OsStr::new(partial),
                &CopyOptions::default(),
            )
            .map_err(vault_err(job, &at))?;
        }
        let m = self
            .folder
            .dir()
            .stat(OsStr::new(partial))
            .map_err(vault_err(job, &at))?;
        out.inodes += 1;
        out.size += m.allocated;
        Ok(())
    }

    /// Make the build `name` a version, in the commit order of the module doc.
    fn rename_and_record(
        &self,
        name: &VersionName,
        out: Output,
        changes: u64,
        started: std::time::Instant,
    ) -> Result<SnapshotOutcome, SnapshotError> {
        let job = self.job;
        let root = self.root().to_path_buf();
        let jobdir = self.folder.dir();
        let err = |p: &Path| vault_err(job, p);
        if !out.links.is_empty() {
            self.folder
                .write_links(name.number, out.links.iter().map(PathBuf::as_path))
                .map_err(err(&root.join(".reverberator/links")))?;
        }
        for (k, paths) in &out.refs {
            let refs: Vec<(u64, &Path)> =
                paths.iter().map(|p| (name.number, p.as_path())).collect();
            self.folder
                .append_refs(*k, &refs)
                .map_err(err(&root.join(".reverberator/refs")))?;
        }
        jobdir.syncfs().map_err(err(&root))?;
        let final_name = name.to_string();
        let partial = name.partial_name();
        jobdir
            .rename(OsStr::new(&partial), OsStr::new(&final_name))
            .map_err(err(&root.join(&final_name)))?;
        jobdir.sync().map_err(err(&root))?;
        replace_latest(jobdir, &final_name).map_err(err(&root.join(LATEST)))?;
        let version = CommittedVersion {
            name: name.clone(),
            size: out.size,
            inodes: out.inodes,
            changes,
            skipped: out.skipped.len() as u64,
        };
        self.append_index(&version)?;
        for s in &out.skipped {
            self.journal(
                JournalLine::now(Event::Error)
                    .path(s.path.as_os_str())
                    .message(&s.reason)
                    .version(name.number),
            );
        }
        self.journal(
            JournalLine::now(Event::Snapshot)
                .path(final_name)
                .took(started.elapsed())
                .version(name.number),
        );
        Ok(SnapshotOutcome::Committed(version))
    }

    fn append_index(&self, v: &CommittedVersion) -> Result<(), SnapshotError> {
        let index_err = |source| SnapshotError::Index {
            job: self.job.name.clone(),
            source,
        };
        let mut index = Index::from_job_dir(self.root()).map_err(index_err)?;
        index.rows.retain(|r| r.version != v.name.number);
        index.rows.push(IndexRow {
            version: v.name.number,
            name: v.name.to_string(),
            iso_time: v.name.time.to_rfc3339(),
            size: v.size,
            inodes: v.inodes,
            changes: v.changes,
        });
        Index::write_atomic(self.root(), &index.rows).map_err(index_err)
    }

    /// Append a journal line; a journal that cannot be written is logged, not fatal (the
    /// version is already committed).
    fn journal(&self, line: JournalLine) {
        if let Err(e) = Journal::append(self.root(), &line) {
            tracing::error!(job = %self.job.name, "journal: {e}");
        }
    }
}

fn vault_err(job: &JobConfig, path: &Path) -> impl Fn(io::Error) -> SnapshotError {
    let name = job.name.clone();
    let path = path.to_path_buf();
    move |source| SnapshotError::Vault {
        job: name.clone(),
        path: path.clone(),
        source,
    }
}

/// Point `latest` at `target`: a symlink at a temp name renamed over the old one.
pub(super) fn replace_latest(jobdir: &Dir, target: &str) -> io::Result<()> {
    let tmp = OsStr::new(LATEST_TMP);
    fs::at::unlink_if_present(jobdir, tmp)?;
    fs::at::symlink(Path::new(target), jobdir, tmp)?;
    jobdir.rename(tmp, OsStr::new(LATEST))?;
    jobdir.sync()
}

/// Remove the directory `name` of `parent` and everything below it
/// ([`crate::fs::remove_tree`]); nothing there is not an error.
pub(crate) fn remove_tree(parent: &Dir, name: &OsStr) -> io::Result<()> {
    match fs::remove_tree(parent, name, &mut || {}) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
