//! Moving a regular file's bytes from one open fd to another: `FICLONE` reflink, else
//! `copy_file_range` over the data segments found with `SEEK_DATA`/`SEEK_HOLE`, else
//! `pread`/`pwrite` over the same segments. Holes stay holes: only data segments are
//! written and the destination is `ftruncate`d to the size. No policy, no attributes.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use nix::errno::Errno;
use nix::unistd::{self, Whence};

/// How the bytes get across; each method falls back to the next where the filesystem or
/// kernel cannot do it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    /// `ioctl(FICLONE)`: share the source's extents (btrfs, XFS, bcachefs...).
    Reflink,
    /// `copy_file_range` per data segment (in-kernel copy, may share extents).
    CopyRange,
    /// `pread`/`pwrite` per data segment through a 256 KiB buffer.
    ReadWrite,
}

/// Buffer for the read/write fallback and for hashing.
pub(super) const CHUNK: usize = 256 * 1024;

/// Largest single `copy_file_range` request.
const RANGE_CHUNK: u64 = 1 << 30;

/// Copy the first `size` bytes of `src` into the empty file `dst`, starting with
/// `first` and falling back as needed. Returns the method that did the work.
pub(super) fn copy_data(src: &File, dst: &File, size: u64, first: Method) -> io::Result<Method> {
    if first == Method::Reflink && try_reflink(src, dst)? {
        return Ok(Method::Reflink);
    }
    let mut method = match first {
        Method::Reflink => Method::CopyRange,
        other => other,
    };
    let mut pos = 0;
    let mut buf = Vec::new();
    while let Some((start, end)) = next_segment(src, pos, size)? {
        copy_segment(src, dst, (start, end), &mut method, &mut buf)?;
        pos = end;
    }
    dst.set_len(size)?;
    Ok(method)
}

/// `ioctl(dst, FICLONE, src)`: true when done, false when the filesystem can't.
fn try_reflink(src: &File, dst: &File) -> io::Result<bool> {
    // SAFETY: FICLONE takes the source fd as its argument; both fds are open.
    let res = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) };
    if res == 0 {
        return Ok(true);
    }
    match Errno::last() {
        Errno::EOPNOTSUPP
        | Errno::ENOTTY
        | Errno::EXDEV
        | Errno::EINVAL
        | Errno::ENOSYS
        | Errno::EPERM
        | Errno::ETXTBSY => Ok(false),
        e => Err(e.into()),
    }
}

/// The next data segment `[start, end)` at or after `pos` and below `size`, or `None`
/// when only a hole (or nothing) is left. Without `SEEK_DATA` support the rest is data.
fn next_segment(src: &File, pos: u64, size: u64) -> io::Result<Option<(u64, u64)>> {
    if pos >= size {
        return Ok(None);
    }
    let fd = src.as_raw_fd();
    let start = match unistd::lseek(fd, to_off(pos)?, Whence::SeekData) {
        Ok(start) => from_off(start),
        Err(Errno::ENXIO) => return Ok(None),
        Err(Errno::EINVAL | Errno::EOPNOTSUPP) => return Ok(Some((pos, size))),
        Err(e) => return Err(e.into()),
    };
    if start >= size {
        return Ok(None);
    }
    let end = match unistd::lseek(fd, to_off(start)?, Whence::SeekHole) {
        Ok(end) => from_off(end).min(size),
        Err(Errno::ENXIO) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(Some((start, end.max(start))))
}

/// Copy bytes `[start, end)` to the same offsets, switching `method` to read/write
/// when `copy_file_range` is not possible (`buf` is the read/write buffer, allocated on
/// first use). Stops early if the source got shorter.
fn copy_segment(
    src: &File,
    dst: &File,
    (start, end): (u64, u64),
    method: &mut Method,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    let mut pos = start;
    while pos < end {
        let n = match *method {
            Method::ReadWrite => read_write(src, dst, pos, end, buf)?,
            _ => match copy_range(src, dst, pos, end) {
                Ok(n) => n,
                Err(e) if range_unsupported(e) => {
                    *method = Method::ReadWrite;
                    continue;
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            },
        };
        if n == 0 {
            return Ok(()); // the source shrank: the torn-copy check sees it
        }
        pos += n;
    }
    Ok(())
}

/// One `copy_file_range` call at explicit offsets.
fn copy_range(src: &File, dst: &File, pos: u64, end: u64) -> nix::Result<u64> {
    let mut off_in = i64::try_from(pos).map_err(|_| Errno::EOVERFLOW)?;
    let mut off_out = off_in;
    let len = usize::try_from((end - pos).min(RANGE_CHUNK)).unwrap_or(usize::MAX);
    let n = nix::fcntl::copy_file_range(src, Some(&mut off_in), dst, Some(&mut off_out), len)?;
    Ok(n as u64)
}

/// Errors meaning "this kernel/filesystem pair can't `copy_file_range`".
fn range_unsupported(e: Errno) -> bool {
    matches!(
        e,
        Errno::EXDEV | Errno::ENOSYS | Errno::EOPNOTSUPP | Errno::EINVAL | Errno::EBADF
    )
}

/// One `pread` of up to [`CHUNK`] bytes and the matching `pwrite`.
fn read_write(src: &File, dst: &File, pos: u64, end: u64, buf: &mut Vec<u8>) -> io::Result<u64> {
    buf.resize(CHUNK, 0);
    let want = usize::try_from(end - pos).unwrap_or(CHUNK).min(CHUNK);
    let n = loop {
        match src.read_at(&mut buf[..want], pos) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other?,
        }
    };
    dst.write_all_at(&buf[..n], pos)?;
    Ok(n as u64)
}

/// A file offset as `off_t`.
fn to_off(pos: u64) -> io::Result<i64> {
    i64::try_from(pos).map_err(|_| io::Error::from(Errno::EOVERFLOW))
}

/// An `off_t` returned by `lseek` (never negative on success).
fn from_off(off: i64) -> u64 {
    u64::try_from(off).unwrap_or(0)
}
