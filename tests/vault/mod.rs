//! Snapshot, list, diff, restore, verify over real trees.
//!
//! `snapshot_*` tests: every version must dereference (structural links only) to exactly
//! the tree the source had when it was taken, after every kind of change. This file holds
//! the shared fixtures; the tests are in `changes.rs` (the library), `layout.rs` (what a
//! version is made of), `cli.rs` (the binary, SIGKILL) and `prop.rs` (random sequences).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use reverberator::change::ChangeSet;
use reverberator::vault::snapshot::{snapshot, SnapshotOutcome};
use reverberator::writer::snapshot_with_scan;

use crate::util::*;

mod changes;
mod cli;
mod deep;
mod layout;
mod prop;
mod scanbase;
mod xattrs;

/// An environment plus the state recorded for each committed version.
pub(crate) struct Series {
    pub env: Env,
    pub recorded: BTreeMap<String, TreeState>,
}

impl Series {
    pub(crate) fn new(env: Env) -> Series {
        Series {
            env,
            recorded: BTreeMap::new(),
        }
    }

    pub(crate) fn src(&self) -> &TempTree {
        &self.env.src
    }

    /// Scan + snapshot through the library; record the source state for a new version.
    pub(crate) fn snap(&mut self) -> Option<String> {
        let outcome = snapshot_with_scan(&self.env.job_config()).expect("snapshot");
        self.record(outcome)
    }

    /// Snapshot from an explicit ChangeSet.
    pub(crate) fn snap_changes(&mut self, changes: &ChangeSet) -> Option<String> {
        let outcome = snapshot(&self.env.job_config(), changes).expect("snapshot");
        self.record(outcome)
    }

    pub(crate) fn record(&mut self, outcome: SnapshotOutcome) -> Option<String> {
        match outcome {
            SnapshotOutcome::Committed(v) => {
                let name = v.name.to_string();
                self.recorded
                    .insert(name.clone(), tree_state(self.env.src.path()));
                Some(name)
            }
            SnapshotOutcome::Unchanged => None,
        }
    }

    pub(crate) fn check(&self) {
        assert_no_partial(&self.env.job_dir());
        assert_all_versions(&self.env.job_dir(), &self.recorded);
        assert_verify_clean(&self.env.job_dir());
    }
}

/// Names that break naive tools.
pub(crate) fn odd_names(t: &TempTree) {
    t.file("odd/with space", b"space")
        .file("odd/tab\there", b"tab")
        .file("odd/new\nline", b"newline")
        .file("odd/back\\slash", b"backslash")
        .file("odd/-leading-dash", b"dash")
        .file(
            PathBuf::from("odd").join(invalid_utf8("bad-")),
            b"not utf-8",
        )
        .file(PathBuf::from("odd").join("n".repeat(255)), b"long name");
}

/// The rich tree of the "Done when" list (sparse file of `sparse_size` bytes).
pub(crate) fn rich_tree(t: &TempTree, sparse_size: u64) -> PathBuf {
    t.file("a/b/c/file.txt", b"hello")
        .dir("a/empty")
        .dir("nested/x/y/z")
        .symlink("link-rel", "a/b/c/file.txt")
        .symlink("link-etc", "/etc")
        .symlink("dangling", "no/such/place")
        .symlink("a/dirlink", "../nested")
        .sparse(
            "big.sparse",
            sparse_size,
            &[(0, &b"head"[..]), (sparse_size / 2, &b"middle"[..])],
        )
        .file("hl/one", b"shared inode")
        .hard_link("hl/one", "hl/two")
        .hard_link("hl/one", "a/hl-three")
        .fifo("pipe");
    odd_names(t);
    t.deep("deep", 4200)
}

pub(crate) fn allocated_bytes(path: &Path) -> u64 {
    std::fs::symlink_metadata(path).expect("stat").blocks() * 512
}

/// Entries below `dir` without following symlinks, and how many are files with nlink 1
/// (fresh copies; hard links have nlink >= 2).
pub(crate) fn count_entries(dir: &Path) -> (usize, usize) {
    let mut entries = 0;
    let mut copied = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = std::fs::symlink_metadata(e.path()).unwrap();
        entries += 1;
        if m.is_file() && m.nlink() == 1 {
            copied += 1;
        }
        if m.is_dir() {
            let (a, b) = count_entries(&e.path());
            entries += a;
            copied += b;
        }
    }
    (entries, copied)
}

/// The read side's `verify` finds no problem in the job folder.
pub(crate) fn assert_verify_clean(job_dir: &Path) {
    let folder = reverberator::vault::layout::JobFolder::open(job_dir).expect("open job folder");
    let problems = reverberator::vault::read::verify::verify(&folder);
    assert!(problems.is_empty(), "verify: {problems:?}");
}

/// index.tsv lists exactly the committed versions (when it exists).
pub(crate) fn check_index_matches(job_dir: &Path) {
    let Ok(text) = std::fs::read_to_string(job_dir.join("index.tsv")) else {
        assert!(versions(job_dir).is_empty(), "versions without an index");
        return;
    };
    let listed: Vec<String> = text
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(listed, versions(job_dir));
}
