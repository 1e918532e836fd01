//! Carrying out [`Split`]s: a folder inside a moving one goes to its own newer receiver
//! through `.reverberator/retire-stage/`, in four exchanges that each keep every
//! remaining version's view (a two-name exchange of the folder with its receiver's link
//! would leave, at the folder's old place, a link to that very place: a loop for every
//! reader through the folder around it).
//!
//! Before the moves ([`Stage::split_out`]): (i) the folder is exchanged with a link made
//! at its stage place, whose absolute text names that place; (ii) the receiver's link
//! gets that text. After the moves ([`Stage::split_in`]), the link left behind is inside
//! its holder: (iii) it gets its relative text into the receiver; (iv) the folder is
//! exchanged from the stage place with the receiver's link. The stage place is as many
//! levels below the job folder as the folder is in a version, so the relative links
//! inside it are valid there too.
//!
//! Replay: a receiver that holds a directory at its place is done; a directory at the
//! stage place means (i) is done; each link is read before it is changed. The stage
//! folder is ours alone (owner and mode checked) and is only ever emptied of links and
//! of the folders made for the stage places: a directory left at a stage place is a
//! user's data and stops the retire with an error instead.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::account::Usage;
use super::apply::{opened_dir, own_private_dir, split, swap_counted, Scratch};
use super::plan::{Opened, Split, STAGE_DIR};
use super::{crash_point, sys, RetireError};
use crate::error::IoContext;
use crate::fs::{Dir, FileKind};
use crate::vault::layout::{JobFolder, VersionName, PRIVATE_DIR};

/// The scratch name of the `k`-th split's link to its stage place (for the receiver).
pub(super) fn out_name(k: usize) -> OsString {
    OsString::from(format!("split-out-{k}"))
}

/// The scratch name of the `k`-th split's link left behind, with its relative text.
pub(super) fn in_name(k: usize) -> OsString {
    OsString::from(format!("split-in-{k}"))
}

/// What a split step changed in a version's usage: (version, new, gone).
type Relinked = (u64, Usage, Usage);

/// `.reverberator/retire-stage/`, opened (made when missing).
pub(super) struct Stage<'f> {
    folder: &'f JobFolder,
    dir: Dir,
    path: PathBuf,
}

impl<'f> Stage<'f> {
    /// Open the stage folder (ours alone, like the scratch folder); a fresh retire (not
    /// `resumed`) needs it empty.
    pub(super) fn open(folder: &'f JobFolder, resumed: bool) -> Result<Stage<'f>, RetireError> {
        let (dir, path) = own_private_dir(folder, STAGE_DIR)?;
        if !resumed && !dir.entries().at(&path)?.is_empty() {
            return Err(RetireError::state(
                &path,
                "holds something from an earlier retire; look at it and remove it",
            ));
        }
        Ok(Stage { folder, dir, path })
    }

    /// The folder holding `s`'s stage place (made when missing if `make`, else `None`
    /// when missing), the place's name, and its path for messages.
    fn place(
        &self,
        s: &Split,
        make: bool,
    ) -> Result<Option<(Dir, OsString, PathBuf)>, RetireError> {
        let rel = rel(s)?;
        let (parent, name) = split(rel);
        let mut dir = self.dir.open_beneath(Path::new("")).at(&self.path)?;
        let mut at = self.path.clone();
        for c in parent.components() {
            at.push(c);
            dir = match make {
                true => dir.ensure_child_dir(c.as_os_str(), 0o700),
                false => match dir.open_child(c.as_os_str()) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    other => other,
                },
            }
            .at(&at)?;
        }
        Ok(Some((dir, name.to_owned(), self.path.join(rel))))
    }

    /// [`Stage::place`], made when missing.
    fn made_place(&self, s: &Split) -> Result<(Dir, OsString, PathBuf), RetireError> {
        let placed = self.place(s, true)?;
        placed.ok_or_else(|| RetireError::state(&s.stage, "could not be made"))
    }

    /// Steps (i) and (ii) of the `k`-th split, each unless done. Returns the receiver's
    /// old link's usage when (ii) was done now.
    pub(super) fn split_out(
        &self,
        tmp: &Scratch,
        opened: &mut Opened,
        retired: &VersionName,
        k: usize,
        s: &Split,
    ) -> Result<Option<Relinked>, RetireError> {
        let folder = self.folder;
        if received(folder, opened, s)? {
            return Ok(None); // all done before a crash
        }
        let to_path = folder.version_path(&s.receiver).join(&s.to);
        let (rp, rn) = split(&s.to);
        let (sdir, sn, stage_path) = self.made_place(s)?;
        match sdir.stat(&sn) {
            Ok(m) if m.kind == FileKind::Dir => {} // (i) done before a crash
            found => {
                if found.is_ok() {
                    sys::unlink(&sdir, &sn).at(&stage_path)?; // our link, made before a crash
                }
                sys::symlink(&s.stage_text, &sdir, &sn).at(&stage_path)?;
                let from_path = folder.version_path(retired).join(&s.from);
                let (xp, xn) = split(&s.from);
                let xdir = opened_dir(opened, folder, retired, xp)?;
                if xdir.stat(xn).at(&from_path)?.kind != FileKind::Dir {
                    return Err(RetireError::state(&from_path, "is not the folder to split"));
                }
                sys::exchange(&sdir, &sn, xdir, xn).at(&from_path)?;
            }
        }
        crash_point();
        let rdir = opened_dir(opened, folder, &s.receiver, rp)?;
        let now = sys::readlink(rdir, rn).at(&to_path)?;
        if Path::new(&now) == s.stage_text {
            return Ok(None);
        }
        let name = out_name(k);
        let (_, old) = swap_counted(&tmp.dir, &name, (rdir, rn), &s.old_target, &to_path)?;
        crash_point();
        Ok(Some((s.receiver.number, Usage::default(), old)))
    }

    /// Steps (iii) and (iv) of the `k`-th split, each unless done. Returns the usage of
    /// the link left behind when (iii) was done now.
    pub(super) fn split_in(
        &self,
        tmp: &Scratch,
        opened: &mut Opened,
        k: usize,
        s: &Split,
    ) -> Result<Option<Relinked>, RetireError> {
        let folder = self.folder;
        if received(folder, opened, s)? {
            return Ok(None);
        }
        let to_path = folder.version_path(&s.receiver).join(&s.to);
        let (rp, rn) = split(&s.to);
        let at_path = folder.version_path(&s.holder).join(&s.at);
        let (ap, an) = split(&s.at);
        let adir = opened_dir(opened, folder, &s.holder, ap)?;
        let now = sys::readlink(adir, an).at(&at_path)?;
        let mut out = None;
        if Path::new(&now) != s.link_text {
            let name = in_name(k);
            let (new, _) = swap_counted(&tmp.dir, &name, (adir, an), &s.stage_text, &at_path)?;
            out = Some((s.holder.number, new, Usage::default()));
        }
        crash_point();
        let (sdir, sn, stage_path) = self.made_place(s)?;
        if sdir.stat(&sn).at(&stage_path)?.kind != FileKind::Dir {
            return Err(RetireError::state(&stage_path, "is not the split folder"));
        }
        let rdir = opened_dir(opened, folder, &s.receiver, rp)?;
        if Path::new(&sys::readlink(rdir, rn).at(&to_path)?) != s.stage_text {
            return Err(RetireError::state(
                &to_path,
                "does not name the stage place",
            ));
        }
        sys::exchange(&sdir, &sn, rdir, rn).at(&to_path)?;
        crash_point();
        Ok(out)
    }

    /// After every split came in: remove the old links at the stage places and the
    /// folders made for them. A directory at a stage place stops with an error.
    pub(super) fn clear(&self, splits: &[Split]) -> Result<(), RetireError> {
        for s in splits {
            let Some((sdir, sn, at)) = self.place(s, false)? else {
                continue; // cleared before a crash
            };
            let rel = rel(s)?;
            match sdir.stat(&sn) {
                Ok(m) if m.kind == FileKind::Dir => {
                    return Err(RetireError::state(&at, "still holds a split folder"))
                }
                Ok(_) => sys::unlink(&sdir, &sn).at(&at)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(RetireError::Io(crate::error::PathError::new(at, e))),
            }
            // The folders made for the place, deepest first.
            let mut made = rel.parent();
            while let Some(p) = made.filter(|p| !p.as_os_str().is_empty()) {
                let (parent, name) = split(p);
                let dir = self.dir.open_beneath(parent).at(self.path.join(parent))?;
                match sys::rmdir(&dir, name) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(RetireError::Io(crate::error::PathError::new(
                            self.path.join(p),
                            e,
                        )))
                    }
                }
                made = p.parent();
            }
        }
        Ok(())
    }
}

/// `s`'s stage place below the stage folder.
fn rel(s: &Split) -> Result<&Path, RetireError> {
    s.stage
        .strip_prefix(Path::new(PRIVATE_DIR).join(STAGE_DIR))
        .ok()
        .filter(|r| !r.as_os_str().is_empty())
        .ok_or_else(|| RetireError::state(&s.stage, "is not a stage place"))
}

/// Whether `s`'s receiver holds a directory at its place: the split is done.
fn received(folder: &JobFolder, opened: &mut Opened, s: &Split) -> Result<bool, RetireError> {
    let (rp, rn) = split(&s.to);
    let at = folder.version_path(&s.receiver).join(&s.to);
    let meta = opened_dir(opened, folder, &s.receiver, rp)?
        .stat(rn)
        .at(&at)?;
    Ok(meta.kind == FileKind::Dir)
}
