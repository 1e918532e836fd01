//! `reverberator prune`.

use crate::cli::{GlobalArgs, PruneArgs};
use crate::exit::ExitCode;

/// Run `reverberator prune`.
pub fn run(_global: &GlobalArgs, _args: &PruneArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`prune` is not implemented yet")
}
