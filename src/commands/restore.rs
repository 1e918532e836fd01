//! `reverberator restore`.

use crate::cli::{GlobalArgs, RestoreArgs};
use crate::exit::ExitCode;

/// Run `reverberator restore`.
pub fn run(_global: &GlobalArgs, _args: &RestoreArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`restore` is not implemented yet")
}
