//! The ctime shortcut of the delta scan (`scan::base`): what it may skip, what it must
//! still see, and when it must switch itself off.
//!
//! Each test builds its tree, lets the tree's ctimes age past the shortcut's margin, and
//! commits a version from a full scan (which records the scan base). A "stale" entry, whose
//! version-side copy is changed by hand while its source ctime stays old, shows whether the
//! shortcut was in use: `delta` skips it, `delta_full` reports it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use reverberator::change::{Change, ChangeSet};
use reverberator::config::JobConfig;
use reverberator::scan::base::{self, ScanBase, MARGIN_NS};
use reverberator::scan::{delta, delta_full, ScanOutcome};
use reverberator::writer::snapshot_with_scan;

use super::*;

/// Wait (bounded) until every ctime set so far is older than a scan starting now minus
/// the margin.
pub(crate) fn age_past_margin() {
    let margin = Duration::from_nanos(u64::try_from(MARGIN_NS).unwrap());
    let until = SystemTime::now() + margin + Duration::from_millis(100);
    let deadline = std::time::Instant::now() + margin * 3;
    while SystemTime::now() < until {
        assert!(
            std::time::Instant::now() < deadline,
            "clock did not advance"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn changes(outcome: ScanOutcome) -> ChangeSet {
    match outcome {
        ScanOutcome::Delta(c) => c,
        ScanOutcome::NoVersion => panic!("no version"),
    }
}

fn shortcut_scan(job: &JobConfig) -> ChangeSet {
    changes(delta(job).expect("delta"))
}

fn full_scan(job: &JobConfig) -> ChangeSet {
    changes(delta_full(job).expect("delta_full"))
}

/// Make the newest version's copy of `rel` longer than the source's (source ctime stays
/// old), run `f`, then put the copy back exactly (bytes and mtime).
fn with_stale_version<T>(job_dir: &Path, rel: &str, f: impl FnOnce() -> T) -> T {
    let at = job_dir.join("latest").join(rel);
    let bytes = std::fs::read(&at).unwrap();
    let mtime = std::fs::metadata(&at).unwrap().modified().unwrap();
    std::fs::write(&at, b"changed behind the scan's back").unwrap();
    let out = f();
    std::fs::write(&at, &bytes).unwrap();
    let file = std::fs::File::options().write(true).open(&at).unwrap();
    file.set_modified(mtime).unwrap();
    out
}

/// A series whose V0 was committed from a full scan of an aged tree holding `stale.txt`,
/// `a/f.txt` and `b/g.txt`.
fn aged_series(name: &str) -> Series {
    let mut s = Series::new(Env::new(name));
    s.src()
        .file("stale.txt", b"never touched")
        .file("a/f.txt", b"hello world")
        .file("b/g.txt", b"hello WORLD")
        .touch("a/f.txt", 1_600_000_000, 0)
        .touch("b/g.txt", 1_600_000_000, 0);
    age_past_margin();
    s.snap().expect("v0");
    let recorded = base::read(&s.env.job_dir()).expect("a full scan records its base");
    assert_eq!(recorded.version, 0);
    s
}

fn ctime_ns(path: &Path) -> i128 {
    let m = std::fs::symlink_metadata(path).unwrap();
    i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec())
}

/// Scan with the shortcut: it must report exactly `want` and skip the stale entry.
fn assert_shortcut_finds(s: &Series, want: &[(&str, Change)]) {
    let job = s.env.job_config();
    let found = with_stale_version(&s.env.job_dir(), "stale.txt", || shortcut_scan(&job));
    let got: Vec<(PathBuf, Change)> = found.iter().map(|(p, c)| (p.into(), c.clone())).collect();
    let want: Vec<(PathBuf, Change)> = want.iter().map(|(p, c)| (p.into(), c.clone())).collect();
    assert_eq!(got, want, "the shortcut was on (stale.txt skipped)");
}

#[test]
fn shortcut_sees_an_in_place_write_with_the_mtime_put_back() {
    let mut s = aged_series("ctime-write");
    s.src()
        .file("a/f.txt", b"HELLO WORLD")
        .touch("a/f.txt", 1_600_000_000, 0);
    assert_shortcut_finds(&s, &[("a/f.txt", Change::Modified)]);
    s.snap().expect("v1");
    s.check();
}

#[test]
fn shortcut_sees_an_old_file_moved_over_another() {
    let mut s = aged_series("ctime-mv");
    let bound = base::bound_ns(&base::read(&s.env.job_dir()).unwrap());
    // Same size, same mtime, old ctime before the rename.
    s.src().rename("b/g.txt", "a/f.txt");
    let moved = ctime_ns(&s.src().path().join("a/f.txt"));
    assert!(
        moved >= bound,
        "rename did not move the ctime on this filesystem"
    );
    assert_shortcut_finds(
        &s,
        &[
            ("a", Change::Attrib),
            ("a/f.txt", Change::Modified),
            ("b", Change::Attrib),
            ("b/g.txt", Change::Deleted),
        ],
    );
    s.snap().expect("v1");
    s.check();
}

#[test]
fn shortcut_sees_a_chmod() {
    let mut s = aged_series("ctime-chmod");
    s.src().chmod("a/f.txt", 0o600);
    assert_shortcut_finds(&s, &[("a/f.txt", Change::Attrib)]);
    s.snap().expect("v1");
    s.check();
}

#[test]
fn delta_full_finds_what_the_shortcut_trusts() {
    let s = aged_series("ctime-tradeoff");
    let job = s.env.job_config();
    let (fast, full) = with_stale_version(&s.env.job_dir(), "stale.txt", || {
        (shortcut_scan(&job), full_scan(&job))
    });
    assert!(fast.is_empty(), "{fast:?}");
    assert_eq!(full.get(Path::new("stale.txt")), Some(&Change::Modified));
    assert_eq!(full.len(), 1, "{full:?}");
    // Put back: both agree again.
    assert!(full_scan(&job).is_empty());
    s.check();
}

#[test]
fn shortcut_is_off_for_a_swapped_source_root() {
    let outer = TempTree::new();
    outer
        .file("src/a/f.txt", b"first tree")
        .file("other/a/f.txt", b"other tree, old ctime")
        .dir("vault");
    let job = job_config(
        "swap",
        &outer.path().join("src"),
        &outer.path().join("vault"),
    );
    age_past_margin();
    snapshot_with_scan(&job).expect("v0");
    assert!(base::read(&job.job_dir()).is_some());
    outer.rename("src", "src.old").rename("other", "src");
    // Every entry of the new root has an old ctime: only the root identity tells.
    let found = shortcut_scan(&job);
    assert_eq!(
        found.get(Path::new("a/f.txt")),
        Some(&Change::Modified),
        "{found:?}"
    );
}

#[test]
fn a_scan_base_from_the_future_or_naming_a_later_version_is_ignored() {
    let mut s = aged_series("ctime-skew");
    let dir = s.env.job_dir();
    let recorded = base::read(&dir).unwrap();
    let job = s.env.job_config();
    let hour = 3600 * 1_000_000_000;
    let future = ScanBase {
        stamp: base::Stamp {
            start_ns: base::now_ns() + hour,
            ..recorded.stamp
        },
        ..recorded
    };
    let later = ScanBase {
        version: 7,
        ..recorded
    };
    s.src().append("a/f.txt", b" appended");
    for bad in [future, later] {
        base::write(&dir, &bad).unwrap();
        // Ignored: the full comparison runs (the stale entry shows) and the change is seen.
        let found = with_stale_version(&dir, "stale.txt", || shortcut_scan(&job));
        assert_eq!(found.get(Path::new("stale.txt")), Some(&Change::Modified));
        assert_eq!(found.get(Path::new("a/f.txt")), Some(&Change::Modified));
    }
    s.snap().expect("v1");
    s.check();
    assert_eq!(
        base::read(&dir).unwrap().version,
        1,
        "the full scan re-records"
    );
}

#[test]
fn inotify_versions_keep_the_scan_base_full_scans_advance_it() {
    let mut s = aged_series("ctime-record");
    let dir = s.env.job_dir();
    let first = base::read(&dir).unwrap();
    s.src().append("a/f.txt", b"!");
    let mut set = ChangeSet::new();
    set.record("a/f.txt", Change::Modified);
    s.snap_changes(&set).expect("v1 from a ChangeSet");
    assert_eq!(base::read(&dir), Some(first));
    s.src().append("b/g.txt", b"!");
    s.snap().expect("v2 from a scan");
    let next = base::read(&dir).unwrap();
    assert_eq!(next.version, 2);
    assert!(next.stamp.start_ns > first.stamp.start_ns);
    s.check();
}

#[test]
fn a_scan_that_finds_nothing_advances_the_scan_base() {
    // V0 right after the writes: their ctimes lie within the margin of V0's scan, so the
    // shortcut cannot vouch for them and every start would compare them in full again.
    let mut s = Series::new(Env::new("ctime-unchanged"));
    s.src()
        .file("fresh.txt", b"just written")
        .file("d/g.txt", b"also");
    s.snap().expect("v0");
    let dir = s.env.job_dir();
    let job = s.env.job_config();
    let first = base::read(&dir).expect("v0's base");
    let stale = || with_stale_version(&dir, "fresh.txt", || shortcut_scan(&job));
    assert!(
        !stale().is_empty(),
        "a file written within the margin of the base is compared in full"
    );
    age_past_margin();
    assert!(matches!(
        snapshot_with_scan(&job).expect("scan"),
        reverberator::vault::snapshot::SnapshotOutcome::Unchanged
    ));
    let next = base::read(&dir).expect("re-recorded");
    assert_eq!(next.version, 0, "it still names the newest version");
    assert!(next.stamp.start_ns > first.stamp.start_ns);
    let stale = || with_stale_version(&dir, "fresh.txt", || shortcut_scan(&job));
    assert!(stale().is_empty(), "now the base vouches for it");
    // What changes after that scan is still seen.
    s.src().append("fresh.txt", b"!");
    let got: Vec<(PathBuf, Change)> = shortcut_scan(&job)
        .iter()
        .map(|(p, c)| (p.into(), c.clone()))
        .collect();
    assert_eq!(got, vec![(PathBuf::from("fresh.txt"), Change::Modified)]);
    s.snap().expect("v1");
    s.check();
}
