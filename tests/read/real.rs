//! The read commands over versions written by `vault::snapshot` from real source trees:
//! every version restores to the tree it recorded, every pair of versions diffs exactly as
//! the recorded trees differ.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use reverberator::vault::escape::escape;
use reverberator::vault::snapshot::SnapshotOutcome;
use reverberator::writer::snapshot_with_scan;

use crate::util::{self, assert_same_state, tree_state, EntryState, TreeState};

/// A job over a real source tree, with the source state recorded per version number.
pub(super) struct Series {
    pub(super) env: util::Env,
    pub(super) recorded: BTreeMap<u64, TreeState>,
}

impl Series {
    fn new() -> Series {
        Series {
            env: util::Env::new("docs"),
            recorded: BTreeMap::new(),
        }
    }

    pub(super) fn src(&self) -> &util::TempTree {
        &self.env.src
    }

    /// Snapshot through the library and record the source's state for the version.
    pub(super) fn snap(&mut self) -> u64 {
        match snapshot_with_scan(&self.env.job_config()).expect("snapshot") {
            SnapshotOutcome::Committed(v) => {
                let n = v.name.number;
                self.recorded.insert(n, tree_state(self.env.src.path()));
                n
            }
            SnapshotOutcome::Unchanged => panic!("nothing changed"),
        }
    }

    pub(super) fn run(&self, args: &[&str]) -> std::process::Output {
        self.env.run(args)
    }

    pub(super) fn out(&self, name: &str) -> PathBuf {
        self.env.outer.path().join(name)
    }
}

/// Two entry states equal as `diff` compares them (hard-link groups are not compared).
fn same(a: &EntryState, b: &EntryState) -> bool {
    let strip = |e: &EntryState| EntryState {
        link_group: None,
        ..e.clone()
    };
    strip(a) == strip(b)
}

/// The `diff` output expected from two recorded source states.
pub(super) fn expected_diff(a: &TreeState, b: &TreeState) -> String {
    let mut lines: Vec<(Vec<u8>, String)> = Vec::new();
    let mut push = |letter: char, path: &PathBuf| {
        let shown = if path.as_os_str().is_empty() {
            ".".to_owned()
        } else {
            escape(path.as_os_str())
        };
        lines.push((
            path.as_os_str().as_bytes().to_vec(),
            format!("{letter} {shown}\n"),
        ));
    };
    for (path, ea) in a {
        match b.get(path) {
            None => push('D', path),
            Some(eb) if !same(ea, eb) => push('M', path),
            Some(_) => {}
        }
    }
    for path in b.keys().filter(|p| !a.contains_key(*p)) {
        push('A', path);
    }
    lines.sort();
    lines.into_iter().map(|(_, l)| l).collect()
}

/// A source tree with every kind of entry the read side must carry back.
fn odd_source(s: &Series) {
    s.src()
        .dir("docs/empty")
        .file("docs/a.txt", "alpha")
        .file("docs/b.txt", "beta")
        .file("name with\ttab", "t")
        .file("back\\slash", "b")
        .file("-leading", "l")
        .symlink("etc", "/etc")
        .symlink("docs/rel", "a.txt")
        .file("hard1", "shared bytes")
        .hard_link("hard1", "docs/hard2")
        .fifo("pipe")
        .sparse(
            "sparse",
            64 << 20,
            &[(0, b"head"), ((64 << 20) - 4, b"tail")],
        )
        .dir("tree/x/y")
        .file("tree/x/y/z", "deep")
        .file("f", "a file");
    s.src()
        .file(PathBuf::from(util::invalid_utf8("bad-")), "invalid utf-8");
}

/// A series of changes, a snapshot after each.
pub(super) fn series() -> Series {
    let mut s = Series::new();
    odd_source(&s);
    s.snap();
    s.src()
        .file("docs/a.txt", "alpha 2")
        .touch("docs/a.txt", 2_000_000_000, 5);
    s.snap();
    s.src().remove("docs/b.txt").chmod("tree/x/y/z", 0o600);
    s.snap();
    s.src().rename("tree", "moved");
    s.snap();
    s.src()
        .remove("f")
        .dir("f/now/a/dir")
        .file("f/now/a/dir/leaf", "leaf");
    s.snap();
    s.src().file("moved/x/y/z", "deep 2");
    s.snap();
    s
}

#[test]
fn restore_gives_back_every_version_and_diff_matches_the_recorded_trees() {
    let s = series();
    let numbers: Vec<u64> = s.recorded.keys().copied().collect();
    assert_eq!(numbers, [0, 1, 2, 3, 4, 5]);
    let out = s.run(&["verify", "docs"]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stdout(&out));
    for (&n, want) in &s.recorded {
        let to = s.out(&format!("restored-{n}"));
        let out = s.run(&[
            "restore",
            "docs",
            ".",
            "--version",
            &n.to_string(),
            "--to",
            to.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "V{n}: {}", util::stderr(&out));
        assert_same_state(&format!("restore of V{n}"), &tree_state(&to), want);
        let sparse = std::fs::metadata(to.join("sparse")).unwrap();
        assert!(
            sparse.blocks() * 512 < 1 << 20,
            "V{n}: sparse file filled in"
        );
    }
    for &a in &numbers {
        for &b in &numbers {
            let out = s.run(&["diff", "docs", &a.to_string(), &b.to_string()]);
            assert!(out.status.success(), "{}", util::stderr(&out));
            let want = expected_diff(&s.recorded[&a], &s.recorded[&b]);
            assert_eq!(util::stdout(&out), want, "diff {a} {b}");
        }
    }
}

#[test]
fn diff_names_each_kind_of_change() {
    let s = series();
    let diff = |a: &str, b: &str| util::stdout(&s.run(&["diff", "docs", a, b]));
    assert!(diff("0", "1").contains("M docs/a.txt\n"));
    let d = diff("1", "2");
    assert!(
        d.contains("D docs/b.txt\n") && d.contains("M tree/x/y/z\n"),
        "{d}"
    );
    let d = diff("2", "3");
    assert!(
        d.contains("D tree\n") && d.contains("D tree/x/y/z\n") && d.contains("A moved/x/y/z\n"),
        "{d}"
    );
    let d = diff("3", "4");
    assert!(
        d.contains("M f\n") && d.contains("A f/now/a/dir/leaf\n"),
        "{d}"
    );
    assert_eq!(diff("4", "4"), "");
}

#[test]
fn restore_one_path_at_a_time_and_from_a_moved_folder() {
    let s = series();
    let to = s.out("one");
    let to_s = to.to_str().unwrap();
    let out = s.run(&["restore", "docs", "moved/x", "--version", "3", "--to", to_s]);
    assert!(out.status.success(), "{}", util::stderr(&out));
    let want = &s.recorded[&3];
    let got = tree_state(&to.join("x"));
    for (path, state) in &got {
        let original = Path::new("moved/x").join(path);
        let original = if path.as_os_str().is_empty() {
            PathBuf::from("moved/x")
        } else {
            original
        };
        assert_eq!(Some(state), want.get(&original), "{}", original.display());
    }
    assert_eq!(std::fs::read(to.join("x/y/z")).unwrap(), b"deep");
    // The newest version by default; a symlink to /etc is a symlink, not /etc.
    let out = s.run(&["restore", "docs", "etc", "--to", to_s]);
    assert!(out.status.success(), "{}", util::stderr(&out));
    assert_eq!(
        std::fs::read_link(to.join("etc")).unwrap(),
        Path::new("/etc")
    );
    assert!(!to.join("etc").symlink_metadata().unwrap().is_dir());
    // Again without --overwrite: a conflict, nothing changed; with it: replaced.
    std::fs::write(to.join("x/y/z"), "mine").unwrap();
    let out = s.run(&["restore", "docs", "moved/x", "--to", to_s]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read(to.join("x/y/z")).unwrap(), b"mine");
    let out = s.run(&["restore", "docs", "moved/x", "--to", to_s, "--overwrite"]);
    assert!(out.status.success(), "{}", util::stderr(&out));
    assert_eq!(std::fs::read(to.join("x/y/z")).unwrap(), b"deep 2");
}

#[test]
fn restore_at_a_time_picks_the_version_of_that_moment() {
    let s = series();
    let job = s.env.job_dir();
    let folder = reverberator::vault::layout::JobFolder::open(&job).unwrap();
    let versions = folder.versions().unwrap();
    // Every version of the series may share one second: --at the time of the newest
    // version gives the newest version whose time is not after it.
    let t = versions[5].time.format("%Y-%m-%d %H:%M:%S").to_string();
    let to = s.out("at");
    let out = s.run(&[
        "restore",
        "docs",
        "moved/x/y/z",
        "--at",
        &t,
        "--to",
        to.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", util::stderr(&out));
    assert_eq!(std::fs::read(to.join("z")).unwrap(), b"deep 2");
    let before = (versions[0].time - chrono::Duration::seconds(1)).to_rfc3339();
    let out = s.run(&[
        "restore",
        "docs",
        ".",
        "--at",
        &before,
        "--to",
        to.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        util::stderr(&out).contains("no version at or before"),
        "{}",
        util::stderr(&out)
    );
}

#[test]
fn list_matches_the_index_written_by_snapshot() {
    let s = series();
    let out = s.run(&["list", "docs", "--json"]);
    assert!(out.status.success(), "{}", util::stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 6);
    for (n, row) in rows.iter().enumerate() {
        assert_eq!(row["version"], n as u64);
        assert!(row["name"]
            .as_str()
            .unwrap()
            .starts_with(&format!("V{n}--")));
        assert!(row["size"].is_u64() && row["inodes"].is_u64() && row["changes"].is_u64());
    }
    let text = util::stdout(&s.run(&["list", "docs"]));
    assert_eq!(text.lines().count(), 7);
    assert!(text.starts_with("VERSION  NAME"));
}
