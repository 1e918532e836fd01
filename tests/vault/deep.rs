//! Source trees deeper than `PATH_MAX` (4096 bytes): 40 nested folders of 200-byte names.
//! Every version must dereference to exactly its tree (checked by the harness' fd walk),
//! hard-linked names must share one inode in a version even when the first of them lies
//! past `PATH_MAX`, and a structural link is made only where its text fits the kernel's
//! symlink limit (4095 bytes): deeper unchanged folders are real, with hard-linked files,
//! and a folder moved from a short path to a deep one is still one short link.

use std::ffi::OsStr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::fcntl::AtFlags;
use reverberator::change::{Change, ChangeSet};

use super::*;

/// `n` nested folder names of 200 bytes (tagged with `tag`) below `base`.
fn chain(base: impl AsRef<Path>, tag: char, n: usize) -> PathBuf {
    let mut p = base.as_ref().to_path_buf();
    for i in 0..n {
        p.push(format!("{i:02}{}", tag.to_string().repeat(198)));
    }
    p
}

/// `lstat` of `rel` below `root`, through directory fds (any path length).
fn lstat(root: &Path, rel: &Path) -> nix::sys::stat::FileStat {
    let parent = open_dir(root, rel.parent().unwrap_or(Path::new("")));
    let name = rel.file_name().unwrap_or(OsStr::new("."));
    nix::sys::stat::fstatat(Some(parent.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .unwrap_or_else(|e| panic!("lstat {}: {e}", rel.display()))
}

fn is_dir(st: &nix::sys::stat::FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// The places of the deep test tree.
struct Deep {
    /// 10 levels (about 2 KB): an unchanged folder here fits a structural link.
    mid: PathBuf,
    /// 40 levels (about 8 KB).
    bottom: PathBuf,
}

impl Deep {
    fn new() -> Deep {
        let mid = chain("top", 'd', 10);
        let bottom = chain(&mid, 'e', 30);
        assert!(bottom.as_os_str().len() > 8000);
        Deep { mid, bottom }
    }

    fn at(&self, rel: &str) -> PathBuf {
        self.bottom.join(rel)
    }

    fn build(&self, t: &TempTree) {
        t.file(self.at("leaf"), b"leaf v0")
            .file(self.at("hl-a"), b"three names, one inode")
            .hard_link(self.at("hl-a"), self.at("hl-b"))
            // Listed after `top`: its first name lies past PATH_MAX.
            .hard_link(self.at("hl-a"), "zz-shallow")
            .file(self.at("change/f"), b"change v0")
            .file(self.at("same/sub/file"), b"unchanged deep subtree")
            .file(self.mid.join("keep/x/file"), b"unchanged mid subtree")
            .file("short/moved/inner/file", b"moves deep in V2");
    }
}

/// Version 0..3 of a deep tree through the library and the binary; every version checked.
#[test]
fn snapshot_deeper_than_path_max_keeps_every_version() {
    let d = Deep::new();
    let mut s = Series::new(Env::new("deep"));
    d.build(s.src());
    let v0 = s.snap().expect("V0");
    s.check();

    // V1 through the one-shot binary: one deep change.
    s.src().file(d.at("change/f"), b"change v1, longer");
    let out = s.env.run(&["snapshot"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v1 = stdout(&out).trim().to_owned();
    assert!(v1.starts_with("V1--"), "{v1}");
    s.recorded.insert(v1.clone(), tree_state(s.src().path()));
    s.check();
    let job = s.env.job_dir();
    let v1_links = links_of(&job, 1);
    assert!(
        v1_links.contains(&d.mid.join("keep")),
        "a structural link ~2 KB deep: {v1_links:?}"
    );
    // `same` is unchanged, but a link to it would need a ~8 KB target: a real folder whose
    // file is a hard link to V0's inode.
    assert!(is_dir(&lstat(&job.join(&v1), &d.at("same/sub"))));
    assert!(v1_links.iter().all(|l| l.as_os_str().len() < 4000));
    let ino = |v: &str, rel: &Path| lstat(&job.join(v), rel).st_ino;
    assert_eq!(
        ino(&v0, &d.at("same/sub/file")),
        ino(&v1, &d.at("same/sub/file"))
    );
    assert_eq!(ino(&v0, &d.at("leaf")), ino(&v1, &d.at("leaf")));

    // V2 from an inotify-style ChangeSet: a short folder moved deep (one short link at a
    // deep path) and a deep folder moved up (its link would be too long: made real).
    s.src().rename("short/moved", d.at("moved"));
    s.src().rename(d.at("same"), "up");
    let mut c = ChangeSet::new();
    c.record(
        d.at("moved"),
        Change::Moved {
            from: "short/moved".into(),
        },
    );
    c.record("up", Change::Moved { from: d.at("same") });
    let v2 = s.snap_changes(&c).expect("V2");
    s.check();
    let v2_links = links_of(&job, 2);
    assert!(v2_links.contains(&d.at("moved")), "{v2_links:?}");
    assert!(is_dir(&lstat(&job.join(&v2), Path::new("up/sub"))));
    assert_eq!(
        ino(&v0, &d.at("same/sub/file")),
        ino(&v2, Path::new("up/sub/file")),
        "a deep file moved up is still V0's inode"
    );

    // V3 by a scan: the deep link to the short folder is carried forward.
    s.src()
        .file(d.at("leaf"), b"leaf v3")
        .file(d.at("new"), b"new");
    let v3 = s.snap().expect("V3");
    s.check();
    assert!(links_of(&job, 3).contains(&d.at("moved")));
    assert!(links_of(&job, 3).contains(&PathBuf::from("up")));
    assert_eq!(ino(&v2, &d.at("hl-a")), ino(&v3, Path::new("zz-shallow")));
    read_commands(&s, &d, [&v0, &v1, &v2, &v3]);
}

/// `list`, `diff`, `restore` and `verify` through the binary on the deep series.
fn read_commands(s: &Series, d: &Deep, names: [&String; 4]) {
    let out = s.env.run(&["list", "deep"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 5, "{}", stdout(&out));
    let out = s.env.run(&["diff", "deep", "0", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    let want = format!("M {}", d.at("change/f").display());
    assert!(lines.contains(&want), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("hl-")), "{lines:?}");
    let out = s.env.run(&["diff", "deep", "1", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("A {}", d.at("moved/inner/file").display())),
        "{text}"
    );
    assert!(text.contains("A up/sub/file\n"), "{text}");
    for (n, name) in names.iter().enumerate() {
        let to = s.env.outer.path().join(format!("restored-{n}"));
        let out = s.env.run(&[
            "restore",
            "deep",
            ".",
            "--version",
            &n.to_string(),
            "--to",
            to.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "V{n}: {}", stderr(&out));
        assert_same_state(
            &format!("restore of {name}"),
            &tree_state(&to),
            &s.recorded[*name],
        );
    }
    let out = s.env.run(&["verify", "deep"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// A path of 20 components and `len` bytes below `first` (one char), for link-text tests.
fn path_of_len(first: char, len: usize) -> PathBuf {
    let names = len - 19; // 19 slashes
    let (each, extra) = (names / 20, names % 20);
    let mut p = PathBuf::new();
    for i in 0..20 {
        let n = each + usize::from(i < extra);
        p.push(format!("{first}{}", "x".repeat(n - 1)));
    }
    assert_eq!(p.as_os_str().len(), len);
    p
}

/// A structural link's text is kept 19 bytes short of the symlink limit (room for a
/// 20-digit version number when a retire repoints it to a newer version): a text of 4070
/// bytes is a link, one of 4090 bytes (under the kernel's 4095) makes the folder real.
#[test]
fn snapshot_keeps_room_for_longer_version_numbers_in_link_texts() {
    let mut s = Series::new(Env::new("room"));
    // Text of a link at P into V0: "../" x 20 + "V0--YYYY-MM-DD_HH-MM-SS_+ZZZZ/" + P.
    let fits = path_of_len('a', 4070 - 90);
    let tight = path_of_len('b', 4090 - 90);
    for p in [&fits, &tight] {
        s.src()
            .file(p.join("f"), b"unchanged")
            .file(p.with_file_name("chg"), b"v0");
    }
    s.snap().expect("V0");
    for p in [&fits, &tight] {
        s.src().file(p.with_file_name("chg"), b"v1!");
    }
    let v1 = s.snap().expect("V1");
    s.check();
    let links = links_of(&s.env.job_dir(), 1);
    assert!(links.contains(&fits), "{links:?}");
    assert!(!links.contains(&tight), "{links:?}");
    assert!(is_dir(&lstat(&s.env.job_dir().join(&v1), &tight)));
}

/// Retire the oldest versions of a deep series: a folder moved from a short path to a
/// deep one is a short link in V1 and V2; retiring V0 moves the folder into V1 at the deep
/// path, and V2's link would have to name that deep path (a ~8.2 KB text): the retire
/// makes V2's link a real copy of the folder instead (hard-linked files), planned up front.
#[test]
fn retire_over_a_deep_tree_keeps_every_version() {
    use reverberator::vault::layout::JobFolder;
    use reverberator::vault::retire::{self, RetireReason};
    let d = Deep::new();
    let mut s = Series::new(Env::new("deepretire"));
    d.build(s.src());
    s.snap().expect("V0");
    s.src().rename("short/moved", d.at("moved"));
    let mut c = ChangeSet::new();
    c.record(
        d.at("moved"),
        Change::Moved {
            from: "short/moved".into(),
        },
    );
    s.snap_changes(&c).expect("V1");
    s.src().file(d.at("leaf"), b"leaf v2");
    s.snap().expect("V2");
    s.check();
    let job = s.env.job_dir();
    for round in 0..2 {
        let folder = JobFolder::open(&job).expect("job folder");
        let plan = retire::plan(
            &folder,
            folder.versions().unwrap()[0].number,
            vec![RetireReason::Requested],
        )
        .expect("plan");
        if round == 0 {
            let real: Vec<_> = plan.materialize.iter().map(|m| &m.path).collect();
            assert_eq!(real, [&d.at("moved")], "V2's link becomes real");
        }
        retire::apply(&folder, plan).expect("retire");
        let oldest = s.recorded.keys().next().cloned().expect("a version");
        s.recorded.remove(&oldest);
        s.check();
        let out = s.env.run(&["verify", "deepretire"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // index.tsv's total is what the disk says, the real copy's folders included (per
        // version the cache keeps what each created plus what retired versions handed to
        // the next one; a recount attributes to the oldest version holding a name).
        let folder = JobFolder::open(&job).expect("job folder");
        let versions = folder.versions().expect("versions");
        let counted = retire::recount(&folder, &versions).expect("recount");
        let index = reverberator::vault::index::Index::from_job_dir(&job).expect("index");
        let cached: std::collections::BTreeMap<u64, (u64, u64)> = index
            .rows
            .iter()
            .map(|r| (r.version, (r.size, r.inodes)))
            .collect();
        let on_disk: std::collections::BTreeMap<u64, (u64, u64)> = counted
            .versions
            .iter()
            .map(|(v, u)| (*v, (u.bytes, u.inodes)))
            .collect();
        let total = |m: &std::collections::BTreeMap<u64, (u64, u64)>| {
            m.values().fold((0, 0), |(b, i), (vb, vi)| (b + vb, i + vi))
        };
        assert_eq!(
            total(&cached),
            total(&on_disk),
            "(bytes, inodes) of all versions, round {round}: {cached:?} against {on_disk:?}"
        );
        assert_eq!(
            cached.keys().collect::<Vec<_>>(),
            on_disk.keys().collect::<Vec<_>>()
        );
    }
}

/// Run `f` on a thread with a 256 MiB stack: the harness' tree walks recurse per level.
fn big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn_scoped(s, f)
            .expect("thread")
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// `n` nested folders named `a` below `base`.
fn levels(base: &str, n: usize) -> PathBuf {
    let mut p = PathBuf::from(base);
    for _ in 0..n {
        p.push("a");
    }
    p
}

/// Run the binary with the usual soft limit of 1024 open files (it raises it itself).
fn run_limited(env: &Env, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -S -n 1024 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_reverberator"))
        .arg("--config")
        .arg(env.config())
        .args(args)
        .env_remove("REVERBERATOR_CONFIG");
    cmd.output().expect("run reverberator")
}

/// 3000 nested folders (a 6 KB path of one-byte names): the recursive walks need more
/// than a default thread stack and, holding fds per level, more than 1024 open files.
/// Snapshot, diff, restore, log and verify through the binary under a soft limit of 1024.
#[test]
fn thousands_of_levels_through_the_binary() {
    let env = Env::new("levels");
    let bottom = levels("top", 3000);
    env.src
        .file(bottom.join("leaf"), b"v0")
        .file(bottom.join("same/f"), b"unchanged");
    let mut recorded = BTreeMap::new();
    let mut snap = |what: &str| {
        let out = run_limited(&env, &["snapshot"]);
        assert!(out.status.success(), "{what}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{what}: nothing skipped");
        let name = stdout(&out).trim().to_owned();
        recorded.insert(name, big_stack(|| tree_state(env.src.path())));
    };
    snap("V0");
    env.src
        .file(bottom.join("leaf"), b"v1, changed 3000 levels down");
    snap("V1");
    big_stack(|| assert_all_versions(&env.job_dir(), &recorded));
    let out = run_limited(&env, &["diff", "levels", "0", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("M {}\n", bottom.join("leaf").display())
    );
    let to = env.outer.path().join("restored");
    let out = run_limited(
        &env,
        &[
            "restore",
            "levels",
            ".",
            "--version",
            "0",
            "--to",
            to.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let want = recorded.values().next().expect("V0");
    big_stack(|| assert_same_state("restore of V0", &tree_state(&to), want));
    let out = run_limited(&env, &["log", "levels", "top"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stdout(&out);
    assert_eq!(log.lines().count(), 3, "a header and two versions: {log}");
    assert!(
        log.lines().nth(2).is_some_and(|l| l.ends_with("below")),
        "{log}"
    );
    let out = run_limited(&env, &["verify", "levels"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
