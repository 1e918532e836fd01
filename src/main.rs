//! The `reverberator` binary: parse the command line, initialise logging, dispatch to
//! [`reverberator::commands`], and turn the outcome into an exit code. Nothing else lives here.

use clap::Parser;
use reverberator::cli::Cli;
use reverberator::exit::ExitCode;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    reverberator::logging::init(cli.global.verbose, cli.global.quiet);
    if let Err(e) = reverberator::fs::raise_open_files_limit() {
        tracing::debug!("cannot raise the open-files limit: {e}");
    }
    let code = match reverberator::commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            if reverberator::error::is_broken_pipe(&err) {
                ExitCode::Success
            } else {
                eprintln!("reverberator: error: {err:#}");
                ExitCode::Failure
            }
        }
    };
    code.into()
}
