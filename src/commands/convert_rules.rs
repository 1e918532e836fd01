//! `reverberator convert-rules`.

use crate::cli::{ConvertRulesArgs, GlobalArgs};
use crate::exit::ExitCode;

/// Run `reverberator convert-rules`.
pub fn run(_global: &GlobalArgs, _args: &ConvertRulesArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`convert-rules` is not implemented yet")
}
