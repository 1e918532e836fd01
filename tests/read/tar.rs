//! `restore --tar`: archives of versions written by `vault::snapshot` from real source
//! trees, unpacked with GNU tar (in the test only) and compared with the tree each version
//! recorded — symlinks, hard links, a FIFO, a sparse file, empty folders, xattrs, names
//! longer than a tar header holds, and structural links (real directories in the archive).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use reverberator::vault::layout::JobFolder;
use reverberator::vault::read::{write_version_tar, ReadError};

use super::real::{series, Series};
use crate::util::{self, assert_same_state, tree_state, TreeState};

/// Unpack `archive` into the new folder `to` with GNU tar, keeping owners, modes, times
/// (ns, from the PAX records) and xattrs. `None` (with the reason) when there is no tar.
fn unpack(archive: &Path, to: &Path) -> Option<()> {
    std::fs::create_dir_all(to).unwrap();
    let out = Command::new("tar")
        .args(["-x", "-p", "--same-owner", "--numeric-owner", "--xattrs"])
        .arg("--xattrs-include=*")
        .arg("-f")
        .arg(archive)
        .arg("-C")
        .arg(to)
        .output();
    match out {
        Err(e) => {
            util::skipped(format_args!("no GNU tar to unpack with ({e})"));
            None
        }
        Ok(out) => {
            assert!(out.status.success(), "tar -x: {}", util::stderr(&out));
            Some(())
        }
    }
}

fn folder(s: &Series) -> JobFolder {
    JobFolder::open(&s.env.job_dir()).unwrap()
}

/// Write `path` of version `n` to a file; its path.
fn archive(s: &Series, n: u64, path: &str) -> PathBuf {
    let file = s.out(&format!("V{n}-{}.tar", path.replace('/', "_")));
    let out = std::fs::File::create(&file).unwrap();
    write_version_tar(&folder(s), n, Path::new(path), out).unwrap();
    file
}

/// The entries of `state` below `prefix`, relative to it, hard-link groups left out (the
/// other names of an inode may be outside).
fn below(state: &TreeState, prefix: &str) -> TreeState {
    state
        .iter()
        .filter_map(|(p, e)| {
            let rel = p.strip_prefix(prefix).ok()?;
            let mut e = e.clone();
            e.link_group = None;
            Some((rel.to_path_buf(), e))
        })
        .collect()
}

fn without_groups(state: TreeState) -> TreeState {
    below(&state, "")
}

/// The series of `real.rs` plus a version with an xattr and a name longer than a tar
/// header's 100 bytes.
fn long_series() -> (Series, bool) {
    let mut s = series();
    let long = format!("long/{}/{}", "d".repeat(120), "f".repeat(140));
    s.src().file(&long, "long name");
    let with_xattr = xattr::set(s.src().path().join("docs/a.txt"), "user.tag", b"v\0x").is_ok();
    if !with_xattr {
        util::skip_part("no user xattrs on this filesystem: archives carry none here");
    }
    s.snap();
    (s, with_xattr)
}

#[test]
fn every_version_tars_to_exactly_its_tree() {
    let (s, with_xattr) = long_series();
    let numbers: Vec<u64> = s.recorded.keys().copied().collect();
    assert_eq!(numbers, [0, 1, 2, 3, 4, 5, 6]);
    for (&n, want) in &s.recorded {
        let file = archive(&s, n, ".");
        let to = s.out(&format!("untar-{n}"));
        let Some(()) = unpack(&file, &to) else { return };
        assert_same_state(&format!("tar of V{n}"), &tree_state(&to), want);
        let sparse = std::fs::metadata(to.join("sparse")).unwrap();
        assert!(
            sparse.blocks() * 512 < 1 << 20,
            "V{n}: sparse file filled in"
        );
        assert!(
            std::fs::metadata(&file).unwrap().len() < 1 << 20,
            "V{n}: the archive stores the holes"
        );
    }
    if with_xattr {
        let to = s.out("untar-6");
        assert_eq!(
            xattr::get(to.join("docs/a.txt"), "user.tag").unwrap(),
            Some(b"v\0x".to_vec())
        );
    }
}

#[test]
fn the_archive_holds_links_as_links_and_structural_links_as_folders() {
    let (s, _) = long_series();
    // V1: `tree` is a structural link to V0's real folder.
    let links = util::links_of(&s.env.job_dir(), 1);
    assert!(links.contains(Path::new("tree")), "{links:?}");
    let file = archive(&s, 1, ".");
    let mut ar = tar::Archive::new(std::fs::File::open(&file).unwrap());
    let mut kinds: BTreeMap<PathBuf, (tar::EntryType, Option<PathBuf>)> = BTreeMap::new();
    let mut owners = BTreeMap::new();
    for entry in ar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let pax_uname = entry.pax_extensions().unwrap().and_then(|mut p| {
            p.find(|r| r.as_ref().is_ok_and(|r| r.key() == Ok("uname")))
                .map(|r| r.unwrap().value().unwrap().to_owned())
        });
        let header_uname = entry.header().username().unwrap().map(str::to_owned);
        let uid = entry.header().uid().unwrap() as u32;
        owners.insert(
            entry.path().unwrap().into_owned(),
            (uid, pax_uname.or(header_uname)),
        );
        let path = entry.path().unwrap().into_owned();
        let link = entry.link_name().unwrap().map(|l| l.into_owned());
        kinds.insert(path, (entry.header().entry_type(), link));
    }
    let kind = |p: &str| kinds[Path::new(p)].0;
    assert_eq!(kind("./"), tar::EntryType::Directory);
    assert_eq!(kind("tree"), tar::EntryType::Directory);
    assert_eq!(kind("tree/x/y/z"), tar::EntryType::Regular);
    assert_eq!(
        kinds[Path::new("etc")],
        (tar::EntryType::Symlink, Some("/etc".into()))
    );
    assert_eq!(kind("pipe"), tar::EntryType::Fifo);
    assert_eq!(kind("sparse"), tar::EntryType::GNUSparse);
    assert_eq!(kind("docs/empty"), tar::EntryType::Directory);
    // `docs/hard2` comes first (depth first, by name), `hard1` is its second name.
    assert_eq!(kind("docs/hard2"), tar::EntryType::Regular);
    assert_eq!(
        kinds[Path::new("hard1")],
        (tar::EntryType::Link, Some("docs/hard2".into()))
    );
    // Files shared with V0 (nlink > 1 in the vault) but named once here are files.
    assert_eq!(kind("f"), tar::EntryType::Regular);
    // Owner names: in the header (in a PAX record for a sparse file).
    for p in ["./", "f", "sparse"] {
        let (uid, name) = &owners[Path::new(p)];
        let want = nix::unistd::User::from_uid((*uid).into())
            .unwrap()
            .map(|u| u.name);
        assert!(want.is_some(), "the test's own uid has a name");
        assert_eq!(name, &want, "{p}");
    }
}

#[test]
fn a_folder_tars_under_its_own_name_and_links_count_only_inside_it() {
    let (s, _) = long_series();
    // `tree` behind a structural link in V1; `moved` (its rename) in V5; `docs` in V0.
    for (n, path) in [(1, "tree"), (5, "moved"), (0, "docs"), (6, "long")] {
        let file = archive(&s, n, path);
        let to = s.out(&format!("folder-{n}-{path}"));
        let Some(()) = unpack(&file, &to) else { return };
        let names: Vec<_> = std::fs::read_dir(&to)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [path], "V{n} {path}: one top-level name");
        assert_same_state(
            &format!("tar of {path} in V{n}"),
            &without_groups(tree_state(&to.join(path))),
            &below(&s.recorded[&n], path),
        );
    }
    // V0 `docs/hard2` shares its inode with `hard1`, outside `docs`: a plain file here.
    let to = s.out("folder-0-docs");
    assert_eq!(std::fs::metadata(to.join("docs/hard2")).unwrap().nlink(), 1);
    // One file.
    let file = archive(&s, 0, "docs/a.txt");
    let to = s.out("one-file");
    let Some(()) = unpack(&file, &to) else { return };
    assert_eq!(std::fs::read(to.join("a.txt")).unwrap(), b"alpha");
}

#[test]
fn bad_requests_are_errors_before_anything_is_written() {
    let (s, _) = long_series();
    let mut out = Vec::new();
    let f = folder(&s);
    let err = write_version_tar(&f, 9, Path::new("."), &mut out).unwrap_err();
    assert!(
        matches!(err, ReadError::UnknownVersion { number: 9, .. }),
        "{err}"
    );
    let err = write_version_tar(&f, 0, Path::new("nope"), &mut out).unwrap_err();
    assert!(matches!(err, ReadError::NotInVersion { .. }), "{err}");
    let err = write_version_tar(&f, 0, Path::new("../x"), &mut out).unwrap_err();
    assert!(matches!(err, ReadError::BadPath { .. }), "{err}");
    // Through a source symlink: not a folder of the version.
    let err = write_version_tar(&f, 0, Path::new("etc/passwd"), &mut out).unwrap_err();
    assert!(matches!(err, ReadError::NotInVersion { .. }), "{err}");
    assert!(out.is_empty());
}

#[test]
fn restore_tar_through_the_binary() {
    let (s, _) = long_series();
    let file = s.out("cli.tar");
    let name = file.to_str().unwrap();
    let out = s.run(&["restore", "docs", "docs", "--version", "1", "--tar", name]);
    assert!(out.status.success(), "{}", util::stderr(&out));
    assert!(
        util::stderr(&out).contains("as tar"),
        "{}",
        util::stderr(&out)
    );
    let again = s.run(&["restore", "docs", "docs", "--tar", name]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "an existing file is never replaced"
    );
    let stdout = s.run(&["restore", "docs", "docs", "--version", "1", "--tar", "-"]);
    assert!(stdout.status.success(), "{}", util::stderr(&stdout));
    assert_eq!(stdout.stdout, std::fs::read(&file).unwrap());
    let both = s.run(&["restore", "docs", "docs", "--tar", "-", "--to", name]);
    assert_eq!(
        both.status.code(),
        Some(2),
        "--tar and --to exclude each other"
    );
    let neither = s.run(&["restore", "docs", "docs"]);
    assert_eq!(neither.status.code(), Some(2));
}

#[test]
fn a_socket_is_skipped_and_said_so() {
    let mut s = series();
    let _listener =
        std::os::unix::net::UnixListener::bind(s.src().path().join("docs/sock")).unwrap();
    let n = s.snap();
    let out = s.run(&[
        "restore",
        "docs",
        "docs",
        "--version",
        &n.to_string(),
        "--tar",
        "-",
    ]);
    assert!(out.status.success(), "{}", util::stderr(&out));
    assert!(
        util::stderr(&out)
            .contains("skipped docs/sock: a socket cannot be stored in a tar archive"),
        "{}",
        util::stderr(&out)
    );
    let mut ar = tar::Archive::new(&out.stdout[..]);
    let names: Vec<PathBuf> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().into_owned())
        .collect();
    assert!(names.contains(&PathBuf::from("docs/a.txt")), "{names:?}");
    assert!(!names.contains(&PathBuf::from("docs/sock")), "{names:?}");
}
