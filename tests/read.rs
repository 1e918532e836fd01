//! The read commands (`list`, `diff`, `restore`, `verify`) through the binary, over job
//! folders built by hand exactly as the layout contract says (real version folders, hard
//! links into older versions, structural links recorded in `links/` and `refs/`,
//! `index.tsv`, `latest`), plus broken copies of them for `verify`.

use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::DateTime;
use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use reverberator::vault::layout::{link_target, JobFolder, VersionName};

/// A config with one job `docs` (vault folder `vault/docs`) and a hand-built job folder.
struct Env {
    tmp: tempfile::TempDir,
    folder: JobFolder,
    links: std::cell::RefCell<std::collections::BTreeMap<u64, Vec<PathBuf>>>,
}

fn name(n: u64) -> VersionName {
    let t0 = DateTime::parse_from_rfc3339("2026-11-23T10:00:00+01:00").unwrap();
    VersionName::at(n, t0 + chrono::Duration::minutes(n as i64))
}

fn set_mtime(path: &Path, sec: i64) {
    let t = TimeSpec::new(sec, 0);
    utimensat(None, path, &t, &t, UtimensatFlags::NoFollowSymlink).unwrap();
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("src")).unwrap();
        std::fs::create_dir_all(tmp.path().join("vault")).unwrap();
        std::fs::create_dir_all(tmp.path().join("vault2")).unwrap();
        std::fs::write(
            tmp.path().join("reverberator.toml"),
            "[jobs.docs]\nsource = \"src\"\nvault = \"vault\"\n\n[jobs.other]\nsource = \"src\"\nvault = \"vault2\"\n",
        )
        .unwrap();
        let folder = JobFolder::create(&tmp.path().join("vault/docs")).unwrap();
        Env {
            tmp,
            folder,
            links: Default::default(),
        }
    }

    fn at(&self, n: u64, rel: &str) -> PathBuf {
        let base = self.folder.version_path(&name(n));
        if rel.is_empty() {
            base
        } else {
            base.join(rel)
        }
    }

    fn dir(&self, n: u64, rel: &str) -> &Self {
        std::fs::create_dir_all(self.at(n, rel)).unwrap();
        self
    }

    fn file(&self, n: u64, rel: &str, data: &[u8]) -> &Self {
        std::fs::write(self.at(n, rel), data).unwrap();
        self
    }

    fn hard(&self, n: u64, rel: &str, k: u64, krel: &str) -> &Self {
        std::fs::hard_link(self.at(k, krel), self.at(n, rel)).unwrap();
        self
    }

    fn link(&self, n: u64, rel: &str, k: u64, krel: &str) -> &Self {
        symlink(
            link_target(Path::new(rel), &name(k), Path::new(krel)),
            self.at(n, rel),
        )
        .unwrap();
        let mut links = self.links.borrow_mut();
        let list = links.entry(n).or_default();
        list.push(PathBuf::from(rel));
        self.folder
            .write_links(n, list.iter().map(PathBuf::as_path))
            .unwrap();
        self.folder.append_refs(k, &[(n, Path::new(rel))]).unwrap();
        self
    }

    /// Every real file and folder of version `n` gets mtime `sec` (symlinks keep theirs).
    fn settle(&self, n: u64, sec: i64) -> &Self {
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

    fn commit(&self, versions: &[u64]) -> &Self {
        let mut text = String::from("version\tname\tiso_time\tsize\tinodes\tchanges\n");
        for &n in versions {
            let v = name(n);
            text.push_str(&format!(
                "{n}\t{v}\t{}\t{}\t{}\t{}\n",
                v.time.to_rfc3339(),
                4096 * (n + 1),
                n + 3,
                n + 1
            ));
        }
        std::fs::write(self.folder.root().join("index.tsv"), text).unwrap();
        let latest = self.folder.root().join("latest");
        let _ = std::fs::remove_file(&latest);
        symlink(name(*versions.last().unwrap()).to_string(), latest).unwrap();
        self
    }

    /// V0: `notes/a.txt`, `notes/old/o`, `photos/p.jpg`, `etc -> /etc`, `h1`=`h2` (one
    /// inode), `f` (a file). V1: `notes/a.txt` changed, `notes/old` -> V0, `photos` renamed
    /// `pics` (-> V0 photos), `etc`, `h1`, `h2` hard links, `f` now a folder with `f/g`.
    fn two_versions() -> Env {
        let e = Env::new();
        e.dir(0, "notes/old")
            .file(0, "notes/a.txt", b"first")
            .file(0, "notes/old/o", b"o")
            .dir(0, "photos")
            .file(0, "photos/p.jpg", b"jpeg")
            .file(0, "h1", b"linked")
            .hard(0, "h2", 0, "h1")
            .file(0, "f", b"a file");
        symlink("/etc", e.at(0, "etc")).unwrap();
        e.settle(0, 1_000_000);
        e.dir(1, "notes")
            .file(1, "notes/a.txt", b"second")
            .link(1, "notes/old", 0, "notes/old")
            .link(1, "pics", 0, "photos")
            .hard(1, "etc", 0, "etc")
            .hard(1, "h1", 0, "h1")
            .hard(1, "h2", 0, "h2")
            .dir(1, "f")
            .file(1, "f/g", b"g");
        e.settle(1, 1_000_060);
        e.commit(&[0, 1]);
        e
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_reverberator"))
            .arg("--config")
            .arg(self.tmp.path().join("reverberator.toml"))
            .args(args)
            .env_remove("REVERBERATOR_CONFIG")
            .output()
            .unwrap()
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn list_prints_a_table_oldest_first() {
    let e = Env::two_versions();
    let out = e.run(&["list", "docs"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "VERSION  NAME                           TIME                          SIZE  INODES  CHANGES\n\
         \x20     0  V0--2026-11-23_10-00-00_+0100  2026-11-23T10:00:00+01:00  4.0 KiB       3        1\n\
         \x20     1  V1--2026-11-23_10-01-00_+0100  2026-11-23T10:01:00+01:00  8.0 KiB       4        2\n"
    );
}

#[test]
fn list_json_has_the_contract_keys() {
    let e = Env::two_versions();
    let out = e.run(&["list", "docs", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (i, row) in rows.iter().enumerate() {
        let obj = row.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["changes", "inodes", "name", "size", "time", "version"]
        );
        assert_eq!(row["version"], i as u64);
        assert!(row["size"].is_u64() && row["inodes"].is_u64() && row["changes"].is_u64());
        // Redact the time to its shape: RFC 3339 that names the same instant as the folder.
        let time = DateTime::parse_from_rfc3339(row["time"].as_str().unwrap()).unwrap();
        assert_eq!(time, name(i as u64).time);
    }
    assert_eq!(rows[1]["name"], "V1--2026-11-23_10-01-00_+0100");
    assert_eq!(rows[1]["size"], 8192);
}

#[test]
fn list_warns_about_a_version_missing_from_the_index() {
    let e = Env::two_versions();
    e.commit(&[0]);
    let out = e.run(&["list", "docs", "--json"]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("V1--2026-11-23_10-01-00_+0100 is not in index.tsv"),
        "{}",
        stderr(&out)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert!(json[1]["size"].is_null());
}

#[test]
fn an_unknown_job_lists_the_known_ones() {
    let e = Env::two_versions();
    let out = e.run(&["list", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no job called `nope`; jobs: docs, other"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn diff_lists_every_kind_of_change() {
    let e = Env::two_versions();
    let out = e.run(&["diff", "docs", "0", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "M .\nM f\nA f/g\nM notes\nM notes/a.txt\nD photos\nD photos/p.jpg\nA pics\nA pics/p.jpg\n"
    );
    let out = e.run(&["diff", "docs", "0", "4"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("there is no version 4; existing versions: 0-1"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn restore_a_file_a_folder_and_everything() {
    let e = Env::two_versions();
    let to = e.tmp.path().join("out");
    let out = e.run(&[
        "restore",
        "docs",
        "notes/a.txt",
        "--version",
        "0",
        "--to",
        to.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(to.join("a.txt")).unwrap(), b"first");

    let out = e.run(&["restore", "docs", "notes", "--to", to.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(to.join("notes/a.txt")).unwrap(), b"second");
    assert_eq!(std::fs::read(to.join("notes/old/o")).unwrap(), b"o");
    assert!(std::fs::symlink_metadata(to.join("notes/old"))
        .unwrap()
        .is_dir());

    let all = e.tmp.path().join("all");
    let out = e.run(&[
        "restore",
        "docs",
        ".",
        "--at",
        "2026-11-23T10:00:30+01:00",
        "--to",
        all.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(all.join("f")).unwrap(),
        b"a file",
        "--at picked V0"
    );
    assert_eq!(std::fs::read(all.join("photos/p.jpg")).unwrap(), b"jpeg");
    let etc = std::fs::symlink_metadata(all.join("etc")).unwrap();
    assert!(
        etc.file_type().is_symlink(),
        "a source symlink stays a symlink"
    );
    assert_eq!(
        std::fs::read_link(all.join("etc")).unwrap(),
        Path::new("/etc")
    );
    let (h1, h2) = (
        std::fs::metadata(all.join("h1")).unwrap(),
        std::fs::metadata(all.join("h2")).unwrap(),
    );
    assert_eq!(h1.ino(), h2.ino(), "hard links stay hard links");
    assert_eq!(
        std::fs::symlink_metadata(all.join("notes/a.txt"))
            .unwrap()
            .mtime(),
        1_000_000
    );
}

#[test]
fn restore_refuses_conflicts_without_overwrite() {
    let e = Env::two_versions();
    let to = e.tmp.path().join("out");
    std::fs::create_dir_all(to.join("notes/old")).unwrap();
    std::fs::write(to.join("notes/a.txt"), b"mine").unwrap();
    std::fs::write(to.join("notes/old/o"), b"mine too").unwrap();
    let out = e.run(&["restore", "docs", "notes", "--to", to.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("notes/a.txt: exists (not replaced without --overwrite)"),
        "{err}"
    );
    assert!(err.contains("notes/old/o: exists"), "{err}");
    assert!(err.contains("2 conflict(s); nothing restored"), "{err}");
    assert_eq!(std::fs::read(to.join("notes/a.txt")).unwrap(), b"mine");

    let out = e.run(&[
        "restore",
        "docs",
        "notes",
        "--to",
        to.to_str().unwrap(),
        "--overwrite",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(to.join("notes/a.txt")).unwrap(), b"second");
    assert_eq!(std::fs::read(to.join("notes/old/o")).unwrap(), b"o");
}

#[test]
fn restore_rejects_paths_outside_the_source() {
    let e = Env::two_versions();
    let to = e.tmp.path().join("out");
    for bad in ["/etc/passwd", "../x", "etc/passwd"] {
        let out = e.run(&["restore", "docs", bad, "--to", to.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{bad}");
    }
    assert!(!to.exists());
    let out = e.run(&[
        "restore",
        "docs",
        ".",
        "--at",
        "yesterday",
        "--to",
        to.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not a time"), "{}", stderr(&out));
}

#[test]
fn verify_passes_on_a_sound_vault() {
    let e = Env::two_versions();
    let out = e.run(&["verify", "docs"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");
}

/// Break a sound vault with `damage`; verify must print exactly one line per problem,
/// each matching one of `want`, and exit 1.
fn broken(damage: impl FnOnce(&Env), want: &[&str]) {
    let e = Env::two_versions();
    damage(&e);
    let out = e.run(&["verify", "docs"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), want.len(), "{text}");
    for (line, want) in lines.iter().zip(want) {
        assert!(line.starts_with("docs: "), "{line}");
        assert!(line.contains(want), "{line} lacks {want}");
    }
}

#[test]
fn verify_finds_a_dangling_structural_link() {
    broken(
        |e| std::fs::remove_dir_all(e.at(0, "photos")).unwrap(),
        &["V1--2026-11-23_10-01-00_+0100/pics: structural link -> ../V0--2026-11-23_10-00-00_+0100/photos: dangling"],
    );
}

#[test]
fn verify_finds_a_link_to_a_link() {
    broken(
        |e| {
            e.dir(2, "").link(2, "old", 1, "notes/old").link(2, "notes", 1, "notes");
            e.commit(&[0, 1, 2]);
        },
        &["V2--2026-11-23_10-02-00_+0100/old: structural link -> ../V1--2026-11-23_10-01-00_+0100/notes/old: points at or through another link"],
    );
}

#[test]
fn verify_finds_a_leftover_partial_build() {
    broken(
        |e| std::fs::create_dir(e.folder.root().join(name(2).partial_name())).unwrap(),
        &["leftover partial build .V2--2026-11-23_10-02-00_+0100.partial"],
    );
}

#[test]
fn verify_finds_an_index_missing_a_version() {
    broken(
        |e| {
            e.commit(&[0, 1]);
            let text = std::fs::read_to_string(e.folder.root().join("index.tsv")).unwrap();
            let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with("0\t")).collect();
            std::fs::write(e.folder.root().join("index.tsv"), kept.join("\n") + "\n").unwrap();
        },
        &["index.tsv does not list V0--2026-11-23_10-00-00_+0100"],
    );
}

#[test]
fn verify_finds_a_stale_latest() {
    broken(
        |e| {
            let latest = e.folder.root().join("latest");
            std::fs::remove_file(&latest).unwrap();
            symlink(name(0).to_string(), latest).unwrap();
        },
        &["`latest` points at V0--2026-11-23_10-00-00_+0100, not at the newest version V1--2026-11-23_10-01-00_+0100"],
    );
}

#[test]
fn verify_reports_several_problems_each_on_its_own_line() {
    broken(
        |e| {
            std::fs::remove_dir_all(e.at(0, "photos")).unwrap();
            std::fs::create_dir(e.folder.root().join(name(2).partial_name())).unwrap();
            std::fs::write(e.folder.root().join("index.tsv"), "not\tan\tindex\n").unwrap();
        },
        &[
            "pics: structural link",
            "leftover partial build",
            "cannot read index.tsv",
        ],
    );
}

// ---------------------------------------------------------------------------------------
// Over versions written by `vault::snapshot` from real source trees.

mod real {
    use std::collections::BTreeMap;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};

    use reverberator::vault::escape::escape;
    use reverberator::vault::snapshot::{snapshot_with_scan, SnapshotOutcome};

    use crate::util::{self, assert_same_state, tree_state, EntryState, TreeState};

    /// A job over a real source tree, with the source state recorded per version number.
    struct Series {
        env: util::Env,
        recorded: BTreeMap<u64, TreeState>,
    }

    impl Series {
        fn new() -> Series {
            Series {
                env: util::Env::new("docs"),
                recorded: BTreeMap::new(),
            }
        }

        fn src(&self) -> &util::TempTree {
            &self.env.src
        }

        /// Snapshot through the library and record the source's state for the version.
        fn snap(&mut self) -> u64 {
            match snapshot_with_scan(&self.env.job_config()).expect("snapshot") {
                SnapshotOutcome::Committed(v) => {
                    let n = v.name.number;
                    self.recorded.insert(n, tree_state(self.env.src.path()));
                    n
                }
                SnapshotOutcome::Unchanged => panic!("nothing changed"),
            }
        }

        fn run(&self, args: &[&str]) -> std::process::Output {
            self.env.run(args)
        }

        fn out(&self, name: &str) -> PathBuf {
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
    fn series() -> Series {
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
}

#[test]
fn a_job_without_versions_lists_nothing_and_verify_says_why() {
    let e = Env::new();
    std::fs::remove_dir_all(e.folder.root()).unwrap();
    let out = e.run(&["list", "docs", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "[]\n");
    assert!(stderr(&out).contains("no versions yet"), "{}", stderr(&out));
    let out = e.run(&["verify", "docs"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("has no versions yet"),
        "{}",
        stderr(&out)
    );
}

mod deep {
    use reverberator::vault::snapshot::snapshot_with_scan;

    use crate::util::{self, assert_same_state, tree_state};

    /// Paths longer than PATH_MAX (4096 bytes): diff and restore walk by directory fds.
    #[test]
    fn paths_longer_than_path_max_diff_and_restore() {
        let env = util::Env::new("deep");
        let leaf = env.src.deep("top", 5000);
        env.src.file("top/plain", "p");
        snapshot_with_scan(&env.job_config()).unwrap();
        let v0 = tree_state(env.src.path());
        env.src.file(&leaf, "changed leaf");
        let sibling = leaf.with_file_name("sibling");
        env.src.file(&sibling, "new");
        snapshot_with_scan(&env.job_config()).unwrap();
        let v1 = tree_state(env.src.path());
        assert!(leaf.as_os_str().len() > 5000);

        let out = env.run(&["diff", "deep", "0", "1"]);
        assert!(out.status.success(), "{}", util::stderr(&out));
        let lines: Vec<String> = util::stdout(&out).lines().map(str::to_owned).collect();
        assert!(
            lines.contains(&format!("M {}", leaf.display())),
            "{lines:?}"
        );
        assert!(
            lines.contains(&format!("A {}", sibling.display())),
            "{lines:?}"
        );
        assert!(!lines.iter().any(|l| l.ends_with("top/plain")), "{lines:?}");

        for (n, want) in [(0, &v0), (1, &v1)] {
            let to = env.outer.path().join(format!("r{n}"));
            let out = env.run(&[
                "restore",
                "deep",
                ".",
                "--version",
                &n.to_string(),
                "--to",
                to.to_str().unwrap(),
            ]);
            assert!(out.status.success(), "V{n}: {}", util::stderr(&out));
            assert_same_state(&format!("restore of V{n}"), &tree_state(&to), want);
        }
        // One deep file by its long path.
        let to = env.outer.path().join("one");
        let out = env.run(&[
            "restore",
            "deep",
            leaf.to_str().unwrap(),
            "--version",
            "0",
            "--to",
            to.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", util::stderr(&out));
        assert_eq!(std::fs::read(to.join("leaf")).unwrap(), b"deep leaf");
        let out = env.run(&["verify", "deep"]);
        assert_eq!(out.status.code(), Some(0), "{}", util::stdout(&out));
    }
}

#[test]
fn list_says_when_the_newest_version_alone_is_over_budget() {
    let e = Env::two_versions();
    let msg = "over budget: the newest version V1--2026-11-23_10-01-00_+0100 alone exceeds it (bytes 8192 > 4096); kept";
    let record = e
        .folder
        .root()
        .join(".reverberator")
        .join(reverberator::vault::retire::OVER_BUDGET_FILE);
    std::fs::write(&record, format!("{msg}\n")).unwrap();
    let out = e.run(&["list", "docs"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), format!("reverberator: docs: {msg}\n"));
    assert_eq!(stdout(&out).lines().count(), 3);
}

mod random {
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    use reverberator::vault::layout::JobFolder;
    use reverberator::vault::read::{self, RestoreRequest, Which};
    use reverberator::vault::snapshot::{snapshot_with_scan, SnapshotOutcome};

    use crate::util::{self, assert_same_state, tree_state, TreeState};

    /// xorshift64*: a small deterministic generator, so a failure names its seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
            (!items.is_empty()).then(|| &items[(self.next() % items.len() as u64) as usize])
        }
    }

    /// Files and folders below `root` (relative), folders first in each list.
    fn contents(root: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
        let (mut files, mut dirs) = (Vec::new(), Vec::new());
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            for e in std::fs::read_dir(root.join(&rel)).unwrap() {
                let e = e.unwrap();
                let path = rel.join(e.file_name());
                if e.file_type().unwrap().is_dir() {
                    dirs.push(path.clone());
                    stack.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        files.sort();
        dirs.sort();
        (files, dirs)
    }

    /// One random change to the source tree.
    fn change(root: &Path, rng: &mut Rng, step: usize) {
        let (files, dirs) = contents(root);
        let mut parents = dirs.clone();
        parents.push(PathBuf::new());
        let parent = rng.pick(&parents).cloned().unwrap_or_default();
        let fresh = parent.join(format!("n{step}"));
        match rng.next() % 8 {
            0 => std::fs::write(root.join(&fresh), format!("new {step}")).unwrap(),
            1 => match rng.pick(&files) {
                Some(f) => std::fs::write(root.join(f), format!("changed {step}")).unwrap(),
                None => std::fs::write(root.join(&fresh), "first").unwrap(),
            },
            2 => {
                if let Some(f) = rng.pick(&files) {
                    std::fs::remove_file(root.join(f)).unwrap();
                }
            }
            3 => {
                // Move a folder (not into itself).
                if let Some(d) = rng.pick(&dirs) {
                    if !fresh.starts_with(d) {
                        std::fs::rename(root.join(d), root.join(&fresh)).unwrap();
                    }
                }
            }
            4 => {
                std::fs::create_dir_all(root.join(&fresh).join("x/y")).unwrap();
                std::fs::write(root.join(&fresh).join("x/y/f"), "deep").unwrap();
            }
            5 => {
                if let Some(f) = rng.pick(&files) {
                    let mode = 0o600 + (rng.next() % 2) as u32 * 0o44;
                    std::fs::set_permissions(root.join(f), PermissionsExt::from_mode(mode))
                        .unwrap();
                }
            }
            6 => {
                // A file replaced by a folder of the same name.
                if let Some(f) = rng.pick(&files) {
                    std::fs::remove_file(root.join(f)).unwrap();
                    std::fs::create_dir(root.join(f)).unwrap();
                    std::fs::write(root.join(f).join("inside"), "was a file").unwrap();
                }
            }
            _ => {
                if let Some(d) = rng.pick(&dirs) {
                    std::fs::remove_dir_all(root.join(d)).unwrap();
                }
            }
        }
    }

    fn run_seed(seed: u64) {
        let env = util::Env::new("rand");
        let src = env.src.path().to_path_buf();
        for d in ["a/b", "a/c", "d"] {
            std::fs::create_dir_all(src.join(d)).unwrap();
        }
        for f in ["a/f", "a/b/g", "a/c/h", "d/i", "top"] {
            std::fs::write(src.join(f), f).unwrap();
        }
        let mut rng = Rng(seed);
        let mut recorded: BTreeMap<u64, TreeState> = BTreeMap::new();
        for step in 0..10 {
            if step > 0 {
                change(&src, &mut rng, step);
                change(&src, &mut rng, step + 100);
            }
            if let SnapshotOutcome::Committed(v) = snapshot_with_scan(&env.job_config()).unwrap() {
                recorded.insert(v.name.number, tree_state(&src));
            }
        }
        assert!(recorded.len() >= 6, "seed {seed}: only {} versions", recorded.len());
        let folder = JobFolder::open(&env.job_dir()).unwrap();
        assert_eq!(read::verify(&folder), [], "seed {seed}");
        for (&n, want) in &recorded {
            let to = env.outer.path().join(format!("r{n}"));
            let req = RestoreRequest {
                path: ".".into(),
                which: Which::Number(n),
                to: to.clone(),
                overwrite: false,
            };
            let plan = read::plan_restore(&folder, &req).unwrap();
            let report = plan.apply(&mut |_, _| {}).unwrap();
            assert!(report.errors.is_empty(), "seed {seed}: {:?}", report.errors);
            assert_same_state(
                &format!("seed {seed}: restore of V{n}"),
                &tree_state(&to),
                want,
            );
        }
        for (&a, sa) in &recorded {
            for (&b, sb) in &recorded {
                let got: String = read::diff(&folder, a, b)
                    .unwrap()
                    .iter()
                    .map(|l| format!("{l}\n"))
                    .collect();
                assert_eq!(
                    got,
                    super::real::expected_diff(sa, sb),
                    "seed {seed}: diff {a} {b}"
                );
            }
        }
    }

    #[test]
    fn random_changes_restore_and_diff_exactly() {
        for seed in [0x9e37_79b9_7f4a_7c15, 42, 7, 0xdead_beef] {
            run_seed(seed);
        }
    }
}
