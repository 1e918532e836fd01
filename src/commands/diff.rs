//! `reverberator diff`.

use crate::cli::{DiffArgs, GlobalArgs};
use crate::exit::ExitCode;

/// Run `reverberator diff`.
pub fn run(_global: &GlobalArgs, _args: &DiffArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`diff` is not implemented yet")
}
