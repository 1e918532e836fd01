//! `reverberator verify`.

use crate::cli::{GlobalArgs, VerifyArgs};
use crate::exit::ExitCode;

/// Run `reverberator verify`.
pub fn run(_global: &GlobalArgs, _args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`verify` is not implemented yet")
}
