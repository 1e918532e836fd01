//! A job's vault folder: layout, versions, links, index, journal, snapshot, retire and the
//! read side. Nothing in here knows about inotify or the daemon: versions are built from a
//! [`crate::change::ChangeSet`], wherever it came from.
//!
//! # Layout (a contract: users and tests outside the repo rely on it)
//!
//! ```text
//! <vault>/<sanitized job name>/              the job folder (config::sanitize_job_name)
//!   V0--2026-11-23_10-00-00_+0100/           committed versions, never renamed
//!   V1--2026-11-23_10-05-12_+0100/
//!   latest -> V1--2026-11-23_10-05-12_+0100  relative symlink, replaced atomically
//!   index.tsv                                version name iso_time size inodes changes
//!   journal.tsv                              iso_time event path source_path version
//!   .V2--2026-11-23_10-09-40_+0100.partial/  a version being built (hidden, same depth)
//!   .reverberator/                           private bookkeeping, not user data
//!     lock                                   flock: one writer per job folder
//!     links/V{n}.tsv                         the structural links of version n
//!     refs/V{k}.tsv                          the structural links that point into version k
//!     retire.intent                          a retire in progress (replayed at start)
//!     fs/source, fs/vault                    signatures recorded for `auto` (mount issue)
//! ```
//!
//! Version folder names: `V{n}--{%Y-%m-%d_%H-%M-%S_%z}` in local time; `n` starts at 0 and
//! only grows (a retired number is never reused).
//!
//! # Inside a version
//!
//! Dereferencing version n (`cp -rL`) gives the source tree at snapshot n. A version holds
//! real directories only along changed paths; in them:
//! - a changed entry is a copy (reflink and sparse aware) of the source entry;
//! - an unchanged regular file (or source symlink, or special file) is a **hard link** to
//!   the previous version's inode (copy/reflink where `link` fails with `EMLINK`);
//! - an unchanged directory is a **structural link**: a relative symlink to the real
//!   directory in the older version that holds it, one hop (never a link to a link):
//!   target = `"../"` × (depth of the link's parent below the job folder) +
//!   `V{k}--{time}/<path in version k>`. E.g. a link at `V5--…/a/b` pointing at version 3's
//!   `a/b` reads `../../V3--…/a/b`.
//!   Structural links are always to real directories. Where a target would exceed the
//!   filesystem's symlink length limit, the directory is made real and its children linked.
//! - a source symlink is stored as a symlink with the source's target (never followed).
//!
//! Structural links and source symlinks are told apart by bookkeeping, never by the shape
//! of a target: `.reverberator/links/V{n}.tsv` lists, one escaped path per line (relative to
//! the version root), every structural link inside version n. `.reverberator/refs/V{k}.tsv`
//! lists every structural link that points into version k as `n<TAB>path` lines. Both are
//! written (and fsynced) before the version is renamed into place; lines naming a version
//! that was never committed are ignored and dropped by the next retire. Retiring the oldest
//! version reads its refs file: the cost is the links into it, not the number of versions.
//!
//! # TSV fields
//! All TSV files use the csv crate with tab delimiter and no quoting; a path field is
//! escaped with [`escape`]: `\` → `\\`, TAB → `\t`, LF → `\n`, CR → `\r`, every byte that is
//! not valid UTF-8 → `\xHH`.
//!
//! # Locking and crash safety
//! Every writer (snapshot, retire, prune, the daemon) holds the flock on
//! `.reverberator/lock`. A crash at any instant leaves every visible version whole: versions
//! are built under the hidden `.partial` name and renamed into place; `latest` and
//! `index.tsv` are replaced by rename; `journal.tsv` is only appended to. Leftover partial
//! builds are removed (and journaled) by the next writer.

mod deep;
pub mod escape;
pub mod index;
pub mod journal;
pub mod layout;
pub mod lock;
pub mod read;
pub mod retire;
pub mod session;
pub mod snapshot;
