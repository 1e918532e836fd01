//! The library driven through series of changes: every version stays what it was.

use std::path::PathBuf;

use reverberator::change::Change;
use reverberator::scan::{delta, ScanOutcome};
use reverberator::writer::snapshot_with_scan;

use super::*;

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
fn snapshot_errors_name_the_job_and_the_path() {
    let t = TempTree::new();
    t.dir("vault");
    let job = job_config("lost", &t.path().join("no-source"), &t.path().join("vault"));
    let err = snapshot_with_scan(&job).unwrap_err().to_string();
    assert!(err.contains("lost") && err.contains("no-source"), "{err}");
    // A vault root that does not exist is never created (an unplugged disk's mount point).
    t.dir("src");
    let job = job_config(
        "novault",
        &t.path().join("src"),
        &t.path().join("gone/vault"),
    );
    let err = snapshot_with_scan(&job).unwrap_err().to_string();
    assert!(
        err.contains("novault") && err.contains("gone/vault"),
        "{err}"
    );
    assert!(!t.path().join("gone").exists());
}
