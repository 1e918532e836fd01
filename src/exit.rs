//! Exit codes: the only place where the numbers live.
//!
//! - `0` success (also: nothing to do, e.g. `snapshot` found no change);
//! - `1` failure or "problems found" (`check-config` invalid, `verify` found problems,
//!   `status` without a daemon);
//! - `2` usage error (clap's own code for a bad command line).
//!
//! Several jobs in one command merge their codes with [`ExitCode::merge`]: the worst wins.

/// What the process reports to its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitCode {
    /// Everything asked for was done (or there was nothing to do).
    Success = 0,
    /// An error, or a check that found problems.
    Failure = 1,
    /// The command line itself was wrong.
    Usage = 2,
}

impl ExitCode {
    /// Combine the outcome of two parts of one command: the worse one wins.
    pub fn merge(self, other: ExitCode) -> ExitCode {
        self.max(other)
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::ExitCode::*;

    #[test]
    fn merge_takes_the_worst() {
        assert_eq!(Success.merge(Success), Success);
        assert_eq!(Success.merge(Failure), Failure);
        assert_eq!(Failure.merge(Success), Failure);
        assert_eq!(Usage.merge(Failure), Usage);
    }
}
