//! `reverberator check-config`.

use crate::cli::{CheckConfigArgs, GlobalArgs};
use crate::exit::ExitCode;

/// Run `reverberator check-config`.
pub fn run(_global: &GlobalArgs, _args: &CheckConfigArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`check-config` is not implemented yet")
}
