//! Snapshot, list, diff, restore, verify over real trees.
//!
//! `snapshot_*` tests: every version must dereference (structural links only) to exactly
//! the tree the source had when it was taken, after every kind of change.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reverberator::change::{Change, ChangeSet};
use reverberator::scan::{delta, ScanOutcome};
use reverberator::vault::snapshot::{snapshot, snapshot_with_scan, SnapshotOutcome};

use crate::util::*;

/// An environment plus the state recorded for each committed version.
struct Series {
    env: Env,
    recorded: BTreeMap<String, TreeState>,
}

impl Series {
    fn new(env: Env) -> Series {
        Series {
            env,
            recorded: BTreeMap::new(),
        }
    }

    fn src(&self) -> &TempTree {
        &self.env.src
    }

    /// Scan + snapshot through the library; record the source state for a new version.
    fn snap(&mut self) -> Option<String> {
        let outcome = snapshot_with_scan(&self.env.job_config()).expect("snapshot");
        self.record(outcome)
    }

    /// Snapshot from an explicit ChangeSet.
    fn snap_changes(&mut self, changes: &ChangeSet) -> Option<String> {
        let outcome = snapshot(&self.env.job_config(), changes).expect("snapshot");
        self.record(outcome)
    }

    fn record(&mut self, outcome: SnapshotOutcome) -> Option<String> {
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

    fn check(&self) {
        assert_no_partial(&self.env.job_dir());
        assert_all_versions(&self.env.job_dir(), &self.recorded);
        assert_verify_clean(&self.env.job_dir());
    }
}

/// Names that break naive tools.
fn odd_names(t: &TempTree) {
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
fn rich_tree(t: &TempTree, sparse_size: u64) -> PathBuf {
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

fn allocated_bytes(path: &Path) -> u64 {
    std::fs::symlink_metadata(path).expect("stat").blocks() * 512
}

#[test]
fn snapshot_first_version_is_a_full_copy_of_an_odd_tree() {
    let mut s = Series::new(Env::new("odd"));
    let deep = rich_tree(s.src(), 1 << 30);
    assert!(deep.as_os_str().len() > 4096);
    let v0 = s.snap().expect("version 0 committed");
    assert!(v0.starts_with("V0--"), "{v0}");
    s.check();

    let job_dir = s.env.job_dir();
    let copy = job_dir.join(&v0).join("big.sparse");
    assert_eq!(std::fs::symlink_metadata(&copy).unwrap().len(), 1 << 30);
    assert!(
        allocated_bytes(&copy) < 1 << 20,
        "sparse copy allocates {} bytes",
        allocated_bytes(&copy)
    );
    assert_eq!(
        std::fs::read_link(job_dir.join("latest")).unwrap(),
        PathBuf::from(&v0)
    );
    let index = std::fs::read_to_string(job_dir.join("index.tsv")).unwrap();
    assert!(
        index.starts_with("version\tname\tiso_time\tsize\tinodes\tchanges\n"),
        "{index}"
    );
    assert!(
        index
            .lines()
            .nth(1)
            .unwrap()
            .starts_with(&format!("0\t{v0}\t")),
        "{index}"
    );
    let journal = std::fs::read_to_string(job_dir.join("journal.tsv")).unwrap();
    assert!(journal.contains("\tsnapshot\t"), "{journal}");

    // Nothing changed: nothing committed.
    assert_eq!(s.snap(), None);
    s.check();
}

#[test]
fn snapshot_series_every_version_dereferences_to_its_tree() {
    let mut s = Series::new(Env::new("series"));
    let deep = rich_tree(s.src(), 64 << 20);
    s.snap().expect("v0");
    type Step = Box<dyn Fn(&TempTree)>;
    let deep2 = deep.clone();
    let steps: Vec<(&str, Step)> = vec![
        (
            "modify",
            Box::new(|t| {
                t.file("a/b/c/file.txt", b"hello, world");
            }),
        ),
        (
            "modify same size",
            Box::new(|t| {
                t.file("hl/one", b"SHARED INODE")
                    .touch("hl/one", 1_700_000_000, 123);
            }),
        ),
        (
            "delete",
            Box::new(|t| {
                t.remove("odd/with space");
            }),
        ),
        (
            "chmod",
            Box::new(|t| {
                t.chmod("a/b/c/file.txt", 0o600).chmod("nested/x", 0o700);
            }),
        ),
        (
            "rename a directory",
            Box::new(|t| {
                t.rename("nested/x", "nested/renamed");
            }),
        ),
        (
            "mkdir -p a deep tree",
            Box::new(|t| {
                t.dir("new/1/2/3/4/5/6/7/8")
                    .file("new/1/2/3/4/5/6/7/8/leaf", b"leaf");
            }),
        ),
        (
            "a file replaced by a directory",
            Box::new(|t| {
                t.remove("a/b/c/file.txt")
                    .file("a/b/c/file.txt/inner", b"now a dir");
            }),
        ),
        (
            "a directory replaced by a file",
            Box::new(|t| {
                t.remove("a/empty").file("a/empty", b"now a file");
            }),
        ),
        (
            "touch only (same content)",
            Box::new(|t| {
                t.touch("odd/tab\there", 1_600_000_000, 42);
            }),
        ),
        (
            "symlink retargeted",
            Box::new(|t| {
                t.remove("dangling").symlink("dangling", "elsewhere");
            }),
        ),
        (
            "deep leaf modified",
            Box::new(move |t| {
                t.file(&deep2, b"deep leaf, changed");
            }),
        ),
        (
            "sparse file grows",
            Box::new(|t| {
                t.append("big.sparse", b"tail");
            }),
        ),
    ];
    for (what, step) in &steps {
        step(s.src());
        assert!(s.snap().is_some(), "step `{what}` committed nothing");
        s.check();
    }
}

// A file replaced by a directory, written as its own test too (the step above is awkward).
#[test]
fn snapshot_file_becomes_directory_and_back() {
    let mut s = Series::new(Env::new("flip"));
    s.src().file("x", b"file").file("keep/k", b"k");
    s.snap().unwrap();
    s.src().remove("x").file("x/inside", b"now a dir");
    s.snap().unwrap();
    s.src().remove("x").file("x", b"a file again");
    s.snap().unwrap();
    s.check();
}

#[test]
fn snapshot_scan_classifies_changes() {
    let env = Env::new("scan");
    env.src
        .file("same", b"0123456789")
        .file("grow", b"a")
        .file("gone", b"g")
        .file("dir/inner", b"i");
    let job = env.job_config();
    assert_eq!(delta(&job).unwrap(), ScanOutcome::NoVersion);
    snapshot_with_scan(&job).unwrap();
    env.src
        .touch("same", 1_500_000_000, 7)
        .file("grow", b"ab")
        .remove("gone")
        .file("newdir/a/b", b"deep new");
    let ScanOutcome::Delta(c) = delta(&job).unwrap() else {
        panic!("a version exists")
    };
    let got: Vec<(String, Change)> = c
        .iter()
        .map(|(p, ch)| (p.to_string_lossy().into_owned(), ch.clone()))
        .collect();
    // The root's mtime moved (entries came and went): its attributes changed too.
    let want = vec![
        ("".to_owned(), Change::Attrib),
        ("gone".to_owned(), Change::Deleted),
        ("grow".to_owned(), Change::Modified),
        ("newdir".to_owned(), Change::Created),
        ("same".to_owned(), Change::Attrib),
    ];
    assert_eq!(got, want);
}

#[test]
fn snapshot_moves_link_old_bytes() {
    let mut s = Series::new(Env::new("moves"));
    s.src()
        .file("d/sub/f1", b"one")
        .file("d/sub/f2", b"two")
        .file("loose", b"loose bytes");
    let v0 = s.snap().unwrap();
    s.src().rename("d/sub", "moved").rename("loose", "d/loose2");
    let mut c = ChangeSet::new();
    c.record(
        "moved",
        Change::Moved {
            from: "d/sub".into(),
        },
    );
    c.record(
        "d/loose2",
        Change::Moved {
            from: "loose".into(),
        },
    );
    let v1 = s.snap_changes(&c).unwrap();
    s.check();
    let job_dir = s.env.job_dir();
    // The moved directory is one structural link into V0, the moved file its old inode.
    let link = std::fs::read_link(job_dir.join(&v1).join("moved")).unwrap();
    assert_eq!(link, Path::new("..").join(&v0).join("d/sub"));
    let old = std::fs::metadata(job_dir.join(&v0).join("loose")).unwrap();
    let new = std::fs::symlink_metadata(job_dir.join(&v1).join("d/loose2")).unwrap();
    assert_eq!((old.dev(), old.ino()), (new.dev(), new.ino()));
}

#[test]
fn snapshot_hard_links_unchanged_files_and_links_unchanged_dirs() {
    let mut s = Series::new(Env::new("links"));
    s.src()
        .file("top/changed", b"v0")
        .file("top/same", b"same")
        .file("other/deep/file", b"untouched");
    let v0 = s.snap().unwrap();
    s.src().file("top/changed", b"v1 content");
    let v1 = s.snap().unwrap();
    s.check();
    let j = s.env.job_dir();
    let a = std::fs::symlink_metadata(j.join(&v0).join("top/same")).unwrap();
    let b = std::fs::symlink_metadata(j.join(&v1).join("top/same")).unwrap();
    assert_eq!(a.ino(), b.ino(), "unchanged file is a hard link");
    let link = std::fs::read_link(j.join(&v1).join("other")).unwrap();
    assert_eq!(link, Path::new("..").join(&v0).join("other"));
    // Next version: `other` must link to V0 again (one hop), not to V1's link.
    s.src().file("top/changed", b"v2 content!");
    let v2 = s.snap().unwrap();
    let link = std::fs::read_link(j.join(&v2).join("other")).unwrap();
    assert_eq!(link, Path::new("..").join(&v0).join("other"));
    s.check();
}

#[test]
fn snapshot_cost_grows_with_the_change_not_the_tree() {
    let mut s = Series::new(Env::new("cost"));
    // 20 folders x 20 folders x 25 files = 10,000 files.
    for i in 0..20 {
        for j in 0..20 {
            for k in 0..25 {
                s.src()
                    .file(format!("d{i:02}/e{j:02}/f{k:02}"), format!("{i}/{j}/{k}"));
            }
        }
    }
    s.snap().unwrap();
    s.src().file("d07/e11/f03", b"changed content");
    let ScanOutcome::Delta(c) = delta(&s.env.job_config()).unwrap() else {
        panic!()
    };
    assert_eq!(c.len(), 1, "{c:?}");
    let v1 = s.snap().unwrap();
    let root = s.env.job_dir().join(&v1);
    let (entries, copied) = count_entries(&root);
    // Root (20) + d07 (20) + d07/e11 (25) = 65 entries, 3 real directories.
    assert!(entries <= 70, "{entries} entries in the new version");
    assert_eq!(copied, 1, "exactly one file copied");
    s.check();
}

/// Entries below `dir` without following symlinks, and how many are files with nlink 1
/// (fresh copies; hard links have nlink >= 2).
fn count_entries(dir: &Path) -> (usize, usize) {
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

#[test]
fn snapshot_attributes_only_clones_previous_bytes() {
    let mut s = Series::new(Env::with_extra("attr", "attributes_only = true"));
    let mut job = s.env.job_config();
    job.attributes_only = true;
    s.src().file("f", b"content");
    s.record(snapshot_with_scan(&job).unwrap());
    s.src().chmod("f", 0o640);
    let v1 = s.record(snapshot_with_scan(&job).unwrap()).unwrap();
    s.check();
    let m = std::fs::symlink_metadata(s.env.job_dir().join(v1).join("f")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o640);
    assert_eq!(m.nlink(), 1, "a new inode, not a hard link to the old mode");
}

#[test]
fn snapshot_excludes_and_a_vault_inside_the_source() {
    let src = TempTree::new();
    src.file("keep.txt", b"k")
        .file("skip.tmp", b"t")
        .file("sub/also.tmp", b"t")
        .dir("vault");
    let mut job = job_config("inside", src.path(), &src.path().join("vault"));
    job.exclude = reverberator::config::Excludes::new(&["*.tmp"]).unwrap();
    let SnapshotOutcome::Committed(v0) = snapshot_with_scan(&job).unwrap() else {
        panic!()
    };
    let state = version_state(&job.job_dir(), &v0.name.to_string());
    let paths: Vec<&Path> = state.keys().map(PathBuf::as_path).collect();
    assert_eq!(
        paths,
        vec![Path::new(""), Path::new("keep.txt"), Path::new("sub")]
    );
    // The vault growing inside the source is not a change.
    assert!(matches!(
        snapshot_with_scan(&job).unwrap(),
        SnapshotOutcome::Unchanged
    ));
}

#[test]
fn snapshot_referenced_mode_links_the_live_source() {
    let env = Env::new("ref");
    env.src.file("a/f", b"a0").file("b/g", b"b0");
    let mut job = env.job_config();
    job.keep_full_copy = false;
    let SnapshotOutcome::Committed(v0) = snapshot_with_scan(&job).unwrap() else {
        panic!()
    };
    let j = env.job_dir();
    let v0 = v0.name.to_string();
    assert_eq!(
        std::fs::read_link(j.join(&v0).join("a")).unwrap(),
        env.src.path().join("a")
    );
    // Nothing changed: the live references are not reported as changes.
    assert!(matches!(
        snapshot_with_scan(&job).unwrap(),
        SnapshotOutcome::Unchanged
    ));
    let mut c = ChangeSet::new();
    env.src.file("a/f", b"a1 changed");
    c.record("a/f", Change::Modified);
    let SnapshotOutcome::Committed(v1) = snapshot(&job, &c).unwrap() else {
        panic!()
    };
    let v1 = v1.name.to_string();
    // `a` changed: copied whole into V1; `b` is still the live reference.
    assert_eq!(
        std::fs::read(j.join(&v1).join("a/f")).unwrap(),
        b"a1 changed"
    );
    assert!(std::fs::symlink_metadata(j.join(&v1).join("a"))
        .unwrap()
        .is_dir());
    assert_eq!(
        std::fs::read_link(j.join(&v1).join("b")).unwrap(),
        env.src.path().join("b")
    );
}

#[test]
fn snapshot_removes_leftover_partial_builds() {
    let mut s = Series::new(Env::new("partial"));
    s.src().file("f", b"x");
    s.snap().unwrap();
    let junk = s
        .env
        .job_dir()
        .join(".V7--2026-01-01_00-00-00_+0000.partial");
    std::fs::create_dir_all(junk.join("a/b")).unwrap();
    std::fs::write(junk.join("a/b/c"), b"half").unwrap();
    s.src().file("f", b"xy");
    s.snap().unwrap();
    assert!(!junk.exists());
    let journal = std::fs::read_to_string(s.env.job_dir().join("journal.tsv")).unwrap();
    assert!(
        journal.contains(".V7--2026-01-01_00-00-00_+0000.partial"),
        "{journal}"
    );
    s.check();
}

#[test]
fn snapshot_cli_prints_names_and_says_unchanged() {
    let env = Env::new("cli job");
    env.src.file("f", b"x");
    let out = env.run(&["snapshot"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let name = stdout(&out);
    assert!(
        name.starts_with("V0--") && name.ends_with('\n') && name.lines().count() == 1,
        "{name}"
    );
    let out = env.run(&["snapshot", "cli job"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("cli job: unchanged"),
        "{}",
        stderr(&out)
    );
    env.src.file("g", b"y");
    let out = env.run(&["snapshot", "cli job"]);
    assert!(stdout(&out).starts_with("V1--"), "{}", stdout(&out));
    let out = env.run(&["snapshot", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown job `nope`") && stderr(&out).contains("cli job"),
        "{}",
        stderr(&out)
    );
}

/// SIGKILL `reverberator snapshot` at several instants: no visible partial version, every
/// committed version whole, and the next snapshot succeeds.
#[test]
fn snapshot_killed_never_leaves_a_visible_partial_version() {
    let env = Env::new("kill");
    for i in 0..40 {
        for k in 0..50 {
            env.src
                .file(format!("d{i}/f{k}"), vec![b'x'; 16 * 1024 + i * 50 + k]);
        }
    }
    let want = tree_state(env.src.path());
    for delay_ms in [2u64, 10, 30, 60, 120, 250] {
        let mut child = bin()
            .arg("--config")
            .arg(env.config())
            .args(["snapshot", "kill"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        for v in versions(&env.job_dir()) {
            assert_same_state(
                &format!("{v} after kill at {delay_ms} ms"),
                &version_state(&env.job_dir(), &v),
                &want,
            );
        }
        check_index_matches(&env.job_dir());
    }
    let out = env.run(&["snapshot", "kill"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_partial(&env.job_dir());
    let out = env.run(&["verify", "kill"]);
    assert!(
        out.status.success(),
        "verify: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let vs = versions(&env.job_dir());
    assert!(!vs.is_empty());
    for v in &vs {
        assert_same_state(v, &version_state(&env.job_dir(), v), &want);
    }
    check_index_matches(&env.job_dir());
}

/// The read side's `verify` finds no problem in the job folder.
fn assert_verify_clean(job_dir: &Path) {
    let folder = reverberator::vault::layout::JobFolder::open(job_dir).expect("open job folder");
    let problems = reverberator::vault::read::verify::verify(&folder);
    assert!(problems.is_empty(), "verify: {problems:?}");
}

/// index.tsv lists exactly the committed versions (when it exists).
fn check_index_matches(job_dir: &Path) {
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

mod prop {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Write(u8, u8, usize),
        Touch(u8, u8),
        Delete(u8),
        Mkdir(u8, u8),
        Rename(u8, u8),
        Chmod(u8, bool),
        Symlink(u8, u8),
        Replace(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..4u8, 0..6u8, 0..64usize).prop_map(|(d, f, n)| Op::Write(d, f, n)),
            (0..4u8, 0..6u8).prop_map(|(d, f)| Op::Touch(d, f)),
            (0..10u8).prop_map(Op::Delete),
            (0..4u8, 0..4u8).prop_map(|(a, b)| Op::Mkdir(a, b)),
            (0..10u8, 0..10u8).prop_map(|(a, b)| Op::Rename(a, b)),
            (0..10u8, any::<bool>()).prop_map(|(a, x)| Op::Chmod(a, x)),
            (0..4u8, 0..10u8).prop_map(|(a, b)| Op::Symlink(a, b)),
            (0..10u8).prop_map(Op::Replace),
        ]
    }

    /// Existing paths of the tree (not the root), sorted.
    fn existing(t: &TempTree) -> Vec<PathBuf> {
        tree_state(t.path())
            .into_keys()
            .filter(|p| !p.as_os_str().is_empty())
            .collect()
    }

    fn pick(t: &TempTree, i: u8) -> Option<PathBuf> {
        let all = existing(t);
        (!all.is_empty()).then(|| all[i as usize % all.len()].clone())
    }

    fn is_dir(t: &TempTree, p: &Path) -> bool {
        std::fs::symlink_metadata(t.path().join(p)).is_ok_and(|m| m.is_dir())
    }

    fn apply(t: &TempTree, op: &Op, step: usize) {
        let stamp = 1_600_000_000 + step as i64;
        match op {
            Op::Write(d, f, n) => {
                let p = PathBuf::from(format!("d{d}/f{f}"));
                if std::fs::symlink_metadata(t.path().join(format!("d{d}")))
                    .is_ok_and(|m| !m.is_dir())
                {
                    return;
                }
                if std::fs::symlink_metadata(t.path().join(&p)).is_ok_and(|m| !m.is_file()) {
                    return;
                }
                t.file(&p, vec![b'a' + (step % 26) as u8; *n])
                    .touch(&p, stamp, 1);
            }
            Op::Touch(d, f) => {
                let p = PathBuf::from(format!("d{d}/f{f}"));
                if std::fs::symlink_metadata(t.path().join(&p)).is_ok_and(|m| m.is_file()) {
                    t.touch(&p, stamp, 2);
                }
            }
            Op::Delete(i) => {
                if let Some(p) = pick(t, *i) {
                    t.remove(p);
                }
            }
            Op::Mkdir(a, b) => {
                let base = PathBuf::from(format!("d{a}"));
                if std::fs::symlink_metadata(t.path().join(&base)).is_ok_and(|m| !m.is_dir()) {
                    return;
                }
                t.dir(base.join(format!("m{b}/n{b}")));
            }
            Op::Rename(a, b) => {
                let (Some(from), Some(to_dir)) = (pick(t, *a), pick(t, *b)) else {
                    return;
                };
                let to_parent = if is_dir(t, &to_dir) {
                    to_dir
                } else {
                    to_dir.parent().unwrap_or(Path::new("")).to_path_buf()
                };
                let to = to_parent.join(format!("r{step}"));
                if to.starts_with(&from) {
                    return;
                }
                t.rename(&from, &to);
            }
            Op::Chmod(a, x) => {
                if let Some(p) = pick(t, *a) {
                    if std::fs::symlink_metadata(t.path().join(&p)).is_ok_and(|m| !m.is_symlink()) {
                        let mode = if is_dir(t, &p) {
                            if *x {
                                0o750
                            } else {
                                0o755
                            }
                        } else if *x {
                            0o600
                        } else {
                            0o644
                        };
                        t.chmod(&p, mode);
                    }
                }
            }
            Op::Symlink(a, b) => {
                let p = PathBuf::from(format!("s{a}"));
                t.remove(&p);
                t.symlink(&p, format!("target-{b}"));
            }
            Op::Replace(i) => {
                if let Some(p) = pick(t, *i) {
                    let was_dir = is_dir(t, &p);
                    t.remove(&p);
                    if was_dir {
                        t.file(&p, b"was a dir");
                    } else {
                        t.file(p.join("x"), b"was a file");
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn snapshot_random_operation_sequences(ops in proptest::collection::vec(op(), 1..12)) {
            let mut s = Series::new(Env::new("prop"));
            s.src().file("d0/f0", b"seed").file("d1/f1", b"seed").dir("d2");
            s.snap().expect("v0");
            for (step, op) in ops.iter().enumerate() {
                apply(s.src(), op, step);
                s.snap();
            }
            s.check();
        }
    }
}

#[allow(dead_code)]
fn os(s: &str) -> &OsStr {
    OsStr::from_bytes(s.as_bytes())
}

#[test]
fn snapshot_too_long_link_targets_make_the_directory_real() {
    let mut s = Series::new(Env::new("longlinks"));
    // A chain of 200-byte names, ~4020 bytes deep: a structural link down there would
    // need a target longer than ext4's 4095-byte symlink limit.
    let mut base = PathBuf::new();
    for i in 0..20 {
        base.push(format!("{i:02}{}", "L".repeat(198)));
    }
    s.src()
        .file(base.join("x/changed"), b"v0")
        .file(base.join("y/z/file"), b"unchanged below a long path");
    s.snap().unwrap();
    s.src().file(base.join("x/changed"), b"v1!");
    let v1 = s.snap().unwrap();
    s.check();
    // std::fs can't take paths this long; check through the harness' fd walk instead.
    let state = version_state(&s.env.job_dir(), &v1);
    assert_eq!(state[&base.join("y/z/file")].kind, 'f');
    let (dir, name) = (open_dir(&s.env.job_dir().join(&v1), &base), OsStr::new("y"));
    let st = nix::sys::stat::fstatat(
        Some(std::os::fd::AsRawFd::as_raw_fd(&dir)),
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .unwrap();
    assert_eq!(
        st.st_mode & libc::S_IFMT,
        libc::S_IFDIR,
        "{}/y should be a real directory",
        v1
    );
}

#[test]
fn snapshot_link_limit_falls_back_to_a_copy() {
    let mut s = Series::new(Env::new("emlink"));
    s.src()
        .file("d/hot", b"popular bytes")
        .file("d/other", b"o0");
    let v0 = s.snap().unwrap();
    // Fill the hot inode's link count up to the filesystem's limit (65,000 on ext4).
    let spare = s.env.outer.path().join("spare-links");
    std::fs::create_dir(&spare).unwrap();
    let hot = s.env.job_dir().join(&v0).join("d/hot");
    let mut hit_limit = false;
    for i in 0..70_000 {
        match std::fs::hard_link(&hot, spare.join(i.to_string())) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EMLINK) => {
                hit_limit = true;
                break;
            }
            Err(e) => panic!("link: {e}"),
        }
    }
    if !hit_limit {
        eprintln!("skipped: this filesystem allows more than 70,000 links per inode");
        return;
    }
    s.src().file("d/other", b"o1!");
    let v1 = s.snap().unwrap();
    s.check();
    let a = std::fs::symlink_metadata(&hot).unwrap();
    let b = std::fs::symlink_metadata(s.env.job_dir().join(&v1).join("d/hot")).unwrap();
    assert_ne!(a.ino(), b.ino(), "a copy, since the old inode is full");
    assert_eq!(b.nlink(), 1);
}

#[test]
fn snapshot_cli_enforces_keep_versions() {
    let env = Env::with_extra("keep", "keep_versions = 2");
    let mut names = Vec::new();
    for i in 0..3 {
        env.src.file("f", vec![b'x'; i + 1]);
        let out = env.run(&["snapshot", "keep"]);
        assert!(out.status.success(), "{}", stderr(&out));
        names.push(stdout(&out).trim().to_owned());
    }
    let out_err = env.run(&["snapshot", "keep"]);
    assert!(out_err.status.success());
    assert_eq!(versions(&env.job_dir()), names[1..].to_vec());
    check_index_matches(&env.job_dir());
    // The remaining versions still dereference to their trees.
    let v2 = version_state(&env.job_dir(), &names[2]);
    assert_same_state("newest", &v2, &tree_state(env.src.path()));
}
