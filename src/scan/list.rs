//! Listing a directory the scan has just opened, straight from its own fd.
//!
//! `fs::Dir::entries` reopens the directory for every listing (so a shared `Dir`'s offset
//! is never disturbed): four extra syscalls per directory. The scan opens each directory
//! itself, lists it exactly once and drops it, so it reads `getdents64` on that fd
//! directly; on a 100k-file tree that is ~40k fewer syscalls per scan (about a tenth).

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;

use crate::fs::{Dir, DirEntry, FileKind};

/// Size of one `getdents64` batch.
const BUF: usize = 32 * 1024;
/// Offset of `d_name` in `struct linux_dirent64` (ino u64, off i64, reclen u16, type u8).
const NAME_AT: usize = 19;

/// Every name in `dir` but `.` and `..`, sorted by name bytes. `dir` must be freshly
/// opened and not listed before (its offset is consumed).
pub(crate) fn list_once(dir: &Dir) -> io::Result<Vec<DirEntry>> {
    let mut buf = vec![0u8; BUF];
    let mut out = Vec::new();
    loop {
        // SAFETY: `buf` is a writable buffer of `BUF` bytes owned by us; the kernel writes at
        // most that many bytes and returns how many it wrote.
        let n =
            unsafe { libc::syscall(libc::SYS_getdents64, dir.raw(), buf.as_mut_ptr(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            break;
        }
        parse(&buf[..n as usize], &mut out)?;
    }
    out.sort_unstable_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    Ok(out)
}

/// Decode one batch of `linux_dirent64` records.
fn parse(mut batch: &[u8], out: &mut Vec<DirEntry>) -> io::Result<()> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed getdents64 record");
    while !batch.is_empty() {
        if batch.len() < NAME_AT {
            return Err(bad());
        }
        let reclen = usize::from(u16::from_ne_bytes([batch[16], batch[17]]));
        if reclen < NAME_AT || reclen > batch.len() {
            return Err(bad());
        }
        let d_type = batch[18];
        let name_field = &batch[NAME_AT..reclen];
        let len = name_field.iter().position(|&b| b == 0).ok_or_else(bad)?;
        let name = &name_field[..len];
        if name != b"." && name != b".." {
            out.push(DirEntry {
                name: OsStr::from_bytes(name).to_os_string(),
                kind: kind_of(d_type),
            });
        }
        batch = &batch[reclen..];
    }
    Ok(())
}

fn kind_of(d_type: u8) -> Option<FileKind> {
    match d_type {
        libc::DT_REG => Some(FileKind::File),
        libc::DT_DIR => Some(FileKind::Dir),
        libc::DT_LNK => Some(FileKind::Symlink),
        libc::DT_FIFO => Some(FileKind::Fifo),
        libc::DT_SOCK => Some(FileKind::Socket),
        libc::DT_CHR => Some(FileKind::CharDevice),
        libc::DT_BLK => Some(FileKind::BlockDevice),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_like_dir_entries() {
        let t = tempfile::tempdir().unwrap();
        for i in 0..3000 {
            std::fs::write(
                t.path()
                    .join(format!("file-{i:05}-{}", "x".repeat(i % 200))),
                b"",
            )
            .unwrap();
        }
        std::fs::create_dir(t.path().join("sub")).unwrap();
        std::os::unix::fs::symlink("nowhere", t.path().join("link")).unwrap();
        let dir = Dir::open(t.path()).unwrap();
        let want = dir.entries().unwrap();
        let fresh = Dir::open(t.path()).unwrap();
        assert_eq!(list_once(&fresh).unwrap(), want);
        assert_eq!(want.len(), 3002);
    }
}
