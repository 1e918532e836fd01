//! Vaults on filesystems whose symlinks hold less than the kernel's 4095 bytes: ext4 with
//! 1 KiB blocks (1023, known from `fstatfs`) and btrfs with 4 KiB nodes (3949, not known:
//! the filesystem answers `ENAMETOOLONG`). A structural link that does not fit must make the
//! folder real (files hard-linked) instead of failing the snapshot. Every version must
//! still dereference to its tree.

use std::path::{Path, PathBuf};

use super::{run, s, skip_reason, Loop, Mount};
use crate::util::{assert_all_versions, job_config, links_of, tree_state, TempTree};
use reverberator::vault::snapshot::SnapshotOutcome;
use reverberator::writer::snapshot_with_scan;

#[test]
fn a_vault_with_short_symlinks_makes_longer_links_real() {
    require_mount!();
    let outer = tempfile::tempdir().expect("tempdir");
    let image = outer.path().join("small.img");
    std::fs::File::create(&image)
        .and_then(|f| f.set_len(16 << 20))
        .expect("image");
    run("mkfs.ext4", &["-F", "-q", "-b", "1024", s(&image)]).expect("mkfs.ext4");
    let vault = outer.path().join("vault");
    std::fs::create_dir(&vault).expect("mkdir");
    let lo = Loop::attach(&image).expect("losetup");
    let _mount = Mount::new(lo.dev(), &vault, &[]).expect("mount");

    let src = TempTree::new();
    let mut long = PathBuf::from("long");
    for i in 0..6 {
        long.push(format!("{i}{}", "n".repeat(199)));
    }
    src.file(long.join("same/f"), b"unchanged, ~1.2 KB deep")
        .file(long.join("change"), b"v0")
        .file("short/keep/f", b"unchanged, shallow");
    let job = job_config("small", src.path(), &vault);
    let job_dir = job.job_dir();
    let mut recorded = std::collections::BTreeMap::new();
    let mut snap = || match snapshot_with_scan(&job).expect("snapshot") {
        SnapshotOutcome::Committed(v) => {
            recorded.insert(v.name.to_string(), tree_state(src.path()));
        }
        SnapshotOutcome::Unchanged => panic!("nothing committed"),
    };
    snap();
    src.file(long.join("change"), b"v1!");
    snap();
    assert_all_versions(&job_dir, &recorded);
    let links = links_of(&job_dir, 1);
    assert!(links.contains(&PathBuf::from("short")), "{links:?}");
    assert!(!links.contains(&long.join("same")), "{links:?}");
    let folder = reverberator::vault::layout::JobFolder::open(&job_dir).expect("job folder");
    let problems = reverberator::vault::read::verify::verify(&folder);
    assert!(problems.is_empty(), "verify: {problems:?}");
}

/// A path of 20 components and `len` bytes below `first` (one char).
fn path_of_len(first: char, len: usize) -> PathBuf {
    let names = len - 19;
    let (each, extra) = (names / 20, names % 20);
    let mut p = PathBuf::new();
    for i in 0..20 {
        let n = each + usize::from(i < extra);
        p.push(format!("{first}{}", "x".repeat(n - 1)));
    }
    p
}

/// Two snapshots of `src` into `vault`, the second after `chg` files beside `dirs`
/// changed; every version checked. The links of version 1.
fn two_versions(
    src: &TempTree,
    vault: &Path,
    dirs: &[&PathBuf],
) -> std::collections::HashSet<PathBuf> {
    let job = job_config("small", src.path(), vault);
    let mut recorded = std::collections::BTreeMap::new();
    for round in 0..2 {
        for d in dirs {
            src.file(d.with_file_name("chg"), format!("round {round}"));
        }
        match snapshot_with_scan(&job).expect("snapshot") {
            SnapshotOutcome::Committed(v) => {
                recorded.insert(v.name.to_string(), tree_state(src.path()));
            }
            SnapshotOutcome::Unchanged => panic!("nothing committed"),
        }
    }
    assert_all_versions(&job.job_dir(), &recorded);
    let folder = reverberator::vault::layout::JobFolder::open(&job.job_dir()).expect("job folder");
    let problems = reverberator::vault::read::verify::verify(&folder);
    assert!(problems.is_empty(), "verify: {problems:?}");
    links_of(&job.job_dir(), 1)
}

/// A 256 MiB btrfs with 4 KiB nodes (symlinks up to 3949 bytes) mounted at `vault`; `None`
/// (with the reason printed) where there is no btrfs. Unmounted and detached on drop.
struct SmallBtrfs {
    vault: PathBuf,
    _mount: Mount,
    _lo: Loop,
    _outer: tempfile::TempDir,
}

impl SmallBtrfs {
    fn new() -> Option<SmallBtrfs> {
        let outer = tempfile::tempdir().expect("tempdir");
        let image = outer.path().join("btrfs.img");
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(256 << 20))
            .expect("image");
        if let Err(e) = run("mkfs.btrfs", &["-q", "-n", "4096", "-s", "4096", s(&image)]) {
            crate::util::skipped(format_args!("no btrfs here: {e}"));
            return None;
        }
        let vault = outer.path().join("vault");
        std::fs::create_dir(&vault).expect("mkdir");
        let lo = Loop::attach(&image).expect("losetup");
        let mount = Mount::new(lo.dev(), &vault, &[]).expect("mount");
        Some(SmallBtrfs {
            vault,
            _mount: mount,
            _lo: lo,
            _outer: outer,
        })
    }
}

#[test]
fn a_btrfs_vault_refusing_a_link_gets_a_real_folder() {
    require_mount!();
    let Some(fs) = SmallBtrfs::new() else { return };
    let vault = fs.vault.clone();
    // Link texts are 90 bytes longer than the path: 3890 fits btrfs' 3949, 4000 does not
    // (but passes the length check made against the kernel's 4095).
    let src = TempTree::new();
    let (fits, refused) = (path_of_len('a', 3800), path_of_len('b', 3910));
    for d in [&fits, &refused] {
        src.file(d.join("f"), b"unchanged");
    }
    let links = two_versions(&src, &vault, &[&fits, &refused]);
    assert!(links.contains(&fits), "{links:?}");
    assert!(!links.contains(&refused), "{links:?}");
}

/// A retire on a btrfs vault (4 KiB nodes): a folder moved to a deep path after V0 lands in
/// the heir at that path, and V2's link to it would need a 3,999-byte text. That passes the
/// length check made against the kernel's 4095 but not btrfs' 3949: the refusal comes from
/// `symlinkat` while the retire prepares its new links, before anything visible changed,
/// and the link is made a real folder instead.
/// Three versions in `fs`: V0 holds `short/moved`; V1 links it at a 3,906-byte path (a
/// short link: into V0); V2 changes a file beside it and keeps the link. Retiring V0 moves
/// the folder into V1 at the long path, where V2's link would need a 3,999-byte text.
/// Returns the job and the long path.
fn moved_deep(fs: &SmallBtrfs) -> (crate::retire::harness::Job, PathBuf) {
    let mut job = crate::retire::harness::Job::in_vault(TempTree::new(), &fs.vault);
    let deep = path_of_len('c', 3900);
    let moved = deep.join("moved");
    job.src
        .file("short/moved/f", b"moves deep")
        .file(deep.join("chg"), b"0");
    job.snap().expect("V0");
    job.snap_move("short/moved", moved.to_str().unwrap())
        .expect("V1");
    job.src.file(deep.join("chg"), b"2");
    job.snap().expect("V2");
    (job, moved)
}

#[test]
fn a_btrfs_vault_refusing_a_repointed_link_makes_it_real() {
    require_mount!();
    let Some(fs) = SmallBtrfs::new() else { return };
    let (mut job, moved) = moved_deep(&fs);
    let folder = reverberator::vault::layout::JobFolder::open(&job.job_dir()).expect("folder");
    let reasons = vec![reverberator::vault::retire::RetireReason::Requested];
    let planned =
        reverberator::vault::retire::plan(&folder, folder.versions().unwrap()[0].number, reasons)
            .expect("plan");
    let repoints: Vec<_> = planned.repoints.iter().map(|r| &r.path).collect();
    assert_eq!(
        repoints,
        [&moved],
        "planned as a repoint: only btrfs refuses it"
    );
    drop(folder);
    let report = job.retire_keep(2);
    let plan = &report.retired[0].plan;
    let real: Vec<_> = plan.materialize.iter().map(|m| &m.path).collect();
    assert_eq!(real, [&moved], "V2's link becomes real");
    assert!(plan.repoints.is_empty(), "{:?}", plan.repoints);
    job.check();
    let v2 = job.job_dir().join(job.names().last().expect("V2"));
    let meta = std::fs::symlink_metadata(v2.join(&moved)).expect("lstat");
    assert!(meta.is_dir(), "a real folder in V2");
}

/// The same retire killed right after its intent is written (before the refusal is found
/// and the intent rewritten): the next writer's replay meets the refusal itself and makes
/// the link real too, instead of failing at every replay.
#[test]
fn a_replay_converts_a_refused_link_too() {
    require_mount!();
    let Some(fs) = SmallBtrfs::new() else { return };
    let (mut job, moved) = moved_deep(&fs);
    let status = crate::retire::kill::run_child(&job, 1);
    let aborted = std::os::unix::process::ExitStatusExt::signal(&status) == Some(libc::SIGABRT);
    assert!(
        aborted,
        "the child was not stopped after its intent: {status:?}"
    );
    let intent = job.job_dir().join(".reverberator/retire.intent");
    assert!(intent.exists(), "no intent left to replay");
    let report = job.retire_keep(2);
    let done = report
        .recovered
        .as_ref()
        .expect("the replay finished the retire");
    let real: Vec<_> = done.plan.materialize.iter().map(|m| &m.path).collect();
    assert_eq!(real, [&moved], "the replay made V2's link real");
    assert!(!intent.exists());
    job.forget(&done.plan.retired.to_string());
    job.check();
}
