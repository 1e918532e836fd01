//! The binary: output contract, retire wiring, SIGKILL at any instant.

use std::path::PathBuf;
use std::time::Duration;

use super::*;

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
        stderr(&out).contains("no job called `nope`") && stderr(&out).contains("cli job"),
        "{}",
        stderr(&out)
    );
}

/// Run `reverberator snapshot kill` and SIGKILL it after `delay_ms`.
fn kill_after(env: &Env, delay_ms: u64) {
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
}

/// Every version on disk is one of the `wanted` trees (by version number).
fn assert_versions_whole(env: &Env, wanted: &[TreeState], when: &str) {
    for v in versions(&env.job_dir()) {
        let n = version_number(&v) as usize;
        let want = wanted
            .get(n)
            .unwrap_or_else(|| panic!("unexpected {v} {when}"));
        assert_same_state(
            &format!("{v} {when}"),
            &version_state(&env.job_dir(), &v),
            want,
        );
    }
}

/// SIGKILL `reverberator snapshot` at several instants, while it copies version 0 and
/// while it scans, builds and commits version 1: no visible partial version, every
/// committed version whole, and the next snapshot and `verify` succeed.
#[test]
fn snapshot_killed_never_leaves_a_visible_partial_version() {
    let env = Env::new("kill");
    for i in 0..40 {
        for k in 0..50 {
            env.src
                .file(format!("d{i}/f{k}"), vec![b'x'; 16 * 1024 + i * 50 + k]);
        }
    }
    let mut wanted = vec![tree_state(env.src.path())];
    for delay_ms in [2u64, 10, 30, 60, 120, 250] {
        kill_after(&env, delay_ms);
        assert_versions_whole(&env, &wanted, &format!("after a kill at {delay_ms} ms"));
    }
    let out = env.run(&["snapshot", "kill"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Version 1: a change in every folder, killed at several points of scan/build/commit.
    for i in 0..40 {
        env.src.file(format!("d{i}/f0"), format!("changed {i}"));
    }
    wanted.push(tree_state(env.src.path()));
    for delay_ms in [1u64, 3, 6, 10, 15, 25, 40, 70] {
        kill_after(&env, delay_ms);
        assert_versions_whole(&env, &wanted, &format!("after a kill at {delay_ms} ms"));
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
    check_index_matches(&env.job_dir());
    let vs = versions(&env.job_dir());
    assert_eq!(vs.len(), 2, "{vs:?}");
    assert_versions_whole(&env, &wanted, "at the end");
    assert_eq!(
        std::fs::read_link(env.job_dir().join("latest")).unwrap(),
        PathBuf::from(&vs[1])
    );
}

/// A crash between the rename and the index/`latest` updates is repaired by the next
/// writer: the row comes back (measured from disk) and `latest` names the newest.
#[test]
fn snapshot_repairs_index_and_latest_after_an_interrupted_commit() {
    let env = Env::new("repair");
    env.src.file("a/f", b"0").file("b/g", b"0");
    assert!(env.run(&["snapshot"]).status.success());
    env.src.file("a/f", b"one");
    let out = env.run(&["snapshot"]);
    let v1 = stdout(&out).trim().to_owned();
    let j = env.job_dir();
    let index = std::fs::read_to_string(j.join("index.tsv")).unwrap();
    let v1_row = index.lines().nth(2).unwrap().to_owned();
    let without: String = index.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(j.join("index.tsv"), without).unwrap();
    let v0 = versions(&j)[0].clone();
    std::fs::remove_file(j.join("latest")).unwrap();
    std::os::unix::fs::symlink(&v0, j.join("latest")).unwrap();

    let out = env.run(&["snapshot"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "nothing changed in the source");
    check_index_matches(&j);
    assert_eq!(
        std::fs::read_link(j.join("latest")).unwrap(),
        PathBuf::from(&v1)
    );
    let row = std::fs::read_to_string(j.join("index.tsv")).unwrap();
    let row = row.lines().nth(2).unwrap().to_owned();
    let cols = |r: &str| r.split('\t').map(str::to_owned).collect::<Vec<_>>();
    // Same version, name and time; size and inodes measured again (changes unknown: 0).
    assert_eq!(cols(&row)[..3], cols(&v1_row)[..3]);
    assert_eq!(cols(&row)[4], cols(&v1_row)[4], "inodes: {row} vs {v1_row}");
    let journal = std::fs::read_to_string(j.join("journal.tsv")).unwrap();
    assert!(journal.contains("index row rebuilt"), "{journal}");
    assert_verify_clean(&j);
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

/// A job whose source is not there (an unplugged disk, a missing folder) is refused by the
/// one-shot `snapshot` with a clear message and exit 1; nothing is committed or created.
#[test]
fn snapshot_refuses_a_missing_source() {
    let outer = TempTree::new();
    outer.dir("vault");
    let config = outer.path().join("reverberator.toml");
    let source = outer.path().join("not-mounted");
    let text = format!(
        "[jobs.gone]\nsource = {:?}\nvault = {:?}\n",
        source,
        outer.path().join("vault")
    );
    std::fs::write(&config, text).unwrap();
    let out = run_bin(&config, &["snapshot"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("gone: not snapshotting"), "{err}");
    assert!(err.contains("not-mounted"), "{err}");
    let vault_entries: Vec<_> = std::fs::read_dir(outer.path().join("vault"))
        .unwrap()
        .collect();
    assert!(
        vault_entries.is_empty(),
        "nothing may be created in the vault"
    );
}

/// Versions are named as a user would: `3`, `V3`, the folder name or `latest` (issue 15);
/// anything else is refused with what is accepted, not clap's "invalid digit".
#[test]
fn diff_and_restore_accept_v_names_folder_names_and_latest() {
    let env = Env::new("sel");
    env.src.file("a", b"1");
    assert!(env.run(&["snapshot"]).status.success());
    env.src.file("b", b"2");
    assert!(env.run(&["snapshot"]).status.success());
    let v1 = versions(&env.job_dir()).pop().unwrap();
    for (a, b) in [("0", "1"), ("V0", "latest"), ("v0", v1.as_str())] {
        let out = env.run(&["diff", "sel", a, b]);
        assert!(out.status.success(), "{a} {b}: {}", stderr(&out));
        assert_eq!(stdout(&out), "M .\nA b\n", "{a} {b}");
    }
    let out = env.run(&["diff", "sel", "V1", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`soon` is not a version: give a number (3), V3"),
        "{}",
        stderr(&out)
    );
    // -n, --at-version and the old --version all select; the summary is in the singular.
    for (i, flag) in ["-n", "--at-version", "--version"].iter().enumerate() {
        let to = env.outer.path().join(format!("restored-{i}"));
        let out = env.run(&[
            "restore",
            "sel",
            ".",
            flag,
            "V0",
            "--to",
            to.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{flag}: {}", stderr(&out));
        assert!(to.join("a").exists() && !to.join("b").exists(), "{flag}");
        assert!(
            stderr(&out).contains("restored 1 entry (1 byte,"),
            "{}",
            stderr(&out)
        );
    }
    let to = env.outer.path().join("restored-one");
    let out = env.run(&[
        "restore",
        "sel",
        ".",
        "-n",
        "latest",
        "--to",
        to.to_str().unwrap(),
    ]);
    assert!(to.join("a").exists() && to.join("b").exists());
    assert!(
        stderr(&out).contains("restored 2 entries (2 bytes,"),
        "{}",
        stderr(&out)
    );
}

/// The daemon's and the `snapshot` command's one write path: the retire after a commit
/// runs in the same call, under the session's lock (held while a `Session` is open).
#[test]
fn a_write_commits_then_retires_under_one_session() {
    use reverberator::change::Progress;
    use reverberator::vault::lock::JobLock;
    use reverberator::vault::session::Session;
    use reverberator::writer::{write, Source};
    let env = Env::new("keep");
    let mut job = env.job_config();
    job.settings.keep_versions = 2;
    let mut names = Vec::new();
    for i in 0..3 {
        env.src.file("f", vec![b'x'; i + 1]);
        let w = write(&job, Source::Scan { full: false }, &Progress::default()).unwrap();
        let SnapshotOutcome::Committed(v) = w.outcome else {
            panic!("nothing committed at round {i}");
        };
        names.push(v.name.to_string());
        let report = w.retired.expect("a retire after the commit").unwrap();
        let retired: Vec<String> = report
            .retired
            .iter()
            .map(|r| r.plan.retired.to_string())
            .collect();
        let expected: Vec<String> = if i == 2 {
            vec![names[0].clone()]
        } else {
            Vec::new()
        };
        assert_eq!(retired, expected, "round {i}");
    }
    assert_eq!(versions(&env.job_dir()), names[1..].to_vec());
    // Nothing changed: nothing committed, so no retire ran.
    let w = write(&job, Source::Scan { full: false }, &Progress::default()).unwrap();
    assert_eq!(w.outcome, SnapshotOutcome::Unchanged);
    assert!(w.retired.is_none());
    let session = Session::open(&job).unwrap();
    assert!(
        JobLock::try_acquire(&env.job_dir()).unwrap().is_none(),
        "the session holds the lock"
    );
    drop(session);
    assert!(JobLock::try_acquire(&env.job_dir()).unwrap().is_some());
    check_index_matches(&env.job_dir());
}
