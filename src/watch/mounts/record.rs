//! The signatures `auto` records: `<job folder>/.reverberator/fs/source` and `…/fs/vault`.
//!
//! Format (one file per side, UTF-8): the first non-empty line not starting with `#` is the
//! spec text (`uuid=…`, `partuuid=…`, `label=…`, `partlabel=…` or `dev=…`; `dev=` may name a
//! non-`/dev` source such as `tmpfs`); further `#` lines describe the filesystem for humans.
//! Files are opened through directory fds with `O_NOFOLLOW` at every step and replaced
//! atomically (`fs::write_atomic_at`: a hidden temporary, fsync, rename, fsync the folder). This module
//! does not decide *whether* to write: the guard only calls [`write()`] once the vault's
//! filesystem is the expected one, on a vault fd whose mount it has checked.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::Side;
use crate::config::FsSpec;
use crate::fs::{write_atomic_at, Dir, OFlag};

/// The records' folder inside the job folder.
const FS_DIR: &str = ".reverberator/fs";

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
    let fs_dir = match Dir::open(job_dir).and_then(|d| d.open_beneath(Path::new(FS_DIR))) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // O_NONBLOCK: a FIFO planted under the name must not block the reader.
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK;
    let file = match fs_dir.open_file(OsStr::new(side.as_str()), flags, 0) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut text = String::new();
    file.take(MAX_RECORD).read_to_string(&mut text)?;
    Ok(Some(text))
}

/// Open the vault directory for [`write()`] (the caller checks which mount the fd is on).
pub fn open_vault(vault: &Path) -> io::Result<Dir> {
    Dir::open_following(vault)
}

/// Replace the record of `side` in the folder `job_folder` (one name) of the open vault
/// directory `vault`, creating the job folder, `.reverberator` and `fs` where missing
/// (never through a symlink). Everything happens relative to `vault`, so nothing can land
/// outside it even if the vault path is unmounted or swapped meanwhile.
pub fn write(vault: &Dir, job_folder: &OsStr, side: Side, text: &str) -> io::Result<()> {
    let mut dir = vault.ensure_child_dir(job_folder, 0o755)?;
    for name in Path::new(FS_DIR).iter() {
        dir = dir.ensure_child_dir(name, 0o755)?;
    }
    write_atomic_at(&dir, OsStr::new(side.as_str()), text.as_bytes())
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
