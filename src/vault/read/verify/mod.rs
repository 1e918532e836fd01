//! `verify`: check that a job folder keeps the layout contract of [`crate::vault`], and
//! report every way it does not as a [`Problem`] — never a panic, never a stop at the
//! first problem, whatever state the folder is in.
//!
//! Checks (cost: the bookkeeping files and the links they list, not the size of the tree):
//! - every structural link listed in `links/V{n}.tsv` of a committed version exists, is a
//!   symlink, has a well-formed target ([`parse_link_target`]) naming another committed
//!   version (older or, since a retire moves a shared folder to the newest version linking
//!   to it, newer), and that target is a real directory reached without passing through any
//!   symlink (one hop, never a link to a link);
//! - `refs/V{k}.tsv` agrees with the links files: every link into k is listed there and
//!   every line naming a committed version is such a link;
//! - no hidden `.V*.partial` build is left, no `retire.intent` is pending;
//! - `latest` points at the newest version;
//! - `index.tsv` lists exactly the committed versions, under their folder names.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::fs::FileKind;
use crate::vault::index::Index;
use crate::vault::layout::{parse_link_target, JobFolder, VersionName, LATEST, PRIVATE_DIR};

mod problem;
#[cfg(test)]
mod tests;

pub use problem::{LinkFault, Problem};

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
        let Some(listed) = bookkeeping("links", v, folder.read_links(v.number), problems) else {
            continue;
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
    let plain = path.components().count() > 0
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !plain {
        let what = Path::new(PRIVATE_DIR).join("links").join(v.tsv_name());
        let reason = format!("`{}` is not a path inside the version", path.display());
        problems.push(unreadable(&what, &reason));
        return None;
    }
    let in_job = Path::new(&version).join(path);
    let parent = in_job.parent().unwrap_or(Path::new(""));
    let name = in_job.file_name()?;
    let found = folder
        .dir()
        .open_beneath(parent)
        .and_then(|d| d.stat(name).map(|m| (d, m.kind)));
    let parent_dir = match found {
        Ok((d, FileKind::Symlink)) => d,
        other => {
            let path = path.to_path_buf();
            problems.push(match other {
                Ok(_) => Problem::LinkNotSymlink { version, path },
                Err(_) => Problem::LinkMissing { version, path },
            });
            return None;
        }
    };
    let target = match crate::fs::at::read_link(&parent_dir, name) {
        Ok(t) => t,
        Err(e) => {
            problems.push(unreadable(&in_job, &e));
            return None;
        }
    };
    let fault = |fault: LinkFault| Problem::Link {
        version: version.clone(),
        path: path.to_path_buf(),
        target: target.clone(),
        fault,
    };
    let Some((k, rel)) = parse_link_target(path, &target) else {
        problems.push(fault(LinkFault::Malformed));
        return None;
    };
    if k.number == v.number || !versions.contains(&k) {
        problems.push(fault(LinkFault::ToBadVersion));
        return Some(k.number);
    }
    if let Some(found) = target_fault(folder, &k, &rel) {
        problems.push(fault(found));
    }
    Some(k.number)
}

/// What is wrong with the target `rel` of version `k`, if anything: it must be a real
/// directory reached through real directories only.
fn target_fault(folder: &JobFolder, k: &VersionName, rel: &Path) -> Option<LinkFault> {
    let in_job = Path::new(&k.to_string()).join(rel);
    match folder.dir().open_beneath(&in_job) {
        Ok(_) => return None,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Some(LinkFault::Dangling),
        Err(_) => {}
    }
    // Tell a link (at the end or on the way) from a non-directory: walk it lstat by lstat.
    let mut dir = folder.dir().open_beneath(Path::new(""));
    for comp in in_job.components() {
        let Ok(cur) = dir else {
            return Some(LinkFault::Dangling);
        };
        let name = comp.as_os_str();
        match cur.stat(name) {
            Ok(m) if m.kind == FileKind::Symlink => return Some(LinkFault::ToLink),
            Ok(m) if m.kind != FileKind::Dir => return Some(LinkFault::NotDir),
            Ok(_) => {}
            Err(_) => return Some(LinkFault::Dangling),
        }
        dir = cur.open_child(name);
    }
    Some(LinkFault::Dangling)
}

/// The content of version `v`'s bookkeeping file of `kind` (`links`, `refs`), or a
/// problem naming that file.
fn bookkeeping<T>(
    kind: &str,
    v: &VersionName,
    read: io::Result<T>,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    read.map_err(|e| {
        let what = Path::new(PRIVATE_DIR).join(kind).join(v.tsv_name());
        problems.push(unreadable(&what, &e));
    })
    .ok()
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
        let Some(refs) = bookkeeping("refs", v, folder.read_refs(v.number), problems) else {
            continue;
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
    match (
        crate::fs::at::read_link(folder.dir(), LATEST.as_ref()),
        newest,
    ) {
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
