//! Error policy.
//!
//! - Library modules (`config`, `fs`, `vault`, `scan`, `watch`, `daemon`) return typed errors
//!   (`thiserror`) whose variants carry the job, path, file or line they concern. A message
//!   must let the user find the thing that is wrong without a debugger.
//! - Only `commands/` and `main` use `anyhow`; they print the chain once (`{:#}`).
//! - A user's mistake (bad config, missing path, unmounted disk) is never a panic. `unwrap`
//!   is for tests only.
//! - Per-job errors are separated from fatal ones: in the daemon a failing job is halted and
//!   journaled, the other jobs go on.
//! - A broken pipe on stdout (`reverberator list JOB | head`) is a clean exit.

use std::io;
use std::path::PathBuf;

/// An I/O error together with the path it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct PathError {
    /// The file or directory the operation was about.
    pub path: PathBuf,
    /// What the operating system said.
    #[source]
    pub source: io::Error,
}

impl PathError {
    /// Attach `path` to `source`.
    pub fn new(path: impl Into<PathBuf>, source: io::Error) -> Self {
        PathError {
            path: path.into(),
            source,
        }
    }
}

/// Extension to attach a path to an `io::Result`.
pub trait IoContext<T> {
    /// Turn an `io::Error` into a [`PathError`] naming `path`.
    fn at(self, path: impl Into<PathBuf>) -> Result<T, PathError>;
    /// [`at`](IoContext::at) with the path built only on error (for hot loops, where
    /// building it each time costs more than the system call it names).
    fn at_with<P: Into<PathBuf>>(self, path: impl FnOnce() -> P) -> Result<T, PathError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, PathError> {
        self.map_err(|e| PathError::new(path, e))
    }

    fn at_with<P: Into<PathBuf>>(self, path: impl FnOnce() -> P) -> Result<T, PathError> {
        self.map_err(|e| PathError::new(path(), e))
    }
}

/// True when the root cause of `err` is a broken pipe (stdout closed by the reader).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
