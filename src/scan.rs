//! The delta scan (placeholder while the parallel walk is written).
use crate::change::ChangeSet;
use crate::config::JobConfig;
use crate::vault::snapshot::Progress;

/// What a delta scan found.
#[derive(Debug)]
pub enum ScanOutcome {
    /// The job has no committed version: build version 0.
    NoVersion,
    /// The changes since the newest version.
    Delta(ChangeSet),
}
/// Why a scan failed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// x
    #[error("x")]
    X,
}
/// scan
pub fn delta_observed(_job: &JobConfig, _p: &Progress) -> Result<ScanOutcome, ScanError> {
    Err(ScanError::X)
}
