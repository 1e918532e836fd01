//! Logging setup: `tracing` to stderr with levels, filtered by `RUST_LOG` (or `-v`/`-q`).
//! Readable under journald (no colours when stderr is not a terminal). It knows nothing
//! about what is logged; library code logs through `tracing` and never configures it.

use tracing_subscriber::EnvFilter;

/// Install the global subscriber once. `verbose` raises and `quiet` lowers the default level.
pub fn init(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
