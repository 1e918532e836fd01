//! Retiring the oldest versions of a job (invariant 4 of `ARCHITECTURE.md`): keep
//! `keep_versions` and the `vault_limit` budget without changing what any remaining version
//! dereferences to. This module owns the retire plan, its crash-safe application, the
//! per-version accounting in `index.tsv` and the enforcement of a job's limits. It knows
//! the vault layout (`super::layout`) but nothing about how versions are built, inotify or
//! the daemon.
//!
//! # The algorithm (invariants 2 and 4 of `/work/shared/ARCHITECTURE.md`'s vault section)
//!
//! Chain property: a version only links to what the version before it holds, so
//! everything any later version uses in the oldest version `o` is also used, directly or
//! below one of its links, by the next version `h = o+1` (the *heir*). Hence:
//!
//! 1. [`plan()`] (pure, reads only): each structural link of the heir points at a real
//!    directory of `o`: that directory **moves** to the link's place. Every other link into
//!    `o` (from `refs/V{o}.tsv`) is **repointed** to the same directory at its new place in
//!    the heir (longest moved ancestor; relative `../` depth recomputed for the link's own
//!    place). A link into `o` that no move covers, or bookkeeping that does not match the
//!    disk, is an error and nothing is retired. Hard-linked files need nothing: removing
//!    `o`'s names leaves each inode to the versions that still link it.
//! 2. [`apply()`]: the plan is written to `.reverberator/retire.intent` (fsynced) first.
//!    First the scratch folder `.reverberator/retire-tmp/` receives everything the
//!    exchanges need: each repoint's new link, and for each link whose new text would not
//!    fit the filesystem's symlink limit a real copy of the folder it shows ([`Materialize`]:
//!    a folder moved deeper after `o` lands in the heir at a longer path; directories made
//!    anew, every other entry hard-linked). A new link the filesystem refuses as too long
//!    turns that repoint into a real copy (the intent is rewritten; nothing visible changed).
//!    Repoints exchange the new link with the old one and real copies replace their link
//!    the same way, all **before** the moves: a repointed link names the folder's place in
//!    the heir, which until the move is the heir's link into `o`, so the kernel follows
//!    two links and finds the same folder (the old links are removed after the last
//!    exchange). Moves are `renameat2(RENAME_EXCHANGE)` of `o/q` (real) with `h/p` (the
//!    link): one atomic step after which `h/p` is the real directory and `o/q` holds the
//!    old link. (Moving first, as this module once did, left every other link naming `o/q`
//!    between a move and its repoint, which then held the heir's link: a loop, `ELOOP`,
//!    for anyone reading those versions; the kill test now reads every remaining version
//!    through the kernel at each crash point.) The folders whose entries
//!    changed get their times back (a folder's mtime is part of a version), one `syncfs`
//!    makes all of it durable; then the heir's refs file gains the repointed links and its
//!    links file loses the moved ones (both replaced atomically); then `o` is renamed to the
//!    hidden `.V{o}--{time}.retiring` (it is no longer a version: nothing refers to it) and
//!    deleted with directory fds, never following a link, counting what is freed; then
//!    `index.tsv` is replaced (the retired row gone, `owned(h) += owned(o) - freed`),
//!    journal.tsv gets a `retire` line, `o`'s bookkeeping files go, and the intent is removed.
//!
//! Cost: the heir's links, the links into `o` and the part of `o` no later version uses;
//! never the size of the tree, and nothing is read per version (the links into `o` come
//! from `refs/V{o}.tsv`, not from listing later versions). Per link: one `readlink` in the
//! plan, one new symlink, one exchange, one unlink of the old link.
//!
//! The number of links into `o`, though, grows with the number of versions that still
//! share a folder with `o`: this plan moves every shared folder into the heir, so every
//! later version linking to it is repointed, at every retire. Take a folder `a` that
//! changes in every version and a folder `a/b` that never does: every version `k > o`
//! holds a real `a` and a link `a/b -> ../../V{o}--…/a/b`, so retiring `o` gives `k - 1`
//! links a new text. One hop stays in any case (a lookup must never chain links: the
//! kernel refuses more than 40 symlinks in one lookup, `ELOOP`, so the seed's chains would
//! make a folder unchanged for 41 versions unreadable). What is *not* forced is the heir:
//! moving each shared folder to the **newest** version linking to it instead would leave
//! every repointed link in a version older than the new holder, gone before it under
//! oldest-first retirement, so each link would be rewritten about once in its life (the
//! amortized cost flat in the number of versions). That placement is not built; it needs
//! nested shared folders kept together (two names cannot be swapped into three places
//! atomically), the retired version's own links recorded where they move, and
//! `index.tsv`'s forwarded figures split by receiver (the design notes are in the closing
//! note of issue 11). Measured in `bench/RESULTS-retire.md` (runs 3 and 4).
//!
//! # Crash safety: why every intermediate state is recoverable
//!
//! Every writer calls [`recover`] at job open (under the job lock): a pending intent is
//! replayed by the same code, each step looking at the disk before acting.
//! - Before the intent is durable nothing has changed: the old state is whole.
//! - A move is one atomic exchange: before it, the heir's link resolves into `o` (still
//!   there); after it, the heir holds the directory itself. Either way every version
//!   dereferences the same. Replay skips moves whose heir side is already a directory.
//! - A repoint is one atomic exchange: the link names the directory at its old place, or
//!   at its new place in the heir, which is the heir's link into `o` until the move (the
//!   kernel follows both; our own [`Resolver`](crate::vault::layout::Resolver), which takes
//!   one hop only, reports such a link as unreadable until the retire is finished, and
//!   every writer finishes it first). The replay sees the new text and skips it, and
//!   empties the scratch folder (old links, or a new link made just before the crash).
//! - The new links and real copies are built in the scratch folder, which no version
//!   refers to; a crash there leaves every version as it was, and the replay empties the
//!   scratch folder and builds them again. A real copy replaces its link in one exchange;
//!   the replay skips a link that is already a real folder. The links files of the
//!   versions that got one lose that path after the exchanges (rewritten from the intent).
//! - The heir's refs and links files are replaced atomically and rewritten from the intent
//!   on replay (idempotent: lines already there are kept once).
//! - Nothing of `o` is deleted before the moves and repoints are durable (`syncfs`) and
//!   `o` is renamed away: deleting only ever removes what no remaining version uses.
//! - Deletion resumes on replay (whatever is left of the hidden folder). `index.tsv` is
//!   settled once: the replay finds the retired row gone and does not add twice. A resumed
//!   retire only counts what was left to free, so it also drops the "recounted" mark: the
//!   next limit check recounts from disk.
//! - The intent is removed last; a crash just before that replays a finished retire, which
//!   finds nothing left to do (only the journal line may appear twice).
//!
//! Test hook: with `REVERBERATOR_TEST_CRASH_AFTER_STEP=N` in the environment the process
//! aborts (as a SIGKILL would) after the N-th step of a retire (intent written, each
//! repoint, each real copy, each move, bookkeeping, hide, each deleted folder, index); the
//! kill tests use it to stop a retire at every point. Unset, it costs one relaxed atomic add per step.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::vault::layout::VersionName;

mod account;
mod apply;
mod dry;
mod enforce;
mod gather;
mod intent;
mod plan;
pub mod policy;
mod preview;
mod real;
mod sys;

pub use account::{
    over_budget, recount, Figures, Recount, Usage, OVER_BUDGET_FILE, RECOUNTED_FILE,
};
pub use apply::{apply, retiring_name, Retired};
pub use dry::{dry_step, estimate_freed, DryRun, DryStep};
pub use enforce::{
    dry_run, dry_run_in, enforce, enforce_locked, recover, Limits, Recounted, RetireReport,
};
pub use intent::INTENT_FILE;
pub use plan::{plan, DirTimes, Materialize, Move, Repoint, RetirePlan, RetireReason};
pub use policy::{decide, Keep, Verdict};
pub use preview::{fates_of, keep_reasons, preview, preview_in, Fate, Preview, VersionFate};

/// Why a retire could not be planned or carried out.
#[derive(Debug, thiserror::Error)]
pub enum RetireError {
    /// The oldest version is also the newest (or there is none): nothing may be retired.
    #[error("{folder}: {count} version(s): the newest version is never retired")]
    TooFewVersions {
        /// The job folder.
        folder: PathBuf,
        /// How many versions it has.
        count: usize,
    },
    /// The version asked for is not a committed version of the job.
    #[error("{folder}: there is no committed version V{version}", folder = .folder.display())]
    NoSuchVersion {
        /// The job folder.
        folder: PathBuf,
        /// The version number asked for.
        version: u64,
    },
    /// The version asked for is the newest one, which is never retired.
    #[error("{folder}: {version} is the newest version, which is never retired", folder = .folder.display())]
    Newest {
        /// The job folder.
        folder: PathBuf,
        /// The newest version.
        version: VersionName,
    },
    /// The version asked for lies between the oldest and the newest: retiring such a
    /// version is not built yet (only the oldest one can be retired).
    #[error("{folder}: {version} is not the oldest version ({oldest}); retiring a version in the middle is not supported yet", folder = .folder.display())]
    NotOldest {
        /// The job folder.
        folder: PathBuf,
        /// The version asked for.
        version: VersionName,
        /// The oldest version, the only one that can be retired now.
        oldest: VersionName,
    },
    /// A link into the oldest version could not be kept valid: nothing was retired.
    #[error("{folder}: {version}/{path}: {why}; nothing retired (run `reverberator verify`)", path = .path.display(), folder = .folder.display())]
    Uncovered {
        /// The job folder.
        folder: PathBuf,
        /// The version holding the offending path.
        version: String,
        /// The path inside that version.
        path: PathBuf,
        /// What does not match.
        why: String,
    },
    /// While carrying out a plan, the disk did not look like the plan or its replay expects.
    #[error("{path}: {why}", path = .path.display())]
    State {
        /// The entry concerned.
        path: PathBuf,
        /// What is unexpected.
        why: String,
    },
    /// The intent file is damaged.
    #[error("{path}, line {line}: {message}", path = .path.display())]
    Intent {
        /// The intent file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An I/O error on a named path.
    #[error(transparent)]
    Io(#[from] crate::error::PathError),
    /// index.tsv could not be read or replaced.
    #[error(transparent)]
    Index(crate::vault::index::IndexError),
    /// journal.tsv could not be appended to.
    #[error(transparent)]
    Journal(crate::vault::journal::JournalError),
    /// The job lock could not be taken.
    #[error(transparent)]
    Lock(crate::vault::lock::LockError),
}

impl RetireError {
    /// The disk does not look like the plan or its replay expects at `path`.
    fn state(path: &std::path::Path, why: impl Into<String>) -> RetireError {
        RetireError::State {
            path: path.to_path_buf(),
            why: why.into(),
        }
    }
}

static STEPS: AtomicU64 = AtomicU64::new(0);

/// One step of a retire is done: abort here if the test hook asks for it.
fn crash_point() {
    static AFTER: OnceLock<Option<u64>> = OnceLock::new();
    let after = AFTER.get_or_init(|| {
        std::env::var("REVERBERATOR_TEST_CRASH_AFTER_STEP")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    let n = STEPS.fetch_add(1, Ordering::Relaxed) + 1;
    if *after == Some(n) {
        eprintln!("REVERBERATOR_TEST_CRASH_AFTER_STEP: aborting after step {n}");
        std::process::abort();
    }
}
