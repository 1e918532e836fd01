//! Links that become real folders in a retire ([`Materialize`]): a folder that moved to a
//! deeper place after the retired version lands in the heir at that longer path, and a
//! later version's link to it may then need a text longer than the vault filesystem
//! stores (`ENAMETOOLONG`). Such a link is replaced by a real copy of the folder it shows:
//! real directories (owner, mode, xattrs and times of the originals) whose other entries
//! are hard links to the same inodes, so no data is copied and the version dereferences to
//! exactly what it did. The copy is built in the scratch folder before anything visible
//! changes, then exchanged with the link in one `renameat2(RENAME_EXCHANGE)`.
//!
//! The folder comes from the retired version, which holds no structural links (it is the
//! oldest), so the copy holds none either: the version's links file loses the path and no
//! refs file gains one. The copy's directories (and any file cloned at the link limit) are
//! new inodes that version owns: [`usage`] counts them from disk once the exchanges are
//! done, and `index.tsv` gets them in the same replacement that drops the retired row.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::PathBuf;

use super::account::Usage;
use super::apply::{split, swap_out_link};
use super::plan::{is_absent, Materialize, Repoint, RetirePlan};
use super::RetireError;
use crate::error::IoContext;
use crate::fs::{self, CopyOptions, Dir, FileKind};
use crate::vault::deep::{too_deep, MAX_DEPTH};
use crate::vault::layout::{parse_link_target, JobFolder};

/// The scratch name of the `j`-th real copy.
pub(super) fn scratch_name(j: usize) -> OsString {
    OsString::from(format!("real-{j}"))
}

/// Build the real copy of `m` as `scratch_name(j)` in `tmp`, unless the version already
/// holds a real folder there (exchanged before a crash). The folder is read from the
/// retired version while it is still there, else from the heir (the move is done).
pub(super) fn prepare(
    folder: &JobFolder,
    plan: &RetirePlan,
    m: &Materialize,
    at: &Dir,
    tmp: &Dir,
    j: usize,
) -> Result<(), RetireError> {
    let full = folder.version_path(&m.version).join(&m.path);
    let name = split(&m.path).1;
    if at.stat(name).at(&full)?.kind == FileKind::Dir {
        return Ok(());
    }
    let (parent, src_name, src_path) = source(folder, plan, m)?;
    let dst = scratch_name(j);
    link_copy(&parent, &src_name, tmp, &dst).at(src_path)?;
    Ok(())
}

/// The folder `m` shows, as (its parent, its name, its path for messages).
fn source(
    folder: &JobFolder,
    plan: &RetirePlan,
    m: &Materialize,
) -> Result<(Dir, OsString, PathBuf), RetireError> {
    for (v, rel) in [(&plan.retired, &m.from), (&m.holder, &m.in_holder)] {
        let root_path = folder.version_path(v);
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            continue;
        };
        let root = Dir::open(&root_path).at(&root_path)?;
        let dir = match root.open_beneath(parent) {
            Ok(d) => d,
            Err(e) if is_absent(&e) => continue,
            Err(e) => return Err(RetireError::Io(crate::error::PathError::new(root_path, e))),
        };
        match dir.stat(name) {
            Ok(meta) if meta.kind == FileKind::Dir => {
                return Ok((dir, name.to_owned(), root_path.join(rel)));
            }
            Ok(_) => continue,
            Err(e) if is_absent(&e) => continue,
            Err(e) => return Err(RetireError::Io(crate::error::PathError::new(root_path, e))),
        }
    }
    Err(RetireError::state(
        &folder.version_path(&m.holder).join(&m.in_holder),
        format!(
            "is not a real folder (nor is {}/{}): nothing to make {}/{} a copy of",
            plan.retired,
            m.from.display(),
            m.version,
            m.path.display()
        ),
    ))
}

/// Copy the folder `name` of `src` to `dst_name` in `dst`: directories made anew with the
/// originals' attributes (set once their entries are in, so the times hold), every other
/// entry hard-linked without following it (a file at the filesystem's link limit is
/// cloned instead). Iterative: one open pair of folders per level.
fn link_copy(src: &Dir, name: &OsStr, dst: &Dir, dst_name: &OsStr) -> io::Result<()> {
    let mut stack = vec![Level::open(src, name, dst, dst_name)?];
    while !stack.is_empty() {
        let depth = stack.len();
        let Some(top) = stack.last_mut() else { break };
        let Some(e) = top.entries.next() else {
            let Some(done) = stack.pop() else { break };
            let (s, d, from) = match stack.last() {
                Some(l) => (&l.from, &l.to, done.name.as_os_str()),
                None => (src, dst, name),
            };
            let opts = CopyOptions::default();
            fs::copy_attributes(s, from, &done.meta, d, &done.name, &opts)?;
            continue;
        };
        let kind = match e.kind {
            Some(k) => k,
            None => top.from.stat(&e.name)?.kind,
        };
        if kind != FileKind::Dir {
            hard_link(&top.from, &e.name, &top.to)?;
        } else if depth > MAX_DEPTH {
            return Err(too_deep());
        } else {
            let level = Level::open(&top.from, &e.name, &top.to, &e.name)?;
            stack.push(level);
        }
    }
    Ok(())
}

/// One folder being copied: the original and the copy, the entries still to do, and the
/// copy's name and the original's attributes (given to the copy once it is full).
struct Level {
    from: Dir,
    to: Dir,
    entries: std::vec::IntoIter<crate::fs::DirEntry>,
    name: OsString,
    meta: crate::fs::Meta,
}

impl Level {
    fn open(src: &Dir, name: &OsStr, dst: &Dir, dst_name: &OsStr) -> io::Result<Level> {
        let meta = src.stat(name)?;
        fs::at::mkdir(dst, dst_name, 0o700)?;
        let from = src.open_child(name)?;
        let to = dst.open_child(dst_name)?;
        let entries = from.list_once()?.into_iter();
        let name = dst_name.to_owned();
        Ok(Level {
            from,
            to,
            entries,
            name,
            meta,
        })
    }
}

fn hard_link(from: &Dir, name: &OsStr, to: &Dir) -> io::Result<()> {
    match fs::at::link(from, name, to, name) {
        Err(e) if e.raw_os_error() == Some(crate::fs::errno::EMLINK) => {
            fs::copy_entry(from, name, to, name, &CopyOptions::default())
                .map(|_| ())
                .map_err(|e| io::Error::other(e.to_string()))
        }
        done => done,
    }
}

/// Exchange the real copy built for `m` with the link (in its parent folder `at`);
/// skipped (`None`) when the version already holds the real folder. Returns what the link
/// used, which its version no longer owns.
pub(super) fn exchange(
    folder: &JobFolder,
    m: &Materialize,
    at: &Dir,
    tmp: &Dir,
    j: usize,
) -> Result<Option<Usage>, RetireError> {
    let full = folder.version_path(&m.version).join(&m.path);
    let name = split(&m.path).1;
    let link = at.stat(name).at(&full)?;
    match link.kind {
        FileKind::Dir => return Ok(None),
        FileKind::Symlink => {}
        _ => {
            return Err(RetireError::state(
                &full,
                "is neither the link nor its real copy",
            ))
        }
    }
    swap_out_link(tmp, &scratch_name(j), at, name, &m.old_target, &|| {
        full.clone()
    })?;
    Ok(Some(Usage {
        bytes: link.allocated,
        inodes: 1,
    }))
}

/// Turn the repoints whose new link the filesystem refused (`ENAMETOOLONG`: a limit lower
/// than [`symlink_max`](crate::vault::layout::symlink_max) knows, e.g. btrfs with 4 KiB
/// nodes) into real copies. Only before anything visible changed.
pub(super) fn convert(plan: &mut RetirePlan, refused: &[usize]) {
    let mut keep = Vec::with_capacity(plan.repoints.len());
    for (i, r) in std::mem::take(&mut plan.repoints).into_iter().enumerate() {
        match (refused.contains(&i), as_materialize(&r)) {
            (true, Some(m)) => plan.materialize.push(m),
            _ => keep.push(r),
        }
    }
    plan.repoints = keep;
    plan.materialize
        .sort_by(|a, b| (&a.version, &a.path).cmp(&(&b.version, &b.path)));
}

fn as_materialize(r: &Repoint) -> Option<Materialize> {
    let (_, from) = parse_link_target(&r.path, &r.old_target)?;
    let (holder, in_holder) = parse_link_target(&r.path, &r.new_target)?;
    Some(Materialize {
        version: r.version.clone(),
        path: r.path.clone(),
        old_target: r.old_target.clone(),
        from,
        holder,
        in_holder,
    })
}

/// How each version's figures change: `(version, what its real copies add, what the links
/// they replaced used)`. A copy adds every directory in it and every other entry with a
/// single link (a clone made at the link limit; the rest are hard links to inodes other
/// versions own), counted from disk. `links` holds what [`exchange`] returned, per
/// materialize step; a step this process did not exchange (a replay after a crash) counts
/// its link as one inode of no blocks (a resumed retire has its figures recounted anyway).
pub(super) fn usage(
    folder: &JobFolder,
    plan: &RetirePlan,
    links: &[Option<Usage>],
) -> Result<Vec<(u64, Usage, Usage)>, RetireError> {
    let mut out: Vec<(u64, Usage, Usage)> = Vec::new();
    for (j, m) in plan.materialize.iter().enumerate() {
        let root_path = folder.version_path(&m.version);
        let at = root_path.join(&m.path);
        let root = Dir::open(&root_path).at(&root_path)?;
        let copy = match root.open_beneath(&m.path) {
            Ok(d) => d,
            // Still the link: the retire stopped before this exchange (it is an error
            // then, reported by the exchange), or nothing to count.
            Err(e) if is_absent(&e) => continue,
            Err(e) => return Err(RetireError::Io(crate::error::PathError::new(at, e))),
        };
        let added = count_tree(copy, true).at(&at)?;
        let link = links.get(j).copied().flatten().unwrap_or(Usage {
            bytes: 0,
            inodes: 1,
        });
        tally(&mut out, m.version.number, added, link);
    }
    Ok(out)
}

/// Add `added` and `gone` to version `v`'s row of `out`.
fn tally(out: &mut Vec<(u64, Usage, Usage)>, v: u64, added: Usage, gone: Usage) {
    match out.iter_mut().find(|(n, _, _)| *n == v) {
        Some((_, a, g)) => {
            *a = a.plus(added);
            *g = g.plus(gone);
        }
        None => out.push((v, added, gone)),
    }
}

/// The directories of the tree below `top` (itself included) and, with `files`, its
/// singly-linked entries, without following any link.
fn count_tree(top: Dir, files: bool) -> io::Result<Usage> {
    let mut used = Usage::default();
    used.add(top.stat_self()?.allocated, 1);
    crate::fs::walk(top, &mut |_, meta| {
        if meta.kind == FileKind::Dir || (files && meta.nlink <= 1) {
            used.add(meta.allocated, 1);
        }
        crate::fs::Visit::Descend
    })?;
    Ok(used)
}

/// What the real copies of `plan` would change, estimated without changing anything:
/// `(version, its copies' folders, the links they replace)`, as [`usage`] counts them
/// after the retire (files at the link limit, which would be cloned, are not foreseen).
pub(super) fn estimate(
    folder: &JobFolder,
    plan: &RetirePlan,
) -> Result<Vec<(u64, Usage, Usage)>, RetireError> {
    let mut out: Vec<(u64, Usage, Usage)> = Vec::new();
    for m in &plan.materialize {
        let (parent, name, at) = source(folder, plan, m)?;
        let top = parent.open_child(&name).at(&at)?;
        let added = count_tree(top, false).at(&at)?;
        let root_path = folder.version_path(&m.version);
        let link_at = root_path.join(&m.path);
        let (dir, link_name) = split(&m.path);
        let link = Dir::open(&root_path)
            .and_then(|r| r.open_beneath(dir))
            .and_then(|d| d.stat(link_name))
            .at(&link_at)?;
        let gone = Usage {
            bytes: link.allocated,
            inodes: 1,
        };
        tally(&mut out, m.version.number, added, gone);
    }
    Ok(out)
}
