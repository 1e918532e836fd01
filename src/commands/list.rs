//! `reverberator list`.

use crate::cli::{GlobalArgs, ListArgs};
use crate::exit::ExitCode;

/// Run `reverberator list`.
pub fn run(_global: &GlobalArgs, _args: &ListArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`list` is not implemented yet")
}
