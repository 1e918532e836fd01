//! The retire plan: which version is retired and why, which directories move into the
//! next version (the "heir"), which links of later versions are repointed or made real,
//! and which folders keep their times. [`plan()`] reads what it needs from disk into plain
//! data ([`gather`](super::gather)) and then decides without touching the disk
//! ([`decide`], unit-tested from tables below). Computing it changes nothing, so
//! `prune --dry-run` prints exactly what `prune` would do.
//!
//! Cost: see [`gather`](super::gather); the decision is linear in what was gathered.
//!
//! Over 600 lines: the plan's record types (moves, splits, repoints, real copies, carried
//! links, times) are documented field by field here, beside the decision that makes them;
//! where folders go is in [`places`].

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::gather::{gather, Gathered};
use super::RetireError;
use crate::error::IoContext;
use crate::fs::{Dir, Timestamp};
use crate::vault::layout::{link_fits, link_target, parse_link_target, JobFolder, VersionName};
use places::splits_in;
pub(super) use places::{stage_place, Places};

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

/// A real directory of the retired version that other versions link to: it becomes the
/// *receiver*'s own, exchanged with the receiver's link in one
/// `renameat2(RENAME_EXCHANGE)`. The receiver is the newest version linking to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// The real directory's path in the retired version.
    pub from: PathBuf,
    /// The version that receives it (the newest one linking to it).
    pub receiver: VersionName,
    /// The path of the receiver's link to it, where it will live.
    pub to: PathBuf,
}

/// A folder inside a moving one whose own newest linker (the *receiver* here) is newer
/// than the holder of the folder around it after the retire: it goes to that linker, not
/// along with the folder around it, which keeps a link to it at its place. Then no link
/// is repointed twice in its life (module doc of `retire`). Four exchanges, each keeping
/// every remaining version's view: before the moves the folder goes to its *stage*
/// place in `.reverberator/retire-stage/` (at the depth it has in a version, so the
/// relative links inside it stay valid) leaving a link with the absolute `stage_text`,
/// and the receiver's link gets that text too; after the moves the link left behind
/// (now at `at` in `holder`) gets its relative text `link_text`, and the folder is
/// exchanged with the receiver's link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The folder's path in the retired version.
    pub from: PathBuf,
    /// The version that receives it (the newest one linking to it).
    pub receiver: VersionName,
    /// The path of the receiver's link to it, where it will live.
    pub to: PathBuf,
    /// The receiver's link text now (into the retired version).
    pub old_target: PathBuf,
    /// The holder of the folder around it after the retire.
    pub holder: VersionName,
    /// Its path in `holder`: the link left there.
    pub at: PathBuf,
    /// Where it waits during the moves, relative to the job folder.
    pub stage: PathBuf,
    /// The absolute text of links to the stage place.
    pub stage_text: PathBuf,
    /// The text of the link left at `at`: into `receiver` at `to`.
    pub link_text: PathBuf,
}

/// The folder holding the stage places of splits, inside `.reverberator/`.
pub const STAGE_DIR: &str = "retire-stage";

/// A structural link of another version that points into the retired version and gets a
/// new target inside a receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repoint {
    /// The version holding the link.
    pub version: VersionName,
    /// The link's path in that version.
    pub path: PathBuf,
    /// The target text now (into the retired version).
    pub old_target: PathBuf,
    /// The target text after the retire (into the receiver of the folder it shows).
    pub new_target: PathBuf,
}

impl Repoint {
    /// The version the link points into after the retire (the receiver).
    pub fn receiver(&self) -> Option<VersionName> {
        parse_link_target(&self.path, &self.new_target).map(|(v, _)| v)
    }
}

/// A link of another version whose new text would not fit the vault filesystem's symlink
/// limit (a folder that moved to a deeper place, so its receiver holds it at a longer
/// path): instead of a repoint, the link becomes a real copy of the folder it shows, with
/// real directories and every other entry a hard link to the same inode (no data is
/// copied), built in the scratch folder and exchanged with the link.
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
    /// The version holding the folder after the moves (its receiver).
    pub holder: VersionName,
    /// The folder's path in `holder` (where it is after the moves).
    pub in_holder: PathBuf,
}

/// A structural link of the retired version inside a folder that moves: it moves with the
/// folder, so the receiver's links file and the target's refs file gain it, and when the
/// folder lands at another depth (a folder moved in the source) its text is rewritten:
/// before the move to an absolute text (valid at both places), after it to the relative
/// text of its new place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carry {
    /// The receiver of the folder holding it.
    pub receiver: VersionName,
    /// Its path in the retired version.
    pub from: PathBuf,
    /// Its path in the receiver after the move.
    pub path: PathBuf,
    /// The version it points into.
    pub target: VersionName,
    /// Its text now.
    pub old_target: PathBuf,
    /// Its text at its new place (equal to `old_target` at the same depth).
    pub new_target: PathBuf,
    /// The absolute text it has between the two when the texts differ.
    pub transit: PathBuf,
}

impl Carry {
    /// Whether its text must change (the folder lands at another depth).
    pub fn retexts(&self) -> bool {
        self.old_target != self.new_target
    }
}

/// What retiring one version will do, computed without changing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetirePlan {
    /// The version that goes.
    pub retired: VersionName,
    /// The next remaining version: `index.tsv` hands it what the retired version owned
    /// and did not free.
    pub heir: VersionName,
    /// Why.
    pub reasons: Vec<RetireReason>,
    /// Directories that move into their receivers, sorted by `from`.
    pub moves: Vec<Move>,
    /// Folders inside moving ones that go to a newer receiver, sorted by `from` (a
    /// folder before the folders inside it).
    pub splits: Vec<Split>,
    /// Links of other versions that get a new target, sorted by (version, path).
    pub repoints: Vec<Repoint>,
    /// Links of other versions whose new target would be too long: they become real
    /// copies, sorted by (version, path).
    pub materialize: Vec<Materialize>,
    /// The retired version's own links inside moving folders, sorted by `from`.
    pub carried: Vec<Carry>,
    /// The folders whose entries the moves, repoints and carried links change, with their
    /// times before: restored afterwards, since a folder's mtime is part of a version.
    pub times: Vec<DirTimes>,
    /// The length of each refs file that gains lines ([`RetirePlan::new_refs`]) before the
    /// retire, by version: read when the intent is written (empty in a plan not yet
    /// applied); the lines are written there, again on a replay.
    pub refs_at: Vec<(u64, u64)>,
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
    /// The versions that receive folders, each once, by number.
    pub fn receivers(&self) -> Vec<&VersionName> {
        let moved = self.moves.iter().map(|m| &m.receiver);
        let mut out: Vec<&VersionName> = moved
            .chain(self.splits.iter().map(|s| &s.receiver))
            .collect();
        out.sort_by_key(|v| v.number);
        out.dedup_by_key(|v| v.number);
        out
    }

    /// The folders that go to a receiver: moves and splits.
    pub fn moved(&self) -> usize {
        self.moves.len() + self.splits.len()
    }

    /// The refs lines each version gains, by the version linked into: every repointed
    /// link into its receiver, every carried link into its target, every link a split
    /// leaves into its receiver.
    pub fn new_refs(&self) -> BTreeMap<u64, Vec<(u64, &Path)>> {
        let mut out: BTreeMap<u64, Vec<(u64, &Path)>> = BTreeMap::new();
        for r in &self.repoints {
            if let Some(to) = r.receiver() {
                out.entry(to.number)
                    .or_default()
                    .push((r.version.number, r.path.as_path()));
            }
        }
        for c in &self.carried {
            out.entry(c.target.number)
                .or_default()
                .push((c.receiver.number, c.path.as_path()));
        }
        for s in &self.splits {
            out.entry(s.receiver.number)
                .or_default()
                .push((s.holder.number, s.at.as_path()));
        }
        out
    }
}

/// Plan retiring version number `victim` of `folder` for `reasons`. Refuses when `victim`
/// is not a committed version ([`RetireError::NoSuchVersion`]), when it is the newest one
/// ([`RetireError::TooFewVersions`] when it is the only one, else
/// [`RetireError::Newest`]), and when any link into it could not be kept valid
/// (bookkeeping that does not match the disk): then nothing must be retired. Any other
/// version may go, the oldest or one in the middle.
pub fn plan(
    folder: &JobFolder,
    victim: u64,
    reasons: Vec<RetireReason>,
) -> Result<RetirePlan, RetireError> {
    let versions = folder.versions().at(folder.root())?;
    plan_in(folder, &versions, victim, reasons)
}

/// [`plan()`] for a caller that has just listed the committed `versions` (oldest first)
/// under the job lock: a retire lists them once, not once per step.
pub(super) fn plan_in(
    folder: &JobFolder,
    versions: &[VersionName],
    victim: u64,
    reasons: Vec<RetireReason>,
) -> Result<RetirePlan, RetireError> {
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
    let (retired, heir) = (versions[pos].clone(), versions[pos + 1].clone());
    let data = gather(folder, &retired, &heir, versions)?;
    decide(&data, reasons)
}

/// A live link into the retired version: (its version, its path, the path it shows in the
/// retired version).
pub(super) type Live<'a> = (&'a VersionName, &'a Path, &'a Path);

/// The plan for `data` (pure): the top folders other versions link to move to their
/// newest linker, every other live link into the retired version is repointed (or made a
/// real copy where the new text would not fit), the retired version's own links inside
/// moving folders are carried, and the folders those change keep their times. Refuses,
/// naming the link, when the bookkeeping does not match what `data` found on disk.
pub(super) fn decide(
    data: &Gathered,
    reasons: Vec<RetireReason>,
) -> Result<RetirePlan, RetireError> {
    let live = live_links(data)?;
    let (moved, mut split) = moves(data, &live)?;
    let (mut relinked, mut real) = repoints(data, &live, &Places::new(&moved, &split))?;
    if !real.is_empty() && !split.is_empty() {
        // Real copies are read from the retired version or their holder: keep them to
        // plain moves (splits only save later repoints).
        split.clear();
        (relinked, real) = repoints(data, &live, &Places::new(&moved, &split))?;
    }
    let carry = carried(data, &Places::new(&moved, &split))?;
    let kept = times(data, &moved, &split, &relinked, &real, &carry)?;
    Ok(RetirePlan {
        retired: data.retired.clone(),
        heir: data.heir.clone(),
        reasons,
        moves: moved,
        splits: split,
        repoints: relinked,
        materialize: real,
        carried: carry,
        times: kept,
        refs_at: Vec::new(),
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

/// The refs lines whose link points into the retired version now (stale lines skipped),
/// each showing a real directory of it that no link of its own leads to.
fn live_links(data: &Gathered) -> Result<Vec<Live<'_>>, RetireError> {
    let mut live = Vec::new();
    // The retired version's own links, to look up each shown path's ancestors in (a scan
    // of them per refs line made this quadratic: 40% of a retire's CPU at 300 versions).
    let own: HashSet<&Path> = data.own_links.iter().map(|(l, _)| l.as_path()).collect();
    for (version, path, target) in &data.refs {
        let Some((k, q)) = target else {
            continue; // a stale line: nothing there links anywhere
        };
        if k != &data.retired {
            continue; // a stale line: the link there points elsewhere
        }
        if version == &data.retired {
            return Err(bad(data, version, path, "links into its own version"));
        }
        if q.as_os_str().is_empty() {
            return Err(bad(data, version, path, "links to a whole version"));
        }
        let why = match data.real.get(q) {
            Some(Ok(())) => None,
            Some(Err(e)) => Some(e.as_str()),
            None => Some("not looked at"),
        };
        if let Some(why) = why {
            let why = format!(
                "links to {}/{}, which is not a real directory ({why})",
                data.retired,
                q.display()
            );
            return Err(bad(data, version, path, &why));
        }
        if let Some(l) = q.ancestors().find(|a| own.contains(a)) {
            let why = format!(
                "links to {}/{} through its link {} (two hops)",
                data.retired,
                q.display(),
                l.display()
            );
            return Err(bad(data, version, path, &why));
        }
        live.push((version, path.as_path(), q.as_path()));
    }
    let listed: HashSet<(u64, &Path)> = data
        .refs
        .iter()
        .map(|(v, p, _)| (v.number, p.as_path()))
        .collect();
    for (p, target) in &data.heir_links {
        let into = target.as_ref().is_some_and(|(k, _)| k == &data.retired);
        if into && !listed.contains(&(data.heir.number, p.as_path())) {
            let why = format!(
                "links into {} but is missing from its refs file",
                data.retired
            );
            return Err(bad(data, &data.heir, p, &why));
        }
    }
    Ok(live)
}

/// The top folders the live links show (those inside no other one shown), each moving to
/// the newest version linking to it exactly, and the folders inside them that go to a
/// newer linker of their own ([`splits_in`]). A receiver with a second link
/// into the same top folder (showing part of it twice) is refused: no snapshot makes
/// that, and the repoint would give it a link into itself.
fn moves(data: &Gathered, live: &[Live]) -> Result<(Vec<Move>, Vec<Split>), RetireError> {
    // The live links by the path they show (paths order component by component, so a
    // folder's descendants follow it): each top folder is the first path of a run, the
    // run is every link under it, and the next run starts at the first path outside it.
    // One sort and one pass, not one scan of every link per top.
    let mut by_shown: Vec<usize> = (0..live.len()).collect();
    by_shown.sort_by_key(|&i| live[i].2);
    let mut moves = Vec::new();
    let mut splits = Vec::new();
    let mut rest = by_shown.as_slice();
    while let Some(&first) = rest.first() {
        let top = live[first].2;
        let (run, after) = rest.split_at(rest.partition_point(|&i| live[i].2.starts_with(top)));
        rest = after;
        let under = || run.iter().map(|&i| (i, &live[i]));
        let Some((_, &(receiver, to, _))) = under()
            .filter(|(_, (_, _, q))| *q == top)
            .max_by_key(|(_, (v, _, _))| v.number)
        else {
            unreachable!("a top folder is shown by a link of its own");
        };
        // The first such link in `live`'s order (the refs order) is the one named.
        let second = under()
            .filter(|(_, (v, p, _))| v == &receiver && *p != to)
            .min_by_key(|(i, _)| *i);
        if let Some((_, &(v, p, _))) = second {
            let why = format!(
                "shows part of {}/{} a second time (also at {})",
                data.retired,
                top.display(),
                to.display()
            );
            return Err(bad(data, v, p, &why));
        }
        let run: Vec<Live> = run.iter().map(|&i| live[i]).collect();
        splits_in(data, &run, (top, receiver, to), &mut splits);
        moves.push(Move {
            from: top.to_path_buf(),
            receiver: receiver.clone(),
            to: to.to_path_buf(),
        });
    }
    splits.sort_by(|a, b| a.from.cmp(&b.from));
    let depth = |p: &Path| p.components().count();
    for (k, s) in splits.iter_mut().enumerate() {
        s.stage = stage_place(k, depth(&s.from));
        s.stage_text = data.root.join(&s.stage);
    }
    Ok((moves, splits))
}

/// Every live link but the receivers' own, with its target inside the receiver:
/// repointed where the new text fits the filesystem's symlink limit, made real where it
/// does not.
fn repoints(
    data: &Gathered,
    live: &[Live],
    places: &Places,
) -> Result<(Vec<Repoint>, Vec<Materialize>), RetireError> {
    let mut out = Vec::new();
    let mut real = Vec::new();
    for &(version, path, q) in live {
        let Some((receiver, new_rel, to)) = places.find(q) else {
            unreachable!("every shown folder lies in a top folder");
        };
        if receiver == version && to == path {
            continue; // the move or split itself
        }
        if receiver == version {
            return Err(bad(data, version, path, "would link into its own version"));
        }
        let old_target = link_target(path, &data.retired, q);
        let new_target = link_target(path, receiver, &new_rel);
        if link_fits(&new_target, receiver.number, data.limit) {
            out.push(Repoint {
                version: version.clone(),
                path: path.to_path_buf(),
                old_target,
                new_target,
            });
            continue;
        }
        if let Some((l, _)) = data.own_links.iter().find(|(l, _)| l.starts_with(q)) {
            let why = format!(
                "needs a real copy of {}/{} (its new text is too long), which holds the link {}",
                data.retired,
                q.display(),
                l.display()
            );
            return Err(bad(data, version, path, &why));
        }
        real.push(Materialize {
            version: version.clone(),
            path: path.to_path_buf(),
            old_target,
            from: q.to_path_buf(),
            holder: receiver.clone(),
            in_holder: new_rel,
        });
    }
    out.sort_by(|a, b| (&a.version, &a.path).cmp(&(&b.version, &b.path)));
    real.sort_by(|a, b| (&a.version, &a.path).cmp(&(&b.version, &b.path)));
    Ok((out, real))
}

/// The retired version's own links inside moving folders: they move along, with a new
/// text when the folder lands at another depth.
fn carried(data: &Gathered, places: &Places) -> Result<Vec<Carry>, RetireError> {
    let mut out = Vec::new();
    for (l, target) in &data.own_links {
        let Some((receiver, path, _)) = places.find(l) else {
            continue; // not in a moving folder: it goes with the retired version
        };
        let Some((to, rel)) = target else {
            return Err(bad(
                data,
                &data.retired,
                l,
                "is listed as a structural link but is not one",
            ));
        };
        if to == &data.retired || to == receiver {
            let why = format!(
                "moves into {} and would link into its own version",
                receiver
            );
            return Err(bad(data, &data.retired, l, &why));
        }
        let old_target = link_target(l, to, rel);
        let new_target = link_target(&path, to, rel);
        if !link_fits(&new_target, to.number, data.limit) {
            let why = format!(
                "moves into {} at {}, where its text would be too long",
                receiver,
                path.display()
            );
            return Err(bad(data, &data.retired, l, &why));
        }
        out.push(Carry {
            receiver: receiver.clone(),
            from: l.clone(),
            path,
            target: to.clone(),
            transit: data.root.join(to.to_string()).join(rel),
            old_target,
            new_target,
        });
    }
    Ok(out)
}

/// The times of every folder a move (receiver side), split (both sides), repoint,
/// materialized link or re-texted carried link changes, each once.
fn times(
    data: &Gathered,
    moves: &[Move],
    splits: &[Split],
    repoints: &[Repoint],
    materialize: &[Materialize],
    carried: &[Carry],
) -> Result<Vec<DirTimes>, RetireError> {
    let parent = |p: &Path| p.parent().unwrap_or(Path::new("")).to_path_buf();
    // (version, folder) to restore, and where its times were read before the retire.
    let mut wanted: Vec<(&VersionName, PathBuf, (u64, PathBuf))> = Vec::new();
    for m in moves {
        wanted.push((
            &m.receiver,
            parent(&m.to),
            (m.receiver.number, parent(&m.to)),
        ));
    }
    for s in splits {
        let r = (s.receiver.number, parent(&s.to));
        wanted.push((&s.receiver, parent(&s.to), r));
        let was = (data.retired.number, parent(&s.from));
        wanted.push((&s.holder, parent(&s.at), was));
    }
    for (v, p) in repoints
        .iter()
        .map(|r| (&r.version, &r.path))
        .chain(materialize.iter().map(|m| (&m.version, &m.path)))
    {
        wanted.push((v, parent(p), (v.number, parent(p))));
    }
    for c in carried.iter().filter(|c| c.retexts()) {
        let was = (data.retired.number, parent(&c.from));
        wanted.push((&c.receiver, parent(&c.path), was));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (version, dir, was) in wanted {
        if !seen.insert((version.number, dir.clone())) {
            continue;
        }
        let Some(Some((atime, mtime))) = data.dirs.get(&was) else {
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

/// Open folders of versions for one retire: each version's root once, and each folder
/// once (gather reads links and times there, apply changes entries there and restores
/// its times: at N=300 the links of a retire are spread over ~1,500 folders of ~150
/// versions, one or two in each, and opening each folder four times was a tenth of a
/// retire's CPU). At most [`Opened::cap`] folders stay open (the open-files limit is
/// raised first); past that, the one opened last. A folder that is not there is not
/// remembered (a move may put one there). An open folder follows its directory: the
/// retire never asks again for a path whose directory it moved.
pub(super) struct Opened<'a> {
    folder: &'a JobFolder,
    roots: HashMap<u64, Dir>,
    dirs: HashMap<u64, HashMap<PathBuf, Dir>>,
    open: usize,
    cap: usize,
    last: Option<Dir>,
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
            dirs: HashMap::new(),
            open: 0,
            cap: Opened::cap(),
            last: None,
        }
    }

    /// How many folders one retire keeps open: a quarter of the open-files limit (raised
    /// towards the hard limit), at most 8,192.
    fn cap() -> usize {
        static CAP: OnceLock<usize> = OnceLock::new();
        *CAP.get_or_init(|| {
            let limit = crate::fs::raise_open_files_limit().unwrap_or(1024);
            usize::try_from(limit / 4).unwrap_or(usize::MAX).min(8192)
        })
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
        let known = self
            .dirs
            .get(&v.number)
            .is_some_and(|m| m.contains_key(dir));
        if !known {
            let opened = match self.root(v)?.open_beneath(dir) {
                Ok(d) => d,
                Err(e) if is_absent(&e) => return Ok(None),
                Err(e) => return Err(e),
            };
            if self.open >= self.cap {
                return Ok(Some(self.last.insert(opened)));
            }
            self.open += 1;
            let m = self.dirs.entry(v.number).or_default();
            m.insert(dir.to_path_buf(), opened);
        }
        Ok(self.dirs.get(&v.number).and_then(|m| m.get(dir)))
    }
}

/// Errors that mean "nothing (usable) is there": missing, or a non-directory on the way.
pub(super) fn is_absent(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(crate::fs::errno::ENOENT | crate::fs::errno::ENOTDIR | crate::fs::errno::ELOOP)
    )
}

mod places;
#[cfg(test)]
mod tests;
