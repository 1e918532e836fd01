//! The retire plan: which version is retired and why, which directories move into the
//! next version (the "heir"), which links of later versions are repointed or made real,
//! and which folders keep their times. [`plan()`] reads what it needs from disk into plain
//! data ([`gather`](super::gather)) and then decides without touching the disk
//! ([`decide`], unit-tested from tables below). Computing it changes nothing, so
//! `prune --dry-run` prints exactly what `prune` would do.
//!
//! Cost: see [`gather`](super::gather); the decision is linear in what was gathered.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::gather::{gather, Gathered};
use super::RetireError;
use crate::error::IoContext;
use crate::fs::{Dir, Timestamp};
use crate::vault::layout::{link_fits, link_target, JobFolder, VersionName};

/// Why a version is retired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetireReason {
    /// More versions than `keep_versions`.
    KeepVersions {
        /// The versions there are.
        count: usize,
        /// The versions to keep.
        keep: u32,
    },
    /// The job folder uses more bytes than the budget.
    Bytes {
        /// Bytes used (allocated blocks).
        used: u64,
        /// The budget.
        budget: u64,
    },
    /// The job folder uses more inodes than the budget.
    Inodes {
        /// Inodes used.
        used: u64,
        /// The budget.
        budget: u64,
    },
    /// Asked for directly (tests, tools).
    Requested,
    /// No rule keeps it: neither `keep_versions` nor any tier of the job's `keep` table
    /// ([`policy`](super::policy)). Only used when the job has a `keep` table.
    Rules {
        /// The job's `keep_versions` (restic's `--keep-last`).
        keep_versions: u32,
        /// The job's tiers.
        rules: crate::config::KeepRules,
    },
    /// The job folder is over its `vault_limit` budget: the oldest version goes first,
    /// whatever rules keep it (given beside the `Bytes`/`Inodes` reason). Only used when
    /// the job has a `keep` table.
    VaultLimit {
        /// The rules that kept it until the budget overruled them (empty: none).
        kept_by: Vec<super::policy::Keep>,
    },
}

impl fmt::Display for RetireReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetireReason::KeepVersions { count, keep } => {
                write!(f, "{count} versions, keep_versions = {keep}")
            }
            RetireReason::Bytes { used, budget } => {
                write!(f, "{used} bytes used, budget {budget} bytes")
            }
            RetireReason::Inodes { used, budget } => {
                write!(f, "{used} inodes used, budget {budget} inodes")
            }
            RetireReason::Requested => write!(f, "requested"),
            RetireReason::Rules {
                keep_versions,
                rules,
            } => write!(
                f,
                "rules: kept by none of keep_versions = {keep_versions}, {rules}"
            ),
            RetireReason::VaultLimit { kept_by } if kept_by.is_empty() => {
                write!(f, "vault_limit: over budget, the oldest version goes first")
            }
            RetireReason::VaultLimit { kept_by } => {
                let names: Vec<&str> = kept_by.iter().map(|k| k.name()).collect();
                write!(
                    f,
                    "vault_limit: over budget, the oldest version goes first although kept by {}",
                    names.join(", ")
                )
            }
        }
    }
}

/// A directory of the retired version that the heir links to: it becomes the heir's own
/// (exchanged with the heir's link in one `renameat2(RENAME_EXCHANGE)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// The real directory's path in the retired version.
    pub from: PathBuf,
    /// The path of the heir's link to it, where it will live.
    pub to: PathBuf,
}

/// A structural link of a later version that points into the retired version and gets a
/// new target inside the heir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repoint {
    /// The version holding the link.
    pub version: VersionName,
    /// The link's path in that version.
    pub path: PathBuf,
    /// The target text now (into the retired version).
    pub old_target: PathBuf,
    /// The target text after the retire (into the heir).
    pub new_target: PathBuf,
}

/// A link of a later version whose new text would not fit the vault filesystem's symlink
/// limit (a folder that moved to a deeper place after the retired version, so the heir
/// holds it at a longer path): instead of a repoint, the link becomes a real copy of the
/// folder it shows, with real directories and every other entry a hard link to the same
/// inode (no data is copied), built in the scratch folder and exchanged with the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Materialize {
    /// The version holding the link.
    pub version: VersionName,
    /// The link's path in that version.
    pub path: PathBuf,
    /// The link's target text now (into the retired version).
    pub old_target: PathBuf,
    /// The folder's path in the retired version (where it is before the moves).
    pub from: PathBuf,
    /// The folder's path in the heir (where it is after the moves).
    pub in_heir: PathBuf,
}

/// What retiring the oldest version will do, computed without changing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetirePlan {
    /// The version that goes (the oldest).
    pub retired: VersionName,
    /// The next version, which receives what later versions still use.
    pub heir: VersionName,
    /// Why.
    pub reasons: Vec<RetireReason>,
    /// Directories that move into the heir, sorted by `from`.
    pub moves: Vec<Move>,
    /// Links of later versions that get a new target, sorted by (version, path).
    pub repoints: Vec<Repoint>,
    /// Links of later versions whose new target would be too long: they become real
    /// copies, sorted by (version, path).
    pub materialize: Vec<Materialize>,
    /// The heir's structural links after the moves (what its links file becomes). Always
    /// empty today: every link of the heir points into the retired version and becomes a
    /// move. Kept because it is part of the intent format and of `prune`'s test plans.
    pub heir_links: Vec<PathBuf>,
    /// The folders whose entries the moves and repoints change, with their times before:
    /// restored afterwards, since a folder's mtime is part of what a version holds.
    pub times: Vec<DirTimes>,
}

/// The access and modification times of a folder of a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirTimes {
    /// The version.
    pub version: VersionName,
    /// The folder's path in it (empty: its root).
    pub dir: PathBuf,
    /// Last access.
    pub atime: Timestamp,
    /// Last modification.
    pub mtime: Timestamp,
}

impl RetirePlan {
    /// The refs lines the heir gains: every repointed link now points into it.
    pub fn heir_refs(&self) -> Vec<(u64, &Path)> {
        self.repoints
            .iter()
            .map(|r| (r.version.number, r.path.as_path()))
            .collect()
    }
}

/// Plan retiring version number `victim` of `folder` for `reasons`. Refuses when `victim`
/// is not a committed version ([`RetireError::NoSuchVersion`]), when it is the newest one
/// ([`RetireError::TooFewVersions`] when it is the only one, else
/// [`RetireError::Newest`]), when it is a version in the middle (not built yet:
/// [`RetireError::NotOldest`]), and when any link into it could not be kept valid
/// (bookkeeping that does not match the disk): then nothing must be retired.
pub fn plan(
    folder: &JobFolder,
    victim: u64,
    reasons: Vec<RetireReason>,
) -> Result<RetirePlan, RetireError> {
    let versions = folder.versions().at(folder.root())?;
    let root = || folder.root().to_path_buf();
    let Some(pos) = versions.iter().position(|v| v.number == victim) else {
        return Err(RetireError::NoSuchVersion {
            folder: root(),
            version: victim,
        });
    };
    if versions.len() < 2 {
        return Err(RetireError::TooFewVersions {
            folder: root(),
            count: versions.len(),
        });
    }
    if pos + 1 == versions.len() {
        return Err(RetireError::Newest {
            folder: root(),
            version: versions[pos].clone(),
        });
    }
    if pos != 0 {
        return Err(RetireError::NotOldest {
            folder: root(),
            version: versions[pos].clone(),
            oldest: versions[0].clone(),
        });
    }
    let (retired, heir) = (versions[0].clone(), versions[1].clone());
    let data = gather(folder, &retired, &heir, &versions)?;
    decide(&data, reasons)
}

/// The plan for `data` (pure): the heir's links become moves, every other live link into
/// the retired version a repoint (or a real copy where the new text would not fit), and
/// the folders those change keep their times. Refuses, naming the link, when the
/// bookkeeping does not match what `data` found on disk.
pub(super) fn decide(
    data: &Gathered,
    reasons: Vec<RetireReason>,
) -> Result<RetirePlan, RetireError> {
    let moves = moves(data)?;
    check_sources(data, &moves)?;
    let (repoints, materialize) = repoints(data, &moves)?;
    let times = times(data, &moves, &repoints, &materialize)?;
    Ok(RetirePlan {
        retired: data.retired.clone(),
        heir: data.heir.clone(),
        reasons,
        moves,
        repoints,
        materialize,
        heir_links: Vec::new(),
        times,
    })
}

fn bad(data: &Gathered, v: &VersionName, path: &Path, why: &str) -> RetireError {
    RetireError::Uncovered {
        folder: data.folder.clone(),
        version: v.to_string(),
        path: path.to_path_buf(),
        why: why.to_owned(),
    }
}

/// The heir's links: each must point into the retired version (every link names the
/// oldest version holding its folder); they all become moves, and none is left.
fn moves(data: &Gathered) -> Result<Vec<Move>, RetireError> {
    let mut moves = Vec::with_capacity(data.heir_links.len());
    for (to, target) in &data.heir_links {
        let Some((k, from)) = target else {
            return Err(bad(
                data,
                &data.heir,
                to,
                "is listed as a structural link but is not one",
            ));
        };
        if k != &data.retired {
            let why = format!("points into {k}, not the oldest version");
            return Err(bad(data, &data.heir, to, &why));
        }
        moves.push(Move {
            from: from.clone(),
            to: to.clone(),
        });
    }
    moves.sort_by(|a, b| a.from.cmp(&b.from));
    for pair in moves.windows(2) {
        if pair[1].from.starts_with(&pair[0].from) {
            return Err(bad(
                data,
                &data.heir,
                &pair[1].to,
                "targets a directory another link already targets (or one inside it)",
            ));
        }
    }
    Ok(moves)
}

/// Every move source must be a real directory of the retired version, and none may carry
/// a structural link of the retired version (there is nothing older to point at).
fn check_sources(data: &Gathered, moves: &[Move]) -> Result<(), RetireError> {
    for m in moves {
        if m.from.as_os_str().is_empty() {
            return Err(bad(
                data,
                &data.heir,
                &m.to,
                "links to the whole oldest version",
            ));
        }
        let why = match data.real.get(&m.from) {
            Some(Ok(())) => continue,
            Some(Err(e)) => e.as_str(),
            None => "not looked at",
        };
        let why = format!(
            "is not a real directory ({why}), yet {} links to it",
            data.heir
        );
        return Err(bad(data, &data.retired, &m.from, &why));
    }
    for link in &data.own_links {
        if let Some(m) = moves.iter().find(|m| link.starts_with(&m.from)) {
            let why = format!(
                "is a structural link inside {}, which moves to {}",
                m.from.display(),
                data.heir
            );
            return Err(bad(data, &data.retired, link, &why));
        }
    }
    Ok(())
}

/// Every other live link into the retired version, with its target inside the heir:
/// repointed where the new text fits the filesystem's symlink limit, made real where it
/// does not.
fn repoints(
    data: &Gathered,
    moves: &[Move],
) -> Result<(Vec<Repoint>, Vec<Materialize>), RetireError> {
    let by_from: HashMap<&Path, &Path> = moves
        .iter()
        .map(|m| (m.from.as_path(), m.to.as_path()))
        .collect();
    let moved_to: HashSet<&Path> = moves.iter().map(|m| m.to.as_path()).collect();
    let mut out = Vec::new();
    let mut real = Vec::new();
    for (version, path, target) in &data.refs {
        if version == &data.heir && moved_to.contains(path.as_path()) {
            continue;
        }
        let Some((k, old_rel)) = target else {
            continue; // a stale line: nothing there links anywhere
        };
        if k != &data.retired {
            continue; // a stale line: the link there points elsewhere
        }
        if version == &data.heir {
            return Err(bad(
                data,
                version,
                path,
                "links into the oldest version but is missing from the links file",
            ));
        }
        let Some(new_rel) = covering(&by_from, old_rel) else {
            let why = format!(
                "points at {} in {}, which no link of {} covers",
                old_rel.display(),
                data.retired,
                data.heir
            );
            return Err(bad(data, version, path, &why));
        };
        let old_target = link_target(path, &data.retired, old_rel);
        let new_target = link_target(path, &data.heir, &new_rel);
        if link_fits(&new_target, data.heir.number, data.limit) {
            out.push(Repoint {
                version: version.clone(),
                path: path.clone(),
                old_target,
                new_target,
            });
        } else {
            real.push(Materialize {
                version: version.clone(),
                path: path.clone(),
                old_target,
                from: old_rel.clone(),
                in_heir: new_rel,
            });
        }
    }
    Ok((out, real))
}

/// The times of every folder a move (heir side), repoint or materialized link changes,
/// each once.
fn times(
    data: &Gathered,
    moves: &[Move],
    repoints: &[Repoint],
    materialize: &[Materialize],
) -> Result<Vec<DirTimes>, RetireError> {
    let mut seen = HashSet::new();
    let heir_side = moves.iter().map(|m| (&data.heir, m.to.as_path()));
    let others = repoints.iter().map(|r| (&r.version, r.path.as_path()));
    let real = materialize.iter().map(|m| (&m.version, m.path.as_path()));
    let mut out = Vec::new();
    for (version, link) in heir_side.chain(others).chain(real) {
        let dir = link.parent().unwrap_or(Path::new("")).to_path_buf();
        if !seen.insert((version.number, dir.clone())) {
            continue;
        }
        let Some(Some((atime, mtime))) = data.dirs.get(&(version.number, dir.clone())) else {
            return Err(bad(data, version, &dir, "is not a real directory"));
        };
        out.push(DirTimes {
            version: version.clone(),
            dir,
            atime: *atime,
            mtime: *mtime,
        });
    }
    Ok(out)
}

/// Where `old` (a path inside the retired version) lives after the moves: under the move
/// whose source is its longest ancestor-or-self.
fn covering(by_from: &HashMap<&Path, &Path>, old: &Path) -> Option<PathBuf> {
    old.ancestors().find_map(|anc| {
        let to = by_from.get(anc)?;
        let rest = old.strip_prefix(anc).ok()?;
        Some(if rest.as_os_str().is_empty() {
            to.to_path_buf()
        } else {
            to.join(rest)
        })
    })
}

/// Open folders of versions: each version's root once, and the folder opened last (links
/// are handled in path order, so neighbours share it).
pub(super) struct Opened<'a> {
    folder: &'a JobFolder,
    roots: HashMap<u64, Dir>,
    last: Option<(u64, PathBuf, Option<Dir>)>,
}

impl<'a> Opened<'a> {
    /// The job folder.
    pub(super) fn folder(&self) -> &'a JobFolder {
        self.folder
    }

    pub(super) fn new(folder: &'a JobFolder) -> Opened<'a> {
        Opened {
            folder,
            roots: HashMap::new(),
            last: None,
        }
    }

    fn root(&mut self, v: &VersionName) -> std::io::Result<&Dir> {
        match self.roots.entry(v.number) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => Ok(e.insert(Dir::open(&self.folder.version_path(v))?)),
        }
    }

    /// The folder `dir` of version `v`, opened without following links; `None` when it
    /// is not there.
    pub(super) fn dir(&mut self, v: &VersionName, dir: &Path) -> std::io::Result<Option<&Dir>> {
        let hit = matches!(&self.last, Some((n, p, _)) if *n == v.number && p == dir);
        if !hit {
            let opened = match self.root(v)?.open_beneath(dir) {
                Ok(d) => Some(d),
                Err(e) if is_absent(&e) => None,
                Err(e) => return Err(e),
            };
            self.last = Some((v.number, dir.to_path_buf(), opened));
        }
        Ok(self.last.as_ref().and_then(|(_, _, d)| d.as_ref()))
    }
}

/// Errors that mean "nothing (usable) is there": missing, or a non-directory on the way.
pub(super) fn is_absent(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
    )
}

#[cfg(test)]
mod tests;
