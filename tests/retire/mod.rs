//! Retire and prune: after every retire, every remaining version dereferences exactly as it
//! did before (structural links followed, one hop, bookkeeping checked by
//! `util::version_state`); a retire killed at any step is finished by the next writer; the
//! `prune` command enforces keep_versions and byte/inode/percent budgets.

pub(crate) mod harness;
pub(crate) mod kill;
mod property;
mod prune;
mod thin;

use std::path::Path;

use harness::Job;
use reverberator::vault::layout::JobFolder;
use reverberator::vault::retire::{self, RetireError, RetireReason};

#[test]
fn retiring_keeps_every_remaining_version() {
    let mut job = Job::new();
    job.src
        .dir("a/b/c")
        .file("a/b/c/f", "1")
        .file("a/x", "x")
        .dir("d/e")
        .file("d/e/g", "g");
    job.src
        .dir("keep/deep/er")
        .file("keep/deep/er/k", "k")
        .symlink("keep/sl", "nowhere");
    job.snap();
    job.src.file("a/b/c/f", "2"); // a change deep inside a subtree
    job.snap();
    job.snap_move("d", "keep/d2"); // a moved directory: a link at another path
    job.src
        .remove("keep/deep/er")
        .file("keep/deep/er", "now a file"); // type change
    job.snap();
    job.src.remove("a/b"); // delete a linked subtree
    job.snap();
    for _ in 0..4 {
        let report = job.retire_keep(1 + job.recorded.len() as u32 - 2);
        assert_eq!(report.retired.len(), 1, "{report:?}");
        job.check();
    }
    assert_eq!(job.recorded.len(), 1);
}

#[test]
fn moves_and_repoints_follow_the_chain() {
    let mut job = Job::new();
    job.src
        .dir("p/q/r")
        .file("p/q/r/f", "f")
        .dir("s")
        .file("s/t", "t");
    job.snap();
    job.src.file("s/u", "u"); // V1: links p -> V0/p
    job.snap();
    job.src.file("s/v", "v"); // V2: p -> V0/p too (one hop)
    let v2 = job.snap().expect("V2");
    let folder = JobFolder::open(&job.job_dir()).unwrap();
    let plan = retire::plan(
        &folder,
        folder.versions().unwrap()[0].number,
        vec![RetireReason::Requested],
    )
    .unwrap();
    assert_eq!(plan.moves.len(), 1, "{plan:?}");
    assert_eq!(plan.moves[0].from, Path::new("p"));
    // p moves to the newest version linking to it; V1's link is repointed there.
    assert_eq!(plan.moves[0].receiver.to_string(), v2);
    assert_eq!(plan.repoints.len(), 1, "{plan:?}");
    assert_eq!(plan.repoints[0].version, plan.heir);
    assert!(plan.repoints[0].new_target.to_string_lossy().contains(&v2));
    let done = retire::apply(&folder, plan).unwrap();
    job.forget(&done.plan.retired.to_string());
    job.check();
    assert!(retire::over_budget(&job.job_dir()).unwrap().is_none());
    assert!(!folder.root().join(".reverberator/retire.intent").exists());
}

#[test]
fn an_uncovered_link_refuses_the_retire_and_changes_nothing() {
    let mut job = Job::new();
    job.src.dir("a/b").file("a/b/f", "f").file("top", "1");
    job.snap();
    job.src.file("top", "2");
    job.snap();
    job.src.file("top", "3");
    job.snap();
    // Corrupt the bookkeeping: V0's refs file forgets the links into it, so the heir's
    // link into V0 is uncovered (retiring V0 would leave it dangling).
    std::fs::write(job.job_dir().join(".reverberator/refs/V0.tsv"), "").unwrap();
    let before = job.names();
    let folder = JobFolder::open(&job.job_dir()).unwrap();
    let err = retire::plan(
        &folder,
        folder.versions().unwrap()[0].number,
        vec![RetireReason::Requested],
    )
    .unwrap_err();
    assert!(matches!(err, RetireError::Uncovered { .. }), "{err}");
    let err = job.try_retire_keep(1).unwrap_err();
    assert!(err.to_string().contains("nothing retired"), "{err}");
    assert_eq!(job.names(), before);
    let journal = std::fs::read_to_string(job.job_dir().join("journal.tsv")).unwrap();
    assert!(
        journal
            .lines()
            .any(|l| l.contains("\terror\t") && l.contains("retire refused")),
        "{journal}"
    );
}

#[test]
fn the_newest_version_is_never_retired() {
    let mut job = Job::new();
    job.src.file("f", "x");
    job.snap();
    let folder = JobFolder::open(&job.job_dir()).unwrap();
    let err = retire::plan(
        &folder,
        folder.versions().unwrap()[0].number,
        vec![RetireReason::Requested],
    )
    .unwrap_err();
    assert!(
        matches!(err, RetireError::TooFewVersions { count: 1, .. }),
        "{err}"
    );
    job.check();
}

#[test]
fn a_victim_that_is_newest_or_unknown_is_refused_by_name_one_in_the_middle_is_planned() {
    let mut job = Job::new();
    for i in 0..3 {
        job.src.file("f", format!("{i}"));
        job.snap();
    }
    let folder = JobFolder::open(&job.job_dir()).unwrap();
    let v: Vec<u64> = folder
        .versions()
        .unwrap()
        .iter()
        .map(|v| v.number)
        .collect();
    let why = || vec![RetireReason::Requested];
    let err = retire::plan(&folder, v[2], why()).unwrap_err();
    assert!(matches!(err, RetireError::Newest { .. }), "{err}");
    assert!(err.to_string().contains("newest"), "{err}");
    let err = retire::plan(&folder, 99, why()).unwrap_err();
    assert!(
        matches!(err, RetireError::NoSuchVersion { version: 99, .. }),
        "{err}"
    );
    let middle = retire::plan(&folder, v[1], why()).unwrap();
    assert_eq!((middle.retired.number, middle.heir.number), (v[1], v[2]));
    let dry = retire::dry_step(&folder, v[0], why()).unwrap();
    assert_eq!(dry.version.number, v[0]);
    assert_eq!(dry.plan.as_ref().map(|p| p.retired.number), Some(v[0]));
    job.check();
}

#[test]
fn accounting_moves_forward_what_later_versions_still_use() {
    let mut job = Job::new();
    job.src
        .dir("big")
        .file("big/a", vec![7u8; 64 * 1024])
        .file("small", "s");
    job.snap();
    job.src.file("small", "t");
    job.snap();
    let folder = JobFolder::open(&job.job_dir()).unwrap();
    let (cached_before, counted_before) = figures(&folder);
    let report = job.retire_keep(1);
    let r = &report.retired[0];
    // V0 owned the root, `small` and `big` with its file; `big` moves forward, and the
    // heir's link to it is freed with V0's root and `small`.
    let (cached_after, counted_after) = figures(&folder);
    assert_eq!(counted_before - r.freed.inodes, counted_after, "{r:?}");
    assert_eq!(r.freed.inodes, 3, "{r:?}");
    assert_eq!(
        cached_before - r.freed.inodes,
        cached_after,
        "the cache follows the disk"
    );
    assert!(r.forwarded.bytes >= 64 * 1024, "{r:?}");
    job.check();
}

/// (inodes the index says the versions own, inodes the versions hold on disk).
fn figures(folder: &JobFolder) -> (u64, u64) {
    let versions = folder.versions().unwrap();
    let index = reverberator::vault::index::Index::from_job_dir(folder.root()).unwrap();
    let cached = index.rows.iter().map(|r| r.inodes).sum();
    let counted = retire::recount(folder, &versions).unwrap();
    (cached, counted.versions.values().map(|u| u.inodes).sum())
}

#[test]
fn the_dry_run_estimate_is_what_the_retire_frees() {
    let mut job = Job::new();
    job.src
        .dir("a/b")
        .file("a/b/f", "f")
        .file("a/g", vec![1u8; 9000]);
    job.src.dir("c").file("c/h", "h").hard_link("c/h", "c/h2");
    job.snap();
    job.src.file("a/g", "smaller").remove("c/h2");
    job.snap();
    job.src.file("new", "n");
    job.snap();
    let folder = JobFolder::open(&job.job_dir()).unwrap();
    let plan = retire::plan(
        &folder,
        folder.versions().unwrap()[0].number,
        vec![RetireReason::Requested],
    )
    .unwrap();
    let estimate = retire::estimate_freed(&folder, &plan).unwrap();
    let done = retire::apply(&folder, plan).unwrap();
    assert_eq!(estimate, done.freed);
    assert!(done.freed.inodes >= 3, "{done:?}"); // V0's root, a/, a/g (a/b moves)
    job.forget(&done.plan.retired.to_string());
    job.check();
}

/// A user replaces a link of a later version with a folder of their own between the plan
/// and the repoint (version folders keep the source's owner and mode): the retire puts the
/// folder back where it was, stops with an error naming it, and deletes nothing of it.
#[test]
fn a_link_replaced_by_a_user_is_put_back_not_deleted() {
    let mut job = Job::new();
    job.src.dir("p/q").file("p/q/f", "f").file("s", "0");
    job.snap();
    job.src.file("s", "1");
    job.snap();
    job.src.file("s", "2");
    let v2 = job.snap().expect("V2");
    let folder = JobFolder::open(&job.job_dir()).unwrap();
    let plan = retire::plan(
        &folder,
        folder.versions().unwrap()[0].number,
        vec![RetireReason::Requested],
    )
    .unwrap();
    // V2 receives p; V1's link is repointed.
    assert_eq!(plan.moves[0].receiver.to_string(), v2);
    let r = plan.repoints.first().expect("V1's link is repointed");
    let v1 = r.version.to_string();
    let at = job.job_dir().join(&v1).join(&r.path);
    std::fs::remove_file(&at).unwrap();
    std::fs::create_dir(&at).unwrap();
    std::fs::write(at.join("mine"), "a user's file").unwrap();
    let err = retire::apply(&folder, plan).expect_err("the retire must stop");
    assert!(err.to_string().contains(&v1), "{err}");
    assert_eq!(
        std::fs::read_to_string(at.join("mine")).unwrap(),
        "a user's file"
    );
}

/// `prune --dry-run` foresees what a link made real adds to its version: what it says the
/// job folder will use is what the index says after the retire.
#[test]
fn the_dry_run_counts_links_made_real() {
    let job = kill::build_deep();
    let mut config = job.config.clone();
    config.settings.keep_versions = 3; // 4 versions: the oldest goes, two links become real
    let dry = retire::dry_run(&config).unwrap();
    let plan = dry.steps[0].plan.as_ref().expect("the first step's plan");
    assert_eq!(plan.materialize.len(), 2, "{plan:?}");
    retire::enforce(&config).unwrap();
    let folder = JobFolder::open(&job.job_dir()).unwrap();
    let versions = folder.versions().unwrap();
    let after = retire::Figures::load(&folder, &versions).unwrap().used();
    // Inodes exactly; bytes differ by what the retire's bookkeeping adds (its journal line,
    // the scratch folder), which the dry run does not foresee.
    assert_eq!(dry.used_after.inodes, after.inodes);
}

/// A link may point forward, into a newer version (where a retire that moves a shared
/// folder to its newest linker leaves the older linkers). Made by hand here: V0's `p`,
/// shared by V1 and V2, moved into V2, V0 and V1 linking forward to it. verify, the
/// one-hop walk of every version, a recount, and the next snapshot (which reuses V2's
/// real folder) all cope.
#[test]
fn a_forward_link_is_read_verified_and_reused_by_the_next_snapshot() {
    use reverberator::vault::layout::link_target;
    use std::os::unix::fs::symlink;
    let mut job = Job::new();
    job.src
        .dir("p/q")
        .file("p/f", "f")
        .file("p/q/g", "g")
        .file("top", "0");
    let v0 = job.snap().unwrap();
    job.src.file("top", "1");
    let v1 = job.snap().unwrap();
    job.src.file("top", "2");
    let v2 = job.snap().unwrap();
    let dir = job.job_dir();
    let folder = JobFolder::open(&dir).unwrap();
    let names = folder.versions().unwrap();
    let roots: Vec<_> = [&v0, &v1, &v2].iter().map(|v| dir.join(v)).collect();
    let times: Vec<_> = roots
        .iter()
        .map(|r| std::fs::symlink_metadata(r).unwrap())
        .collect();
    let forward = link_target(Path::new("p"), &names[2], Path::new("p"));
    std::fs::remove_file(roots[2].join("p")).unwrap();
    std::fs::rename(roots[0].join("p"), roots[2].join("p")).unwrap();
    symlink(&forward, roots[0].join("p")).unwrap();
    std::fs::remove_file(roots[1].join("p")).unwrap();
    symlink(&forward, roots[1].join("p")).unwrap();
    folder.write_links(0, [Path::new("p")]).unwrap();
    folder.write_links(1, [Path::new("p")]).unwrap();
    folder.write_links(2, std::iter::empty()).unwrap();
    std::fs::write(folder.refs_file(0), "").unwrap();
    std::fs::write(folder.refs_file(2), "0\tp\n1\tp\n").unwrap();
    for (root, meta) in roots.iter().zip(&times) {
        use std::os::unix::fs::MetadataExt;
        let t = |s: i64, ns: i64| nix::sys::time::TimeSpec::new(s, ns);
        nix::sys::stat::utimensat(
            None,
            root,
            &t(meta.atime(), meta.atime_nsec()),
            &t(meta.mtime(), meta.mtime_nsec()),
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
    }
    job.check();
    job.src.file("top", "3");
    let v3 = job.snap().unwrap();
    let text = std::fs::read_link(dir.join(&v3).join("p")).unwrap();
    assert!(
        text.to_string_lossy().contains(&v2),
        "V3 links p where it is real now, in V2: {}",
        text.display()
    );
    job.src
        .file("top", "4")
        .file("p/q/h", "new inside the shared folder");
    let v4 = job.snap().unwrap();
    job.check();
    assert!(std::fs::symlink_metadata(dir.join(&v4).join("p/q"))
        .unwrap()
        .is_dir());
    let versions = folder.versions().unwrap();
    let counted = retire::recount(&folder, &versions).unwrap();
    assert_eq!(counted.versions.len(), 5);
}
