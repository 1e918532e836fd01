//! The I/O half of a retire plan: everything [`plan()`](super::plan()) decides from, read
//! into plain data ([`Gathered`]) — the heir's links and where they point, the retired
//! version's refs and what each listed link shows now, which targets are real folders,
//! the times of the folders a retire may touch, and the filesystem's symlink limit.
//! [`decide`](super::plan::decide) then makes the plan without touching the disk, so it is
//! unit-tested from tables.
//!
//! Cost: the heir's links file (one `readlink` per link and one `open` per target), the
//! retired version's refs file (one `readlink` per line) and links file, one `stat` per
//! folder holding one of those links. Never another version's links file, never a walk.

use std::collections::{BTreeSet, HashMap};
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
    /// The version to retire.
    pub retired: VersionName,
    /// The next version.
    pub heir: VersionName,
    /// Every committed version, by number.
    pub versions: HashMap<u64, VersionName>,
    /// The heir's listed links, sorted, each with where it points.
    pub heir_links: Vec<(PathBuf, Target)>,
    /// For each path of the retired version that a heir link points at: `Ok` when it is a
    /// real directory, else why not.
    pub real: HashMap<PathBuf, Result<(), String>>,
    /// The retired version's own listed links.
    pub own_links: Vec<PathBuf>,
    /// The refs lines of the retired version naming a later committed version, sorted and
    /// once each, with where the link there points now.
    pub refs: Vec<(VersionName, PathBuf, Target)>,
    /// The folders holding those links (heir links and refs), by (version, path): their
    /// (atime, mtime), `None` when the folder is not a real directory.
    pub dirs: HashMap<(u64, PathBuf), Option<(Timestamp, Timestamp)>>,
    /// The vault filesystem's symlink limit ([`symlink_max`]).
    pub limit: usize,
}

/// Read what retiring `retired` (the oldest version; `heir` the next) is planned from.
pub(super) fn gather(
    folder: &JobFolder,
    retired: &VersionName,
    heir: &VersionName,
    versions: &[VersionName],
) -> Result<Gathered, RetireError> {
    let mut opened = Opened::new(folder);
    let listed = folder
        .read_links(heir.number)
        .at(folder.links_file(heir.number))?;
    let mut heir_links = Vec::with_capacity(listed.len());
    for p in listed.into_iter().collect::<BTreeSet<_>>() {
        let t = read_structural(&mut opened, heir, &p)?;
        heir_links.push((p, t));
    }
    let root_path = folder.version_path(retired);
    let root = Dir::open(&root_path).at(&root_path)?;
    let mut real = HashMap::new();
    for (_, t) in &heir_links {
        if let Some((_, r)) = t.as_ref().filter(|(k, _)| k == retired) {
            let ok = root.open_beneath(r).map(drop).map_err(|e| e.to_string());
            real.insert(r.clone(), ok);
        }
    }
    let own_links: Vec<PathBuf> = folder
        .read_links(retired.number)
        .at(folder.links_file(retired.number))?
        .into_iter()
        .collect();
    let by_number: HashMap<u64, VersionName> =
        versions.iter().map(|v| (v.number, v.clone())).collect();
    let lines: BTreeSet<(u64, PathBuf)> = folder
        .read_refs(retired.number)
        .at(folder.refs_file(retired.number))?
        .into_iter()
        .filter(|(n, _)| *n > retired.number && by_number.contains_key(n))
        .collect();
    let mut refs = Vec::with_capacity(lines.len());
    for (n, p) in lines {
        let v = by_number[&n].clone();
        let t = read_structural(&mut opened, &v, &p)?;
        refs.push((v, p, t));
    }
    let mut dirs = HashMap::new();
    let holders = heir_links.iter().map(|(p, _)| (heir, p));
    let holders = holders.chain(refs.iter().map(|(v, p, _)| (v, p)));
    for (v, p) in holders {
        let dir = p.parent().unwrap_or(Path::new("")).to_path_buf();
        if dirs.contains_key(&(v.number, dir.clone())) {
            continue;
        }
        let at = folder.version_path(v).join(&dir);
        let times = match opened.dir(v, &dir) {
            Ok(Some(d)) => {
                let meta = d.stat_self().at(&at)?;
                Some((meta.atime, meta.mtime))
            }
            Ok(None) => None,
            Err(e) => return Err(RetireError::Io(PathError::new(at, e))),
        };
        dirs.insert((v.number, dir), times);
    }
    Ok(Gathered {
        folder: folder.root().to_path_buf(),
        retired: retired.clone(),
        heir: heir.clone(),
        versions: by_number,
        heir_links,
        real,
        own_links,
        refs,
        dirs,
        limit: symlink_max(folder.dir()),
    })
}

/// Where the link at `rel` inside version `v` points, when it is a symlink whose text is a
/// well-formed structural target; `None` when nothing is there, it is not a symlink, or its
/// text is not structural.
fn read_structural(
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
        Err(e) if is_absent(&e) || e.raw_os_error() == Some(libc::EINVAL) => Ok(None),
        Err(e) => Err(RetireError::Io(PathError::new(full(), e))),
    }
}
