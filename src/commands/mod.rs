//! One file per subcommand. Each is thin: load the config with [`crate::config::load()`],
//! call the library, render text or `--json`, return an [`ExitCode`]. Only this module and
//! `main` use `anyhow`.

use crate::cli::{Cli, Command};
use crate::exit::ExitCode;

mod check_config;
mod completions;
mod convert_rules;
mod diff;
mod list;
mod log;
mod man;
mod prune;
mod restore;
mod run;
mod serve;
mod snapshot;
mod status;
mod verify;

/// `n` and the noun, in the plural unless `n` is 1: `count(1, "job", "jobs")` is `1 job`.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Run the subcommand `cli` asks for.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    match &cli.command {
        Command::Run(args) => run::run(global, args),
        Command::CheckConfig(args) => check_config::run(global, args),
        Command::ConvertRules(args) => convert_rules::run(global, args),
        Command::Snapshot(args) => snapshot::run(global, args),
        Command::List(args) => list::run(global, args),
        Command::Diff(args) => diff::run(global, args),
        Command::Restore(args) => restore::run(global, args),
        Command::Log(args) => log::run(global, args),
        Command::Verify(args) => verify::run(global, args),
        Command::Prune(args) => prune::run(global, args),
        Command::Status(args) => status::run(global, args),
        Command::Serve(args) => serve::run(global, args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn count_is_singular_only_for_one() {
        assert_eq!(super::count(0u64, "job", "jobs"), "0 jobs");
        assert_eq!(super::count(1u64, "entry", "entries"), "1 entry");
        assert_eq!(super::count(2u64, "entry", "entries"), "2 entries");
    }
}
