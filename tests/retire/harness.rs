//! A job over a temp source tree with the real snapshot, remembering what every version
//! dereferenced to when it was committed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reverberator::change::{Change, ChangeSet};
use reverberator::config::JobConfig;
use reverberator::vault::retire::{self, RetireError, RetireReport};
use reverberator::vault::snapshot::{snapshot, SnapshotOutcome};
use reverberator::writer::snapshot_with_scan;

use crate::util::{self, TempTree, TreeState};

/// A source tree, a vault and the states of the versions committed so far.
pub struct Job {
    /// The source tree.
    pub src: TempTree,
    /// Holds the vault.
    pub outer: TempTree,
    /// The job.
    pub config: JobConfig,
    /// Version folder name -> what it dereferenced to when committed.
    pub recorded: BTreeMap<String, TreeState>,
}

impl Job {
    pub fn new() -> Job {
        let outer = TempTree::new();
        outer.dir("vault");
        let vault = outer.path().join("vault");
        Job::in_vault(outer, &vault)
    }

    /// A job whose vault root is `vault` (which must exist); `outer` holds the config.
    pub fn in_vault(outer: TempTree, vault: &Path) -> Job {
        let src = TempTree::new();
        let config = util::job_config("job", src.path(), vault);
        Job {
            src,
            outer,
            config,
            recorded: BTreeMap::new(),
        }
    }

    /// Write the config file for the binary: this job with the `extra` TOML lines.
    pub fn write_config(&self, extra: &str) -> PathBuf {
        let path = self.outer.path().join("reverberator.toml");
        let text = format!(
            "[jobs.job]\nsource = {:?}\nvault = {:?}\n{extra}\n",
            self.src.path(),
            self.config.vault
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Run `reverberator prune job ARGS` with the config `extra` lines.
    pub fn prune(&self, extra: &str, args: &[&str]) -> std::process::Output {
        let config = self.write_config(extra);
        let mut all = vec!["prune", "job"];
        all.extend_from_slice(args);
        util::run_bin(&config, &all)
    }

    /// Forget the recorded versions that are no longer on disk; their names.
    pub fn forget_gone(&mut self) -> Vec<String> {
        let names = self.names();
        let gone: Vec<String> = self
            .recorded
            .keys()
            .filter(|k| !names.contains(k))
            .cloned()
            .collect();
        self.recorded.retain(|k, _| names.contains(k));
        gone
    }

    pub fn job_dir(&self) -> PathBuf {
        self.config.job_dir()
    }

    /// Committed version names, oldest first.
    pub fn names(&self) -> Vec<String> {
        util::versions(&self.job_dir())
    }

    fn record(&mut self, outcome: SnapshotOutcome) -> Option<String> {
        let SnapshotOutcome::Committed(v) = outcome else {
            return None;
        };
        let name = v.name.to_string();
        let state = util::version_state(&self.job_dir(), &name);
        self.recorded.insert(name.clone(), state);
        Some(name)
    }

    /// Snapshot with the delta scan; `None` when nothing changed.
    pub fn snap(&mut self) -> Option<String> {
        let outcome = snapshot_with_scan(&self.config).expect("snapshot");
        self.record(outcome)
    }

    /// Rename `from` to `to` (whose parent must exist) in the source and commit that as a
    /// move: the new version links the old directory at its new path, no copy.
    pub fn snap_move(&mut self, from: &str, to: &str) -> Option<String> {
        self.src.rename(from, to);
        let mut changes = ChangeSet::new();
        changes.record(to, Change::Moved { from: from.into() });
        changes.record(from, Change::Deleted);
        let outcome = snapshot(&self.config, &changes).expect("snapshot");
        self.record(outcome)
    }

    /// Enforce `keep_versions = keep` (no budget) and forget the retired versions.
    pub fn try_retire_keep(&mut self, keep: u32) -> Result<RetireReport, RetireError> {
        let mut job = self.config.clone();
        job.settings.keep_versions = keep;
        let report = retire::enforce(&job)?;
        for r in &report.retired {
            self.forget(&r.plan.retired.to_string());
        }
        Ok(report)
    }

    pub fn retire_keep(&mut self, keep: u32) -> RetireReport {
        self.try_retire_keep(keep).expect("retire")
    }

    /// Retire the `at`-th version (modulo the versions but the newest) with plan + apply,
    /// whatever its place, and forget it; `None` when there is only one version.
    pub fn retire_at(&mut self, at: usize) -> Option<retire::Retired> {
        let folder = reverberator::vault::layout::JobFolder::open(&self.job_dir()).unwrap();
        let versions = folder.versions().unwrap();
        if versions.len() < 2 {
            return None;
        }
        let victim = versions[at % (versions.len() - 1)].number;
        let plan =
            retire::plan(&folder, victim, vec![retire::RetireReason::Requested]).expect("plan");
        let done = retire::apply(&folder, plan).expect("retire");
        self.forget(&done.plan.retired.to_string());
        Some(done)
    }

    /// The index's total equals a recount of the job folder from disk.
    pub fn check_totals(&self) {
        let folder = reverberator::vault::layout::JobFolder::open(&self.job_dir()).unwrap();
        let versions = folder.versions().unwrap();
        let counted = retire::recount(&folder, &versions).expect("recount");
        let index = reverberator::vault::index::Index::from_job_dir(&self.job_dir()).unwrap();
        let cached = index
            .rows
            .iter()
            .fold((0, 0), |(b, i), r| (b + r.size, i + r.inodes));
        let on_disk = counted
            .versions
            .iter()
            .fold((0, 0), |(b, i), (_, u)| (b + u.bytes, i + u.inodes));
        assert_eq!(cached, on_disk, "index total (bytes, inodes) vs a recount");
    }

    pub fn forget(&mut self, name: &str) {
        assert!(
            self.recorded.remove(name).is_some(),
            "{name} was not recorded"
        );
    }

    /// Every remaining version dereferences to what it did when committed; no retire
    /// leftovers.
    pub fn check(&self) {
        util::assert_all_versions(&self.job_dir(), &self.recorded);
        check_leftovers(&self.job_dir());
    }
}

/// `verify` finds no problem; no intent, no hidden retiring folder, index rows =
/// committed versions.
pub fn check_leftovers(job_dir: &Path) {
    let folder = reverberator::vault::layout::JobFolder::open(job_dir).unwrap();
    let problems = reverberator::vault::read::verify(&folder);
    assert!(problems.is_empty(), "verify: {problems:?}");
    assert!(
        !job_dir.join(".reverberator/retire.intent").exists(),
        "intent left"
    );
    for e in std::fs::read_dir(job_dir).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        assert!(!n.ends_with(".retiring"), "leftover {n}");
    }
    let index = reverberator::vault::index::Index::from_job_dir(job_dir).unwrap();
    let rows: Vec<String> = index.rows.iter().map(|r| r.name.clone()).collect();
    assert_eq!(
        rows,
        util::versions(job_dir),
        "index.tsv vs committed versions"
    );
}
