//! Replacing whole files atomically: a temp file in the same folder, made durable, then
//! renamed over the name. A reader sees the old or the new content, never a mix, and a
//! crash leaves one of the two. Nothing is reached through a symlink at the file's name or
//! the temp name (the temp name is opened `O_EXCL`, the rename replaces the name itself).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{Dir, OFlag};
use crate::error::PathError;

/// Create `path` as a new file with the permission bits `mode`: `O_EXCL`, so nothing that
/// is already at the name (a symlink included) is reached or replaced.
pub fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

/// Open `path` for reading, never following a symlink in its last component.
pub fn open_nofollow(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Write `data` to `path` through a temp file in the same folder: fsync, rename, fsync the
/// folder.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let (dir, name) = Dir::open_parent_of(path)?;
    write_atomic_at(&dir, name, data)
}

/// [`write_atomic`] of the file `name` in the open folder `dir`.
pub fn write_atomic_at(dir: &Dir, name: &OsStr, data: &[u8]) -> io::Result<()> {
    let tmp = write_temp(dir, name, data)?;
    tmp.sync_all()?;
    drop(tmp);
    dir.rename(&temp_name(name), name)?;
    dir.sync()
}

/// Replace several files, each atomically as [`write_atomic`] does, with two `syncfs` of
/// the filesystem holding `fs` (where every file must be) instead of two fsyncs per file:
/// every temp file is durable before any rename, and every rename is durable on return.
/// After a crash each file holds its old or its new content, whole; which of them are new
/// is not ordered. For a retire that rewrites the bookkeeping of ~150 versions, the
/// per-file fsyncs were most of its wall time.
pub fn write_atomic_batch(fs: &Dir, files: &[(PathBuf, Vec<u8>)]) -> Result<(), PathError> {
    if files.is_empty() {
        return Ok(());
    }
    let mut staged = Vec::with_capacity(files.len());
    for (path, data) in files {
        let at = |e| PathError::new(path.clone(), e);
        let (dir, name) = Dir::open_parent_of(path).map_err(at)?;
        write_temp(&dir, name, data).map_err(at)?;
        staged.push((dir, name, path));
    }
    fs.syncfs()
        .map_err(|e| PathError::new(files[0].0.clone(), e))?;
    for (dir, name, path) in &staged {
        dir.rename(&temp_name(name), name)
            .map_err(|e| PathError::new(path.to_path_buf(), e))?;
    }
    fs.syncfs()
        .map_err(|e| PathError::new(files[0].0.clone(), e))
}

/// `.{name}.tmp{pid}`: one writer per job holds the lock, and a leftover temp name from a
/// crashed process is replaced.
fn temp_name(name: &OsStr) -> OsString {
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".tmp{}", std::process::id()));
    tmp
}

/// Write `data` to a fresh temp file for `name` in `dir` (not synced).
fn write_temp(dir: &Dir, name: &OsStr, data: &[u8]) -> io::Result<std::fs::File> {
    let tmp = temp_name(name);
    super::at::unlink_if_present(dir, &tmp)?;
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL;
    let mut file = dir.open_file(&tmp, flags, 0o644)?;
    file.write_all(data)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_replaces_every_file_and_leaves_no_temp() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("a")).unwrap();
        std::fs::write(t.path().join("a/x"), b"old").unwrap();
        let files = vec![
            (t.path().join("a/x"), b"new x".to_vec()),
            (t.path().join("y"), b"new y".to_vec()),
        ];
        let fs = Dir::open(t.path()).unwrap();
        write_atomic_batch(&fs, &files).unwrap();
        assert_eq!(std::fs::read(t.path().join("a/x")).unwrap(), b"new x");
        assert_eq!(std::fs::read(t.path().join("y")).unwrap(), b"new y");
        let names = |d: &str| std::fs::read_dir(t.path().join(d)).unwrap().count();
        assert_eq!((names("a"), names(".")), (1, 2));
    }

    #[test]
    fn a_batch_names_the_file_it_could_not_write() {
        let t = tempfile::tempdir().unwrap();
        let fs = Dir::open(t.path()).unwrap();
        let missing = t.path().join("no/such/file");
        let err = write_atomic_batch(&fs, &[(missing.clone(), vec![])]).unwrap_err();
        assert_eq!(err.path, missing);
    }

    #[test]
    fn a_symlink_at_the_name_is_replaced_not_followed() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("target"), b"keep").unwrap();
        std::os::unix::fs::symlink("target", t.path().join("f")).unwrap();
        write_atomic(&t.path().join("f"), b"data").unwrap();
        assert_eq!(std::fs::read(t.path().join("target")).unwrap(), b"keep");
        assert!(!t.path().join("f").is_symlink());
    }
}
