//! `restore --tar`: a file or folder of a version written as a tar stream (the `tar`
//! crate's GNU headers plus PAX records), holding the *dereferenced* version: a
//! structural link inside the folder is a real directory in the archive, a source symlink
//! is a symlink (never followed).
//!
//! What an archive carries, per entry:
//! - mode, uid/gid (and the user and group names where the system knows them: in the
//!   header, for sparse files in PAX `uname`/`gname`), mtime (seconds in the header,
//!   nanoseconds in a PAX `mtime` record when not zero);
//! - the xattrs a version reproduces (`user.*` on files and folders, `trusted.*`, the POSIX
//!   ACLs, `security.capability` when root) as PAX `SCHILY.xattr.<name>` records, the
//!   spelling GNU tar and bsdtar read;
//! - regular files: their bytes, a file with holes as a GNU sparse entry (holes are not
//!   stored); hard links: the second and later names of an inode *inside the exported
//!   folder* become hard-link entries to the first name (vault files are hard-linked across
//!   versions as well, so only names met in this tree count);
//! - FIFOs and devices as their tar types (never opened); sockets cannot be in a tar and
//!   are skipped (listed in [`TarStats::skipped`]).
//!
//! Member names: exporting `a/b` gives `b`, `b/…`; exporting the whole tree (`.`) gives
//! `./` (the root's attributes) and the top-level names below it.
//!
//! It streams: one directory listing per open folder level and a 256 KiB output buffer;
//! the only map is the hard-link one, holding inodes with more than one link met in the
//! tree. The walk is iterative (a stack of open directory fds), so any depth up to
//! `MAX_DEPTH` works. An error stops the stream (the archive is then cut short; the
//! caller reports it). Owner and group names come from nix's `getpwuid_r`/`getgrgid_r`
//! wrappers and device numbers are split by libc's `major`/`minor` (lookups and
//! arithmetic, not file work); every file access goes through `fs`.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::tree::Tree;
use super::{source_relative, version, ReadError};
use crate::error::PathError;
use crate::fs::{read_xattrs, Dir, FileKind, Meta, OFlag};
use crate::vault::deep::{too_deep, MAX_DEPTH};
use crate::vault::layout::{direct_name, JobFolder, Resolved};

/// Output buffer of the stream.
const BUFFER: usize = 256 * 1024;

/// What [`write_version_tar`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TarStats {
    /// Entries in the archive (folders, files, symlinks, hard links, special files).
    pub entries: u64,
    /// Bytes of regular-file content stored (holes of sparse files not counted).
    pub bytes: u64,
    /// Entries written as hard links to an earlier entry.
    pub hard_links: u64,
    /// Entries left out, with the reason (sockets).
    pub skipped: Vec<String>,
}

/// Write `path` (relative to the source root; `.` is the whole tree) of version
/// `version` of `folder` to `out` as a tar archive, with its end-of-archive blocks, and
/// flush it. See the module docs for what the archive holds.
pub fn write_version_tar<W: Write>(
    folder: &JobFolder,
    version_number: u64,
    path: &Path,
    out: W,
) -> Result<TarStats, ReadError> {
    let rel = source_relative(path)?;
    let v = version(folder, version_number)?;
    let tree = Tree::new(folder)?;
    let located = tree
        .locate(&v, &rel)?
        .ok_or_else(|| ReadError::NotInVersion {
            path: path.to_path_buf(),
            version: v.to_string(),
        })?;
    let mut w = Writer {
        tree: &tree,
        ar: tar::Builder::new(BufWriter::with_capacity(BUFFER, out)),
        stats: TarStats::default(),
        links: HashMap::new(),
        names: Names::default(),
    };
    let entry = located.entry.clone();
    let (holder, name) = match &located.parent {
        Some((pd, pr)) => tree.parent_of(pd, pr, &entry)?,
        None => tree.real_parent(&entry)?,
    };
    let member = match rel.file_name() {
        Some(n) => PathBuf::from(n),
        None => PathBuf::from("./"),
    };
    w.entry(&entry, (&holder, &name), &member)?;
    if entry.meta.kind == FileKind::Dir {
        let dir = holder.open_child(&name).map_err(|e| w.error(&entry, e))?;
        let prefix = match rel.file_name() {
            Some(_) => member,
            None => PathBuf::new(),
        };
        w.walk(dir, entry, prefix)?;
    }
    w.finish()
}

/// A folder being written: its real directory (open), its names, how far along.
struct Frame {
    dir: Dir,
    at: Resolved,
    names: std::vec::IntoIter<OsString>,
    /// Its member name (empty for the exported root).
    prefix: PathBuf,
}

struct Writer<'t, 'a, W: Write> {
    tree: &'t Tree<'a>,
    ar: tar::Builder<BufWriter<W>>,
    stats: TarStats,
    /// (dev, ino) of entries with more than one link -> the member name written first.
    links: HashMap<(u64, u64), PathBuf>,
    names: Names,
}

impl<W: Write> Writer<'_, '_, W> {
    fn error(&self, r: &Resolved, e: io::Error) -> ReadError {
        PathError::new(r.full_path(self.tree.folder.root()), e).into()
    }

    /// Write everything below the real directory `dir` (open), depth first, by name.
    fn walk(&mut self, dir: Dir, at: Resolved, prefix: PathBuf) -> Result<(), ReadError> {
        let names = self.tree.names(&dir, &at)?.into_iter();
        let mut stack = vec![Frame {
            dir,
            at,
            names,
            prefix,
        }];
        loop {
            let depth = stack.len();
            let Some(top) = stack.last_mut() else {
                break;
            };
            let Some(name) = top.names.next() else {
                stack.pop();
                continue;
            };
            let Some(child) = self.tree.child(&top.dir, &top.at, &name)? else {
                continue;
            };
            let member = top.prefix.join(&name);
            let holder = match direct_name(&top.at, &child) {
                Some(_) => None,
                None => Some(self.tree.real_parent(&child)?),
            };
            let (hdir, hname) = match &holder {
                Some((d, n)) => (d, n.as_os_str()),
                None => (&top.dir, name.as_os_str()),
            };
            self.entry(&child, (hdir, hname), &member)?;
            if child.meta.kind != FileKind::Dir {
                continue;
            }
            if depth >= MAX_DEPTH {
                return Err(self.error(&child, too_deep()));
            }
            let sub = hdir.open_child(hname).map_err(|e| self.error(&child, e))?;
            let names = self.tree.names(&sub, &child)?.into_iter();
            stack.push(Frame {
                dir: sub,
                at: child,
                names,
                prefix: member,
            });
        }
        Ok(())
    }

    /// Write one entry `r`, named `name` in the real directory `dir`, as `member`.
    fn entry(
        &mut self,
        r: &Resolved,
        (dir, name): (&Dir, &OsStr),
        member: &Path,
    ) -> Result<(), ReadError> {
        let meta = &r.meta;
        if meta.kind == FileKind::Socket {
            let shown = super::shown(member);
            self.stats.skipped.push(format!(
                "{shown}: a socket cannot be stored in a tar archive"
            ));
            return Ok(());
        }
        if meta.kind != FileKind::Dir && meta.nlink > 1 {
            if let Some(first) = self.links.get(&(meta.dev, meta.ino)).cloned() {
                let mut h = self.header(meta, EntryType::Link);
                self.ar
                    .append_link(&mut h, member, &first)
                    .map_err(|e| self.error(r, e))?;
                self.stats.entries += 1;
                self.stats.hard_links += 1;
                return Ok(());
            }
            self.links
                .insert((meta.dev, meta.ino), member.to_path_buf());
        }
        let written = self.write_kind(r, (dir, name), member);
        written.map_err(|e| self.error(r, e))?;
        self.stats.entries += 1;
        Ok(())
    }

    fn write_kind(
        &mut self,
        r: &Resolved,
        (dir, name): (&Dir, &OsStr),
        member: &Path,
    ) -> io::Result<()> {
        let meta = &r.meta;
        let mut records = Vec::new();
        if meta.mtime.nsec != 0 {
            let t = format!("{}.{:09}", meta.mtime.sec, meta.mtime.nsec);
            pax_record(&mut records, b"mtime", t.as_bytes());
        }
        if matches!(meta.kind, FileKind::File | FileKind::Dir) {
            for (attr, value) in read_xattrs(dir, name, meta.kind)? {
                let key = [b"SCHILY.xattr.", attr.as_bytes()].concat();
                pax_record(&mut records, &key, &value);
            }
        }
        let sparse = meta.kind == FileKind::File && meta.allocated < meta.size;
        if sparse {
            // Blocks are missing: the crate's `append_file` finds the holes and writes a GNU
            // sparse member; the names then travel in PAX records.
            if let Some(u) = self.names.user(meta.uid) {
                pax_record(&mut records, b"uname", u.as_bytes());
            }
            if let Some(g) = self.names.group(meta.gid) {
                pax_record(&mut records, b"gname", g.as_bytes());
            }
        }
        self.pax(&records)?;
        match meta.kind {
            FileKind::File if sparse => {
                let mut file = open_regular(dir, name, meta)?;
                self.ar.append_file(member, &mut file)?;
                self.stats.bytes += meta.allocated;
            }
            FileKind::File => {
                let file = open_regular(dir, name, meta)?;
                let mut h = self.header(meta, EntryType::Regular);
                h.set_size(meta.size);
                let data = Exact {
                    inner: file,
                    left: meta.size,
                };
                self.ar.append_data(&mut h, member, data)?;
                self.stats.bytes += meta.size;
            }
            FileKind::Dir => {
                let mut h = self.header(meta, EntryType::Directory);
                self.ar.append_data(&mut h, member, io::empty())?;
            }
            FileKind::Symlink => {
                let target = crate::fs::at::read_link(dir, name)?;
                let mut h = self.header(meta, EntryType::Symlink);
                self.ar.append_link(&mut h, member, &target)?;
            }
            FileKind::Fifo | FileKind::CharDevice | FileKind::BlockDevice => {
                let kind = match meta.kind {
                    FileKind::Fifo => EntryType::Fifo,
                    FileKind::CharDevice => EntryType::Char,
                    _ => EntryType::Block,
                };
                let mut h = self.header(meta, kind);
                if kind != EntryType::Fifo {
                    h.set_device_major(libc::major(meta.rdev))?;
                    h.set_device_minor(libc::minor(meta.rdev))?;
                }
                self.ar.append_data(&mut h, member, io::empty())?;
            }
            // Sockets are skipped before (`entry`): a tar cannot hold them.
            FileKind::Socket => {}
        }
        Ok(())
    }

    /// A GNU header of `kind` with `meta`'s mode, owner (ids and names), mtime, size 0.
    fn header(&mut self, meta: &Meta, kind: EntryType) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(meta.mode);
        h.set_uid(u64::from(meta.uid));
        h.set_gid(u64::from(meta.gid));
        h.set_mtime(u64::try_from(meta.mtime.sec).unwrap_or(0));
        h.set_size(0);
        if let Some(u) = self.names.user(meta.uid) {
            let _ = h.set_username(&u);
        }
        if let Some(g) = self.names.group(meta.gid) {
            let _ = h.set_groupname(&g);
        }
        h
    }

    /// A PAX extended header holding `records`, for the entry that follows (none when
    /// empty).
    fn pax(&mut self, records: &[u8]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut h = Header::new_ustar();
        h.set_path("PaxHeader")?;
        h.set_entry_type(EntryType::XHeader);
        h.set_mode(0o644);
        h.set_size(records.len() as u64);
        h.set_cksum();
        self.ar.append(&h, records)
    }

    fn finish(self) -> Result<TarStats, ReadError> {
        let out_err = |e| ReadError::from(PathError::new(Path::new("tar output"), e));
        let mut buf = self.ar.into_inner().map_err(out_err)?;
        buf.flush().map_err(out_err)?;
        Ok(self.stats)
    }
}

/// Open the regular file `name` in `dir` for reading: never a symlink, never blocking
/// (`O_NONBLOCK`: were it a FIFO), and checked to be the inode `meta` describes.
fn open_regular(dir: &Dir, name: &OsStr, meta: &Meta) -> io::Result<std::fs::File> {
    let file = dir.open_file(name, OFlag::O_RDONLY | OFlag::O_NONBLOCK, 0)?;
    let st = crate::fs::stat_file(&file)?;
    if st.kind != FileKind::File || st.ino != meta.ino || st.dev != meta.dev {
        return Err(io::Error::other("changed while it was archived"));
    }
    Ok(file)
}

/// A file's first `left` bytes, and an error if it ends before them: the header already
/// promised that many (a committed version's file never changes, but the archive must
/// never silently disagree with its headers).
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: io::Read> io::Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file got shorter while it was archived",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Append one PAX record `LEN key=value\n` (LEN counts the whole record, itself included).
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// User and group names by id, looked up once each.
#[derive(Default)]
struct Names {
    users: HashMap<u32, Option<String>>,
    groups: HashMap<u32, Option<String>>,
}

impl Names {
    fn user(&mut self, uid: u32) -> Option<String> {
        cached(&mut self.users, uid, |id| {
            nix::unistd::User::from_uid(id.into())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
    }

    fn group(&mut self, gid: u32) -> Option<String> {
        cached(&mut self.groups, gid, |id| {
            nix::unistd::Group::from_gid(id.into())
                .ok()
                .flatten()
                .map(|g| g.name)
        })
    }
}

/// The name of `id` in `map`, looked up with `look` the first time.
fn cached(
    map: &mut HashMap<u32, Option<String>>,
    id: u32,
    look: impl FnOnce(u32) -> Option<String>,
) -> Option<String> {
    map.entry(id).or_insert_with(|| look(id)).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records_count_their_own_length() {
        let mut out = Vec::new();
        pax_record(&mut out, b"mtime", b"1.5");
        assert_eq!(out, b"13 mtime=1.5\n");
        // Every length, across the digit boundaries (9 -> 10, 99 -> 100 is skipped: 98
        // bytes of text need 101 with their 3-digit length).
        for n in 0..1100 {
            let mut out = Vec::new();
            pax_record(&mut out, b"k", &vec![b'x'; n]);
            let text = String::from_utf8(out.clone()).unwrap();
            let (len, _) = text.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), out.len(), "{n}");
        }
        let mut out = Vec::new();
        pax_record(&mut out, b"k", &[b'x'; 94]);
        assert!(out.starts_with(b"101 k=x"));
    }

    #[test]
    fn exact_refuses_a_short_file() {
        let mut buf = Vec::new();
        let long = Exact {
            inner: &b"abcdef"[..],
            left: 4,
        };
        assert_eq!(io::Read::read_to_end(&mut { long }, &mut buf).unwrap(), 4);
        assert_eq!(buf, b"abcd");
        let short = Exact {
            inner: &b"ab"[..],
            left: 4,
        };
        let err = io::Read::read_to_end(&mut { short }, &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn device_numbers_split_like_glibc() {
        let rdev = libc::makedev(259, 70_000);
        assert_eq!((libc::major(rdev), libc::minor(rdev)), (259, 70_000));
    }
}
