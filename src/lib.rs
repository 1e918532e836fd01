//! reverberator: Recoverable Easy VERsioning Backup-erator.
//!
//! A **job** names a source directory and a vault directory. Each time the source has
//! changed and then been quiet for the job's `settle` time, a new **version** is written
//! into the job's folder in the vault: `V{n}--{time}/`, a plain directory tree that
//! dereferences (`cp -rL`) to the source as it was. A version costs what changed: changed
//! files are copied, unchanged files are hard links and unchanged folders are directory
//! symlinks into the older version that holds them. The oldest versions are retired under
//! the job's limits without changing what any remaining version contains.
//!
//! Data flow (README, "Project layout"):
//!
//! ```text
//!  inotify events ──► watch ──► ChangeSet ─┐
//!                                          ├──► writer ──► vault::snapshot ──► vault::retire
//!  source tree ─────► scan (delta) ────────┘     (one vault::session: one job lock)
//! ```
//!
//! Dependencies point downward only: `commands`, `daemon`, `web` -> `writer` -> `watch`,
//! `scan`, `vault` -> `change`, `config` -> `fs`. `scan` reads versions through
//! `vault::layout` only; `vault::snapshot` never calls `scan`.
#![warn(missing_docs)]

pub mod change;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod error;
pub mod exit;
pub mod fs;
pub mod logging;
pub mod scan;
pub mod vault;
pub mod watch;
pub mod web;
pub mod writer;

/// Unit-test support: the visible, CI-failing test skip (shared with `tests/` as one file)
/// and test version names.
#[cfg(test)]
#[path = "test_util.rs"]
mod util;
