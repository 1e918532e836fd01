//! Deleting a whole tree through directory fds, the one way every writer does it (a
//! retired version, a partial build, the retire's scratch folder): never following a
//! link, one open directory at a time (climbing back through `..`, so neither depth nor
//! the open-files limit bounds it), names removed in inode order (the order that touches
//! the inode table sequentially, as `rm -rf` does for large folders).

use std::ffi::{OsStr, OsString};
use std::io;

use nix::sys::stat::{fchmod, Mode};

use super::at::{names_by_inode, parent as parent_of, rmdir, unlink};
use super::{Dir, FileKind};

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
