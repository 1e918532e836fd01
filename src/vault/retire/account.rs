//! What versions own, and the job folder's usage against its budget.
//!
//! `index.tsv` caches, per version, the bytes of allocated blocks and the inodes the
//! version owns: what it created, plus what retired versions before it handed forward to
//! it. A retire frees the inodes whose last name was in the retired version and hands the
//! rest to the next version (the heir): `owned(heir) += owned(retired) - freed`. The total
//! is exact. Per version, [`recount`] attributes each inode to the oldest version holding
//! a name of it, which is the same as long as retired versions' folders move into the
//! next version; a folder that moves to a later receiver is counted there by a recount
//! and at the heir by the cache (walking each moved folder to split the figure exactly
//! would cost its size at every retire). The first time a limit is hit the
//! whole job folder is recounted from disk ([`recount`]) and the cache corrected; the
//! `.reverberator/recounted` file records that, so it is done once, and again only after
//! an interrupted retire left the figures partial. What lies outside the versions (index,
//! journal, `links/`/`refs/` files: a few small files per version) is not cached but
//! counted at each check ([`overhead`]).
//!
//! When the newest version alone is over budget, `.reverberator/over-budget` holds the
//! message `list` and `status` show ([`over_budget`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::Path;

use super::plan::RetirePlan;
use super::RetireError;
use crate::error::{IoContext, PathError};
use crate::fs::write_atomic;
use crate::fs::{Dir, FileKind, Meta};
use crate::vault::index::{Index, IndexRow};
use crate::vault::layout::{JobFolder, VersionName, PRIVATE_DIR};

/// The file recording that the job folder was recounted from disk.
pub const RECOUNTED_FILE: &str = "recounted";
/// The file holding the message of a newest version that alone exceeds the budget.
pub const OVER_BUDGET_FILE: &str = "over-budget";

/// Bytes of allocated blocks and inodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Usage {
    /// Bytes of allocated blocks (`st_blocks * 512`).
    pub bytes: u64,
    /// Inodes.
    pub inodes: u64,
}

impl Usage {
    /// Count `bytes` and `inodes` more.
    pub fn add(&mut self, bytes: u64, inodes: u64) {
        self.bytes = self.bytes.saturating_add(bytes);
        self.inodes = self.inodes.saturating_add(inodes);
    }

    /// `self + other`.
    pub fn plus(self, other: Usage) -> Usage {
        let mut out = self;
        out.add(other.bytes, other.inodes);
        out
    }

    /// `self - other`, never below zero.
    pub fn minus(self, other: Usage) -> Usage {
        Usage {
            bytes: self.bytes.saturating_sub(other.bytes),
            inodes: self.inodes.saturating_sub(other.inodes),
        }
    }

    /// What an index row says a version uses.
    pub(super) fn of_row(row: &IndexRow) -> Usage {
        Usage {
            bytes: row.size,
            inodes: row.inodes,
        }
    }
}

fn private(folder: &Path, name: &str) -> std::path::PathBuf {
    folder.join(PRIVATE_DIR).join(name)
}

/// Drop the retired version's row from `index.tsv` and add what it handed forward to the
/// heir's row (atomic replace). Does nothing when the row is already gone (a replay).
/// Returns what was handed forward.
pub(super) fn settle_index(
    folder: &JobFolder,
    plan: &RetirePlan,
    freed: Usage,
    made_real: &[(u64, Usage, Usage)],
) -> Result<Usage, RetireError> {
    let mut index = Index::from_job_dir(folder.root()).map_err(RetireError::Index)?;
    let Some(pos) = index
        .rows
        .iter()
        .position(|r| r.version == plan.retired.number)
    else {
        return Ok(Usage::default());
    };
    let row = index.rows.remove(pos);
    let forwarded = Usage::of_row(&row).minus(freed);
    // What was freed beyond the retired row: names it held of what other rows count (a
    // receiver's link exchanged into it, a folder a split handed to a newer version while
    // an older row counts it). The heir's row gives it back, so the total stays exact.
    let beyond = freed.minus(Usage::of_row(&row));
    if let Some(heir) = index
        .rows
        .iter_mut()
        .find(|r| r.version == plan.heir.number)
    {
        let now = Usage::of_row(heir).plus(forwarded).minus(beyond);
        heir.size = now.bytes;
        heir.inodes = now.inodes;
    }
    for (number, added, gone) in made_real {
        if let Some(row) = index.rows.iter_mut().find(|r| r.version == *number) {
            let now = Usage::of_row(row).plus(*added).minus(*gone);
            row.size = now.bytes;
            row.inodes = now.inodes;
        }
    }
    Index::write_atomic(folder.root(), &index.rows).map_err(RetireError::Index)?;
    Ok(forwarded)
}

/// The figures of a job folder: the cached index rows of committed versions (oldest
/// first) and what lies outside the versions (counted now: a few files per version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    /// One row per committed version, oldest first.
    pub rows: Vec<IndexRow>,
    /// Index, journal, bookkeeping and the job folder itself, counted now.
    pub overhead: Usage,
    /// Whether the job folder was ever recounted from disk.
    pub recounted: bool,
}

impl Figures {
    /// Read the figures of `folder` for its committed `versions`.
    pub fn load(folder: &JobFolder, versions: &[VersionName]) -> Result<Figures, RetireError> {
        let index = Index::from_job_dir(folder.root()).map_err(RetireError::Index)?;
        let committed: HashSet<u64> = versions.iter().map(|v| v.number).collect();
        let mut rows: Vec<IndexRow> = index
            .rows
            .into_iter()
            .filter(|r| committed.contains(&r.version))
            .collect();
        rows.sort_by_key(|r| r.version);
        let recounted = read_recounted(folder.root())?.0;
        let overhead = overhead(folder, versions, &mut HashSet::new())?;
        Ok(Figures {
            rows,
            overhead,
            recounted,
        })
    }

    /// What the job folder uses, by these figures.
    pub fn used(&self) -> Usage {
        self.rows
            .iter()
            .fold(self.overhead, |acc, r| acc.plus(Usage::of_row(r)))
    }
}

fn read_recounted(root: &Path) -> Result<(bool, Usage), RetireError> {
    let path = private(root, RECOUNTED_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((false, Usage::default())),
        Err(e) => return Err(RetireError::Io(PathError::new(path, e))),
    };
    let fields: Vec<&str> = text.trim_end().split('\t').collect();
    let overhead = match fields.as_slice() {
        [_, bytes, inodes] => bytes
            .parse()
            .ok()
            .zip(inodes.parse().ok())
            .map(|(bytes, inodes)| Usage { bytes, inodes }),
        _ => None,
    };
    // A damaged file only costs a recount.
    Ok(overhead.map_or((false, Usage::default()), |o| (true, o)))
}

/// Forget that the job folder was recounted (an interrupted retire left partial figures).
pub(super) fn forget_recount(folder: &JobFolder) -> Result<(), RetireError> {
    remove_private(folder.root(), RECOUNTED_FILE)
}

fn remove_private(root: &Path, name: &str) -> Result<(), RetireError> {
    let path = private(root, name);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RetireError::Io(PathError::new(path, e))),
    }
}

/// What a recount found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recount {
    /// Per version number: the inodes first met in it (oldest first) and their bytes.
    pub versions: BTreeMap<u64, Usage>,
    /// Everything in the job folder outside the versions, and the folder itself.
    pub overhead: Usage,
}

impl Recount {
    /// The whole job folder.
    pub fn total(&self) -> Usage {
        self.versions
            .values()
            .fold(self.overhead, |a, u| a.plus(*u))
    }
}

/// Count the whole job folder from disk: every inode once (by device and inode number),
/// its allocated bytes, attributed to the oldest version holding a name of it. Walks with
/// directory fds and never follows a link.
pub fn recount(folder: &JobFolder, versions: &[VersionName]) -> Result<Recount, RetireError> {
    let mut seen = HashSet::new();
    let mut out = BTreeMap::new();
    for v in versions {
        let path = folder.version_path(v);
        let dir = Dir::open(&path).at(&path)?;
        out.insert(v.number, walk_usage(dir, &mut seen).at(&path)?);
    }
    let overhead = overhead(folder, versions, &mut seen)?;
    Ok(Recount {
        versions: out,
        overhead,
    })
}

/// Everything in the job folder but the versions (index, journal, `latest`, bookkeeping,
/// leftovers being deleted) and the folder itself. Small: a few files per version.
pub fn overhead(
    folder: &JobFolder,
    versions: &[VersionName],
    seen: &mut HashSet<(u64, u64)>,
) -> Result<Usage, RetireError> {
    let names: HashSet<String> = versions.iter().map(|v| v.to_string()).collect();
    let root = folder.dir();
    let mut overhead = Usage::default();
    let meta = root.stat_self().at(folder.root())?;
    overhead.add(meta.allocated, 1);
    for e in root.entries().at(folder.root())? {
        if e.name.to_str().is_some_and(|n| names.contains(n)) {
            continue;
        }
        let path = folder.root().join(&e.name);
        let meta = root.stat(&e.name).at(&path)?;
        let u = if meta.kind == FileKind::Dir {
            walk_usage(root.open_child(&e.name).at(&path)?, seen).at(&path)?
        } else {
            count_once(&meta, seen)
        };
        overhead = overhead.plus(u);
    }
    Ok(overhead)
}

/// Usage of one non-directory, counted only the first time its inode is met.
fn count_once(meta: &Meta, seen: &mut HashSet<(u64, u64)>) -> Usage {
    if meta.nlink > 1 && !seen.insert((meta.dev, meta.ino)) {
        return Usage::default();
    }
    Usage {
        bytes: meta.allocated,
        inodes: 1,
    }
}

/// Usage of the tree under `top` (itself included), never following a link.
fn walk_usage(top: Dir, seen: &mut HashSet<(u64, u64)>) -> io::Result<Usage> {
    let mut total = Usage::default();
    total.add(top.stat_self()?.allocated, 1);
    crate::fs::walk(top, &mut |_, meta| {
        total = total.plus(match meta.kind {
            FileKind::Dir => Usage {
                bytes: meta.allocated,
                inodes: 1,
            },
            _ => count_once(meta, seen),
        });
        crate::fs::Visit::Descend
    })?;
    Ok(total)
}

/// What deleting the tree under `top` (itself included) frees, never following a link:
/// its directories, and every other inode all of whose names are in it. The subtrees
/// `skip` answers true for (paths relative to `top`) are left out: they stay.
pub(crate) fn owned(top: Dir, skip: &dyn Fn(&Path) -> bool) -> io::Result<Usage> {
    let mut owned = Usage::default();
    // (dev, ino) -> (names met, nlink, allocated bytes)
    let mut names: HashMap<(u64, u64), (u64, u64, u64)> = HashMap::new();
    owned.add(top.stat_self()?.allocated, 1);
    crate::fs::walk(top, &mut |path, meta| {
        if skip(path) {
            return crate::fs::Visit::Skip;
        }
        if meta.kind == FileKind::Dir {
            owned.add(meta.allocated, 1);
        } else {
            let e = names
                .entry((meta.dev, meta.ino))
                .or_insert((0, meta.nlink, meta.allocated));
            e.0 += 1;
        }
        crate::fs::Visit::Descend
    })?;
    for (met, nlink, allocated) in names.into_values() {
        if met >= nlink {
            owned.add(allocated, 1);
        }
    }
    Ok(owned)
}

/// Correct the cached figures from a recount: each version's row gets what the recount
/// attributed to it, and the recount is recorded (with the overhead) so it is done once.
pub fn apply_recount(folder: &JobFolder, recount: &Recount) -> Result<(), RetireError> {
    let mut index = Index::from_job_dir(folder.root()).map_err(RetireError::Index)?;
    for row in &mut index.rows {
        if let Some(u) = recount.versions.get(&row.version) {
            row.size = u.bytes;
            row.inodes = u.inodes;
        }
    }
    Index::write_atomic(folder.root(), &index.rows).map_err(RetireError::Index)?;
    let text = format!(
        "{}\t{}\t{}\n",
        chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        recount.overhead.bytes,
        recount.overhead.inodes
    );
    let path = private(folder.root(), RECOUNTED_FILE);
    write_atomic(&path, text.as_bytes()).at(path)?;
    Ok(())
}

/// The message saved when the newest version alone exceeds the budget of the job folder
/// at `job_dir`, for `list` and `status`; `None` when the job is within its budget.
pub fn over_budget(job_dir: &Path) -> io::Result<Option<String>> {
    match std::fs::read_to_string(private(job_dir, OVER_BUDGET_FILE)) {
        Ok(text) => Ok(Some(text.trim_end().to_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Record (`Some`) or clear (`None`) the over-budget message of `folder`.
pub(super) fn set_over_budget(folder: &JobFolder, msg: Option<&str>) -> Result<(), RetireError> {
    match msg {
        Some(m) => {
            let path = private(folder.root(), OVER_BUDGET_FILE);
            write_atomic(&path, format!("{m}\n").as_bytes()).at(path)?;
            Ok(())
        }
        None => remove_private(folder.root(), OVER_BUDGET_FILE),
    }
}
