//! `reverberator prune`: keep_versions, byte and inode budgets, `%`/`i%` budgets on a
//! small loop-mounted ext4, the newest version over budget, `--dry-run`.

use std::path::{Path, PathBuf};
use std::process::Command;

use reverberator::vault::layout::JobFolder;
use reverberator::vault::retire;

use super::harness::Job;
use crate::util::{self, TempTree};

/// A job with `n` versions; version i rewrites file `f{i % 3}` with `size` bytes.
fn job_with_versions(job: &mut Job, n: usize, size: usize) {
    job_with_files(job, n, size, 3);
}

/// A job with `n` versions; version i rewrites file `f{i % files}` with `size` bytes.
fn job_with_files(job: &mut Job, n: usize, size: usize, files: usize) {
    job.src.dir("stay/deep").file("stay/deep/s", "s");
    for i in 0..n {
        job.src.file(format!("f{}", i % files), vec![i as u8; size]);
        job.src.dir(format!("d{i}")).file(format!("d{i}/x"), "x");
        job.snap().expect("a new version");
    }
}

/// What the versions hold on disk (recounted), plus the rest of the job folder.
fn on_disk(job: &Job) -> retire::Usage {
    let folder = JobFolder::open(&job.job_dir()).unwrap();
    let versions = folder.versions().unwrap();
    retire::recount(&folder, &versions).unwrap().total()
}

fn ok(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "prune failed: {}\n{}",
        util::stdout(o),
        util::stderr(o)
    );
    util::stdout(o)
}

#[test]
fn prune_keeps_keep_versions() {
    let mut job = Job::new();
    job_with_versions(&mut job, 5, 100);
    let out = ok(&job.prune("keep_versions = 2", &[]));
    let gone = job.forget_gone();
    assert_eq!(gone.len(), 3, "{out}");
    for (g, count) in gone.iter().zip([5, 4, 3]) {
        let line = format!("retired {g} ({count} versions, keep_versions = 2)");
        assert!(out.contains(&line), "no `{line}` in:\n{out}");
    }
    job.check();
    let out = ok(&job.prune("keep_versions = 2", &[]));
    assert!(out.contains("nothing to retire"), "{out}");
    let journal = std::fs::read_to_string(job.job_dir().join("journal.tsv")).unwrap();
    assert_eq!(
        journal.lines().filter(|l| l.contains("\tretire\t")).count(),
        3,
        "{journal}"
    );
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let mut job = Job::new();
    job_with_versions(&mut job, 3, 100);
    let index = std::fs::read(job.job_dir().join("index.tsv")).unwrap();
    let out = ok(&job.prune("keep_versions = 1", &["--dry-run"]));
    let names = job.names();
    assert!(out.contains(&format!("would retire {}", names[0])), "{out}");
    assert!(
        out.contains(&format!("would then retire {}", names[1])),
        "{out}"
    );
    assert!(out.contains("  move    "), "{out}");
    assert_eq!(job.names(), names);
    assert_eq!(
        std::fs::read(job.job_dir().join("index.tsv")).unwrap(),
        index
    );
    job.check();
}

#[test]
fn prune_meets_a_byte_budget() {
    let mut job = Job::new();
    job_with_files(&mut job, 6, 64 * 1024, 1);
    let before = on_disk(&job);
    // Room for about half of what is there.
    let budget = before.bytes / 2;
    let out = ok(&job.prune(&format!("vault_limit = \"{budget}\""), &[]));
    assert!(out.contains("recounted the job folder"), "{out}");
    assert!(job.job_dir().join(".reverberator/recounted").exists());
    let gone = job.forget_gone();
    assert!(!gone.is_empty() && !job.names().is_empty(), "{out}");
    let after = on_disk(&job);
    assert!(after.bytes <= budget, "{after:?} > {budget}\n{out}");
    job.check();
}

#[test]
fn prune_meets_an_inode_budget() {
    let mut job = Job::new();
    job_with_versions(&mut job, 6, 10);
    let before = on_disk(&job);
    let budget = before.inodes * 2 / 3;
    let out = ok(&job.prune(&format!("vault_limit = \"i{budget}\""), &[]));
    let gone = job.forget_gone();
    assert!(!gone.is_empty(), "{out}");
    let after = on_disk(&job);
    assert!(after.inodes <= budget, "{after:?} > {budget}\n{out}");
    job.check();
}

#[test]
fn the_newest_version_over_budget_is_kept_and_flagged() {
    let mut job = Job::new();
    job_with_versions(&mut job, 3, 4096);
    let newest = job.names().pop().unwrap();
    let o = job.prune("vault_limit = \"1\"", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", util::stderr(&o));
    assert!(
        util::stderr(&o).contains("over budget"),
        "{}",
        util::stderr(&o)
    );
    job.forget_gone();
    assert_eq!(job.names(), vec![newest]);
    let flag = retire::over_budget(&job.job_dir()).unwrap();
    assert!(flag.is_some_and(|m| m.contains("alone exceeds")));
    let journal = std::fs::read_to_string(job.job_dir().join("journal.tsv")).unwrap();
    assert!(
        journal
            .lines()
            .any(|l| l.contains("\terror\t") && l.contains("over budget")),
        "{journal}"
    );
    job.check();
    // Within budget again: the flag goes.
    ok(&job.prune("", &[]));
    assert!(retire::over_budget(&job.job_dir()).unwrap().is_none());
}

/// A small ext4 mounted on a loop device; unmounted on drop.
struct LoopFs {
    dir: TempTree,
    mount: PathBuf,
}

impl LoopFs {
    /// `None` (with the reason printed) where mounting is not permitted.
    fn new(mib: u64) -> Option<LoopFs> {
        let dir = TempTree::new();
        let img = dir.path().join("fs.img");
        let mount = dir.path().join("mnt");
        std::fs::create_dir(&mount).unwrap();
        let f = std::fs::File::create(&img).unwrap();
        f.set_len(mib << 20).unwrap();
        let mkfs = Command::new("mkfs.ext4")
            .args(["-F", "-q"])
            .arg(&img)
            .status();
        if !mkfs.is_ok_and(|s| s.success()) {
            crate::util::skipped("mkfs.ext4 is not available");
            return None;
        }
        let m = Command::new("mount")
            .args(["-o", "loop"])
            .arg(&img)
            .arg(&mount)
            .output();
        match m {
            Ok(o) if o.status.success() => Some(LoopFs { dir, mount }),
            Ok(o) => {
                crate::util::skipped(format_args!(
                    "cannot mount a loop filesystem here: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
                None
            }
            Err(e) => {
                crate::util::skipped(format_args!("cannot run mount: {e}"));
                None
            }
        }
    }

    fn vault(&self) -> PathBuf {
        let v = self.mount.join("vault");
        std::fs::create_dir_all(&v).unwrap();
        v
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount).status();
        let _ = self.dir.path();
    }
}

fn capacity(path: &Path) -> (u64, u64) {
    let c = reverberator::fs::capacity(path).unwrap();
    (c.bytes, c.inodes)
}

#[test]
fn percent_budgets_resolve_against_the_vault_filesystem() {
    let Some(fs) = LoopFs::new(64) else { return };
    let vault = fs.vault();
    let (bytes, inodes) = capacity(&vault);
    // Bytes: 4% of ~57 MB is ~2.2 MB; 8 versions of 512 KiB files are more.
    let mut job = Job::in_vault(TempTree::new(), &vault);
    job_with_files(&mut job, 8, 512 * 1024, 1);
    let out = ok(&job.prune("vault_limit = \"4%\"", &[]));
    assert!(!job.forget_gone().is_empty(), "{out}");
    assert!(on_disk(&job).bytes <= bytes * 4 / 100, "{out}");
    job.check();
    drop(job);
    // Inodes: 1% of the inodes (another vault folder on the same filesystem).
    let vault = fs.mount.join("vault2");
    std::fs::create_dir(&vault).unwrap();
    let mut job = Job::in_vault(TempTree::new(), &vault);
    for i in 0..12 {
        for k in 0..4 {
            job.src.dir(format!("n{i}")).file(format!("n{i}/{k}"), "i");
        }
        job.snap();
    }
    let budget = inodes / 100;
    assert!(
        on_disk(&job).inodes > budget,
        "the test tree is too small for i1%"
    );
    let out = ok(&job.prune("vault_limit = \"i1%\"", &[]));
    assert!(!job.forget_gone().is_empty(), "{out}");
    assert!(on_disk(&job).inodes <= budget, "{out}");
    job.check();
}

/// A vault out of inodes: a retire that cannot make its new links (while preparing, before
/// any exchange) changes nothing and leaves no intent behind, so the job is not stuck
/// replaying it; with room again, the retire goes through. Inodes are freed one at a time
/// until it does, so every stage that can run out is met.
#[test]
fn a_retire_without_room_for_its_links_changes_nothing() {
    let Some(fs) = LoopFs::new(16) else { return };
    let vault = fs.vault();
    let mut job = Job::in_vault(TempTree::new(), &vault);
    job_with_files(&mut job, 4, 10, 3);
    let filler = fs.mount.join("filler");
    std::fs::create_dir(&filler).unwrap();
    let mut made = 0usize;
    loop {
        match std::fs::File::create_new(filler.join(made.to_string())) {
            Ok(_) => made += 1,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling the inodes: {e}"),
        }
    }
    let intent = job.job_dir().join(".reverberator/retire.intent");
    let mut failed_preparing = 0;
    for freed in 1..=made {
        std::fs::remove_file(filler.join((made - freed).to_string())).unwrap();
        match job.try_retire_keep(2) {
            Ok(report) => {
                assert_eq!(report.retired.len(), 2, "after freeing {freed} inode(s)");
                break;
            }
            Err(e) => {
                assert!(!intent.exists(), "freed {freed}: {e}: the intent stayed");
                eprintln!("freed {freed}: {e}");
                // A new link made in the scratch folder: `…/retire-tmp/N`.
                failed_preparing += usize::from(e.to_string().contains("retire-tmp/"));
                job.check();
            }
        }
        assert!(freed < 64, "the retire never went through");
    }
    assert!(failed_preparing > 0, "no attempt failed while preparing");
    job.check();
}
