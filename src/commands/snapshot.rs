//! `reverberator snapshot`.

use crate::cli::{GlobalArgs, SnapshotArgs};
use crate::exit::ExitCode;

/// Run `reverberator snapshot`.
pub fn run(_global: &GlobalArgs, _args: &SnapshotArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`snapshot` is not implemented yet")
}
