//! index.tsv: one row per committed version, read and replaced atomically.
//!
//! For example (one TAB between fields, shown as two spaces):
//!
//! ```text
//! version  name  iso_time  size  inodes  changes
//! 0  V0--2026-11-23_10-00-00_+0100  2026-11-23T10:00:00+01:00  40960  12  12
//! ```
//!
//! `size` and `inodes` are what the version owns (bytes of allocated blocks and inodes it
//! created), `changes` the number of entries in the ChangeSet it was built from. The file
//! is only ever replaced whole ([`Index::write_atomic`]); a reader never sees half of it.
//! This module knows the format, not how the numbers are computed.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::escape::{read_table, tsv_writer, TableError};
use crate::fs::{Dir, OFlag};

/// File name of the index inside the job folder.
pub const INDEX_FILE: &str = "index.tsv";
/// Temporary name used while replacing the index (same folder, so `rename` is atomic).
pub const INDEX_TEMP: &str = ".index.tsv.tmp";
/// The header line's fields, in order.
pub const INDEX_HEADER: [&str; 6] = ["version", "name", "iso_time", "size", "inodes", "changes"];

/// One committed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRow {
    /// Version number n.
    pub version: u64,
    /// Folder name `V{n}--{time}`.
    pub name: String,
    /// Time of the snapshot, RFC 3339 with offset.
    pub iso_time: String,
    /// Bytes of allocated blocks owned by this version.
    pub size: u64,
    /// Inodes owned by this version.
    pub inodes: u64,
    /// Entries changed since the previous version.
    pub changes: u64,
}

/// The rows of an index.tsv, in file order (oldest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    /// The rows.
    pub rows: Vec<IndexRow>,
}

/// Why an index.tsv could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The text is not a well-formed table (see [`TableError`]).
    #[error(transparent)]
    Table(#[from] TableError),
    /// A field does not parse.
    #[error("line {line}, column {column}: {value:?} {why}")]
    Field {
        /// 1-based line number.
        line: u64,
        /// Column name.
        column: &'static str,
        /// The field's text.
        value: String,
        /// What is wrong with it.
        why: String,
    },
    /// An error in the named file.
    #[error("{path}: {source}")]
    File {
        /// The index file.
        path: PathBuf,
        /// The error in it.
        #[source]
        source: Box<IndexError>,
    },
}

impl Index {
    /// Parse index.tsv text from `r`. Empty input is an empty index.
    pub fn from_reader(r: impl Read) -> Result<Index, IndexError> {
        let rows = read_table(r, &INDEX_HEADER, parse_row)?;
        Ok(Index { rows })
    }

    /// Read the index file at `path`; neither it nor its folder is reached through a
    /// symlink.
    pub fn from_path(path: &Path) -> Result<Index, IndexError> {
        let file = open_read(path).map_err(|source| IndexError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Index::from_reader(io::BufReader::new(file)).map_err(|e| in_file(path, e))
    }

    /// Read `job_dir/index.tsv`; a missing file is an empty index (a new job).
    pub fn from_job_dir(job_dir: &Path) -> Result<Index, IndexError> {
        let path = job_dir.join(INDEX_FILE);
        match Index::from_path(&path) {
            Err(IndexError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Ok(Index::default())
            }
            other => other,
        }
    }

    /// Replace `job_dir/index.tsv` with `rows`, atomically and durably: write a temp file
    /// in the same folder, fsync it, rename it over the index, fsync the folder. The
    /// caller holds the job lock.
    pub fn write_atomic(job_dir: &Path, rows: &[IndexRow]) -> Result<(), IndexError> {
        let temp = job_dir.join(INDEX_TEMP);
        let io_at = |path: &Path| {
            let path = path.to_path_buf();
            move |source| IndexError::Io { path, source }
        };
        // Everything relative to the job folder's fd: no symlink planted at the folder, the
        // temp name or the index redirects the write.
        let dir = Dir::open(job_dir).map_err(io_at(job_dir))?;
        write_temp(&dir, rows).map_err(io_at(&temp))?;
        dir.rename(OsStr::new(INDEX_TEMP), OsStr::new(INDEX_FILE))
            .map_err(io_at(&temp))?;
        dir.sync().map_err(io_at(job_dir))
    }

    /// The row of version `n`, if it is listed.
    pub fn get(&self, version: u64) -> Option<&IndexRow> {
        self.rows.iter().find(|r| r.version == version)
    }

    /// The newest row (the last one).
    pub fn newest(&self) -> Option<&IndexRow> {
        self.rows.last()
    }
}

impl FromStr for Index {
    type Err = IndexError;

    fn from_str(s: &str) -> Result<Index, IndexError> {
        Index::from_reader(s.as_bytes())
    }
}

impl IndexRow {
    /// The snapshot time, parsed.
    pub fn time(&self) -> Result<chrono::DateTime<chrono::FixedOffset>, chrono::ParseError> {
        chrono::DateTime::parse_from_rfc3339(&self.iso_time)
    }
}

/// Create (truncate) the temp file in `dir`, write the rows, fsync.
fn write_temp(dir: &Dir, rows: &[IndexRow]) -> io::Result<()> {
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC;
    let file = dir.open_file(OsStr::new(INDEX_TEMP), flags, 0o644)?;
    let mut w = io::BufWriter::new(&file);
    write_rows(&mut w, rows)?;
    w.flush()?;
    drop(w);
    file.sync_all()
}

/// Open `path` for reading, never through a symlink at it or at its folder.
pub(super) fn open_read(path: &Path) -> io::Result<File> {
    let (dir, name) = Dir::open_parent_of(path)?;
    dir.open_file(name, OFlag::O_RDONLY, 0)
}

/// The header and the rows as TSV.
fn write_rows(w: impl Write, rows: &[IndexRow]) -> io::Result<()> {
    let mut wtr = tsv_writer().from_writer(w);
    wtr.write_record(INDEX_HEADER)?;
    for r in rows {
        let nums = [r.version, r.size, r.inodes, r.changes].map(|n| n.to_string());
        let [version, size, inodes, changes] = &nums;
        wtr.write_record([version, &r.name, &r.iso_time, size, inodes, changes])?;
    }
    wtr.flush()
}

/// One data record -> row, checking every field.
fn parse_row(rec: &csv::StringRecord) -> Result<IndexRow, IndexError> {
    let line = rec.position().map_or(0, |p| p.line());
    let field = |i: usize| rec.get(i).unwrap_or("");
    let num = |i: usize| parse_u64(line, INDEX_HEADER[i], field(i));
    let row = IndexRow {
        version: num(0)?,
        name: field(1).to_string(),
        iso_time: field(2).to_string(),
        size: num(3)?,
        inodes: num(4)?,
        changes: num(5)?,
    };
    if let Err(e) = row.time() {
        return Err(field_error(line, "iso_time", &row.iso_time, e.to_string()));
    }
    if !row.name.starts_with(&format!("V{}--", row.version)) {
        let why = format!("does not name version {}", row.version);
        return Err(field_error(line, "name", &row.name, why));
    }
    Ok(row)
}

/// A decimal u64 field.
pub(super) fn parse_u64(line: u64, column: &'static str, s: &str) -> Result<u64, IndexError> {
    s.parse()
        .map_err(|e: std::num::ParseIntError| field_error(line, column, s, e.to_string()))
}

/// An [`IndexError::Field`].
fn field_error(line: u64, column: &'static str, value: &str, why: String) -> IndexError {
    IndexError::Field {
        line,
        column,
        value: value.to_string(),
        why,
    }
}

/// Name the file an error was found in.
fn in_file(path: &Path, e: IndexError) -> IndexError {
    IndexError::File {
        path: path.to_path_buf(),
        source: Box::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "version\tname\tiso_time\tsize\tinodes\tchanges\n\
        0\tV0--2026-11-23_10-00-00_+0100\t2026-11-23T10:00:00+01:00\t40960\t12\t12\n\
        1\tV1--2026-11-23_10-05-12_+0100\t2026-11-23T10:05:12+01:00\t8192\t3\t1\n";

    fn row(version: u64) -> IndexRow {
        IndexRow {
            version,
            name: format!("V{version}--2026-11-23_10-00-00_+0100"),
            iso_time: "2026-11-23T10:00:00+01:00".into(),
            size: 4096 * version,
            inodes: version + 1,
            changes: 7,
        }
    }

    #[test]
    fn parses_literal_text() {
        let idx: Index = TEXT.parse().unwrap();
        assert_eq!(idx.rows.len(), 2);
        assert_eq!(idx.rows[1].name, "V1--2026-11-23_10-05-12_+0100");
        assert_eq!(idx.rows[0].size, 40960);
        assert_eq!(idx.newest().unwrap().version, 1);
        assert_eq!(idx.get(0).unwrap().changes, 12);
        assert!(idx.get(5).is_none());
        assert_eq!(idx.rows[1].time().unwrap().timestamp(), 1_795_424_712);
    }

    #[test]
    fn writes_what_it_reads() {
        let idx: Index = TEXT.parse().unwrap();
        let mut out = Vec::new();
        write_rows(&mut out, &idx.rows).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), TEXT);
    }

    #[test]
    fn empty_input_and_header_only_are_empty() {
        assert!("".parse::<Index>().unwrap().rows.is_empty());
        let header = "version\tname\tiso_time\tsize\tinodes\tchanges\n";
        assert!(header.parse::<Index>().unwrap().rows.is_empty());
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let bad = TEXT.replace("\t8192\t", "\t8x92\t");
        match bad.parse::<Index>().unwrap_err() {
            IndexError::Field { line, column, .. } => assert_eq!((line, column), (3, "size")),
            e => panic!("{e}"),
        }
        let bad = TEXT.replace("2026-11-23T10:05:12+01:00", "yesterday");
        assert!(matches!(
            bad.parse::<Index>().unwrap_err(),
            IndexError::Field {
                line: 3,
                column: "iso_time",
                ..
            }
        ));
        let bad = TEXT.replace("1\tV1--", "2\tV1--");
        assert!(matches!(
            bad.parse::<Index>(),
            Err(IndexError::Field { column: "name", .. })
        ));
        let bad = TEXT.replace("\t3\t1\n", "\t3\n");
        assert!(matches!(
            bad.parse::<Index>(),
            Err(IndexError::Table(TableError::Tsv { .. }))
        ));
        let bad = TEXT.replace("inodes", "files");
        let err = bad.parse::<Index>().unwrap_err();
        assert!(matches!(err, IndexError::Table(TableError::Header { .. })));
        assert_eq!(
            err.to_string(),
            "the header is \"version\\tname\\tiso_time\\tsize\\tfiles\\tchanges\", \
             expected \"version\\tname\\tiso_time\\tsize\\tinodes\\tchanges\""
        );
    }

    #[test]
    fn write_atomic_replaces_the_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Index::from_job_dir(dir.path()).unwrap().rows.is_empty());
        Index::write_atomic(dir.path(), &[row(0), row(1)]).unwrap();
        Index::write_atomic(dir.path(), &[row(1), row(2)]).unwrap();
        let idx = Index::from_job_dir(dir.path()).unwrap();
        assert_eq!(idx.rows, vec![row(1), row(2)]);
        assert!(!dir.path().join(INDEX_TEMP).exists());
        let err = Index::from_path(&dir.path().join("nope.tsv")).unwrap_err();
        assert!(err.to_string().contains("nope.tsv"));
    }

    #[test]
    fn errors_from_a_file_name_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(INDEX_FILE), "bogus\n").unwrap();
        let err = Index::from_job_dir(dir.path()).unwrap_err();
        assert!(err.to_string().contains(INDEX_FILE), "{err}");
    }

    #[test]
    fn writes_never_follow_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let job = dir.path().join("job");
        std::fs::create_dir(&job).unwrap();
        std::os::unix::fs::symlink(outside.join("t"), job.join(INDEX_TEMP)).unwrap();
        assert!(Index::write_atomic(&job, &[row(0)]).is_err());
        let linked = dir.path().join("linked");
        std::os::unix::fs::symlink(&outside, &linked).unwrap();
        assert!(Index::write_atomic(&linked, &[row(0)]).is_err());
        std::fs::write(outside.join(INDEX_FILE), "secret\n").unwrap();
        let err = Index::from_job_dir(&linked).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            1,
            "wrote outside"
        );
    }
}
