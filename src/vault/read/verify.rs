//! `verify`: check that a job folder keeps the layout contract of [`crate::vault`], and
//! report every way it does not as a [`Problem`] — never a panic, never a stop at the
//! first problem, whatever state the folder is in.
//!
//! Checks (cost: the bookkeeping files and the links they list, not the size of the tree):
//! - every structural link listed in `links/V{n}.tsv` of a committed version exists, is a
//!   symlink, has a well-formed target ([`parse_link_target`]) naming an older committed
//!   version, and that target is a real directory reached without passing through any
//!   symlink (one hop, never a link to a link);
//! - `refs/V{k}.tsv` agrees with the links files: every link into k is listed there and
//!   every line naming a committed version is such a link;
//! - no hidden `.V*.partial` build is left, no `retire.intent` is pending;
//! - `latest` points at the newest version;
//! - `index.tsv` lists exactly the committed versions, under their folder names.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use crate::fs::{Dir, FileKind};
use crate::vault::index::Index;
use crate::vault::layout::{parse_link_target, JobFolder, VersionName, LATEST, PRIVATE_DIR};

/// One way a job folder breaks the layout contract. `Display` gives one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The job folder or a bookkeeping file could not be read.
    Unreadable {
        /// What could not be read (relative to the job folder).
        what: PathBuf,
        /// Why.
        reason: String,
    },
    /// A path listed in `links/V{n}.tsv` does not exist.
    LinkMissing {
        /// The version holding the link.
        version: String,
        /// The link's path in that version.
        path: PathBuf,
    },
    /// A path listed in `links/V{n}.tsv` is not a symlink.
    LinkNotSymlink {
        /// The version holding the link.
        version: String,
        /// The link's path in that version.
        path: PathBuf,
    },
    /// A structural link whose target is not `../…/V{k}--time/path` for its depth.
    LinkMalformed {
        /// The version holding the link.
        version: String,
        /// The link's path in that version.
        path: PathBuf,
        /// The target text.
        target: PathBuf,
    },
    /// A structural link into a version that is not committed (or not older).
    LinkToBadVersion {
        /// The version holding the link.
        version: String,
        /// The link's path in that version.
        path: PathBuf,
        /// The target text.
        target: PathBuf,
    },
    /// A structural link whose target does not exist.
    LinkDangling {
        /// The version holding the link.
        version: String,
        /// The link's path in that version.
        path: PathBuf,
        /// The target text.
        target: PathBuf,
    },
    /// A structural link whose target is, or passes through, another symlink.
    LinkToLink {
        /// The version holding the link.
        version: String,
        /// The link's path in that version.
        path: PathBuf,
        /// The target text.
        target: PathBuf,
    },
    /// A structural link whose target is not a directory.
    LinkNotDir {
        /// The version holding the link.
        version: String,
        /// The link's path in that version.
        path: PathBuf,
        /// The target text.
        target: PathBuf,
    },
    /// A link into version k that `refs/V{k}.tsv` does not list.
    RefMissing {
        /// The referenced version number.
        into: u64,
        /// The version holding the link.
        version: u64,
        /// The link's path.
        path: PathBuf,
    },
    /// A line of `refs/V{k}.tsv` naming a committed version that has no such link.
    RefStale {
        /// The referenced version number.
        into: u64,
        /// The version named by the line.
        version: u64,
        /// The path named by the line.
        path: PathBuf,
    },
    /// A hidden build was left behind.
    Partial {
        /// Its folder name.
        name: String,
    },
    /// A retire was interrupted and not replayed yet.
    RetirePending,
    /// `latest` is missing although versions exist.
    LatestMissing {
        /// The newest version's folder name.
        newest: String,
    },
    /// `latest` does not point at the newest version.
    LatestStale {
        /// What it points at.
        target: PathBuf,
        /// The newest version's folder name.
        newest: String,
    },
    /// A committed version that `index.tsv` does not list.
    IndexMissing {
        /// The folder name.
        name: String,
    },
    /// An `index.tsv` row for a version that is not committed.
    IndexExtra {
        /// The row's version number.
        version: u64,
        /// The row's name.
        name: String,
    },
    /// An `index.tsv` row whose name is not its version's folder name.
    IndexWrongName {
        /// The version number.
        version: u64,
        /// The name in the row.
        row: String,
        /// The folder's name.
        folder: String,
    },
    /// Two `index.tsv` rows for one version.
    IndexDuplicate {
        /// The version number.
        version: u64,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Problem::*;
        match self {
            Unreadable { what, reason } => write!(f, "cannot read {}: {reason}", what.display()),
            LinkMissing { version, path } => {
                write!(
                    f,
                    "{version}/{}: listed as a structural link but missing",
                    path.display()
                )
            }
            LinkNotSymlink { version, path } => write!(
                f,
                "{version}/{}: listed as a structural link but not a symlink",
                path.display()
            ),
            LinkMalformed {
                version,
                path,
                target,
            } => link(f, version, path, target, "malformed target"),
            LinkToBadVersion {
                version,
                path,
                target,
            } => link(
                f,
                version,
                path,
                target,
                "points into a version that is not an older committed one",
            ),
            LinkDangling {
                version,
                path,
                target,
            } => link(f, version, path, target, "dangling"),
            LinkToLink {
                version,
                path,
                target,
            } => link(
                f,
                version,
                path,
                target,
                "points at or through another link (not one hop)",
            ),
            LinkNotDir {
                version,
                path,
                target,
            } => link(f, version, path, target, "target is not a directory"),
            RefMissing {
                into,
                version,
                path,
            } => write!(
                f,
                "refs/V{into}.tsv lacks V{version}'s link {}",
                path.display()
            ),
            RefStale {
                into,
                version,
                path,
            } => write!(
                f,
                "refs/V{into}.tsv lists V{version}'s {}, which is not a link into V{into}",
                path.display()
            ),
            Partial { name } => write!(f, "leftover partial build {name}"),
            RetirePending => write!(
                f,
                "an interrupted retire is pending ({PRIVATE_DIR}/retire.intent)"
            ),
            LatestMissing { newest } => write!(f, "`latest` is missing (newest version: {newest})"),
            LatestStale { target, newest } => write!(
                f,
                "`latest` points at {}, not at the newest version {newest}",
                target.display()
            ),
            IndexMissing { name } => write!(f, "index.tsv does not list {name}"),
            IndexExtra { version, name } => {
                write!(
                    f,
                    "index.tsv lists version {version} ({name}), which is not committed"
                )
            }
            IndexWrongName {
                version,
                row,
                folder,
            } => write!(
                f,
                "index.tsv names version {version} `{row}`, but its folder is {folder}"
            ),
            IndexDuplicate { version } => {
                write!(f, "index.tsv lists version {version} more than once")
            }
        }
    }
}

fn link(
    f: &mut fmt::Formatter<'_>,
    version: &str,
    path: &Path,
    target: &Path,
    what: &str,
) -> fmt::Result {
    write!(
        f,
        "{version}/{}: structural link -> {}: {what}",
        path.display(),
        target.display()
    )
}

/// Every problem of the job folder `folder`; empty when it keeps the contract.
pub fn verify(folder: &JobFolder) -> Vec<Problem> {
    let mut problems = Vec::new();
    let versions = match folder.versions() {
        Ok(v) => v,
        Err(e) => {
            problems.push(unreadable(Path::new("."), &e));
            return problems;
        }
    };
    let links = check_links(folder, &versions, &mut problems);
    check_refs(folder, &versions, &links, &mut problems);
    check_leftovers(folder, &mut problems);
    check_latest(folder, &versions, &mut problems);
    check_index(folder, &versions, &mut problems);
    problems
}

fn unreadable(what: &Path, e: &dyn fmt::Display) -> Problem {
    Problem::Unreadable {
        what: what.to_path_buf(),
        reason: e.to_string(),
    }
}

/// The links that a version holds into another: (into, version) -> paths.
type LinkMap = BTreeMap<u64, BTreeSet<(u64, PathBuf)>>;

/// Check every listed structural link of every committed version; return the well-formed
/// ones by the version they point into.
fn check_links(
    folder: &JobFolder,
    versions: &[VersionName],
    problems: &mut Vec<Problem>,
) -> LinkMap {
    let mut into: LinkMap = BTreeMap::new();
    for v in versions {
        let listed = match folder.read_links(v.number) {
            Ok(set) => set,
            Err(e) => {
                let what = Path::new(PRIVATE_DIR).join("links").join(v.tsv_name());
                problems.push(unreadable(&what, &e));
                continue;
            }
        };
        let mut listed: Vec<PathBuf> = listed.into_iter().collect();
        listed.sort();
        for path in listed {
            if let Some(k) = check_link(folder, versions, v, &path, problems) {
                into.entry(k).or_default().insert((v.number, path));
            }
        }
    }
    into
}

/// Check one structural link; the number of the version it points into when its target
/// is well-formed (even if broken otherwise: refs must still list it).
fn check_link(
    folder: &JobFolder,
    versions: &[VersionName],
    v: &VersionName,
    path: &Path,
    problems: &mut Vec<Problem>,
) -> Option<u64> {
    let version = v.to_string();
    let in_job = Path::new(&version).join(path);
    let parent = in_job.parent().unwrap_or(Path::new(""));
    let name = in_job.file_name()?;
    let parent_dir = match folder.dir().open_beneath(parent) {
        Ok(d) => d,
        Err(_) => {
            problems.push(Problem::LinkMissing {
                version,
                path: path.to_path_buf(),
            });
            return None;
        }
    };
    match parent_dir.stat(name) {
        Ok(m) if m.kind == FileKind::Symlink => {}
        Ok(_) => {
            problems.push(Problem::LinkNotSymlink {
                version,
                path: path.to_path_buf(),
            });
            return None;
        }
        Err(_) => {
            problems.push(Problem::LinkMissing {
                version,
                path: path.to_path_buf(),
            });
            return None;
        }
    }
    let target = match read_link(&parent_dir, name) {
        Ok(t) => t,
        Err(e) => {
            problems.push(unreadable(&in_job, &e));
            return None;
        }
    };
    let problem = |make: fn(String, PathBuf, PathBuf) -> Problem| {
        make(version.clone(), path.to_path_buf(), target.clone())
    };
    let Some((k, rel)) = parse_link_target(path, &target) else {
        problems.push(problem(|version, path, target| Problem::LinkMalformed {
            version,
            path,
            target,
        }));
        return None;
    };
    if k.number >= v.number || !versions.contains(&k) {
        problems.push(problem(|version, path, target| Problem::LinkToBadVersion {
            version,
            path,
            target,
        }));
        return Some(k.number);
    }
    if let Some(make) = target_problem(folder, &k, &rel) {
        problems.push(problem(make));
    }
    Some(k.number)
}

/// What is wrong with the target `rel` of version `k`, if anything: it must be a real
/// directory reached through real directories only.
fn target_problem(
    folder: &JobFolder,
    k: &VersionName,
    rel: &Path,
) -> Option<fn(String, PathBuf, PathBuf) -> Problem> {
    let in_job = Path::new(&k.to_string()).join(rel);
    match folder.dir().open_beneath(&in_job) {
        Ok(_) => return None,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Some(|version, path, target| Problem::LinkDangling {
                version,
                path,
                target,
            })
        }
        Err(_) => {}
    }
    // Tell a link (at the end or on the way) from a non-directory: walk it lstat by lstat.
    let mut dir = folder.dir().open_beneath(Path::new(""));
    for comp in in_job.components() {
        let Ok(cur) = dir else {
            return Some(|version, path, target| Problem::LinkDangling {
                version,
                path,
                target,
            });
        };
        let name = comp.as_os_str();
        match cur.stat(name) {
            Ok(m) if m.kind == FileKind::Symlink => {
                return Some(|version, path, target| Problem::LinkToLink {
                    version,
                    path,
                    target,
                })
            }
            Ok(m) if m.kind != FileKind::Dir => {
                return Some(|version, path, target| Problem::LinkNotDir {
                    version,
                    path,
                    target,
                })
            }
            Ok(_) => {}
            Err(_) => {
                return Some(|version, path, target| Problem::LinkDangling {
                    version,
                    path,
                    target,
                })
            }
        }
        dir = cur.open_child(name);
    }
    Some(|version, path, target| Problem::LinkDangling {
        version,
        path,
        target,
    })
}

fn read_link(dir: &Dir, name: &std::ffi::OsStr) -> io::Result<PathBuf> {
    Ok(PathBuf::from(nix::fcntl::readlinkat(
        Some(dir.as_fd().as_raw_fd()),
        name,
    )?))
}

/// Compare each committed version's refs file with the links found pointing into it.
fn check_refs(
    folder: &JobFolder,
    versions: &[VersionName],
    links: &LinkMap,
    problems: &mut Vec<Problem>,
) {
    let committed: BTreeSet<u64> = versions.iter().map(|v| v.number).collect();
    for v in versions {
        let refs = match folder.read_refs(v.number) {
            Ok(r) => r,
            Err(e) => {
                let what = Path::new(PRIVATE_DIR).join("refs").join(v.tsv_name());
                problems.push(unreadable(&what, &e));
                continue;
            }
        };
        let listed: BTreeSet<(u64, PathBuf)> = refs
            .into_iter()
            .filter(|(n, _)| committed.contains(n))
            .collect();
        let empty = BTreeSet::new();
        let found = links.get(&v.number).unwrap_or(&empty);
        for (version, path) in found.difference(&listed) {
            problems.push(Problem::RefMissing {
                into: v.number,
                version: *version,
                path: path.clone(),
            });
        }
        for (version, path) in listed.difference(found) {
            problems.push(Problem::RefStale {
                into: v.number,
                version: *version,
                path: path.clone(),
            });
        }
    }
}

fn check_leftovers(folder: &JobFolder, problems: &mut Vec<Problem>) {
    match folder.partials() {
        Ok(names) => problems.extend(names.into_iter().map(|n| Problem::Partial {
            name: n.to_string_lossy().into_owned(),
        })),
        Err(e) => problems.push(unreadable(Path::new("."), &e)),
    }
    let private = Path::new(PRIVATE_DIR);
    match folder
        .dir()
        .open_beneath(private)
        .and_then(|d| d.stat("retire.intent".as_ref()))
    {
        Ok(_) => problems.push(Problem::RetirePending),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => problems.push(unreadable(&private.join("retire.intent"), &e)),
    }
}

fn check_latest(folder: &JobFolder, versions: &[VersionName], problems: &mut Vec<Problem>) {
    let newest = versions.last().map(ToString::to_string);
    match (read_link(folder.dir(), LATEST.as_ref()), newest) {
        (Ok(target), Some(newest)) if target == Path::new(&newest) => {}
        (Ok(target), newest) => problems.push(Problem::LatestStale {
            target,
            newest: newest.unwrap_or_else(|| "(none)".to_owned()),
        }),
        (Err(e), Some(newest)) if e.kind() == io::ErrorKind::NotFound => {
            problems.push(Problem::LatestMissing { newest })
        }
        (Err(e), Some(_)) => problems.push(unreadable(Path::new(LATEST), &e)),
        (Err(_), None) => {}
    }
}

fn check_index(folder: &JobFolder, versions: &[VersionName], problems: &mut Vec<Problem>) {
    let rows = match Index::from_job_dir(folder.root()) {
        Ok(index) => index.rows,
        Err(e) => {
            problems.push(unreadable(Path::new("index.tsv"), &e));
            return;
        }
    };
    let mut seen: BTreeMap<u64, String> = BTreeMap::new();
    for row in rows {
        if seen.insert(row.version, row.name.clone()).is_some() {
            problems.push(Problem::IndexDuplicate {
                version: row.version,
            });
        }
    }
    for v in versions {
        match seen.remove(&v.number) {
            None => problems.push(Problem::IndexMissing {
                name: v.to_string(),
            }),
            Some(row) if row != v.to_string() => problems.push(Problem::IndexWrongName {
                version: v.number,
                row,
                folder: v.to_string(),
            }),
            Some(_) => {}
        }
    }
    problems.extend(
        seen.into_iter()
            .map(|(version, name)| Problem::IndexExtra { version, name }),
    );
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::super::fixture::Fixture;
    use super::*;

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
        let problems = verify(&f.folder);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems
            .iter()
            .all(|p| matches!(p, Problem::LinkDangling { .. })));
        assert!(lines(&f)[0]
            .starts_with("V1--2026-11-23_10-01-00_+0100/keep: structural link -> ../V0--"));
    }

    #[test]
    fn a_link_to_a_link() {
        let f = Fixture::three_versions();
        // V2/deep points at V1's a/b, which is itself a structural link.
        f.link(2, "deep", 1, "a/b");
        assert!(matches!(
            verify(&f.folder)[..],
            [Problem::LinkToLink { .. }]
        ));
        // A target that passes through a link is not one hop either.
        f.link(2, "deeper", 1, "a/b/nothing");
        let problems = verify(&f.folder);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems
            .iter()
            .all(|p| matches!(p, Problem::LinkToLink { .. })));
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
    fn malformed_and_forward_links() {
        let f = Fixture::three_versions();
        symlink("/etc", f.at(2, "abs")).unwrap();
        f.record_link(2, "abs");
        f.link(1, "fwd", 2, "");
        let problems = verify(&f.folder);
        assert!(problems
            .iter()
            .any(|p| matches!(p, Problem::LinkMalformed { .. })));
        assert!(problems
            .iter()
            .any(|p| matches!(p, Problem::LinkToBadVersion { .. })));
        assert_eq!(problems.len(), 2, "{problems:?}");
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
}
