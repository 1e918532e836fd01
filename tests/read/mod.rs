//! The read commands (`list`, `diff`, `restore`, `verify`) through the binary, over job
//! folders built by hand exactly as the layout contract says (real version folders, hard
//! links into older versions, structural links recorded in `links/` and `refs/`,
//! `index.tsv`, `latest`), plus broken copies of them for `verify`.

mod deep;
mod log;
mod random;
mod real;
mod tar;
mod verify;

use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Output;

use chrono::DateTime;
use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use reverberator::vault::layout::{link_target, JobFolder, VersionName};

use crate::util::{self, stderr, stdout};

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
        util::run_bin(&self.tmp.path().join("reverberator.toml"), args)
    }
}

#[test]
fn list_prints_a_table_oldest_first() {
    let e = Env::two_versions();
    let out = e.run(&["list", "docs"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "VERSION  NAME                           TIME                          SIZE  INODES  CHANGES  KEEP\n\
         \x20     0  V0--2026-11-23_10-00-00_+0100  2026-11-23T10:00:00+01:00  4.0 KiB       3        1  last\n\
         \x20     1  V1--2026-11-23_10-01-00_+0100  2026-11-23T10:01:00+01:00  8.0 KiB       4        2  last\n"
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
            ["changes", "inodes", "keep", "name", "size", "time", "version"]
        );
        assert_eq!(row["keep"], serde_json::json!(["last"]));
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
    assert!(err.contains("2 conflicts; nothing restored"), "{err}");
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
