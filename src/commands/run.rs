//! `reverberator run`: load the config with the one loader, then hand it to the daemon.

use anyhow::Context;

use crate::cli::{GlobalArgs, RunArgs};
use crate::exit::ExitCode;

/// Run `reverberator run` until SIGTERM/SIGINT (exit 0) or a fatal error (exit 1).
pub fn run(global: &GlobalArgs, _args: &RunArgs) -> anyhow::Result<ExitCode> {
    let loaded = crate::config::load(global.config.as_deref()).context("cannot start")?;
    tracing::info!(
        "reverberator {} running {} ({})",
        env!("CARGO_PKG_VERSION"),
        loaded.config.path.display(),
        super::count(loaded.config.jobs.len() as u64, "job", "jobs")
    );
    crate::daemon::run(loaded)?;
    tracing::info!("stopped");
    Ok(ExitCode::Success)
}
