//! Retiring versions of a job (the vault's contract, README "The vault"): keep `keep_versions`
//! and the `vault_limit` budget without changing what any remaining version dereferences
//! to. Any version but the newest may go, the oldest or one in the middle. This module
//! owns the retire plan, its crash-safe application, the per-version accounting in
//! `index.tsv` and the enforcement of a job's limits. It knows the vault layout
//! (`super::layout`) but nothing about how versions are built, inotify or the daemon.
//!
//! # The algorithm
//!
//! Every structural link points at a real directory of another version (one hop: a
//! lookup must never chain links, since the kernel refuses more than 40 symlinks in one
//! lookup, `ELOOP`, so chains would make a folder unchanged for 41 versions unreadable).
//! `refs/V{x}.tsv` lists every link into version `x`, older or newer than it. Retiring
//! `x`:
//!
//! 1. [`plan()`] reads the links into `x` and `x`'s own links (`gather`) and decides
//!    (pure, unit-tested from tables). The *top* folders the links show (those inside no
//!    other shown one) **move** to their *receiver*, the newest version linking to the
//!    folder itself, replacing its link. Every other link into `x` is **repointed** to
//!    the same folder at its new place (recomputing the relative `../` depth for the
//!    link's own place), or, when that text would not fit the filesystem's symlink limit,
//!    made a **real copy** ([`Materialize`]: directories anew, every other entry
//!    hard-linked). `x`'s own links inside a moving folder are **carried** along: the
//!    receiver's links file and the target's refs file gain them, and when the folder
//!    lands at another depth (it was moved in the source) their text changes too. `x`'s
//!    other links simply go with it; hard-linked files need nothing: removing `x`'s names
//!    leaves each inode to the versions that still link it. A link into `x` that the
//!    bookkeeping does not explain (the heir's links are checked against the refs file)
//!    refuses the plan, and nothing is retired.
//! 2. [`apply()`]: the plan is written to `.reverberator/retire.intent` (fsynced) first.
//!    The scratch folder `.reverberator/retire-tmp/` receives everything the exchanges
//!    need (new links, real copies). Carried links that change depth get an absolute
//!    text first, valid both where they are and where the move puts them. Repoints and
//!    real copies are exchanged **before** the moves: a repointed link names the folder's
//!    place in its receiver, which until the move is the receiver's link into `x`, so the
//!    kernel follows two links and finds the same folder. Moves are
//!    `renameat2(RENAME_EXCHANGE)` of `x/q` (real) with the receiver's link: one atomic
//!    step. (Moving first left every other link naming a place that then held the
//!    receiver's old link: `ELOOP` for readers; the kill tests read every remaining
//!    version through the kernel at each crash point.) Split folders go to their stage
//!    places just before the moves and into their receivers just after (`stage`). Then
//!    carried links get their relative text at their new place. The folders whose entries changed get their times
//!    back, one `syncfs` makes all of it durable; the refs files of the receivers (and of
//!    the carried links' targets) gain the new lines, the receivers' links files lose the
//!    moved links and gain the carried ones (each replaced atomically, all in one batch:
//!    temp files, one `syncfs`, the renames, one `syncfs`); `x` is renamed to the hidden
//!    `.V{x}--{time}.retiring` and deleted with directory fds, never following a link,
//!    counting what is freed; `index.tsv` is replaced (the row gone, the next
//!    version gaining what `x` owned and did not free), journal.tsv gets a `retire` line,
//!    `x`'s bookkeeping files go, and the intent is removed.
//!
//! # Why the cost stays flat as history grows
//!
//! A retire costs the links into `x` (one `readlink` each in the plan; one new symlink,
//! one exchange and one unlink per repoint), `x`'s own links and the heir's, and the part
//! of `x` no later version uses; never the size of the tree, and nothing is read per
//! version (the links into `x` come from its refs file, not from listing versions).
//!
//! The number of links into `x` is what placement decides. Moving each shared folder
//! into the *next* version (as this module once did) makes every later version that
//! shares it be repointed at every retire: a folder `a` changing in every version beside
//! an unchanged `a/b` gives `N - 1` repoints per retire with `N` versions kept, so 300
//! versions cost 100 times what 3 do. Moving it to the **newest** linker `R` instead
//! leaves every repointed link in a version older than `R`; under oldest-first retirement
//! each of those goes before `R` does, so it is never repointed again, and the versions
//! made after the move link to `R` directly (the snapshot builder links to where a folder
//! really is). The worst single retire is the one that retires `R`: it repoints the links
//! into the folders `R` holds, about `N` times the folders it received (reported by
//! `bench/retire.sh`).
//!
//! That argument holds for every folder only if every folder goes to *its own* newest
//! linker. A folder `S` inside a moved top folder `T` (unchanged while its parent
//! changed) is often linked by versions much newer than `T`'s receiver `R_T`: `T`
//! changes every few versions, `S` rarely. Carried along with `T`, `S` lands in `R_T`,
//! and its newer linkers are repointed into `R_T`, then again when `R_T` goes (a few
//! retires later), and again: measured at N=300 with changes spread over a 100k-file
//! tree, about 3.4 repoints per link in its life, 5,900 per retire once the vault was in
//! its steady state, against 1,750 links made per version. So a folder whose newest
//! linker is newer than the holder of the folder around it is **split** off
//! (`Split`): it goes to that linker, and the folder around it keeps a link to it.
//! Then each link is rewritten at most once in its life, whatever its depth. A split
//! takes four exchanges through a stage place in `.reverberator/retire-stage/`
//! (`stage`'s module doc: a two-name exchange would leave a loop at the folder's old
//! place) and is only made where the folder and the folders around it keep their depth
//! (the relative links inside it stay valid at every place it passes) and where its
//! receiver shows nothing else under it or around it; otherwise it goes along, as before.
//! Retiring versions in the middle (the `keep` tiers) keeps the same rule; a receiver
//! retired before older linkers hands the folder to the newest remaining linker.
//!
//! Measured: BENCHMARKS.md, retire runs 7 and 8.
//!
//! Two things can only go together: a receiver never shows part of a folder twice (no
//! snapshot makes that; the plan refuses it rather than make a version link into
//! itself), and a folder a split sends away takes with it every folder inside it that
//! no newer linker claims.
//!
//! # Crash safety: why every intermediate state is recoverable
//!
//! Every writer calls [`recover`] at job open (under the job lock): a pending intent is
//! replayed by the same code, each step looking at the disk before acting.
//! - Before the intent is durable nothing has changed: the old state is whole.
//! - A move is one atomic exchange: before it, the receiver's link resolves into `x`
//!   (still there); after it, the receiver holds the directory itself. Either way every
//!   version dereferences the same. Replay skips moves whose receiver side is already a
//!   directory.
//! - A carried link that changes depth is exchanged twice, each atomic: to its absolute
//!   transit text (valid at both places; the replay skips it when it has that text or its
//!   folder moved already), and after the move to its new relative text (skipped when it
//!   has it). Our own [`Resolver`](crate::vault::layout::Resolver) reports a link with the
//!   transit text as unreadable until the retire is finished, like a repointed link.
//! - A repoint is one atomic exchange: the link names the directory at its old place, or
//!   at its new place in its receiver, which is the receiver's link into `x` until the
//!   move (the kernel follows both; our own [`Resolver`](crate::vault::layout::Resolver), which takes
//!   one hop only, reports such a link as unreadable until the retire is finished, and
//!   every writer finishes it first). The replay sees the new text and skips it, and
//!   empties the scratch folder (old links, or a new link made just before the crash).
//! - The new links and real copies are built in the scratch folder, which no version
//!   refers to; a crash there leaves every version as it was, and the replay empties the
//!   scratch folder and builds them again. A real copy replaces its link in one exchange;
//!   the replay skips a link that is already a real folder. The links files of the
//!   versions that got one lose that path after the exchanges (rewritten from the intent).
//! - The refs and links files are replaced atomically and rewritten from the intent on
//!   replay (idempotent: lines already there are kept once).
//! - Nothing of `x` is deleted before the moves and repoints are durable (`syncfs`) and
//!   `x` is renamed away: deleting only ever removes what no remaining version uses.
//! - Deletion resumes on replay (whatever is left of the hidden folder). `index.tsv` is
//!   settled once: the replay finds the retired row gone and does not add twice. A resumed
//!   retire only counts what was left to free, so it also drops the "recounted" mark: the
//!   next limit check recounts from disk.
//! - A split is four exchanges, each atomic and each keeping every remaining version's
//!   view (the stage place is a real directory at the right depth, every link names a
//!   real directory or a link to one); the replay skips a split whose receiver holds a
//!   directory, and each step whose result is on disk (`stage`'s module doc).
//! - The intent is removed last; a crash just before that replays a finished retire, which
//!   finds nothing left to do (only the journal line may appear twice).
//!
//! Test hook: with `REVERBERATOR_TEST_CRASH_AFTER_STEP=N` in the environment the process
//! aborts (as a SIGKILL would) after the N-th step of a retire (intent written, each
//! repoint, each real copy, each carried link, each move, bookkeeping, hide, each deleted
//! folder, index); the kill tests use it to stop a retire at every point. Unset, it costs
//! one relaxed atomic add per step.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::vault::layout::VersionName;

mod account;
mod apply;
mod books;
mod dry;
mod enforce;
mod gather;
mod intent;
mod plan;
pub mod policy;
mod preview;
mod real;
mod stage;
/// The `*at` calls a retire makes, under the short name its modules use.
use crate::fs::at as sys;

pub(crate) use account::owned;
pub use account::{
    over_budget, recount, Figures, Recount, Usage, OVER_BUDGET_FILE, RECOUNTED_FILE,
};
pub use apply::{apply, retiring_name, Retired};
pub use dry::{dry_step, estimate_freed, DryRun, DryStep};
pub use enforce::{dry_run, enforce, enforce_locked, recover, Limits, Recounted, RetireReport};
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
    /// A link into the retired version could not be kept valid: nothing was retired.
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
