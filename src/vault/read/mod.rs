//! The read side of a job folder: [`list`](list::list) its versions, [`diff`](diff::diff)
//! two of them, [`restore`] a path of one as real files (or [`tar`] it as a stream), follow
//! one path through every version ([`history`], `log`), and
//! [`verify`](verify::verify) that the folder keeps the layout contract of
//! [`crate::vault`].
//!
//! Everything here only reads the job folder (restore writes only below its destination).
//! Paths of a version are resolved with [`Resolver`](super::layout::Resolver): structural
//! links are followed one hop, source symlinks are data and never followed. This module
//! knows nothing about the config, the daemon or how versions are built; the `commands`
//! layer renders what it returns.

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, Local, NaiveDateTime, TimeZone};

use super::layout::{JobFolder, VersionName};
use crate::error::PathError;

pub mod diff;
pub mod history;
pub mod list;
pub mod restore;
mod select;
pub mod tar;
mod tree;
pub mod verify;

#[cfg(test)]
mod fixture;

pub use diff::{diff, Change, DiffLine};
pub use history::{log, LogEntry, LogOptions, PathChange};
pub use list::{list, ListNote, Listing, VersionInfo};
pub use restore::{plan_restore, Conflict, RestorePlan, RestoreReport, RestoreRequest, Which};
pub use select::{VersionSel, VersionSelError};
pub use tar::{write_version_tar, TarStats};
pub use verify::{verify, LinkFault, Problem};

/// Why a read command could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The job folder has no committed version.
    #[error("{root}: the vault holds no version yet")]
    NoVersions {
        /// The job folder.
        root: PathBuf,
    },
    /// A version number that is not committed.
    #[error("{root}: there is no version {number}; existing versions: {existing}")]
    UnknownVersion {
        /// The job folder.
        root: PathBuf,
        /// The number asked for.
        number: u64,
        /// The committed version numbers, e.g. `0-3, 5, 7`.
        existing: String,
    },
    /// No version is as old as the time asked for.
    #[error("{root}: no version at or before {time}; the oldest is {oldest}")]
    NoneAtTime {
        /// The job folder.
        root: PathBuf,
        /// The time asked for (RFC 3339).
        time: String,
        /// The oldest version's folder name.
        oldest: String,
    },
    /// A `--at` value that is not a time.
    #[error("`{text}` is not a time: use RFC 3339 (2026-11-23T10:00:00+01:00) or local `YYYY-MM-DD HH:MM:SS`")]
    BadTime {
        /// The text given.
        text: String,
    },
    /// A restore path that is absolute or climbs out of the source root.
    #[error(
        "{path}: give a path relative to the source root, without `..` (`.` is the whole tree)"
    )]
    BadPath {
        /// The path given.
        path: PathBuf,
    },
    /// The path does not exist in the version.
    #[error("{path}: not in version {version}")]
    NotInVersion {
        /// The path asked for.
        path: PathBuf,
        /// The version's folder name.
        version: String,
    },
    /// An I/O error on a named path.
    #[error(transparent)]
    Io(#[from] PathError),
}

/// The committed versions of `folder`, oldest first; an error naming the folder.
pub fn versions(folder: &JobFolder) -> Result<Vec<VersionName>, ReadError> {
    folder
        .versions()
        .map_err(|e| PathError::new(folder.root(), e).into())
}

/// The committed version numbered `number`, or an error listing the existing ones.
pub fn version(folder: &JobFolder, number: u64) -> Result<VersionName, ReadError> {
    let all = versions(folder)?;
    all.iter()
        .find(|v| v.number == number)
        .cloned()
        .ok_or_else(|| ReadError::UnknownVersion {
            root: folder.root().to_path_buf(),
            number,
            existing: number_ranges(&all),
        })
}

/// The newest committed version.
pub fn newest(folder: &JobFolder) -> Result<VersionName, ReadError> {
    versions(folder)?
        .pop()
        .ok_or_else(|| ReadError::NoVersions {
            root: folder.root().to_path_buf(),
        })
}

/// The newest committed version taken at or before `time`.
pub fn version_at(
    folder: &JobFolder,
    time: &DateTime<FixedOffset>,
) -> Result<VersionName, ReadError> {
    let all = versions(folder)?;
    let oldest = all.first().cloned().ok_or_else(|| ReadError::NoVersions {
        root: folder.root().to_path_buf(),
    })?;
    all.into_iter()
        .filter(|v| v.time <= *time)
        .max_by_key(|v| v.number)
        .ok_or_else(|| ReadError::NoneAtTime {
            root: folder.root().to_path_buf(),
            time: time.to_rfc3339(),
            oldest: oldest.to_string(),
        })
}

/// The version `which` names.
pub fn which_version(folder: &JobFolder, which: &Which) -> Result<VersionName, ReadError> {
    match which {
        Which::Newest => newest(folder),
        Which::Number(n) => version(folder, *n),
        Which::At(t) => version_at(folder, t),
    }
}

/// Parse a `--at` time: RFC 3339 (`2026-11-23T10:00:00+01:00`, also with a space instead of
/// `T`) or `YYYY-MM-DD HH:MM:SS` in local time.
pub fn parse_time(text: &str) -> Result<DateTime<FixedOffset>, ReadError> {
    let bad = || ReadError::BadTime {
        text: text.to_owned(),
    };
    let trimmed = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(trimmed) {
        return Ok(t);
    }
    let naive = NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| bad())?;
    // A time that falls in a DST gap does not exist locally; one in the overlap is taken at
    // its later instant, so "at or before" includes the whole ambiguous hour.
    Local
        .from_local_datetime(&naive)
        .latest()
        .map(|t| t.fixed_offset())
        .ok_or_else(bad)
}

/// Check a path given relative to the source root: no root, no `..`; `.` components are
/// dropped, so `.` and `` are the whole tree.
pub fn source_relative(path: &Path) -> Result<PathBuf, ReadError> {
    let mut out = PathBuf::new();
    for comp in path.components() {
        match comp {
            std::path::Component::Normal(name) => out.push(name),
            std::path::Component::CurDir => {}
            _ => {
                return Err(ReadError::BadPath {
                    path: path.to_path_buf(),
                })
            }
        }
    }
    Ok(out)
}

/// A path as the read commands print it: escaped like a TSV field (see
/// [`crate::vault::escape`]), so a name with a newline or invalid UTF-8 stays on one line.
pub fn shown(path: &Path) -> String {
    super::escape::escape(path.as_os_str())
}

/// [`shown`], with `.` for the root (the empty path).
pub fn shown_or_dot(path: &Path) -> String {
    match path.as_os_str().is_empty() {
        true => ".".to_owned(),
        false => shown(path),
    }
}

/// Version numbers as compact ranges: `0-3, 5, 7` (`none` when empty).
pub fn number_ranges(versions: &[VersionName]) -> String {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for n in versions.iter().map(|v| v.number) {
        match runs.last_mut() {
            Some((_, end)) if n == *end + 1 => *end = n,
            _ => runs.push((n, n)),
        }
    }
    if runs.is_empty() {
        return "none".to_owned();
    }
    let text = |&(start, end): &(u64, u64)| match start == end {
        true => start.to_string(),
        false => format!("{start}-{end}"),
    };
    runs.iter().map(text).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(n: u64) -> VersionName {
        let t = DateTime::parse_from_rfc3339("2026-11-23T10:00:00+01:00").unwrap();
        VersionName::at(n, t)
    }

    #[test]
    fn ranges_compact_runs() {
        let vs: Vec<_> = [0, 1, 2, 3, 5, 7, 8].into_iter().map(v).collect();
        assert_eq!(number_ranges(&vs), "0-3, 5, 7-8");
        assert_eq!(number_ranges(&[]), "none");
        assert_eq!(number_ranges(&[v(4)]), "4");
    }

    #[test]
    fn times_parse_in_both_spellings() {
        let t = parse_time("2026-11-23T10:00:00+01:00").unwrap();
        assert_eq!(t.timestamp(), 1_795_424_400);
        let local = parse_time("2026-11-23 10:00:00").unwrap();
        let want = Local
            .with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
            .latest()
            .unwrap();
        assert_eq!(local.timestamp(), want.timestamp());
        for bad in ["yesterday", "2026-11-23", "10:00:00", ""] {
            assert!(
                matches!(parse_time(bad), Err(ReadError::BadTime { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn source_paths_stay_inside() {
        assert_eq!(source_relative(Path::new(".")).unwrap(), PathBuf::new());
        assert_eq!(
            source_relative(Path::new("./a/./b")).unwrap(),
            PathBuf::from("a/b")
        );
        for bad in ["/etc", "../x", "a/../../b", "a/.."] {
            assert!(source_relative(Path::new(bad)).is_err(), "{bad}");
        }
    }
}
