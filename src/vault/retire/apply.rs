//! Carrying out a [`RetirePlan`]: write the intent, give carried links their transit
//! text, repoint the other links, exchange the moved directories into their receivers,
//! give carried links their new text, update the bookkeeping, hide the retired version,
//! delete it while counting what that frees, settle `index.tsv`, journal, clean up.
//!
//! Every step checks the disk before acting, so [`finish`] can run again over a retire
//! that was cut short anywhere (see the module docs of `retire` for why each intermediate
//! state is safe).
//!
//! Over 600 lines with its tests: the steps share the replay rules (check the disk, then
//! act) that a reader must see side by side; the real copies are `real`, the stage place
//! `stage`.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use super::account::{self, Usage};
use super::books::{new_links_files, write_refs};
use super::plan::{Carry, Move, Opened, Repoint, RetirePlan};
use super::stage::{self, Stage};
use super::{crash_point, intent, real, sys, RetireError};
use crate::error::{IoContext, PathError};
use crate::fs::write_atomic_batch;
use crate::fs::{Dir, FileKind};
use crate::vault::journal::{Event, Journal, JournalLine};
use crate::vault::layout::{JobFolder, VersionName, PRIVATE_DIR};

/// The folder inside `.reverberator/` where repointed links are made (never inside a
/// version, where any name may be a user's file) and where the old links wait until the
/// last repoint: freeing their inodes only then keeps ext4's allocator from scanning past
/// thousands of just-freed inodes for every new link (measured: a third of a retire).
const TMP_DIR: &str = "retire-tmp";

/// What retiring one version did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retired {
    /// The plan that was carried out.
    pub plan: RetirePlan,
    /// Bytes and inodes whose last name was in the retired version (given back to the
    /// filesystem).
    pub freed: Usage,
    /// What the retired version owned and did not free, handed to the heir (the next
    /// version) in `index.tsv`.
    pub forwarded: Usage,
    /// True when this finished a retire that an earlier process started (then `freed`
    /// only counts what was left to delete, and the next limit check recounts).
    pub resumed: bool,
}

/// The hidden name a retired version is deleted under: `.V{n}--{time}.retiring`.
pub fn retiring_name(v: &VersionName) -> String {
    format!(".{v}.retiring")
}

/// Apply `plan`: write it as the intent first, then carry it out. The caller holds the
/// job lock and made the plan under it.
pub fn apply(folder: &JobFolder, mut plan: RetirePlan) -> Result<Retired, RetireError> {
    let targets: Vec<u64> = plan.new_refs().into_keys().collect();
    plan.refs_at = Vec::with_capacity(targets.len());
    for t in targets {
        let len = folder.refs_len(t).at(folder.refs_file(t))?;
        plan.refs_at.push((t, len));
    }
    intent::write(folder, &plan)?;
    crash_point();
    finish(folder, plan, false)
}

/// Carry out `plan` from wherever an earlier run stopped (each step is idempotent).
pub(super) fn finish(
    folder: &JobFolder,
    mut plan: RetirePlan,
    resumed: bool,
) -> Result<Retired, RetireError> {
    let root = folder.dir();
    let visible = OsString::from(plan.retired.to_string());
    let hidden = OsString::from(retiring_name(&plan.retired));
    let (mut links, mut relinked) = (Vec::new(), Vec::new());
    if exists(root, &visible, folder.root())? {
        (links, relinked) = relink(folder, &mut plan, resumed)?;
        sys::rename(root, &visible, root, &hidden).at(folder.root().join(&visible))?;
        root.sync().at(folder.root())?;
        crash_point();
    }
    let freed = if exists(root, &hidden, folder.root())? {
        delete_tree(root, &hidden)
            .map_err(|e| RetireError::Io(PathError::new(folder.root().join(&hidden), e)))?
    } else {
        Usage::default()
    };
    root.sync().at(folder.root())?;
    let mut made_real = real::usage(folder, &plan, &links)?;
    made_real.append(&mut relinked);
    let forwarded = account::settle_index(folder, &plan, freed, &made_real)?;
    crash_point();
    journal(folder, &plan, freed, resumed)?;
    folder
        .remove_bookkeeping(plan.retired.number)
        .at(folder.root().join(PRIVATE_DIR))?;
    if resumed {
        account::forget_recount(folder)?;
    }
    intent::remove(folder)?;
    Ok(Retired {
        plan,
        freed,
        forwarded,
        resumed,
    })
}

fn exists(dir: &Dir, name: &OsStr, root: &Path) -> Result<bool, RetireError> {
    match dir.stat(name) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(RetireError::Io(PathError::new(root.join(name), e))),
    }
}

/// Prepare, carried links to their transit text, repoints, links made real, moves,
/// carried links to their new text, then the bookkeeping files; durable before anything
/// of the retired version is deleted. `resumed`: an earlier process may have done part of
/// it, so every link is read before it is changed. Returns what each link made real used
/// ([`real::exchange`]), and per link given a new text, its version with what the new
/// link uses and what the old one used (a longer text may need a block of its own).
fn relink(
    folder: &JobFolder,
    plan: &mut RetirePlan,
    resumed: bool,
) -> Result<Relinked, RetireError> {
    let mut opened = Opened::new(folder);
    let retired = open_version(folder, &plan.retired)?;
    let stage = if plan.splits.is_empty() {
        None
    } else {
        match Stage::open(folder, resumed) {
            Ok(stage) => Some(stage),
            Err(e) => return abandon(folder, resumed, e).map(|()| Default::default()),
        }
    };
    let tmp = match Scratch::open(folder) {
        Ok(tmp) => match prepare_all(folder, plan, &tmp, &mut opened) {
            Ok(()) => tmp,
            Err(e) => {
                let _ = tmp.clear(); // else emptied when next opened
                return abandon(folder, resumed, e).map(|()| Default::default());
            }
        },
        Err(e) => return abandon(folder, resumed, e).map(|()| Default::default()),
    };
    let mut texts = Vec::new();
    crash_point();
    // Carried links that land at another depth first get an absolute text, valid both
    // where they are and where the move puts them.
    for (k, c) in plan.carried.iter().enumerate().filter(|(_, c)| c.retexts()) {
        if let Some(u) = to_transit(folder, &tmp, (k, c), &plan.retired, &mut opened)? {
            texts.push((c.receiver.number, u.0, u.1));
        }
        crash_point();
    }
    // Repoints and real copies first, moves last. A repointed link names the folder's
    // place in its receiver, which until the move is the receiver's link into the retired
    // version: a reader (the kernel, `cp -rL`) follows both and sees the same folder.
    // Moving first would leave, between a move and the repoints, the other links naming a
    // place in the retired version that now holds the receiver's old link: a loop
    // (`ELOOP`) for readers.
    for (i, r) in plan.repoints.iter().enumerate() {
        let dir = opened_dir(&mut opened, folder, &r.version, split(&r.path).0)?;
        if let Some(u) = repoint(folder, &tmp, i, r, dir, resumed)? {
            texts.push((r.version.number, u.0, u.1));
        }
        crash_point();
    }
    let mut made_real = Vec::with_capacity(plan.materialize.len());
    for (j, m) in plan.materialize.iter().enumerate() {
        let dir = opened_dir(&mut opened, folder, &m.version, split(&m.path).0)?;
        made_real.push(real::exchange(folder, m, dir, &tmp.dir, j)?);
        crash_point();
    }
    // Splits before the moves: each folder that goes to a newer receiver waits at its
    // stage place (the innermost first, so each is still where the plan saw it), the
    // receiver's link naming that place, so no link names the retired version's place
    // of it when that place goes with a move.
    if let Some(stage) = &stage {
        for (k, s) in plan.splits.iter().enumerate().rev() {
            if let Some(u) = stage.split_out(&tmp, &mut opened, &plan.retired, k, s)? {
                texts.push(u);
            }
        }
    }
    for m in &plan.moves {
        exchange_move(folder, plan, &retired, &mut opened, m)?;
        crash_point();
    }
    // Then each comes in (the outermost first: the folder around it is in place).
    if let Some(stage) = &stage {
        for (k, s) in plan.splits.iter().enumerate() {
            if let Some(u) = stage.split_in(&tmp, &mut opened, k, s)? {
                texts.push(u);
            }
        }
    }
    for (k, c) in plan.carried.iter().enumerate().filter(|(_, c)| c.retexts()) {
        if let Some(u) = from_transit(folder, &tmp, k, c, &mut opened)? {
            texts.push((c.receiver.number, u.0, u.1));
        }
        crash_point();
    }
    tmp.clear()?;
    if let Some(stage) = &stage {
        stage.clear(&plan.splits)?;
    }
    restore_times(folder, plan, &mut opened)?;
    // One `syncfs` makes every exchange, repoint and restored time durable: per-folder
    // fsyncs cost a journal flush each (measured: over 1 s for ~1,000 folders).
    folder.dir().syncfs().at(folder.root())?;
    // The bookkeeping: the refs files gain their lines in place, at the lengths the intent
    // recorded (a replay writes them there again); every changed links file is replaced
    // whole, with one `syncfs` before the renames and one after (not two fsyncs per file:
    // a retire at N=300 rewrites those of ~100 versions). A crash leaves each links file
    // old or new; the replay rewrites them from the intent.
    let mut files = write_refs(folder, plan)?;
    files.append(&mut new_links_files(folder, plan)?);
    // The batch syncs before its renames (making the refs lines durable too); with
    // nothing to rename, one sync does.
    if files.is_empty() {
        folder.dir().syncfs().at(folder.root())?;
    }
    write_atomic_batch(folder.dir(), &files)?;
    crash_point();
    Ok((made_real, texts))
}

/// What [`relink`] returns.
type Relinked = (Vec<Option<Usage>>, Vec<(u64, Usage, Usage)>);

/// After an exchange of a new link (now `name` in `dir`) with an old one (now `tmp_name`
/// in `tmp`): what each uses, (new, old).
fn swapped(
    tmp: &Dir,
    tmp_name: &OsStr,
    dir: &Dir,
    name: &OsStr,
) -> std::io::Result<(Usage, Usage)> {
    let used = |d: &Dir, n: &OsStr| {
        d.stat(n).map(|m| Usage {
            bytes: m.allocated,
            inodes: 1,
        })
    };
    Ok((used(dir, name)?, used(tmp, tmp_name)?))
}

/// A retire failed before anything visible changed: a fresh one drops its intent, so a
/// failure that lasts (a vault out of inodes) does not stop every later writer at the
/// replay; a replay keeps it (an earlier run may have exchanged).
fn abandon(folder: &JobFolder, resumed: bool, e: RetireError) -> Result<(), RetireError> {
    if !resumed {
        intent::remove(folder)?;
    }
    Err(e)
}

/// [`prepare`], and where the filesystem refused a new link as too long (a limit lower
/// than `symlink_max` knows), the same again with those repoints made real copies, the
/// intent saying so first. A replay converts too: a link whose new text cannot be stored
/// was never repointed, whatever an earlier run did (a crash before the intent was
/// rewritten leaves the unconverted plan).
fn prepare_all(
    folder: &JobFolder,
    plan: &mut RetirePlan,
    tmp: &Scratch,
    opened: &mut Opened,
) -> Result<(), RetireError> {
    let refused = prepare(folder, plan, tmp, opened)?;
    if refused.is_empty() {
        return Ok(());
    }
    crash_point();
    real::convert(plan, &refused);
    intent::write(folder, plan)?;
    tmp.clear()?;
    match prepare(folder, plan, tmp, opened)?.first() {
        Some(&i) => {
            let r = &plan.repoints[i];
            let path = folder.version_path(&r.version).join(&r.path);
            Err(RetireError::state(
                &path,
                "its new link text is refused as too long",
            ))
        }
        None => Ok(()),
    }
}

/// Everything the exchanges need, made in the scratch folder before anything visible
/// changes (a failure here leaves every version as it was): each repoint's new link
/// (named by its index) and each real copy ([`real::scratch_name`]). Returns the repoints
/// whose new link the filesystem refused as too long.
fn prepare(
    folder: &JobFolder,
    plan: &RetirePlan,
    tmp: &Scratch,
    opened: &mut Opened,
) -> Result<Vec<usize>, RetireError> {
    let mut refused = Vec::new();
    for (i, r) in plan.repoints.iter().enumerate() {
        let name = OsString::from(i.to_string());
        match sys::symlink(&r.new_target, &tmp.dir, &name) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(crate::fs::errno::ENAMETOOLONG) => refused.push(i),
            Err(e) => return Err(RetireError::Io(PathError::new(tmp.path.join(&name), e))),
        }
    }
    for (j, m) in plan.materialize.iter().enumerate() {
        let at = opened_dir(opened, folder, &m.version, split(&m.path).0)?;
        real::prepare(folder, plan, m, at, &tmp.dir, j)?;
    }
    for (k, c) in plan.carried.iter().enumerate().filter(|(_, c)| c.retexts()) {
        for (name, text) in [
            (transit_name(k), &c.transit),
            (carry_name(k), &c.new_target),
        ] {
            sys::symlink(text, &tmp.dir, &name).at(tmp.path.join(&name))?;
        }
    }
    for (k, s) in plan.splits.iter().enumerate() {
        for (name, text) in [
            (stage::out_name(k), &s.stage_text),
            (stage::in_name(k), &s.link_text),
        ] {
            sys::symlink(text, &tmp.dir, &name).at(tmp.path.join(&name))?;
        }
    }
    Ok(refused)
}

/// The scratch names of the `k`-th carried link's transit and new links.
fn transit_name(k: usize) -> OsString {
    OsString::from(format!("transit-{k}"))
}

fn carry_name(k: usize) -> OsString {
    OsString::from(format!("carry-{k}"))
}

/// Give the carried link `c` its transit (absolute) text in the retired version, unless
/// its folder moved already (a replay: the folder is no longer there) or it has it.
fn to_transit(
    folder: &JobFolder,
    tmp: &Scratch,
    (k, c): (usize, &Carry),
    retired: &VersionName,
    opened: &mut Opened,
) -> Result<Option<(Usage, Usage)>, RetireError> {
    let (parent, name) = split(&c.from);
    let full = folder.version_path(retired).join(&c.from);
    let dir = match opened.dir(retired, parent) {
        Ok(Some(d)) => d,
        Ok(None) => return Ok(None), // its folder moved before a crash
        Err(e) => return Err(RetireError::Io(PathError::new(full, e))),
    };
    let now = sys::readlink(dir, name).at(&full)?;
    if Path::new(&now) == c.transit {
        return Ok(None);
    }
    let tmp_name = transit_name(k);
    let used = swap_counted(&tmp.dir, &tmp_name, (dir, name), &c.old_target, &full)?;
    Ok(Some(used))
}

/// Give the carried link `c`, moved into its receiver, its new relative text, unless it
/// has it (a replay).
fn from_transit(
    folder: &JobFolder,
    tmp: &Scratch,
    k: usize,
    c: &Carry,
    opened: &mut Opened,
) -> Result<Option<(Usage, Usage)>, RetireError> {
    let (parent, name) = split(&c.path);
    let full = folder.version_path(&c.receiver).join(&c.path);
    let dir = opened_dir(opened, folder, &c.receiver, parent)?;
    let now = sys::readlink(dir, name).at(&full)?;
    if Path::new(&now) == c.new_target {
        return Ok(None);
    }
    let tmp_name = carry_name(k);
    let used = swap_counted(&tmp.dir, &tmp_name, (dir, name), &c.transit, &full)?;
    Ok(Some(used))
}

fn open_version(folder: &JobFolder, v: &VersionName) -> Result<Dir, RetireError> {
    let path = folder.version_path(v);
    Ok(Dir::open(&path).at(path)?)
}

fn open(base: &Dir, rel: &Path, base_path: &Path) -> Result<Dir, RetireError> {
    Ok(base.open_beneath(rel).at(base_path.join(rel))?)
}

/// Split a non-empty relative path into (parent, name).
pub(super) fn split(p: &Path) -> (&Path, &OsStr) {
    (
        p.parent().unwrap_or(Path::new("")),
        p.file_name().unwrap_or(OsStr::new("")),
    )
}

/// Exchange the real directory `m.from` of the retired version with the receiver's link
/// at `m.to`; skipped when the receiver already holds a real directory there.
fn exchange_move(
    folder: &JobFolder,
    plan: &RetirePlan,
    retired: &Dir,
    opened: &mut Opened,
    m: &Move,
) -> Result<(), RetireError> {
    let to_path = folder.version_path(&m.receiver).join(&m.to);
    let retired_path = folder.version_path(&plan.retired);
    let (hp, hn) = split(&m.to);
    let (rp, rn) = split(&m.from);
    let hdir = opened_dir(opened, folder, &m.receiver, hp)?;
    let here = hdir.stat(hn).at(&to_path)?;
    match here.kind {
        FileKind::Dir => return Ok(()), // done before a crash
        FileKind::Symlink => {}
        _ => {
            return Err(RetireError::state(
                &to_path,
                "is neither the link nor the moved directory",
            ))
        }
    }
    let rdir = open(retired, rp, &retired_path)?;
    let there = rdir.stat(rn).at(retired_path.join(&m.from))?;
    if there.kind != FileKind::Dir {
        return Err(RetireError::state(
            &retired_path.join(&m.from),
            "is not the directory to move",
        ));
    }
    sys::exchange(&rdir, rn, hdir, hn).at(&to_path)?;
    Ok(())
}

/// Give the link `r` (in its parent folder `dir`) its new target: the new symlink made in
/// the scratch folder by [`prepare`], exchanged with the old one (atomic), and what came
/// out checked to be the old link (else exchanged back: an error). When `check` (a
/// replay), the link is read first and skipped when it already has the new target.
fn repoint(
    folder: &JobFolder,
    tmp: &Scratch,
    i: usize,
    r: &Repoint,
    dir: &Dir,
    check: bool,
) -> Result<Option<(Usage, Usage)>, RetireError> {
    let full = || folder.version_path(&r.version).join(&r.path);
    let name = split(&r.path).1;
    if check {
        let now = sys::readlink(dir, name).at_with(full)?;
        if Path::new(&now) == r.new_target {
            return Ok(None);
        }
        if Path::new(&now) != r.old_target {
            return Err(RetireError::state(
                &full(),
                "no longer has the target the plan saw",
            ));
        }
    }
    let tmp_name = OsString::from(i.to_string());
    swap_out_link(&tmp.dir, &tmp_name, dir, name, &r.old_target, &full)?;
    if r.old_target.as_os_str().len() == r.new_target.as_os_str().len() {
        // A text of the same length takes the same room on every filesystem (inline or
        // one block): nothing to count, and two `stat`s fewer per repoint.
        return Ok(None);
    }
    Ok(Some(swapped(&tmp.dir, &tmp_name, dir, name).at_with(full)?))
}

/// Exchange `tmp_name` in the scratch folder `tmp` with the link `name` in `dir` (the
/// version entry at `full()`, made only for a message), then check that what came out is
/// the link with the text `old_target`. Version folders keep the source's owner and mode, so a user may have put
/// something else there since the plan: then exchange back (nothing of theirs is deleted
/// with the scratch folder) and stop with an error.
pub(super) fn swap_out_link(
    tmp: &Dir,
    tmp_name: &OsStr,
    dir: &Dir,
    name: &OsStr,
    old_target: &Path,
    full: &dyn Fn() -> PathBuf,
) -> Result<(), RetireError> {
    sys::exchange(tmp, tmp_name, dir, name).at_with(full)?;
    match sys::readlink(tmp, tmp_name) {
        Ok(old) if Path::new(&old) == old_target => Ok(()),
        _ => {
            sys::exchange(tmp, tmp_name, dir, name).at(full())?;
            Err(RetireError::state(
                &full(),
                "no longer has the target the plan saw",
            ))
        }
    }
}

/// [`swap_out_link`] of the link `name` in `dir` (at `full`), then what the new link and
/// the old one use ([`swapped`]).
pub(super) fn swap_counted(
    tmp: &Dir,
    tmp_name: &OsStr,
    (dir, name): (&Dir, &OsStr),
    old_target: &Path,
    full: &Path,
) -> Result<(Usage, Usage), RetireError> {
    swap_out_link(tmp, tmp_name, dir, name, old_target, &|| full.to_path_buf())?;
    Ok(swapped(tmp, tmp_name, dir, name).at(full)?)
}

/// The scratch folder: links made before the exchanges, real copies being built, old
/// links waiting to be freed.
pub(super) struct Scratch {
    pub(super) dir: Dir,
    pub(super) path: PathBuf,
}

/// `.reverberator/retire-tmp/`: emptied when opened (leftovers of an interrupted retire
/// are old links, unused new ones or real copies not yet exchanged) and when the
/// exchanges are done.
impl Scratch {
    fn open(folder: &JobFolder) -> Result<Scratch, RetireError> {
        let (dir, path) = own_private_dir(folder, TMP_DIR)?;
        let scratch = Scratch { dir, path };
        scratch.clear()?;
        Ok(scratch)
    }

    fn clear(&self) -> Result<(), RetireError> {
        for e in self.dir.entries().at(&self.path)? {
            let at = self.path.join(&e.name);
            let kind = match e.kind {
                Some(k) => k,
                None => self.dir.stat(&e.name).at(&at)?.kind,
            };
            if kind == FileKind::Dir {
                delete_tree(&self.dir, &e.name).at(at)?;
            } else {
                sys::unlink(&self.dir, &e.name).at(at)?;
            }
        }
        Ok(())
    }
}

/// The folder `name` inside `.reverberator/`, made (mode 0700) when missing, with its
/// path. Whatever is in it is exchanged into versions, so it must be ours alone: owned by
/// this user and closed to others, else an error naming it.
pub(super) fn own_private_dir(
    folder: &JobFolder,
    name: &str,
) -> Result<(Dir, PathBuf), RetireError> {
    let private = open(folder.dir(), Path::new(PRIVATE_DIR), folder.root())?;
    let path = folder.root().join(PRIVATE_DIR).join(name);
    let dir = private.ensure_child_dir(name.as_ref(), 0o700).at(&path)?;
    let meta = dir.stat_self().at(&path)?;
    if meta.uid != crate::fs::euid() || meta.mode & 0o077 != 0 {
        return Err(RetireError::state(
            &path,
            "belongs to another user or is open to others; remove it",
        ));
    }
    Ok((dir, path))
}

/// Folder `dir` of version `v`, which must be there.
pub(super) fn opened_dir<'o>(
    opened: &'o mut Opened,
    folder: &JobFolder,
    v: &VersionName,
    dir: &Path,
) -> Result<&'o Dir, RetireError> {
    let at = || folder.version_path(v).join(dir);
    match opened.dir(v, dir) {
        Ok(Some(d)) => Ok(d),
        Ok(None) => Err(RetireError::state(&at(), "is not a real directory")),
        Err(e) => Err(RetireError::Io(PathError::new(at(), e))),
    }
}

/// Give the folders the moves and repoints changed their times from before the retire.
fn restore_times(
    folder: &JobFolder,
    plan: &RetirePlan,
    opened: &mut Opened,
) -> Result<(), RetireError> {
    for t in &plan.times {
        let dir = opened_dir(opened, folder, &t.version, &t.dir)?;
        sys::set_times(dir, t.atime, t.mtime)
            .map_err(|e| PathError::new(folder.version_path(&t.version).join(&t.dir), e))?;
    }
    Ok(())
}

/// Delete the tree `name` in `parent` ([`crate::fs::remove_tree`], a crash point after
/// each folder). Returns what that freed: every directory, and every other inode whose
/// last name it removed.
pub(super) fn delete_tree(parent: &Dir, name: &OsStr) -> std::io::Result<Usage> {
    let freed = crate::fs::remove_tree(parent, name, &mut crash_point)?;
    Ok(Usage {
        bytes: freed.bytes,
        inodes: freed.inodes,
    })
}

/// `n` and the noun in the singular or plural.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The journal line of a retire: what moved and what was freed.
fn journal(
    folder: &JobFolder,
    plan: &RetirePlan,
    freed: Usage,
    resumed: bool,
) -> Result<(), RetireError> {
    let why: Vec<String> = plan.reasons.iter().map(|r| r.to_string()).collect();
    let receivers: Vec<String> = plan.receivers().iter().map(|v| v.to_string()).collect();
    let moved = match receivers.len() {
        0 => String::new(),
        _ => format!(" into {}", receivers.join(", ")),
    };
    let msg = format!(
        "retired ({}): {} moved{moved}, {} repointed, {}{}freed {} bytes and {} inodes{}",
        why.join("; "),
        count(plan.moved(), "folder", "folders"),
        count(plan.repoints.len(), "link", "links"),
        match plan.materialize.len() {
            0 => String::new(),
            n => format!(
                "{} made real folders (their new text would not fit), ",
                count(n, "link", "links")
            ),
        },
        match plan.carried.len() {
            0 => String::new(),
            n => format!("{} carried along, ", count(n, "link", "links")),
        },
        freed.bytes,
        freed.inodes,
        if resumed {
            " (finished after an interrupted retire; figures partial)"
        } else {
            ""
        },
    );
    let line = JournalLine::now(Event::Retire)
        .path(plan.retired.to_string())
        .message(msg)
        .version(plan.retired.number);
    Journal::append(folder.root(), &line).map_err(RetireError::Journal)
}
