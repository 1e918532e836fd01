//! Kill test: a retire aborted after each of its steps in turn (the
//! `REVERBERATOR_TEST_CRASH_AFTER_STEP` hook, which aborts like a SIGKILL would), in a child
//! process; the next writer (`recover`) finishes it, and no remaining version changed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use reverberator::vault::layout::JobFolder;
use reverberator::vault::lock::JobLock;
use reverberator::vault::retire;

use super::harness::{check_leftovers, Job};
use crate::util;

const JOB_DIR: &str = "RETIRE_KILL_TEST_VAULT";

/// A job whose source holds `d0`..`d5`, each with `sub/f` and `g`, and `top`.
fn six_folders() -> Job {
    let job = Job::new();
    for i in 0..6 {
        job.src
            .dir(format!("d{i}/sub"))
            .file(format!("d{i}/sub/f"), format!("{i}"))
            .file(format!("d{i}/g"), "g");
    }
    job.src.file("top", "0");
    job
}

/// A vault whose retires need many steps: several linked folders, moves, repoints.
fn build() -> Job {
    let mut job = six_folders();
    job.snap();
    for round in 1..5 {
        job.src.file("top", format!("{round}"));
        job.src
            .file(format!("d{round}/sub/f"), format!("changed {round}"));
        job.snap();
    }
    job.snap_move("d5", "d0/d5moved");
    job.src
        .file("d0/d5moved/sub/new", "deep change in a moved folder");
    job.snap();
    job
}

/// A vault whose first retire must make a link real: a folder moved to a ~4 KB deep path
/// in V1 (a short link there) is kept by V2 and V3, and once V0 retires the heir V1 holds
/// it at the deep path, where their links would need a text longer than the kernel stores.
pub(crate) fn build_deep() -> Job {
    let mut job = Job::new();
    let mut deep = PathBuf::new();
    for i in 0..19 {
        deep.push(format!("{i:02}{}", "d".repeat(207)));
    }
    let deep = deep.to_str().unwrap().to_owned();
    job.src
        .file("short/moved/sub/f", "moves deep")
        .file("short/moved/g", "g")
        .file(format!("{deep}/chg"), "0");
    job.snap();
    job.snap_move("short/moved", &format!("{deep}/moved"));
    job.src.file(format!("{deep}/chg"), "2");
    job.snap();
    job.src.file(format!("{deep}/chg"), "3");
    job.snap();
    job
}

/// A vault whose second version, retired from the middle, holds folders that later
/// versions link to, at two depths, with links of their own inside: V1 changes `dN/g`
/// for N = 1..5 (so V1 holds real `dN` whose `sub` links into V0), V2 links them, V3
/// moves `d1` to `d0/sub/d1m` (a deeper place; V3's `d0` is real), V4 links `d0` to V3's
/// and the others to V1. Retiring V1 moves `d2`..`d5` to V4 (their newest linker) and
/// `d1` to V3 at the deeper place, repoints the other links, and carries V1's `dN/sub`
/// links along, `d1/sub` with a new text (through its absolute transit text).
fn build_middle() -> Job {
    let mut job = six_folders();
    job.snap();
    for i in 1..6 {
        job.src.file(format!("d{i}/g"), "changed");
    }
    job.src.file("top", "1");
    job.snap();
    job.src.file("top", "2");
    job.snap();
    job.snap_move("d1", "d0/sub/d1m");
    job.src.file("top", "4");
    job.snap();
    job
}

/// The child: retire down to 2 versions in the vault named by the environment, or, with
/// `RETIRE_KILL_TEST_VICTIM=i`, the `i`-th version alone. Does nothing when run as a
/// normal test.
#[test]
#[ignore = "run by the kill test as a child process"]
fn child_retire() {
    let Some(vault) = std::env::var_os(JOB_DIR) else {
        return;
    };
    let src = PathBuf::from(std::env::var_os("RETIRE_KILL_TEST_SRC").unwrap());
    let mut job = util::job_config("job", &src, &PathBuf::from(vault));
    if let Some(i) = std::env::var_os("RETIRE_KILL_TEST_VICTIM") {
        let i: usize = i.to_str().unwrap().parse().unwrap();
        let folder = JobFolder::open(&job.job_dir()).unwrap();
        let _lock = JobLock::acquire(&job.job_dir()).unwrap();
        let victim = folder.versions().unwrap()[i].number;
        let plan = retire::plan(&folder, victim, vec![retire::RetireReason::Requested]).unwrap();
        retire::apply(&folder, plan).unwrap();
        return;
    }
    job.settings.keep_versions = 2;
    retire::enforce(&job).unwrap();
}

pub(crate) fn run_child(job: &Job, step: u64) -> std::process::ExitStatus {
    run_child_for(job, step, None)
}

fn run_child_for(job: &Job, step: u64, victim: Option<usize>) -> std::process::ExitStatus {
    let mut child = Command::new(std::env::current_exe().unwrap());
    if let Some(i) = victim {
        child.env("RETIRE_KILL_TEST_VICTIM", i.to_string());
    }
    child
        .args([
            "retire::kill::child_retire",
            "--exact",
            "--ignored",
            "--quiet",
            "--test-threads=1",
        ])
        .env(JOB_DIR, &job.config.vault)
        .env("RETIRE_KILL_TEST_SRC", job.src.path())
        .env("REVERBERATOR_TEST_CRASH_AFTER_STEP", step.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
}

#[test]
fn a_retire_killed_at_any_step_is_finished_by_the_next_writer() {
    killed_at_every_step(build, 20, None);
}

#[test]
fn a_retire_of_a_middle_version_killed_at_any_step_is_finished_by_the_next_writer() {
    let job = build_middle();
    let folder = JobFolder::open(&job.job_dir()).unwrap();
    let versions = folder.versions().unwrap();
    let plan = retire::plan(
        &folder,
        versions[1].number,
        vec![retire::RetireReason::Requested],
    )
    .unwrap();
    let receivers: Vec<u64> = plan.moves.iter().map(|m| m.receiver.number).collect();
    let (v3, v4) = (versions[3].number, versions[4].number);
    assert_eq!(receivers, [v3, v4, v4, v4, v4], "{plan:?}");
    assert_eq!(plan.repoints.len(), 9, "{plan:?}");
    assert_eq!(plan.carried.len(), 5, "{plan:?}");
    assert_eq!(plan.carried.iter().filter(|c| c.retexts()).count(), 1);
    drop(folder);
    killed_at_every_step(build_middle, 20, Some(1));
}

/// A vault whose first retire splits folders (module doc of `retire`): `t` is linked whole
/// by V1 only; `t/s`, `t/u` and `t/v` by three or more later versions each (they changed
/// something beside them), so `t` moves to V1 and each of the others goes to its own
/// newer linker.
fn build_split() -> Job {
    let mut job = Job::new();
    job.src
        .file("t/s/f", "f")
        .file("t/s/deep/h", "h")
        .file("t/g", "g")
        .file("t/u/k", "k")
        .file("t/v/m", "m")
        .file("z", "z");
    job.snap();
    job.src.file("z", "z1");
    job.snap();
    for round in 2..5 {
        job.src.file("t/g", format!("g{round}"));
        job.snap();
    }
    job.src.file("t/u/k", "k5");
    job.snap();
    job
}

#[test]
fn a_retire_splitting_folders_killed_at_any_step_is_finished_by_the_next_writer() {
    let job = build_split();
    let folder = JobFolder::open(&job.job_dir()).unwrap();
    let versions = folder.versions().unwrap();
    let plan = retire::plan(
        &folder,
        versions[0].number,
        vec![retire::RetireReason::Requested],
    )
    .unwrap();
    let got: Vec<(&std::path::Path, u64)> = plan
        .splits
        .iter()
        .map(|s| (s.from.as_path(), s.receiver.number))
        .collect();
    let n = |i: usize| versions[i].number;
    let want: Vec<(&std::path::Path, u64)> = vec![
        ("t/s".as_ref(), n(5)),
        ("t/u".as_ref(), n(4)),
        ("t/v".as_ref(), n(5)),
    ];
    assert_eq!(got, want, "{plan:?}");
    // The other linkers of each, each repointed once: t/s and t/v from V2..V4, t/u from
    // V2 and V3.
    assert_eq!(plan.repoints.len(), 8, "{plan:?}");
    drop(folder);
    killed_at_every_step(build_split, 20, Some(0));
}

#[test]
fn a_retire_making_links_real_killed_at_any_step_is_finished_by_the_next_writer() {
    let job = build_deep();
    let folder = JobFolder::open(&job.job_dir()).unwrap();
    let plan = retire::plan(
        &folder,
        folder.versions().unwrap()[0].number,
        vec![retire::RetireReason::Requested],
    )
    .unwrap();
    assert_eq!(
        plan.materialize.len(),
        2,
        "the links of V2 and V3 become real"
    );
    drop(folder);
    killed_at_every_step(build_deep, 8, None);
}

/// Build a vault with `build`, retire it down to 2 versions (or retire its `victim`-th
/// version, then at every step) in a child aborted after step 1, 2, 3, ... in turn (every
/// 5th past the 12th);
/// after each, the next writer finishes the retire and every remaining version is
/// unchanged.
fn killed_at_every_step(build: fn() -> Job, at_least: usize, victim: Option<usize>) {
    let mut killed = 0;
    // Every early step (intent, exchanges, repoints, bookkeeping, hide), then every 5th
    // (the deletion and the later retires): about 30 crash points.
    let mut step = 0;
    while step < 400 {
        step += if step < 12 || victim.is_some() { 1 } else { 5 };
        let mut job = build();
        let before = seen_by_readers(&job.job_dir());
        let status = run_child_for(&job, step, victim);
        let aborted = std::os::unix::process::ExitStatusExt::signal(&status) == Some(libc::SIGABRT);
        assert!(aborted || status.success(), "step {step}: child {status:?}");
        // At the moment of the crash (any instant of a retire), before anything is
        // finished: every remaining version reads, through the kernel, as it did.
        let now = seen_by_readers(&job.job_dir());
        let victim = pending_victim(&job.job_dir());
        for (name, listing) in &now {
            if Some(name) != victim.as_ref() {
                assert_eq!(
                    Some(listing),
                    before.get(name),
                    "step {step}: {name} as read"
                );
            }
        }
        // The next writer: take the lock and finish what is pending.
        let dir = job.job_dir();
        {
            let _lock = JobLock::acquire(&dir).unwrap();
            let folder = JobFolder::open(&dir).unwrap();
            let pending = dir.join(".reverberator/retire.intent").exists();
            assert!(
                aborted || !pending,
                "step {step}: a finished retire left its intent"
            );
            let done = retire::recover(&folder).unwrap();
            assert_eq!(done.is_some(), pending, "step {step}");
        }
        let names = util::versions(&dir);
        job.recorded.retain(|k, _| names.contains(k));
        job.check();
        check_leftovers(&dir);
        // And the retire can go on to the end.
        job.retire_keep(2);
        job.check();
        if !aborted {
            eprintln!("kill test: {killed} crash points, finished at step {step}");
            assert!(killed >= at_least, "only {killed} crash points");
            return;
        }
        killed += 1;
    }
    panic!("the retire never finished within 400 steps");
}

/// What a reader sees in each version folder of the job folder `dir`, following every
/// symlink the way the kernel does (`cp -rL`, a file manager): each path with its file
/// content, or the error reading it hit (a loop, a dangling link).
fn seen_by_readers(dir: &std::path::Path) -> BTreeMap<String, BTreeMap<PathBuf, String>> {
    fn walk(root: &std::path::Path, rel: &std::path::Path, out: &mut BTreeMap<PathBuf, String>) {
        let here = root.join(rel);
        let entries = match std::fs::read_dir(&here) {
            Ok(e) => e,
            Err(e) => {
                out.insert(rel.to_path_buf(), format!("error: {e}"));
                return;
            }
        };
        let mut names: Vec<_> = entries.map(|e| e.unwrap().file_name()).collect();
        names.sort();
        for name in names {
            let child = rel.join(&name);
            match std::fs::metadata(root.join(&child)) {
                Ok(m) if m.is_dir() => {
                    out.insert(child.clone(), "dir".into());
                    walk(root, &child, out);
                }
                Ok(_) => {
                    let data = std::fs::read(root.join(&child)).unwrap_or_default();
                    out.insert(child, String::from_utf8_lossy(&data).into_owned());
                }
                Err(e) => {
                    out.insert(child, format!("error: {e}"));
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    for name in util::versions(dir) {
        let mut listing = BTreeMap::new();
        walk(&dir.join(&name), std::path::Path::new(""), &mut listing);
        out.insert(name, listing);
    }
    out
}

/// The version a pending retire intent retires, if any.
fn pending_victim(dir: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(".reverberator/retire.intent")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("retired\t").map(str::to_owned))
}

/// The same with real SIGKILLs of `reverberator prune` at moments spread over its run.
#[test]
fn prune_killed_with_sigkill_is_finished_by_the_next_writer() {
    let job = build();
    let started = std::time::Instant::now();
    let out = job.prune("keep_versions = 2", &[]);
    assert!(out.status.success(), "{}", util::stderr(&out));
    let whole = started.elapsed();
    for i in 0..12u32 {
        let mut job = build();
        let config = job.write_config("keep_versions = 2");
        let mut child = util::bin()
            .arg("--config")
            .arg(&config)
            .args(["prune", "job"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // The kill moment, not a wait for a condition: the child is reaped before checking.
        std::thread::sleep(whole * i / 12);
        let _ = child.kill();
        child.wait().unwrap();
        let dir = job.job_dir();
        {
            let _lock = JobLock::acquire(&dir).unwrap();
            retire::recover(&JobFolder::open(&dir).unwrap()).unwrap();
        }
        job.forget_gone();
        job.check();
        job.retire_keep(2);
        job.check();
    }
}
