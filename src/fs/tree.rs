//! Walking and deleting whole trees through directory fds: [`walk`] (the accounting and
//! the estimates of the retire, the writer's check for linked files) and [`remove_tree`]
//! (a retired version, a partial build, the retire's scratch folder). Both never follow a
//! link and keep one directory open at a time (climbing back through `..`, checked to be
//! the folder they came from, so neither depth nor the open-files limit bounds them);
//! deletes go in inode order (the order that touches the inode table sequentially, as
//! `rm -rf` does for large folders).

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};

use nix::sys::stat::{fchmod, Mode};

use super::at::{names_by_inode, parent as parent_of, rmdir, unlink};
use super::{Dir, DirEntry, FileKind, Meta};

/// What a [`walk`]'s visitor wants after seeing an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// Go on; a directory is entered.
    Descend,
    /// Go on; a directory is not entered.
    Skip,
    /// End the walk here.
    Stop,
}

/// Show `visit` every entry below `top` (not `top` itself), depth first: its path relative
/// to `top` and its `stat` (never following a link). A directory is entered when `visit`
/// answers [`Visit::Descend`]. One directory is open at a time; a folder moved while it
/// is walked is an error, as is any failing call.
pub fn walk(top: Dir, visit: &mut dyn FnMut(&Path, &Meta) -> Visit) -> io::Result<()> {
    let mut rel = PathBuf::new();
    let mut stack: Vec<((u64, u64), std::vec::IntoIter<DirEntry>)> =
        vec![(identity(&top)?, top.entries()?.into_iter())];
    let mut cur = top;
    while let Some((_, rest)) = stack.last_mut() {
        let Some(entry) = rest.next() else {
            stack.pop();
            if let Some((up, _)) = stack.last() {
                cur = parent_of(&cur)?;
                if identity(&cur)? != *up {
                    let msg = format!("{} was moved while it was walked", rel.display());
                    return Err(io::Error::other(msg));
                }
            }
            rel.pop();
            continue;
        };
        rel.push(&entry.name);
        let meta = cur.stat(&entry.name)?;
        match visit(&rel, &meta) {
            Visit::Stop => return Ok(()),
            Visit::Descend if meta.kind == FileKind::Dir => {
                let child = cur.open_child(&entry.name)?;
                stack.push(((meta.dev, meta.ino), child.list_once()?.into_iter()));
                cur = child;
            }
            Visit::Descend | Visit::Skip => {
                rel.pop();
            }
        }
    }
    Ok(())
}

/// What a [`remove_tree`] freed: every directory, and every other inode whose last name it
/// removed, with their allocated bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Freed {
    /// Allocated bytes.
    pub bytes: u64,
    /// Inodes.
    pub inodes: u64,
}

impl Freed {
    fn add(&mut self, bytes: u64) {
        self.bytes += bytes;
        self.inodes += 1;
    }
}

/// Delete the directory `name` of `parent` and everything below it. A directory that is
/// not writable (a copied read-only folder) is made so before its children go. Each time a
/// directory below the top is removed, `step` is called (the retire's crash points).
///
/// The (device, inode) of each level's parent is checked after climbing back through
/// `..`: a folder moved away meanwhile must not make the rest of the old listing be
/// deleted somewhere else (an error). So is a directory that gains entries while it is
/// being deleted.
pub fn remove_tree(parent: &Dir, name: &OsStr, step: &mut dyn FnMut()) -> io::Result<Freed> {
    let mut freed = Freed::default();
    let mut cur = parent.open_child(name)?;
    let mode = cur.stat_self()?.mode;
    cur = writable(cur, mode);
    // Each level: its name, the names left to delete, the (device, inode) of its parent.
    let mut stack: Vec<(OsString, Vec<OsString>, (u64, u64))> =
        vec![(name.to_owned(), list(&cur)?, identity(parent)?)];
    while let Some((_, rest, _)) = stack.last_mut() {
        if let Some(child) = rest.pop() {
            let meta = cur.stat(&child)?;
            if meta.kind != FileKind::Dir {
                unlink(&cur, &child)?;
                if meta.nlink <= 1 {
                    freed.add(meta.allocated);
                }
            } else if rmdir(&cur, &child)? {
                freed.add(meta.allocated);
            } else {
                let up = identity(&cur)?;
                cur = writable(cur.open_child(&child)?, meta.mode);
                stack.push((child, list(&cur)?, up));
            }
            continue;
        }
        let meta = cur.stat_self()?;
        let Some((done, _, up)) = stack.pop() else {
            break;
        };
        freed.add(meta.allocated);
        if stack.is_empty() {
            rmdir_emptied(parent, &done)?;
            break;
        }
        cur = parent_of(&cur)?;
        if identity(&cur)? != up {
            return Err(io::Error::other(format!(
                "the folder holding {done:?} was moved while it was being deleted"
            )));
        }
        rmdir_emptied(&cur, &done)?;
        step();
    }
    Ok(freed)
}

/// A directory (of permission bits `mode`) whose children must go has to be writable and
/// searchable by us.
fn writable(dir: Dir, mode: u32) -> Dir {
    if mode & 0o300 != 0o300 {
        let _ = fchmod(dir.raw(), Mode::from_bits_truncate(0o700));
    }
    dir
}

/// The (device, inode) of an open directory.
fn identity(dir: &Dir) -> io::Result<(u64, u64)> {
    let m = dir.stat_self()?;
    Ok((m.dev, m.ino))
}

/// Remove a directory just emptied; something new in it is an error, not a retry.
fn rmdir_emptied(dir: &Dir, name: &OsStr) -> io::Result<()> {
    if rmdir(dir, name)? {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{name:?} got new entries while it was being deleted"
    )))
}

/// The names in `dir`, to be popped in inode order.
fn list(dir: &Dir) -> io::Result<Vec<OsString>> {
    let mut names = names_by_inode(dir)?;
    names.reverse();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_shows_every_entry_once_and_obeys_its_visitor() {
        let t = tempfile::tempdir().unwrap();
        for f in ["a/b/f", "a/g", "c/h", "top"] {
            let p = t.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        std::os::unix::fs::symlink("a", t.path().join("link")).unwrap();
        let mut seen = Vec::new();
        walk(Dir::open(t.path()).unwrap(), &mut |p, m| {
            seen.push((p.to_path_buf(), m.kind));
            match p == Path::new("c") {
                true => Visit::Skip,
                false => Visit::Descend,
            }
        })
        .unwrap();
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        let want: Vec<(PathBuf, FileKind)> = [
            ("a", FileKind::Dir),
            ("a/b", FileKind::Dir),
            ("a/b/f", FileKind::File),
            ("a/g", FileKind::File),
            ("c", FileKind::Dir),
            ("link", FileKind::Symlink),
            ("top", FileKind::File),
        ]
        .into_iter()
        .map(|(p, k)| (PathBuf::from(p), k))
        .collect();
        assert_eq!(seen, want, "the symlink is not followed, `c` is skipped");
        let mut n = 0;
        walk(Dir::open(t.path()).unwrap(), &mut |_, _| {
            n += 1;
            Visit::Stop
        })
        .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn a_folder_moved_during_a_walk_stops_it() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("x/a/b")).unwrap();
        std::fs::create_dir(t.path().join("y")).unwrap();
        std::fs::write(t.path().join("x/a/b/f"), b"x").unwrap();
        let root = t.path().to_path_buf();
        let err = walk(Dir::open(&root.join("x")).unwrap(), &mut |p, _| {
            if p == Path::new("a/b/f") {
                std::fs::rename(root.join("x/a"), root.join("y/a")).unwrap();
            }
            Visit::Descend
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("was moved while it was walked"),
            "{err}"
        );
    }
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_tree_goes_whole_and_links_out_of_it_are_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), b"k").unwrap();
        let top = t.path().join("top");
        std::fs::create_dir_all(top.join("a/b/c")).unwrap();
        std::fs::write(top.join("a/b/c/f"), b"data").unwrap();
        std::fs::hard_link(top.join("a/b/c/f"), t.path().join("other-name")).unwrap();
        std::fs::write(top.join("g"), b"g").unwrap();
        std::os::unix::fs::symlink(&outside, top.join("a/link")).unwrap();
        std::fs::set_permissions(top.join("a/b"), std::fs::Permissions::from_mode(0o555)).unwrap();
        let parent = Dir::open(t.path()).unwrap();
        let mut steps = 0;
        let freed = remove_tree(&parent, OsStr::new("top"), &mut || steps += 1).unwrap();
        assert!(!top.exists());
        assert!(outside.join("keep").is_file());
        assert!(t.path().join("other-name").is_file());
        // top, a, b, c, g, link (f keeps another name).
        assert_eq!(freed.inodes, 6);
        assert_eq!(steps, 3, "a, b and c were climbed out of");
    }
}
