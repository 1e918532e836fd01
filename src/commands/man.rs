//! `reverberator man`: the man page (roff), generated from the clap definitions. It knows
//! nothing about the commands themselves.

use clap::CommandFactory;

use crate::cli::{Cli, ManArgs};
use crate::exit::ExitCode;

/// Print the man page on stdout.
pub fn run(_args: &ManArgs) -> anyhow::Result<ExitCode> {
    let man = clap_mangen::Man::new(Cli::command());
    man.render(&mut std::io::stdout())?;
    Ok(ExitCode::Success)
}
