//! `reverberator completions SHELL`: generated from the clap definitions in [`crate::cli`].
//! It knows nothing about the commands themselves.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::exit::ExitCode;

/// Print the completion script for `args.shell` on stdout.
pub fn run(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "reverberator", &mut std::io::stdout());
    Ok(ExitCode::Success)
}
