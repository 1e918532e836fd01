//! The retire plan: a pure function of what is on disk. Which version is retired and why,
//! which directories move into the next version (the "heir"), which links of later versions
//! are repointed, and what the heir's bookkeeping becomes. Computing it changes nothing, so
//! `prune --dry-run` prints exactly what `prune` would do.
//!
//! Cost: the heir's links file (plus one `readlink` per link), the retired version's refs
//! file (plus one `readlink` per line) and its own links file. It never lists other
//! versions' links and never walks a version's tree.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::{sys, RetireError};
use crate::error::IoContext;
use crate::fs::{Dir, Timestamp};
use crate::vault::layout::{
    link_fits, link_target, parse_link_target, symlink_max, JobFolder, VersionName,
};

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
    /// The heir's structural links after the moves (what its links file becomes).
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
    let by_number: HashMap<u64, VersionName> =
        versions.into_iter().map(|v| (v.number, v)).collect();
    let ctx = Ctx {
        folder,
        retired: &retired,
        heir: &heir,
    };
    let (moves, heir_links) = ctx.moves()?;
    ctx.check_sources(&moves)?;
    let limit = symlink_max(folder.dir());
    let (repoints, materialize) = ctx.repoints(&moves, &by_number, limit)?;
    let times = ctx.times(&moves, &repoints, &materialize)?;
    Ok(RetirePlan {
        retired,
        heir,
        reasons,
        moves,
        repoints,
        materialize,
        heir_links,
        times,
    })
}

struct Ctx<'a> {
    folder: &'a JobFolder,
    retired: &'a VersionName,
    heir: &'a VersionName,
}

impl Ctx<'_> {
    /// The heir's links: each must point into the retired version (the chain property);
    /// they all become moves, and none is left.
    fn moves(&self) -> Result<(Vec<Move>, Vec<PathBuf>), RetireError> {
        let links = self
            .folder
            .read_links(self.heir.number)
            .at(self.folder.links_file(self.heir.number))?;
        let mut opened = Opened::new(self.folder);
        let mut moves = Vec::with_capacity(links.len());
        for to in sorted(links) {
            let Some((k, from)) = read_structural(&mut opened, self.heir, &to)? else {
                return Err(self.bad(
                    self.heir,
                    &to,
                    "is listed as a structural link but is not one",
                ));
            };
            if &k != self.retired {
                return Err(self.bad(
                    self.heir,
                    &to,
                    &format!("points into {k}, not the oldest version"),
                ));
            }
            moves.push(Move { from, to });
        }
        moves.sort_by(|a, b| a.from.cmp(&b.from));
        for pair in moves.windows(2) {
            if pair[1].from.starts_with(&pair[0].from) {
                return Err(self.bad(
                    self.heir,
                    &pair[1].to,
                    "targets a directory another link already targets (or one inside it)",
                ));
            }
        }
        Ok((moves, Vec::new()))
    }

    /// Every move source must be a real directory of the retired version, and none may
    /// carry a structural link of the retired version (there is nothing older to point at).
    fn check_sources(&self, moves: &[Move]) -> Result<(), RetireError> {
        let root_path = self.folder.version_path(self.retired);
        let root = Dir::open(&root_path).at(&root_path)?;
        for m in moves {
            if m.from.as_os_str().is_empty() {
                return Err(self.bad(self.heir, &m.to, "links to the whole oldest version"));
            }
            if let Err(e) = root.open_beneath(&m.from) {
                return Err(self.bad(
                    self.retired,
                    &m.from,
                    &format!(
                        "is not a real directory ({e}), yet {} links to it",
                        self.heir
                    ),
                ));
            }
        }
        let own = self
            .folder
            .read_links(self.retired.number)
            .at(self.folder.links_file(self.retired.number))?;
        for link in own {
            if let Some(m) = moves.iter().find(|m| link.starts_with(&m.from)) {
                let why = format!(
                    "is a structural link inside {}, which moves to {}",
                    m.from.display(),
                    self.heir
                );
                return Err(self.bad(self.retired, &link, &why));
            }
        }
        Ok(())
    }

    /// Every other live link into the retired version, with its target inside the heir:
    /// repointed where the new text fits the filesystem's symlink `limit`, made real where
    /// it does not.
    fn repoints(
        &self,
        moves: &[Move],
        versions: &HashMap<u64, VersionName>,
        limit: usize,
    ) -> Result<(Vec<Repoint>, Vec<Materialize>), RetireError> {
        let by_from: HashMap<&Path, &Path> = moves
            .iter()
            .map(|m| (m.from.as_path(), m.to.as_path()))
            .collect();
        let moved_to: HashSet<&Path> = moves.iter().map(|m| m.to.as_path()).collect();
        let refs = self
            .folder
            .read_refs(self.retired.number)
            .at(self.folder.refs_file(self.retired.number))?;
        let refs: BTreeMap<(u64, PathBuf), ()> = refs.into_iter().map(|r| (r, ())).collect();
        let mut out = Vec::new();
        let mut real = Vec::new();
        let mut opened = Opened::new(self.folder);
        for (number, path) in refs.into_keys() {
            let Some(version) = versions.get(&number) else {
                continue;
            }; // never committed
            if number <= self.retired.number {
                continue;
            }
            if version == self.heir && moved_to.contains(path.as_path()) {
                continue;
            }
            let Some((k, old_rel)) = read_structural(&mut opened, version, &path)? else {
                continue; // a stale line: nothing there links anywhere
            };
            if &k != self.retired {
                continue; // a stale line: the link there points elsewhere
            }
            if version == self.heir {
                return Err(self.bad(
                    version,
                    &path,
                    "links into the oldest version but is missing from the links file",
                ));
            }
            let Some(new_rel) = covering(&by_from, &old_rel) else {
                let why = format!(
                    "points at {} in {}, which no link of {} covers",
                    old_rel.display(),
                    self.retired,
                    self.heir
                );
                return Err(self.bad(version, &path, &why));
            };
            let old_target = link_target(&path, self.retired, &old_rel);
            let new_target = link_target(&path, self.heir, &new_rel);
            if link_fits(&new_target, self.heir.number, limit) {
                out.push(Repoint {
                    version: version.clone(),
                    path,
                    old_target,
                    new_target,
                });
            } else {
                real.push(Materialize {
                    version: version.clone(),
                    path,
                    old_target,
                    from: old_rel,
                    in_heir: new_rel,
                });
            }
        }
        Ok((out, real))
    }

    /// The times of every folder a move (heir side), repoint or materialized link
    /// changes, each once.
    fn times(
        &self,
        moves: &[Move],
        repoints: &[Repoint],
        materialize: &[Materialize],
    ) -> Result<Vec<DirTimes>, RetireError> {
        let mut seen = HashSet::new();
        let heir_side = moves.iter().map(|m| (self.heir, m.to.as_path()));
        let others = repoints.iter().map(|r| (&r.version, r.path.as_path()));
        let real = materialize.iter().map(|m| (&m.version, m.path.as_path()));
        let others = others.chain(real);
        let mut out = Vec::new();
        let mut opened = Opened::new(self.folder);
        for (version, link) in heir_side.chain(others) {
            let dir = link.parent().unwrap_or(Path::new("")).to_path_buf();
            if !seen.insert((version.number, dir.clone())) {
                continue;
            }
            let at = self.folder.version_path(version).join(&dir);
            let meta = match opened.dir(version, &dir) {
                Ok(Some(d)) => d.stat_self().at(&at)?,
                Ok(None) => return Err(self.bad(version, &dir, "is not a real directory")),
                Err(e) => return Err(RetireError::Io(crate::error::PathError::new(at, e))),
            };
            out.push(DirTimes {
                version: version.clone(),
                dir,
                atime: meta.atime,
                mtime: meta.mtime,
            });
        }
        Ok(out)
    }

    fn bad(&self, v: &VersionName, path: &Path, why: &str) -> RetireError {
        RetireError::Uncovered {
            folder: self.folder.root().to_path_buf(),
            version: v.to_string(),
            path: path.to_path_buf(),
            why: why.to_owned(),
        }
    }
}

fn sorted(set: HashSet<PathBuf>) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = set.into_iter().collect();
    v.sort();
    v
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

/// The (version, path) a link at `rel` inside version `v` points to, when `rel` is a
/// symlink whose text is a well-formed structural target; `None` when nothing is there, it
/// is not a symlink, or its text is not structural.
fn read_structural(
    opened: &mut Opened,
    v: &VersionName,
    rel: &Path,
) -> Result<Option<(VersionName, PathBuf)>, RetireError> {
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Ok(None);
    };
    let full = || opened.folder.version_path(v).join(rel);
    let dir = match opened.dir(v, parent) {
        Ok(Some(d)) => d,
        Ok(None) => return Ok(None),
        Err(e) => return Err(RetireError::Io(crate::error::PathError::new(full(), e))),
    };
    match sys::readlink(dir, name) {
        Ok(text) => Ok(parse_link_target(rel, Path::new(&text))),
        Err(e) if is_absent(&e) || e.raw_os_error() == Some(libc::EINVAL) => Ok(None),
        Err(e) => Err(RetireError::Io(crate::error::PathError::new(full(), e))),
    }
}

/// Open folders of versions: each version's root once, and the folder opened last (links
/// are handled in path order, so neighbours share it).
pub(super) struct Opened<'a> {
    folder: &'a JobFolder,
    roots: HashMap<u64, Dir>,
    last: Option<(u64, PathBuf, Option<Dir>)>,
}

impl<'a> Opened<'a> {
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
mod tests {
    use super::*;

    #[test]
    fn covering_finds_the_longest_moved_ancestor() {
        let mut m = HashMap::new();
        m.insert(Path::new("a/b"), Path::new("x"));
        m.insert(Path::new("c"), Path::new("c"));
        assert_eq!(covering(&m, Path::new("a/b")), Some(PathBuf::from("x")));
        assert_eq!(
            covering(&m, Path::new("a/b/c/d")),
            Some(PathBuf::from("x/c/d"))
        );
        assert_eq!(covering(&m, Path::new("c/z")), Some(PathBuf::from("c/z")));
        assert_eq!(covering(&m, Path::new("a")), None);
        assert_eq!(covering(&m, Path::new("a/bb")), None);
    }
}
