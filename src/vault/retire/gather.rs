//! The I/O half of a retire plan: everything [`plan()`](super::plan()) decides from, read
//! into plain data ([`Gathered`]) — the retired version's refs and what each listed link
//! shows now, which shown paths are real folders, the retired version's own links and
//! where they point, the times of the folders a retire may touch, and the filesystem's
//! symlink limit. [`decide`](super::plan::decide) then makes the plan without touching the
//! disk, so it is unit-tested from tables.
//!
//! Cost: the retired version's refs file (one `readlink` per line and one `open` per path
//! shown), the heir's links file (one `readlink` per link) and the retired version's own
//! (one per link inside a shown folder), one `stat` per folder holding one of those links
//! or a shown folder. No other version's links file, never a walk.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::plan::{is_absent, Opened};
use super::{sys, RetireError};
use crate::error::{IoContext, PathError};
use crate::fs::{Dir, Timestamp};
use crate::vault::layout::{parse_link_target, symlink_max, JobFolder, VersionName};

/// Where a listed link points, when it is a symlink with a structural text: the version
/// and the path inside it. `None`: nothing there, not a symlink, or not a structural text.
pub(super) type Target = Option<(VersionName, PathBuf)>;

/// What a retire plan is made from, read from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Gathered {
    /// The job folder (for messages).
    pub folder: PathBuf,
    /// The job folder as an absolute path (the transit text of carried links).
    pub root: PathBuf,
    /// The version to retire.
    pub retired: VersionName,
    /// The next version.
    pub heir: VersionName,
    /// The refs lines of the retired version naming another committed version, sorted
    /// and once each, with where the link there points now.
    pub refs: Vec<(VersionName, PathBuf, Target)>,
    /// For each path of the retired version that a listed link shows: `Ok` when it is a
    /// real directory, else why not.
    pub real: HashMap<PathBuf, Result<(), String>>,
    /// The heir's listed links, sorted, each with where it points: the chain property
    /// makes the heir the version most likely to link into the retired one, so its links
    /// are checked against the refs file (a link into the retired version missing there
    /// would dangle after the retire).
    pub heir_links: Vec<(PathBuf, Target)>,
    /// The retired version's own listed links, sorted, each with where it points (read
    /// only for those inside a folder a link shows: `None` for the others).
    pub own_links: Vec<(PathBuf, Target)>,
    /// The folders holding those links, by (version, path): their (atime, mtime), `None`
    /// when the folder is not a real directory.
    pub dirs: HashMap<(u64, PathBuf), Option<(Timestamp, Timestamp)>>,
    /// The vault filesystem's symlink limit ([`symlink_max`]).
    pub limit: usize,
    /// How many links from versions newer than the holder of the folder around a folder
    /// it takes to split it off ([`SPLIT_MIN_NEWER`]; tables use 1).
    pub split_min: usize,
}

/// A split costs about three repoints (three new links, four exchanges, the stage place)
/// and saves a later repoint of each link into the folder from a version newer than the
/// holder of the folder around it: made from three such links on (none at N=3, where a
/// folder has at most one; measured there: splitting every such folder cost N=3 retires
/// 0.27 s instead of 0.16 s).
pub(super) const SPLIT_MIN_NEWER: usize = 3;

/// Read what retiring `retired` (`heir` the next version) is planned from.
pub(super) fn gather(
    folder: &JobFolder,
    retired: &VersionName,
    heir: &VersionName,
    versions: &[VersionName],
) -> Result<Gathered, RetireError> {
    let mut opened = Opened::new(folder);
    let by_number: HashMap<u64, VersionName> =
        versions.iter().map(|v| (v.number, v.clone())).collect();
    let lines: BTreeSet<(u64, PathBuf)> = folder
        .read_refs(retired.number)
        .at(folder.refs_file(retired.number))?
        .into_iter()
        .filter(|(n, _)| *n != retired.number && by_number.contains_key(n))
        .collect();
    let mut refs = Vec::with_capacity(lines.len());
    for (n, p) in lines {
        let v = by_number[&n].clone();
        let t = read_structural(&mut opened, &v, &p)?;
        refs.push((v, p, t));
    }
    let root_path = folder.version_path(retired);
    let root = Dir::open(&root_path).at(&root_path)?;
    let mut real = HashMap::new();
    for (_, _, t) in &refs {
        if let Some((_, q)) = t.as_ref().filter(|(k, _)| k == retired) {
            if !real.contains_key(q) {
                let ok = root.open_beneath(q).map(drop).map_err(|e| e.to_string());
                real.insert(q.clone(), ok);
            }
        }
    }
    // The retired version's own links are read only inside a shown folder: only there can
    // one move along (be carried); the others go with the version, and at N=300 they are
    // most of its ~1,750 links.
    let shown_paths: HashSet<&Path> = real.keys().map(PathBuf::as_path).collect();
    let inside_shown = |l: &Path| l.ancestors().skip(1).any(|a| shown_paths.contains(a));
    let own_links = listed_links(&mut opened, retired, &inside_shown)?;
    let heir_links = listed_links(&mut opened, heir, &|_| true)?;
    let mut dirs = HashMap::new();
    let holders = refs.iter().map(|(v, p, _)| (v, p));
    let holders = holders.chain(
        own_links
            .iter()
            .filter(|(_, t)| t.is_some())
            .map(|(p, _)| (retired, p)),
    );
    // The folders around the shown ones: a split changes them (now inside a receiver).
    let mut shown: Vec<&PathBuf> = real.keys().filter(|q| q.components().count() > 1).collect();
    shown.sort();
    let holders = holders.chain(shown.into_iter().map(|q| (retired, q)));
    for (v, p) in holders {
        let dir = p.parent().unwrap_or(Path::new("")).to_path_buf();
        if dirs.contains_key(&(v.number, dir.clone())) {
            continue;
        }
        let at = || folder.version_path(v).join(&dir);
        let times = match opened.dir(v, &dir) {
            Ok(Some(d)) => {
                let meta = d.stat_self().map_err(|e| PathError::new(at(), e))?;
                Some((meta.atime, meta.mtime))
            }
            Ok(None) => None,
            Err(e) => return Err(RetireError::Io(PathError::new(at(), e))),
        };
        dirs.insert((v.number, dir), times);
    }
    let absolute = std::path::absolute(folder.root()).at(folder.root())?;
    Ok(Gathered {
        folder: folder.root().to_path_buf(),
        root: absolute,
        retired: retired.clone(),
        heir: heir.clone(),
        refs,
        real,
        heir_links,
        own_links,
        dirs,
        limit: symlink_max(folder.dir()),
        split_min: SPLIT_MIN_NEWER,
    })
}

/// The listed links of version `v`, sorted, each with where it points when `read` says
/// to read it (`None` otherwise).
fn listed_links(
    opened: &mut Opened,
    v: &VersionName,
    read: &dyn Fn(&Path) -> bool,
) -> Result<Vec<(PathBuf, Target)>, RetireError> {
    let folder = opened.folder();
    let listed: BTreeSet<PathBuf> = folder
        .read_links(v.number)
        .at(folder.links_file(v.number))?
        .into_iter()
        .collect();
    let mut out = Vec::with_capacity(listed.len());
    for l in listed {
        let t = match read(&l) {
            true => read_structural(opened, v, &l)?,
            false => None,
        };
        out.push((l, t));
    }
    Ok(out)
}

/// Where the link at `rel` inside version `v` points, when it is a symlink whose text is a
/// well-formed structural target; `None` when nothing is there, it is not a symlink, or its
/// text is not structural.
pub(super) fn read_structural(
    opened: &mut Opened,
    v: &VersionName,
    rel: &Path,
) -> Result<Target, RetireError> {
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Ok(None);
    };
    let folder = opened.folder();
    let full = || folder.version_path(v).join(rel);
    let dir = match opened.dir(v, parent) {
        Ok(Some(d)) => d,
        Ok(None) => return Ok(None),
        Err(e) => return Err(RetireError::Io(PathError::new(full(), e))),
    };
    match sys::readlink(dir, name) {
        Ok(text) => Ok(parse_link_target(rel, Path::new(&text))),
        Err(e) if is_absent(&e) || e.raw_os_error() == Some(crate::fs::errno::EINVAL) => Ok(None),
        Err(e) => Err(RetireError::Io(PathError::new(full(), e))),
    }
}
