//! Unit tests of restore over hand-built job folders. `crate::fs` builds what `std` cannot
//! reach (paths past `PATH_MAX`, made with `*at` calls from open folders).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;

use super::super::fixture::Fixture;
use super::*;

fn request(path: &str, which: Which, to: &Path) -> RestoreRequest {
    RestoreRequest {
        path: PathBuf::from(path),
        which,
        to: to.to_path_buf(),
        overwrite: false,
    }
}

fn restore(f: &Fixture, req: &RestoreRequest) -> RestoreReport {
    let plan = plan_restore(&f.folder, req).unwrap();
    assert!(plan.blocking().is_empty(), "{:?}", plan.conflicts);
    let report = plan.apply(&mut |_, _| {}).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    report
}

/// What a restored tree holds, without following anything: path -> description.
fn tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, path: &Path, out: &mut BTreeMap<String, String>) {
        let meta = std::fs::symlink_metadata(path).unwrap();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let desc = if meta.file_type().is_symlink() {
            format!("-> {}", std::fs::read_link(path).unwrap().display())
        } else if meta.is_dir() {
            for e in std::fs::read_dir(path).unwrap() {
                walk(root, &e.unwrap().path(), out);
            }
            format!("dir {:o} {}", meta.mode() & 0o7777, meta.mtime())
        } else {
            let data = std::fs::read(path).unwrap();
            format!("{} {}", String::from_utf8_lossy(&data), meta.mtime())
        };
        out.insert(rel, desc);
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn a_file_from_a_version() {
    let f = Fixture::three_versions();
    let to = f.tmp.path().join("out");
    restore(&f, &request("a/x", Which::Number(1), &to));
    assert_eq!(std::fs::read(to.join("x")).unwrap(), b"x1");
    let m = std::fs::symlink_metadata(to.join("x")).unwrap();
    assert!(m.is_file());
    assert_eq!(m.mtime(), 1001);
    restore(
        &f,
        &request("a/x", Which::Number(0), &f.tmp.path().join("old")),
    );
    assert_eq!(std::fs::read(f.tmp.path().join("old/x")).unwrap(), b"x0");
}

#[test]
fn a_directory_through_structural_links() {
    let f = Fixture::three_versions();
    let to = f.tmp.path().join("out");
    // V2/a -> V1/a, whose b -> V0/a/b: all of it comes back as real folders.
    restore(&f, &request("a", Which::Newest, &to));
    let got = tree(&to);
    let want: BTreeMap<String, String> = [
        ("", "dir"),
        ("a", "dir 755 1000"),
        ("a/b", "dir 755 1000"),
        ("a/b/deep", "d 1000"),
        ("a/x", "x1 1001"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (k, v) in want.iter().skip(1) {
        assert_eq!(&got[k], v, "{k}");
    }
    // A moved directory is restored under its new name from its old bytes.
    restore(&f, &request("moved", Which::Number(2), &to));
    assert_eq!(std::fs::read(to.join("moved/m")).unwrap(), b"m");
}

#[test]
fn the_whole_tree_with_links_kept_and_symlinks_not_followed() {
    let f = Fixture::three_versions();
    let to = f.tmp.path().join("all");
    let report = restore(&f, &request(".", Which::Number(1), &to));
    let got = tree(&to);
    let names: Vec<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "", "a", "a/b", "a/b/deep", "a/x", "hl1", "hl2", "keep", "keep/k", "moved", "moved/m",
            "new", "new/n", "sym", "todir", "todir/t", "tofile", "top",
        ]
    );
    assert_eq!(got["sym"], "-> /etc");
    assert!(std::fs::symlink_metadata(to.join("sym"))
        .unwrap()
        .file_type()
        .is_symlink());
    let (h1, h2) = (
        std::fs::metadata(to.join("hl1")).unwrap(),
        std::fs::metadata(to.join("hl2")).unwrap(),
    );
    assert_eq!(h1.ino(), h2.ino());
    assert_eq!(h1.nlink(), 2);
    assert_eq!(report.hard_links, 1);
    assert_ne!(
        std::fs::metadata(to.join("top")).unwrap().ino(),
        std::fs::metadata(f.at(0, "top")).unwrap().ino(),
        "restored files are copies, not links into the vault"
    );
    // The folder created for the whole tree gets the root's attributes.
    assert_eq!(got[""], "dir 755 1001");
}

#[test]
fn at_a_time_takes_the_newest_version_not_after_it() {
    let f = Fixture::three_versions();
    let t = Fixture::name(1).time + chrono::Duration::seconds(30);
    let to = f.tmp.path().join("out");
    let plan = plan_restore(&f.folder, &request("top", Which::At(t), &to)).unwrap();
    assert_eq!(plan.version, Fixture::name(1));
    let exact = Fixture::name(2).time;
    let plan = plan_restore(&f.folder, &request("top", Which::At(exact), &to)).unwrap();
    assert_eq!(plan.version, Fixture::name(2));
    let early = Fixture::name(0).time - chrono::Duration::seconds(1);
    let err = plan_restore(&f.folder, &request("top", Which::At(early), &to)).unwrap_err();
    assert!(matches!(err, ReadError::NoneAtTime { .. }), "{err}");
}

#[test]
fn conflicts_are_found_before_anything_is_written() {
    let f = Fixture::three_versions();
    let to = f.tmp.path().join("out");
    restore(&f, &request(".", Which::Number(1), &to));
    std::fs::write(to.join("top"), b"mine").unwrap();
    std::fs::remove_file(to.join("a/x")).unwrap();
    let req = request(".", Which::Number(2), &to);
    let plan = plan_restore(&f.folder, &req).unwrap();
    let conflicts: Vec<String> = plan.blocking().iter().map(|c| c.to_string()).collect();
    assert!(conflicts.contains(&format!(
        "{}: exists (not replaced without --overwrite)",
        to.join("top").display()
    )));
    assert!(
        !conflicts.iter().any(|c| c.contains("a/x")),
        "{conflicts:?}"
    );
    assert!(plan.apply(&mut |_, _| {}).is_err());
    assert_eq!(std::fs::read(to.join("top")).unwrap(), b"mine");
    assert!(!to.join("a/x").exists(), "nothing was written");
    // With --overwrite, files are replaced.
    let req = RestoreRequest {
        overwrite: true,
        ..req
    };
    restore(&f, &req);
    assert_eq!(std::fs::read(to.join("top")).unwrap(), b"t2");
    assert_eq!(std::fs::read(to.join("a/x")).unwrap(), b"x1");
    assert!(!to.join("new").exists() || to.join("new/n").exists());
}

#[test]
fn a_directory_in_the_way_is_never_replaced() {
    let f = Fixture::three_versions();
    let to = f.tmp.path().join("out");
    std::fs::create_dir_all(to.join("top/inside")).unwrap();
    let req = RestoreRequest {
        overwrite: true,
        ..request("top", Which::Newest, &to)
    };
    let plan = plan_restore(&f.folder, &req).unwrap();
    assert_eq!(
        plan.blocking(),
        [&Conflict {
            path: to.join("top"),
            fatal: true
        }]
    );
    assert!(to.join("top/inside").is_dir());
}

#[test]
fn bad_paths_are_refused() {
    let f = Fixture::three_versions();
    let to = f.tmp.path().join("out");
    for bad in ["/etc", "../x", "a/../../x"] {
        let err = plan_restore(&f.folder, &request(bad, Which::Newest, &to)).unwrap_err();
        assert!(matches!(err, ReadError::BadPath { .. }), "{bad}: {err}");
    }
    let err = plan_restore(&f.folder, &request("nope", Which::Newest, &to)).unwrap_err();
    assert!(matches!(err, ReadError::NotInVersion { .. }), "{err}");
    // A source symlink is a leaf: nothing below it is reachable.
    let err = plan_restore(&f.folder, &request("sym/passwd", Which::Newest, &to)).unwrap_err();
    assert!(matches!(err, ReadError::NotInVersion { .. }), "{err}");
    let err = plan_restore(&f.folder, &request("top", Which::Number(7), &to)).unwrap_err();
    assert!(err.to_string().contains("existing versions: 0-2"), "{err}");
    assert!(!to.exists());
}

#[test]
fn sparse_files_stay_sparse() {
    let f = Fixture::new();
    f.dir(0, "");
    let file = std::fs::File::create(f.at(0, "sparse")).unwrap();
    file.set_len(64 << 20).unwrap();
    std::os::unix::fs::FileExt::write_at(&file, b"end", (64 << 20) - 3).unwrap();
    drop(file);
    f.commit(&[0]);
    let to = f.tmp.path().join("out");
    restore(&f, &request("sparse", Which::Newest, &to));
    let m = std::fs::metadata(to.join("sparse")).unwrap();
    assert_eq!(m.len(), 64 << 20);
    assert!(m.blocks() * 512 < 1 << 20, "{} blocks", m.blocks());
}

/// Make `depth` nested folders of 200-byte names below `at` (fd-relative: the path gets
/// longer than PATH_MAX) and return the innermost one, open.
fn deep_dir(at: &Path, depth: usize) -> Dir {
    let mut dir = Dir::open(at).unwrap();
    for i in 0..depth {
        let name = format!("{i:03}-{}", "d".repeat(200));
        crate::fs::at::mkdir(&dir, name.as_ref(), 0o755).unwrap();
        dir = dir.open_child(name.as_ref()).unwrap();
    }
    dir
}

#[test]
fn hard_links_are_kept_beyond_path_max() {
    use crate::fs::OFlag;
    use std::io::Write;
    let f = Fixture::new();
    f.dir(0, "top").file(0, "top/short", b"x");
    let deep = deep_dir(&f.at(0, "top"), 25);
    let flags = OFlag::O_CREAT | OFlag::O_WRONLY;
    let mut leaf = deep.open_file("leaf".as_ref(), flags, 0o644).unwrap();
    leaf.write_all(b"deep").unwrap();
    drop(leaf);
    // "000-…/…/leaf" is restored first; "zz" (a short path) must become a link to it.
    let top = Dir::open(&f.at(0, "top")).unwrap();
    crate::fs::at::link(&deep, "leaf".as_ref(), &top, "zz".as_ref()).unwrap();
    f.commit(&[0]);
    let to = f.tmp.path().join("out");
    let report = restore(&f, &request("top", Which::Newest, &to));
    assert_eq!(report.hard_links, 1, "{report:?}");
    let zz = std::fs::metadata(to.join("top/zz")).unwrap();
    assert_eq!(zz.nlink(), 2);
    assert_eq!(std::fs::read(to.join("top/zz")).unwrap(), b"deep");
}

#[test]
fn symlinks_planted_in_the_destination_are_never_followed() {
    let f = Fixture::three_versions();
    let to = f.tmp.path().join("out");
    let outside = f.tmp.path().join("outside");
    std::fs::create_dir_all(&to).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, to.join("a")).unwrap();
    std::os::unix::fs::symlink(outside.join("t"), to.join("top")).unwrap();
    let req = request(".", Which::Number(1), &to);
    let plan = plan_restore(&f.folder, &req).unwrap();
    let in_the_way: Vec<&Path> = plan.blocking().iter().map(|c| c.path.as_path()).collect();
    assert_eq!(in_the_way, [to.join("a"), to.join("top")]);
    restore(
        &f,
        &RestoreRequest {
            overwrite: true,
            ..req
        },
    );
    assert!(
        std::fs::read_dir(&outside).unwrap().next().is_none(),
        "wrote outside"
    );
    assert_eq!(std::fs::read(to.join("a/x")).unwrap(), b"x1");
    assert!(std::fs::symlink_metadata(to.join("a")).unwrap().is_dir());
    assert!(std::fs::symlink_metadata(to.join("top")).unwrap().is_file());
    // The destination folder itself is not followed either.
    let link = f.tmp.path().join("link");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let err = plan_restore(&f.folder, &request(".", Which::Newest, &link)).unwrap_err();
    assert!(err.to_string().contains("a symlink"), "{err}");
    assert!(
        std::fs::read_dir(&outside).unwrap().next().is_none(),
        "wrote outside"
    );
}
