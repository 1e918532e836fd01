//! Extended attributes through delta scans: an xattr-only change (set, changed, removed) of
//! a file, a directory, a symlink or a FIFO is a change of the source, so the next version
//! holds the new xattrs while older versions keep theirs. The tree states of `util`
//! compare `user.*` and `trusted.*` xattrs, so `Series::check` proves every version
//! dereferences to its tree, xattrs included.

use std::path::Path;

use reverberator::change::Change;
use reverberator::scan::{delta, delta_full, ScanOutcome};

use super::scanbase::age_past_margin;
use super::*;

/// Whether `dir`'s filesystem takes `user.*` xattrs (printing why not).
fn user_xattrs_supported(dir: &Path) -> bool {
    let probe = dir.join(".xattr-probe");
    std::fs::write(&probe, b"").expect("probe file");
    let res = xattr::set(&probe, "user.probe", b"1");
    std::fs::remove_file(&probe).expect("remove probe");
    match res {
        Ok(()) => true,
        Err(e) => {
            crate::util::skipped(format_args!("user xattrs not supported here: {e}"));
            false
        }
    }
}

/// Set xattr `name` of `rel` in the tree (the entry itself, never a symlink's target).
fn set(t: &TempTree, rel: &str, name: &str, value: &[u8]) {
    xattr::set(t.path().join(rel), name, value).unwrap_or_else(|e| panic!("set {rel}: {e}"));
}

/// Remove xattr `name` of `rel` (not following).
fn unset(t: &TempTree, rel: &str, name: &str) {
    xattr::remove(t.path().join(rel), name).unwrap_or_else(|e| panic!("remove {rel}: {e}"));
}

/// xattr `name` of `rel` in version folder `v`, the last component not followed (end a
/// directory's `rel` in `/.`, so a structural link to it is followed).
fn in_version(s: &Series, v: &str, rel: &str, name: &str) -> Option<Vec<u8>> {
    xattr::get(s.env.job_dir().join(v).join(rel), name).expect("getxattr")
}

fn changes(outcome: ScanOutcome) -> Vec<(PathBuf, Change)> {
    match outcome {
        ScanOutcome::Delta(c) => c
            .iter()
            .map(|(p, c)| (p.to_path_buf(), c.clone()))
            .collect(),
        ScanOutcome::NoVersion => panic!("no version"),
    }
}

fn inode(path: &Path) -> u64 {
    std::fs::symlink_metadata(path).expect("stat").ino()
}

#[test]
fn snapshot_keeps_xattr_only_changes_of_files_and_directories() {
    let mut s = Series::new(Env::new("xattr"));
    if !user_xattrs_supported(s.src().path()) {
        return;
    }
    s.src()
        .file("a.txt", b"same bytes")
        .file("d/f.txt", b"inner")
        .file("d/g.txt", b"untouched")
        .file("k/h.txt", b"in a folder left alone until V2")
        .dir("e");
    set(s.src(), "a.txt", "user.tag", b"one");
    set(s.src(), "d", "user.colour", b"red");
    let v0 = s.snap().expect("v0");
    s.check();
    assert_eq!(s.snap(), None, "equal xattrs are no change");

    set(s.src(), "a.txt", "user.tag", b"two");
    set(s.src(), "d/f.txt", "user.new", b"x");
    unset(s.src(), "d", "user.colour");
    set(s.src(), "e", "user.empty", b"");
    let v1 = s.snap().expect("an xattr-only change makes a version");
    s.check();

    assert_eq!(
        in_version(&s, &v0, "a.txt", "user.tag"),
        Some(b"one".to_vec())
    );
    assert_eq!(
        in_version(&s, &v1, "a.txt", "user.tag"),
        Some(b"two".to_vec())
    );
    assert_eq!(
        in_version(&s, &v0, "d/.", "user.colour"),
        Some(b"red".to_vec())
    );
    assert_eq!(in_version(&s, &v1, "d/.", "user.colour"), None);
    assert_eq!(in_version(&s, &v0, "d/f.txt", "user.new"), None);
    assert_eq!(
        in_version(&s, &v1, "d/f.txt", "user.new"),
        Some(b"x".to_vec())
    );
    assert_eq!(in_version(&s, &v1, "e/.", "user.empty"), Some(Vec::new()));
    let jd = s.env.job_dir();
    assert_eq!(
        inode(&jd.join(&v0).join("d/g.txt")),
        inode(&jd.join(&v1).join("d/g.txt")),
        "an unchanged file beside them is still a hard link"
    );
    assert_eq!(
        s.snap(),
        None,
        "the copies reproduce what the scan compares"
    );

    // A directory unchanged since V0 is a structural link in V1; the root is compared too.
    assert!(
        links_of(&jd, 1).contains(Path::new("k")),
        "k is linked in V1"
    );
    set(s.src(), "k", "user.k", b"on a linked dir");
    set(s.src(), ".", "user.root", b"r");
    let v2 = s
        .snap()
        .expect("xattrs of a linked directory and of the root");
    s.check();
    assert_eq!(in_version(&s, &v1, "k/.", "user.k"), None);
    assert_eq!(
        in_version(&s, &v2, "k/.", "user.k"),
        Some(b"on a linked dir".to_vec())
    );
    assert_eq!(in_version(&s, &v2, ".", "user.root"), Some(b"r".to_vec()));
    assert_eq!(s.snap(), None);
    s.check();
}

#[test]
fn attributes_only_jobs_clone_with_the_new_xattrs() {
    let mut s = Series::new(Env::new("xattr-clone"));
    if !user_xattrs_supported(s.src().path()) {
        return;
    }
    s.src().file("a.txt", b"content kept by a clone");
    set(s.src(), "a.txt", "user.tag", b"one");
    set(s.src(), "a.txt", "user.gone", b"soon");
    let mut job = s.env.job_config();
    job.settings.attributes_only = true;
    let v0 = reverberator::writer::snapshot_with_scan(&job).expect("v0");
    let v0 = s.record(v0).expect("v0 committed");
    set(s.src(), "a.txt", "user.tag", b"two");
    unset(s.src(), "a.txt", "user.gone");
    let v1 = reverberator::writer::snapshot_with_scan(&job).expect("v1");
    let v1 = s.record(v1).expect("an xattr-only change makes a version");
    s.check();
    assert_eq!(
        in_version(&s, &v0, "a.txt", "user.gone"),
        Some(b"soon".to_vec())
    );
    assert_eq!(in_version(&s, &v1, "a.txt", "user.gone"), None);
    assert_eq!(
        in_version(&s, &v1, "a.txt", "user.tag"),
        Some(b"two".to_vec())
    );
}

/// With a scan base, only entries whose ctime moved get their xattrs read: a version-side
/// xattr changed behind the scan's back (source ctime old) is skipped by `delta` and found
/// by `delta_full`, for files and for directories.
#[test]
fn shortcut_reads_xattrs_only_where_the_ctime_moved() {
    let mut s = Series::new(Env::new("xattr-ctime"));
    if !user_xattrs_supported(s.src().path()) {
        return;
    }
    s.src().file("a.txt", b"a").file("d/f.txt", b"f").dir("e");
    set(s.src(), "a.txt", "user.tag", b"old");
    age_past_margin();
    let v0 = s.snap().expect("v0");
    set(s.src(), "a.txt", "user.tag", b"new");
    set(s.src(), "d", "user.dir", b"set");
    let jd = s.env.job_dir();
    let stale = [jd.join(&v0).join("d/f.txt"), jd.join(&v0).join("e")];
    for p in &stale {
        xattr::set(p, "user.stale", b"behind the scan's back").expect("set in vault");
    }
    let job = s.env.job_config();
    let fast = changes(delta(&job).expect("delta"));
    let full = changes(delta_full(&job).expect("delta_full"));
    for p in &stale {
        xattr::remove(p, "user.stale").expect("remove in vault");
    }
    let attrib = |p: &str| (PathBuf::from(p), Change::Attrib);
    assert_eq!(fast, vec![attrib("a.txt"), attrib("d")], "shortcut");
    assert_eq!(
        full,
        vec![attrib("a.txt"), attrib("d"), attrib("d/f.txt"), attrib("e")],
        "full"
    );
    s.snap().expect("v1");
    s.check();
}

/// `user.*` xattrs exist only on files and directories (Linux refuses them elsewhere);
/// as root, `trusted.*` ones of symlinks and FIFOs are versioned too.
#[test]
fn trusted_xattrs_of_symlinks_and_fifos_when_root() {
    let mut s = Series::new(Env::new("xattr-special"));
    if !is_root() {
        crate::skip_test!("trusted xattrs need root");
    }
    s.src().file("f", b"f").symlink("l", "f").fifo("p");
    if let Err(e) = xattr::set(s.src().path().join("l"), "trusted.t", b"1") {
        crate::skip_test!("trusted xattrs on symlinks not supported here: {e}");
    }
    let user = xattr::set(s.src().path().join("l"), "user.t", b"1");
    assert!(user.is_err(), "Linux refuses user xattrs on symlinks");
    set(s.src(), "p", "trusted.t", b"fifo");
    let v0 = s.snap().expect("v0");
    s.check();
    assert_eq!(s.snap(), None);
    set(s.src(), "l", "trusted.t", b"2");
    unset(s.src(), "p", "trusted.t");
    let v1 = s
        .snap()
        .expect("an xattr-only change of a symlink and a FIFO");
    s.check();
    assert_eq!(in_version(&s, &v0, "l", "trusted.t"), Some(b"1".to_vec()));
    assert_eq!(in_version(&s, &v1, "l", "trusted.t"), Some(b"2".to_vec()));
    assert_eq!(
        in_version(&s, &v0, "p", "trusted.t"),
        Some(b"fifo".to_vec())
    );
    assert_eq!(in_version(&s, &v1, "p", "trusted.t"), None);
    assert_eq!(s.snap(), None);
}

/// A POSIX access ACL as the kernel stores it: owner rw, user `uid` with `perm`, group r,
/// mask rw, other r (the mask keeps a 0664 mode as it is).
fn acl(uid: u32, perm: u16) -> Vec<u8> {
    let mut out = 2u32.to_le_bytes().to_vec();
    let any = u32::MAX;
    for (tag, perm, id) in [
        (0x01u16, 6u16, any),
        (0x02, perm, uid),
        (0x04, 4, any),
        (0x10, 6, any),
        (0x20, 4, any),
    ] {
        out.extend(tag.to_le_bytes());
        out.extend(perm.to_le_bytes());
        out.extend(id.to_le_bytes());
    }
    out
}

/// An ACL-only change (`setfacl` with the mode unchanged) makes a version holding it, and
/// the copy reproduces it (the next scan finds nothing).
#[test]
fn acl_only_changes_are_versioned() {
    const ACL: &str = "system.posix_acl_access";
    let mut s = Series::new(Env::new("xattr-acl"));
    s.src().file("a.txt", b"shared").chmod("a.txt", 0o664);
    let v0 = s.snap().expect("v0");
    if let Err(e) = xattr::set(s.src().path().join("a.txt"), ACL, &acl(1234, 6)) {
        crate::skip_test!("POSIX ACLs not supported here: {e}");
    }
    let v1 = s.snap().expect("an ACL-only change makes a version");
    assert_eq!(s.snap(), None, "the copy reproduces the ACL");
    xattr::set(s.src().path().join("a.txt"), ACL, &acl(1234, 4)).expect("setfacl");
    let v2 = s.snap().expect("a changed ACL makes a version");
    assert_eq!(s.snap(), None);
    s.check();
    let mode = |v: &str| {
        std::fs::symlink_metadata(s.env.job_dir().join(v).join("a.txt"))
            .unwrap()
            .mode()
            & 0o7777
    };
    assert_eq!(
        [mode(&v0), mode(&v1), mode(&v2)],
        [0o664; 3],
        "the mode stayed"
    );
    assert_eq!(in_version(&s, &v0, "a.txt", ACL), None);
    assert_eq!(in_version(&s, &v1, "a.txt", ACL), Some(acl(1234, 6)));
    assert_eq!(in_version(&s, &v2, "a.txt", ACL), Some(acl(1234, 4)));
}
