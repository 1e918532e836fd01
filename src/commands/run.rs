//! `reverberator run`.

use crate::cli::{GlobalArgs, RunArgs};
use crate::exit::ExitCode;

/// Run `reverberator run`.
pub fn run(_global: &GlobalArgs, _args: &RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`run` is not implemented yet")
}
