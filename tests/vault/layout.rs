//! What a version is made of: links, copies, fallbacks, modes.

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use reverberator::change::{Change, ChangeSet};
use reverberator::scan::{delta, ScanOutcome};
use reverberator::vault::snapshot::{snapshot, SnapshotOutcome};
use reverberator::writer::snapshot_with_scan;

use super::*;

#[test]
fn snapshot_moves_link_old_bytes() {
    let mut s = Series::new(Env::new("moves"));
    s.src()
        .file("d/sub/f1", b"one")
        .file("d/sub/f2", b"two")
        .file("loose", b"loose bytes");
    let v0 = s.snap().unwrap();
    s.src().rename("d/sub", "moved").rename("loose", "d/loose2");
    let mut c = ChangeSet::new();
    c.record(
        "moved",
        Change::Moved {
            from: "d/sub".into(),
        },
    );
    c.record(
        "d/loose2",
        Change::Moved {
            from: "loose".into(),
        },
    );
    let v1 = s.snap_changes(&c).unwrap();
    s.check();
    let job_dir = s.env.job_dir();
    // The moved directory is one structural link into V0, the moved file its old inode.
    let link = std::fs::read_link(job_dir.join(&v1).join("moved")).unwrap();
    assert_eq!(link, Path::new("..").join(&v0).join("d/sub"));
    let old = std::fs::metadata(job_dir.join(&v0).join("loose")).unwrap();
    let new = std::fs::symlink_metadata(job_dir.join(&v1).join("d/loose2")).unwrap();
    assert_eq!((old.dev(), old.ino()), (new.dev(), new.ino()));
}

#[test]
fn snapshot_hard_links_unchanged_files_and_links_unchanged_dirs() {
    let mut s = Series::new(Env::new("links"));
    s.src()
        .file("top/changed", b"v0")
        .file("top/same", b"same")
        .file("other/deep/file", b"untouched");
    let v0 = s.snap().unwrap();
    s.src().file("top/changed", b"v1 content");
    let v1 = s.snap().unwrap();
    s.check();
    let j = s.env.job_dir();
    let a = std::fs::symlink_metadata(j.join(&v0).join("top/same")).unwrap();
    let b = std::fs::symlink_metadata(j.join(&v1).join("top/same")).unwrap();
    assert_eq!(a.ino(), b.ino(), "unchanged file is a hard link");
    let link = std::fs::read_link(j.join(&v1).join("other")).unwrap();
    assert_eq!(link, Path::new("..").join(&v0).join("other"));
    // Next version: `other` must link to V0 again (one hop), not to V1's link.
    s.src().file("top/changed", b"v2 content!");
    let v2 = s.snap().unwrap();
    let link = std::fs::read_link(j.join(&v2).join("other")).unwrap();
    assert_eq!(link, Path::new("..").join(&v0).join("other"));
    s.check();
}

#[test]
fn snapshot_cost_grows_with_the_change_not_the_tree() {
    let mut s = Series::new(Env::new("cost"));
    // 20 folders x 20 folders x 25 files = 10,000 files.
    for i in 0..20 {
        for j in 0..20 {
            for k in 0..25 {
                s.src()
                    .file(format!("d{i:02}/e{j:02}/f{k:02}"), format!("{i}/{j}/{k}"));
            }
        }
    }
    s.snap().unwrap();
    s.src().file("d07/e11/f03", b"changed content");
    let ScanOutcome::Delta(c) = delta(&s.env.job_config()).unwrap() else {
        panic!()
    };
    assert_eq!(c.len(), 1, "{c:?}");
    let v1 = s.snap().unwrap();
    let root = s.env.job_dir().join(&v1);
    let (entries, copied) = count_entries(&root);
    // Root (20) + d07 (20) + d07/e11 (25) = 65 entries, 3 real directories.
    assert!(entries <= 70, "{entries} entries in the new version");
    assert_eq!(copied, 1, "exactly one file copied");
    s.check();
}

#[test]
fn snapshot_attributes_only_clones_previous_bytes() {
    let mut s = Series::new(Env::with_extra("attr", "attributes_only = true"));
    let mut job = s.env.job_config();
    job.settings.attributes_only = true;
    s.src().file("f", b"content");
    s.record(snapshot_with_scan(&job).unwrap());
    s.src().chmod("f", 0o640);
    let v1 = s.record(snapshot_with_scan(&job).unwrap()).unwrap();
    s.check();
    let m = std::fs::symlink_metadata(s.env.job_dir().join(v1).join("f")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o640);
    assert_eq!(m.nlink(), 1, "a new inode, not a hard link to the old mode");
}

#[test]
fn snapshot_excludes_and_a_vault_inside_the_source() {
    let src = TempTree::new();
    src.file("keep.txt", b"k")
        .file("skip.tmp", b"t")
        .file("sub/also.tmp", b"t")
        .dir("vault");
    let mut job = job_config("inside", src.path(), &src.path().join("vault"));
    job.settings.exclude = reverberator::config::Excludes::new(&["*.tmp"]).unwrap();
    let SnapshotOutcome::Committed(v0) = snapshot_with_scan(&job).unwrap() else {
        panic!()
    };
    let state = version_state(&job.job_dir(), &v0.name.to_string());
    let paths: Vec<&Path> = state.keys().map(PathBuf::as_path).collect();
    assert_eq!(
        paths,
        vec![Path::new(""), Path::new("keep.txt"), Path::new("sub")]
    );
    // The vault growing inside the source is not a change.
    assert!(matches!(
        snapshot_with_scan(&job).unwrap(),
        SnapshotOutcome::Unchanged
    ));
}

#[test]
fn snapshot_referenced_mode_links_the_live_source() {
    let env = Env::new("ref");
    env.src.file("a/f", b"a0").file("b/g", b"b0");
    let mut job = env.job_config();
    job.settings.keep_full_copy = false;
    let SnapshotOutcome::Committed(v0) = snapshot_with_scan(&job).unwrap() else {
        panic!()
    };
    let j = env.job_dir();
    let v0 = v0.name.to_string();
    assert_eq!(
        std::fs::read_link(j.join(&v0).join("a")).unwrap(),
        env.src.path().join("a")
    );
    // Nothing changed: the live references are not reported as changes.
    assert!(matches!(
        snapshot_with_scan(&job).unwrap(),
        SnapshotOutcome::Unchanged
    ));
    let mut c = ChangeSet::new();
    env.src.file("a/f", b"a1 changed");
    c.record("a/f", Change::Modified);
    let SnapshotOutcome::Committed(v1) = snapshot(&job, &c).unwrap() else {
        panic!()
    };
    let v1 = v1.name.to_string();
    // `a` changed: copied whole into V1; `b` is still the live reference.
    assert_eq!(
        std::fs::read(j.join(&v1).join("a/f")).unwrap(),
        b"a1 changed"
    );
    assert!(std::fs::symlink_metadata(j.join(&v1).join("a"))
        .unwrap()
        .is_dir());
    assert_eq!(
        std::fs::read_link(j.join(&v1).join("b")).unwrap(),
        env.src.path().join("b")
    );
}

#[test]
fn snapshot_too_long_link_targets_make_the_directory_real() {
    let mut s = Series::new(Env::new("longlinks"));
    // A chain of 200-byte names, ~4020 bytes deep: a structural link down there would
    // need a target longer than ext4's 4095-byte symlink limit.
    let mut base = PathBuf::new();
    for i in 0..20 {
        base.push(format!("{i:02}{}", "L".repeat(198)));
    }
    s.src()
        .file(base.join("x/changed"), b"v0")
        .file(base.join("y/z/file"), b"unchanged below a long path");
    s.snap().unwrap();
    s.src().file(base.join("x/changed"), b"v1!");
    let v1 = s.snap().unwrap();
    s.check();
    // std::fs can't take paths this long; check through the harness' fd walk instead.
    let state = version_state(&s.env.job_dir(), &v1);
    assert_eq!(state[&base.join("y/z/file")].kind, 'f');
    let (dir, name) = (open_dir(&s.env.job_dir().join(&v1), &base), OsStr::new("y"));
    let st = nix::sys::stat::fstatat(
        Some(std::os::fd::AsRawFd::as_raw_fd(&dir)),
        name,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .unwrap();
    assert_eq!(
        st.st_mode & libc::S_IFMT,
        libc::S_IFDIR,
        "{}/y should be a real directory",
        v1
    );
}

#[test]
fn snapshot_link_limit_falls_back_to_a_copy() {
    let mut s = Series::new(Env::new("emlink"));
    s.src()
        .file("d/hot", b"popular bytes")
        .file("d/other", b"o0");
    let v0 = s.snap().unwrap();
    // Fill the hot inode's link count up to the filesystem's limit (65,000 on ext4).
    let spare = s.env.outer.path().join("spare-links");
    std::fs::create_dir(&spare).unwrap();
    let hot = s.env.job_dir().join(&v0).join("d/hot");
    let mut hit_limit = false;
    for i in 0..70_000 {
        match std::fs::hard_link(&hot, spare.join(i.to_string())) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EMLINK) => {
                hit_limit = true;
                break;
            }
            Err(e) => panic!("link: {e}"),
        }
    }
    if !hit_limit {
        crate::skip_test!("this filesystem allows more than 70,000 links per inode");
    }
    s.src().file("d/other", b"o1!");
    let v1 = s.snap().unwrap();
    s.check();
    let a = std::fs::symlink_metadata(&hot).unwrap();
    let b = std::fs::symlink_metadata(s.env.job_dir().join(&v1).join("d/hot")).unwrap();
    assert_ne!(a.ino(), b.ino(), "a copy, since the old inode is full");
    assert_eq!(b.nlink(), 1);
}

#[test]
fn snapshot_new_hard_link_to_an_unchanged_file_shares_its_inode() {
    let mut s = Series::new(Env::new("newlink"));
    s.src().file("d/a", b"shared").file("d/other", b"o");
    s.snap().unwrap();
    // `d/b` is a new name of `d/a`'s inode: the version must link them too.
    s.src().hard_link("d/a", "d/b").hard_link("d/a", "e/c");
    let v1 = s.snap().unwrap();
    s.check();
    let j = s.env.job_dir().join(v1);
    let a = std::fs::symlink_metadata(j.join("d/a")).unwrap();
    let b = std::fs::symlink_metadata(j.join("d/b")).unwrap();
    let c = std::fs::symlink_metadata(j.join("e/c")).unwrap();
    assert_eq!((a.ino(), a.ino()), (b.ino(), c.ino()));
}

#[test]
fn snapshot_modified_hard_link_never_takes_a_stale_sibling() {
    let mut s = Series::new(Env::new("stale"));
    s.src().file("d/a", b"old").hard_link("d/a", "d/b");
    s.snap().unwrap();
    // Written through `d/b`; an inotify ChangeSet may name only that path.
    s.src().file("d/b", b"new content");
    let mut c = ChangeSet::new();
    c.record("d/b", Change::Modified);
    let v1 = s.snap_changes(&c).unwrap();
    let j = s.env.job_dir().join(v1);
    assert_eq!(std::fs::read(j.join("d/b")).unwrap(), b"new content");
}
