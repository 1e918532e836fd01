//! The signatures `auto` records: `<job folder>/.reverberator/fs/source` and `…/fs/vault`.
//!
//! Format (one file per side, UTF-8): the first non-empty line not starting with `#` is the
//! spec text (`uuid=…`, `partuuid=…`, `label=…`, `partlabel=…` or `dev=…`; `dev=` may name a
//! non-`/dev` source such as `tmpfs`); further `#` lines describe the filesystem for humans.
//! Files are opened through directory fds with `O_NOFOLLOW` at every step and replaced
//! atomically (write a hidden temporary, fsync, rename, fsync the folder). This module
//! does not decide *whether* to write: the guard only calls [`write()`] once the vault's
//! filesystem is the expected one, on a vault fd whose mount it has checked.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::{mkdirat, Mode};

use super::Side;
use crate::config::FsSpec;

/// Largest record file read (a record is one short line and a comment).
const MAX_RECORD: u64 = 64 * 1024;

/// `.reverberator/fs/<side>` relative to the job folder.
pub fn record_path(job_dir: &Path, side: Side) -> PathBuf {
    job_dir.join(".reverberator").join("fs").join(side.as_str())
}

/// Parse a record's text into the spec it names; `None` when it names none.
pub fn parse_record(text: &str) -> Option<FsSpec> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    match line.parse::<FsSpec>() {
        Ok(FsSpec::Auto) => None,
        Ok(spec) => Some(spec),
        Err(_) => {
            let (key, value) = line.split_once('=')?;
            (key.trim() == "dev" && !value.trim().is_empty())
                .then(|| FsSpec::Dev(PathBuf::from(value.trim())))
        }
    }
}

/// Read the record of `side`; `Ok(None)` when the job folder or the record is missing.
pub fn read(job_dir: &Path, side: Side) -> io::Result<Option<String>> {
    let Some(fs_dir) = open_chain(None, job_dir, false)? else {
        return Ok(None);
    };
    let file = match openat(
        Some(fs_dir.as_raw_fd()),
        side.as_str(),
        read_flags(),
        Mode::empty(),
    ) {
        Ok(fd) => owned(fd),
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut text = String::new();
    File::from(file)
        .take(MAX_RECORD)
        .read_to_string(&mut text)?;
    Ok(Some(text))
}

/// Open the vault directory for [`write()`] (the caller checks which mount the fd is on).
pub fn open_vault(vault: &Path) -> io::Result<OwnedFd> {
    let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    Ok(owned(openat(None, vault, flags, Mode::empty())?))
}

/// Replace the record of `side` in the folder `job_folder` (one name) of the open vault
/// directory `vault`, creating the job folder, `.reverberator` and `fs` where missing.
/// Everything happens relative to `vault`, so nothing can land outside it even if the
/// vault path is unmounted or swapped meanwhile.
pub fn write(vault: &OwnedFd, job_folder: &OsStr, side: Side, text: &str) -> io::Result<()> {
    let fs_dir = open_chain(Some(vault), Path::new(job_folder), true)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "job folder vanished"))?;
    let dirfd = Some(fs_dir.as_raw_fd());
    let tmp = format!(".{}.tmp", side.as_str());
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_NOFOLLOW;
    let mode = Mode::from_bits_truncate(0o644);
    let fd = openat(dirfd, tmp.as_str(), flags | OFlag::O_CLOEXEC, mode)?;
    let mut file = File::from(owned(fd));
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    renameat(dirfd, tmp.as_str(), dirfd, side.as_str())?;
    nix::unistd::fsync(fs_dir.as_raw_fd())?;
    Ok(())
}

/// Open `first/.reverberator/fs` (relative to `start`, or the path itself when `start` is
/// `None`), creating missing folders when `create` is set; `Ok(None)` when one is missing.
fn open_chain(start: Option<&OwnedFd>, first: &Path, create: bool) -> io::Result<Option<OwnedFd>> {
    let mut dir: Option<OwnedFd> = None;
    for name in [first, Path::new(".reverberator"), Path::new("fs")] {
        let parent = dir.as_ref().or(start);
        if create {
            mkdir(parent, name)?;
        }
        dir = match open_dir(parent, name) {
            Ok(fd) => Some(fd),
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
    }
    Ok(dir)
}

fn mkdir(parent: Option<&OwnedFd>, name: &Path) -> io::Result<()> {
    match mkdirat(
        parent.map(AsRawFd::as_raw_fd),
        name,
        Mode::from_bits_truncate(0o755),
    ) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn open_dir(parent: Option<&OwnedFd>, name: &Path) -> Result<OwnedFd, Errno> {
    let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    openat(parent.map(AsRawFd::as_raw_fd), name, flags, Mode::empty()).map(owned)
}

fn read_flags() -> OFlag {
    // O_NONBLOCK: a FIFO planted under the name must not block the reader.
    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK
}

fn owned(fd: std::os::fd::RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful open and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_first_spec_line() {
        let text = "# recorded by reverberator\nuuid=ABCD-1234\n# ext4 on /dev/sdb1\n";
        assert_eq!(parse_record(text), Some(FsSpec::Uuid("ABCD-1234".into())));
        assert_eq!(
            parse_record("dev=tmpfs\n"),
            Some(FsSpec::Dev("tmpfs".into()))
        );
        assert_eq!(
            parse_record("label=my disk"),
            Some(FsSpec::Label("my disk".into()))
        );
        assert_eq!(parse_record("auto\n"), None);
        assert_eq!(parse_record("# nothing\n\n"), None);
        assert_eq!(parse_record("bogus"), None);
    }

    #[test]
    fn writes_and_reads_back_inside_the_job_folder() {
        let vault = tempfile::tempdir().unwrap();
        let job_dir = vault.path().join("job");
        let fd = open_vault(vault.path()).unwrap();
        assert_eq!(read(&job_dir, Side::Vault).unwrap(), None);
        write(&fd, OsStr::new("job"), Side::Vault, "uuid=1\n").unwrap();
        write(&fd, OsStr::new("job"), Side::Vault, "uuid=2\n").unwrap();
        assert_eq!(
            read(&job_dir, Side::Vault).unwrap().as_deref(),
            Some("uuid=2\n")
        );
        assert_eq!(read(&job_dir, Side::Source).unwrap(), None);
        assert!(record_path(&job_dir, Side::Vault).is_file());
    }

    #[test]
    fn refuses_a_symlinked_bookkeeping_folder() {
        let vault = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let job_dir = vault.path().join("job");
        std::fs::create_dir(&job_dir).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), job_dir.join(".reverberator")).unwrap();
        let fd = open_vault(vault.path()).unwrap();
        assert!(write(&fd, OsStr::new("job"), Side::Source, "uuid=1\n").is_err());
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }
}
