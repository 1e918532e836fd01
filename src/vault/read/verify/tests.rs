//! Unit tests of verify over hand-built job folders and broken copies of them.

use std::os::unix::fs::symlink;

use super::super::fixture::Fixture;
use super::*;

/// The fault of each problem of `f`: `Some` for a [`Problem::Link`], `None` for any other.
fn faults(f: &Fixture) -> Vec<Option<LinkFault>> {
    let fault = |p: &Problem| match p {
        Problem::Link { fault, .. } => Some(*fault),
        _ => None,
    };
    verify(&f.folder).iter().map(fault).collect()
}

fn lines(f: &Fixture) -> Vec<String> {
    verify(&f.folder).iter().map(ToString::to_string).collect()
}

#[test]
fn a_good_vault_has_no_problem() {
    let f = Fixture::three_versions();
    assert_eq!(verify(&f.folder), []);
    let empty = Fixture::new();
    assert_eq!(verify(&empty.folder), []);
}

#[test]
fn a_dangling_structural_link() {
    let f = Fixture::three_versions();
    std::fs::remove_dir_all(f.at(0, "keep")).unwrap();
    assert_eq!(faults(&f), [Some(LinkFault::Dangling); 2]);
    assert!(
        lines(&f)[0].starts_with("V1--2026-11-23_10-01-00_+0100/keep: structural link -> ../V0--")
    );
}

#[test]
fn a_link_to_a_link() {
    let f = Fixture::three_versions();
    // V2/deep points at V1's a/b, which is itself a structural link.
    f.link(2, "deep", 1, "a/b");
    assert_eq!(faults(&f), [Some(LinkFault::ToLink)]);
    // A target that passes through a link is not one hop either.
    f.link(2, "deeper", 1, "a/b/nothing");
    assert_eq!(faults(&f), [Some(LinkFault::ToLink); 2]);
}

#[test]
fn a_listed_link_that_is_missing_or_not_a_link() {
    let f = Fixture::three_versions();
    f.record_link(2, "top").record_link(2, "ghost");
    let problems = verify(&f.folder);
    assert_eq!(
        problems,
        [
            Problem::LinkMissing {
                version: Fixture::name(2).to_string(),
                path: "ghost".into()
            },
            Problem::LinkNotSymlink {
                version: Fixture::name(2).to_string(),
                path: "top".into()
            },
        ]
    );
}

#[test]
fn malformed_and_self_links() {
    let f = Fixture::three_versions();
    symlink("/etc", f.at(2, "abs")).unwrap();
    f.record_link(2, "abs");
    f.link(1, "self", 1, "new");
    // Versions are checked oldest first: V1's self link, then V2's malformed one.
    assert_eq!(
        faults(&f),
        [Some(LinkFault::ToBadVersion), Some(LinkFault::Malformed)]
    );
}

/// A retire moves a shared folder to the newest version linking to it, so an older
/// version may link forward into a newer one: that is one hop like any other.
#[test]
fn a_link_into_a_newer_version_is_fine() {
    let f = Fixture::three_versions();
    f.link(0, "fwd", 1, "new");
    assert_eq!(verify(&f.folder), []);
    std::fs::remove_dir_all(f.at(1, "new")).unwrap();
    assert_eq!(faults(&f), [Some(LinkFault::Dangling)]);
}

#[test]
fn refs_must_agree_with_links() {
    let f = Fixture::three_versions();
    f.folder.append_refs(1, &[(2, Path::new("nope"))]).unwrap();
    std::fs::write(f.root().join(".reverberator/refs/V0.tsv"), "1\ta/b\n").unwrap();
    let problems = verify(&f.folder);
    assert!(problems.contains(&Problem::RefStale {
        into: 1,
        version: 2,
        path: "nope".into()
    }));
    assert!(problems.contains(&Problem::RefMissing {
        into: 0,
        version: 2,
        path: "keep".into()
    }));
    // Lines naming a version that was never committed are ignored.
    let g = Fixture::three_versions();
    g.folder.append_refs(0, &[(7, Path::new("x"))]).unwrap();
    assert_eq!(verify(&g.folder), []);
}

#[test]
fn leftovers_are_reported() {
    let f = Fixture::three_versions();
    let partial = Fixture::name(3).partial_name();
    std::fs::create_dir(f.root().join(&partial)).unwrap();
    std::fs::write(f.root().join(".reverberator/retire.intent"), "").unwrap();
    assert_eq!(
        verify(&f.folder),
        [Problem::Partial { name: partial }, Problem::RetirePending]
    );
}

#[test]
fn a_stale_or_missing_latest() {
    let f = Fixture::three_versions();
    f.set_latest(&Fixture::name(1).to_string());
    assert_eq!(
        lines(&f),
        [format!(
            "`latest` points at {}, not at the newest version {}",
            Fixture::name(1),
            Fixture::name(2)
        )]
    );
    std::fs::remove_file(f.root().join("latest")).unwrap();
    assert!(matches!(
        verify(&f.folder)[..],
        [Problem::LatestMissing { .. }]
    ));
}

#[test]
fn the_index_must_list_exactly_the_committed_versions() {
    let f = Fixture::three_versions();
    f.commit(&[0, 2, 5])
        .set_latest(&Fixture::name(2).to_string());
    assert_eq!(
        verify(&f.folder),
        [
            Problem::IndexMissing {
                name: Fixture::name(1).to_string()
            },
            Problem::IndexExtra {
                version: 5,
                name: Fixture::name(5).to_string()
            },
        ]
    );
    assert_eq!(
        lines(&f),
        [
            format!("index.tsv does not list {}", Fixture::name(1)),
            format!(
                "index.tsv lists version 5 ({}), which is not committed",
                Fixture::name(5)
            ),
        ]
    );
}

#[test]
fn a_corrupt_index_is_a_problem_not_a_panic() {
    let f = Fixture::three_versions();
    std::fs::write(f.root().join("index.tsv"), "garbage\x00\n\tmore").unwrap();
    let problems = verify(&f.folder);
    assert!(
        matches!(problems[..], [Problem::Unreadable { .. }]),
        "{problems:?}"
    );
    std::fs::write(f.root().join(".reverberator/links/V1.tsv"), "bad\\q\n").unwrap();
    let problems = verify(&f.folder);
    assert!(problems.len() >= 2, "{problems:?}");
}

/// Every entry of the job folder, relative to it.
fn entries(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            out.push(path.strip_prefix(root).unwrap().to_path_buf());
            if std::fs::symlink_metadata(&path).unwrap().is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Damage one entry of a sound vault in one of three ways.
fn damage(root: &Path, rel: &Path, how: usize) {
    let path = root.join(rel);
    let is_dir = std::fs::symlink_metadata(&path).unwrap().is_dir();
    if is_dir {
        std::fs::remove_dir_all(&path).unwrap();
    } else {
        std::fs::remove_file(&path).unwrap();
    }
    match how {
        0 => {}
        1 => std::fs::write(&path, b"garbage\\q\t\n\x00\xff").unwrap(),
        _ => symlink("../../../../../../../etc", &path).unwrap(),
    }
}

#[test]
fn no_damage_makes_the_read_side_panic() {
    let paths = entries(Fixture::three_versions().root());
    assert!(paths.len() > 40, "{}", paths.len());
    // One damage per entry, the kind rotating, keeps the test short.
    for (i, rel) in paths.iter().enumerate() {
        for how in [i % 3] {
            let f = Fixture::three_versions();
            if !f.root().join(rel).exists()
                && std::fs::symlink_metadata(f.root().join(rel)).is_err()
            {
                continue;
            }
            damage(f.root(), rel, how);
            // Each may fail; none may panic.
            let _ = verify(&f.folder);
            let _ = super::super::list(&f.folder);
            let _ = super::super::diff(&f.folder, 0, 2);
            let to = f.tmp.path().join("out");
            let req = super::super::RestoreRequest {
                path: ".".into(),
                which: super::super::Which::Newest,
                to: to.clone(),
                overwrite: false,
            };
            if let Ok(plan) = super::super::plan_restore(&f.folder, &req) {
                let _ = plan.apply(&mut |_, _| {});
            }
        }
    }
}

#[test]
fn a_links_file_naming_paths_outside_the_version_is_a_problem() {
    let f = Fixture::three_versions();
    std::fs::write(
        f.root().join(".reverberator/links/V2.tsv"),
        "a\nkeep\nmoved\ntodir\n..\n/etc\n",
    )
    .unwrap();
    let problems = verify(&f.folder);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems
        .iter()
        .all(|p| p.to_string().contains("is not a path inside the version")));
}
