//! The CLI surface: --help of every subcommand, completions, man.
