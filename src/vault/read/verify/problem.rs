//! The problems `verify` reports, each printed as one line. It only describes and prints;
//! it knows nothing about how a problem is found.

use std::fmt;
use std::path::PathBuf;

use crate::vault::layout::PRIVATE_DIR;
use crate::vault::read::shown;

/// One way a job folder breaks the layout contract. `Display` gives one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The job folder or a bookkeeping file could not be read.
    Unreadable {
        /// What could not be read (relative to the job folder).
        what: PathBuf,
        /// Why.
        reason: String,
    },
    /// A path listed in `links/V{n}.tsv` does not exist.
    LinkMissing {
        /// The version holding the link.
        version: String,
        /// The link's path in that version.
        path: PathBuf,
    },
    /// A path listed in `links/V{n}.tsv` is not a symlink.
    LinkNotSymlink {
        /// The version holding the link.
        version: String,
        /// The link's path in that version.
        path: PathBuf,
    },
    /// A structural link whose target is wrong (see [`LinkFault`]).
    Link {
        /// The version holding the link.
        version: String,
        /// The link's path in that version.
        path: PathBuf,
        /// The target text.
        target: PathBuf,
        /// What is wrong with it.
        fault: LinkFault,
    },
    /// A link into version k that `refs/V{k}.tsv` does not list.
    RefMissing {
        /// The referenced version number.
        into: u64,
        /// The version holding the link.
        version: u64,
        /// The link's path.
        path: PathBuf,
    },
    /// A line of `refs/V{k}.tsv` naming a committed version that has no such link.
    RefStale {
        /// The referenced version number.
        into: u64,
        /// The version named by the line.
        version: u64,
        /// The path named by the line.
        path: PathBuf,
    },
    /// A hidden build was left behind.
    Partial {
        /// Its folder name.
        name: String,
    },
    /// A retire was interrupted and not replayed yet.
    RetirePending,
    /// `latest` is missing although versions exist.
    LatestMissing {
        /// The newest version's folder name.
        newest: String,
    },
    /// `latest` does not point at the newest version.
    LatestStale {
        /// What it points at.
        target: PathBuf,
        /// The newest version's folder name.
        newest: String,
    },
    /// A committed version that `index.tsv` does not list.
    IndexMissing {
        /// The folder name.
        name: String,
    },
    /// An `index.tsv` row for a version that is not committed.
    IndexExtra {
        /// The row's version number.
        version: u64,
        /// The row's name.
        name: String,
    },
    /// An `index.tsv` row whose name is not its version's folder name.
    IndexWrongName {
        /// The version number.
        version: u64,
        /// The name in the row.
        row: String,
        /// The folder's name.
        folder: String,
    },
    /// Two `index.tsv` rows for one version.
    IndexDuplicate {
        /// The version number.
        version: u64,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Problem::*;
        match self {
            Unreadable { what, reason } => write!(f, "cannot read {}: {reason}", shown(what)),
            LinkMissing { version, path } => {
                write!(
                    f,
                    "{version}/{}: listed as a structural link but missing",
                    shown(path)
                )
            }
            LinkNotSymlink { version, path } => write!(
                f,
                "{version}/{}: listed as a structural link but not a symlink",
                shown(path)
            ),
            Link {
                version,
                path,
                target,
                fault,
            } => write!(
                f,
                "{version}/{}: structural link -> {}: {fault}",
                shown(path),
                shown(target)
            ),
            RefMissing {
                into,
                version,
                path,
            } => write!(
                f,
                "refs/V{into}.tsv lacks V{version}'s link {}",
                shown(path)
            ),
            RefStale {
                into,
                version,
                path,
            } => write!(
                f,
                "refs/V{into}.tsv lists V{version}'s {}, which is not a link into V{into}",
                shown(path)
            ),
            Partial { name } => write!(f, "leftover partial build {name}"),
            RetirePending => write!(
                f,
                "an interrupted retire is pending ({PRIVATE_DIR}/retire.intent)"
            ),
            LatestMissing { newest } => write!(f, "`latest` is missing (newest version: {newest})"),
            LatestStale { target, newest } => write!(
                f,
                "`latest` points at {}, not at the newest version {newest}",
                shown(target)
            ),
            IndexMissing { name } => write!(f, "index.tsv does not list {name}"),
            IndexExtra { version, name } => {
                write!(
                    f,
                    "index.tsv lists version {version} ({name}), which is not committed"
                )
            }
            IndexWrongName {
                version,
                row,
                folder,
            } => write!(
                f,
                "index.tsv names version {version} `{row}`, but its folder is {folder}"
            ),
            IndexDuplicate { version } => {
                write!(f, "index.tsv lists version {version} more than once")
            }
        }
    }
}

/// What is wrong with a structural link's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkFault {
    /// Not `../…/V{k}--time/path` for the link's depth.
    Malformed,
    /// Into a version that is not committed, or into the link's own version.
    ToBadVersion,
    /// The target does not exist.
    Dangling,
    /// The target is, or passes through, another symlink.
    ToLink,
    /// The target is not a directory.
    NotDir,
}

impl fmt::Display for LinkFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkFault::Malformed => "malformed target",
            LinkFault::ToBadVersion => "points into its own version or one that is not committed",
            LinkFault::Dangling => "dangling",
            LinkFault::ToLink => "points at or through another link (not one hop)",
            LinkFault::NotDir => "target is not a directory",
        })
    }
}
