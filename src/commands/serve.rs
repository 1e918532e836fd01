//! `reverberator serve`: load the config like `run` does and hand it to [`crate::web`].

use crate::cli::{GlobalArgs, ServeArgs};
use crate::config::{self, diag};
use crate::exit::ExitCode;

/// Run `reverberator serve` (until the process is stopped).
pub fn run(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let loaded = config::load(global.config.as_deref())?;
    for warning in &loaded.warnings {
        tracing::warn!("{}", diag::headline(&loaded.config.path, warning));
    }
    let listen = args.listen.unwrap_or(loaded.config.web.listen);
    crate::web::serve(loaded.config, listen)?;
    Ok(ExitCode::Success)
}
