//! `reverberator status`.

use crate::cli::{GlobalArgs, StatusArgs};
use crate::exit::ExitCode;

/// Run `reverberator status`.
pub fn run(_global: &GlobalArgs, _args: &StatusArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`status` is not implemented yet")
}
