//! Command-line definitions (clap derive): global options plus one `*Args` struct per
//! subcommand. The completions and the man page are generated from these same definitions,
//! so the doc comments here are the user's manual: write them like one. This module only
//! declares: it knows nothing about the config, the vault or what a command does with its
//! arguments, beyond the `FromStr` types (e.g. [`VersionSel`]) its arguments parse into.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::vault::read::VersionSel;

/// Keep every version of your directories, on a plain disk you can browse with `ls`.
///
/// reverberator watches the source directories named in one TOML file
/// (`reverberator.toml`) and, after each burst of changes has settled, writes a new
/// version folder `V<n>--<time>` into the job's vault: changed files are copied,
/// unchanged files are hard links and unchanged folders are directory symlinks into the
/// older version that holds them. Copy anything back with `cp -rL`.
#[derive(Debug, Parser)]
#[command(
    name = "reverberator",
    version,
    about,
    long_about,
    propagate_version = true
)]
#[command(
    after_help = "Config lookup: --config FILE, else $REVERBERATOR_CONFIG, else \
    ./reverberator.toml, else /etc/reverberator/reverberator.toml."
)]
pub struct Cli {
    /// Options that every subcommand takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every subcommand.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The config file to use (default: $REVERBERATOR_CONFIG, ./reverberator.toml,
    /// /etc/reverberator/reverberator.toml, first that exists).
    #[arg(short = 'c', long = "config", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More log output (repeat for more); `RUST_LOG` overrides.
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors in the log output.
    #[arg(short = 'q', long = "quiet", global = true)]
    pub quiet: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: watch every job and write versions as changes settle.
    Run(RunArgs),
    /// Validate a config file and print the resolved jobs (like `nginx -t`).
    CheckConfig(CheckConfigArgs),
    /// Convert a legacy rule TSV file into reverberator.toml syntax.
    ConvertRules(ConvertRulesArgs),
    /// Take a version now, without the daemon: scan each job's source against its newest
    /// version and commit the difference.
    Snapshot(SnapshotArgs),
    /// List a job's versions, oldest first.
    List(ListArgs),
    /// Show what changed between two versions of a job.
    Diff(DiffArgs),
    /// Copy a file or folder out of a version, as real files with their attributes.
    Restore(RestoreArgs),
    /// Show every version in which a file or folder changed, oldest first.
    Log(LogArgs),
    /// Check a job's vault: every link resolves, no partial version, index matches.
    Verify(VerifyArgs),
    /// Retire the oldest versions until the job's limits hold.
    Prune(PruneArgs),
    /// Ask the running daemon of this config what each job is doing.
    Status(StatusArgs),
    /// Serve a read-only web view of every job's versions (and /metrics).
    Serve(ServeArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout.
    Man(ManArgs),
}

/// `reverberator run`
#[derive(Debug, Args)]
pub struct RunArgs {}

/// `reverberator check-config [FILE]`
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  reverberator check-config\n  \
    reverberator check-config /etc/reverberator/reverberator.toml\n  \
    REVERBERATOR_JOBS__DEMO__SETTLE=5s reverberator check-config\n\n\
    Runs the loader `run` uses, environment overrides included. Every problem is printed \
    as FILE:LINE:COL: error: message, with the line, a caret and a hint; a valid file \
    prints each job's resolved settings. Reference: docs/CONFIG.md.\n\n\
    Exit status: 0 valid (warnings allowed), 1 invalid.")]
pub struct CheckConfigArgs {
    /// The file to check (default: the same lookup as `run`).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// `reverberator convert-rules TSV [-o OUT]`
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  reverberator convert-rules rules.tsv -o reverberator.toml\n\n\
    The header row is the original tool's, typos included (`Minium snapshot time`, \
    `Keep 1 Compelete Backup`). Blank and `#` lines are skipped; times are seconds or \
    durations like `1m 30s`; booleans are true/false, yes/no, 1/0; empty cells take the \
    defaults. The output is checked with the config loader before it is written.\n\n\
    Exit status: 0 converted, 1 a bad row (each reported as TSV:LINE:COL: error: …; \
    nothing written)."
)]
pub struct ConvertRulesArgs {
    /// The legacy rule table (tab-separated, header row as in the original tool).
    #[arg(value_name = "TSV")]
    pub tsv: PathBuf,
    /// Write the TOML here instead of stdout (nothing is written if any row is bad).
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
}

/// `reverberator snapshot [JOB...]`
#[derive(Debug, Args)]
#[command(
    after_help = "Prints the new version folder name per job, one line each.\n\
    With a daemon running this config, the daemon commits (one writer per job).\n\
    Exit status: 0 when every job is committed or unchanged, 1 otherwise."
)]
pub struct SnapshotArgs {
    /// Jobs to snapshot (default: every job in the config).
    #[arg(value_name = "JOB")]
    pub jobs: Vec<String>,
}

/// `reverberator list JOB [--json]`
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The job name, as in the config.
    #[arg(value_name = "JOB")]
    pub job: String,
    /// Print a JSON array of {version, name, time, size, inodes, changes}.
    #[arg(long)]
    pub json: bool,
}

/// `reverberator diff JOB A B`
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  reverberator diff documents V1 latest\n\nOutput: one line per changed path, sorted: `A path` (only in B), \
    `D path` (only in A), `M path` (content or attributes differ)."
)]
pub struct DiffArgs {
    /// The job name.
    #[arg(value_name = "JOB")]
    pub job: String,
    /// The older version: a number (3), V3, a version folder name or `latest`.
    #[arg(value_name = "A")]
    pub a: VersionSel,
    /// The newer version, named the same ways.
    #[arg(value_name = "B")]
    pub b: VersionSel,
}

/// `reverberator restore JOB PATH [-n N | --at TIME] --to DIR [--overwrite]`
#[derive(Debug, Args)]
#[command(
    disable_version_flag = true,
    after_help = "Examples:\n  reverberator restore documents . --to /tmp/all\n  \
    reverberator restore documents notes/todo.txt --at '2026-11-23 10:00:00' --to /tmp\n  \
    reverberator restore documents notes -n V3 --to /tmp"
)]
pub struct RestoreArgs {
    /// The job name.
    #[arg(value_name = "JOB")]
    pub job: String,
    /// What to restore, relative to the source root; `.` is the whole tree.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Restore from version N: a number (3), V3, a version folder name or `latest`
    /// (default: the newest). `--version N` is accepted too.
    #[arg(
        short = 'n',
        long = "at-version",
        alias = "version",
        value_name = "N",
        conflicts_with = "at"
    )]
    pub version: Option<VersionSel>,
    /// Restore from the newest version at or before TIME (RFC 3339 or `YYYY-MM-DD HH:MM:SS`).
    #[arg(long = "at", value_name = "TIME")]
    pub at: Option<String>,
    /// Destination folder; PATH's last component is created inside it (`.` fills DIR).
    #[arg(long = "to", value_name = "DIR", required_unless_present = "tar")]
    pub to: Option<PathBuf>,
    /// Write PATH as a tar archive to FILE (`-`: standard output) instead of files.
    #[arg(long = "tar", value_name = "FILE", conflicts_with_all = ["to", "overwrite"])]
    pub tar: Option<PathBuf>,
    /// Replace files that already exist in the destination.
    #[arg(long)]
    pub overwrite: bool,
}

/// `reverberator log JOB PATH [--json] [--follow]`
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reverberator log documents notes/todo.txt\n  \
    reverberator log documents photos --json\n\n\
    Output: one line per version in which PATH changed, oldest first: version, time, change \
    (added, modified, attributes, replaced, deleted, moved), kind, size (bytes; a folder: \
    its entries) and what differs. A folder is modified when anything below it changed."
)]
pub struct LogArgs {
    /// The job name.
    #[arg(value_name = "JOB")]
    pub job: String,
    /// The file or folder, relative to the source root; `.` is the whole tree.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Print a JSON array of {version, name, time, change, path, kind, size, entries,
    /// what, from}.
    #[arg(long)]
    pub json: bool,
    /// Follow PATH back across renames the vault shows (a rename inside its folder, a
    /// moved folder that kept its real directory or an unchanged subfolder).
    #[arg(long)]
    pub follow: bool,
}

/// `reverberator verify JOB`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The job name.
    #[arg(value_name = "JOB")]
    pub job: String,
}

/// `reverberator prune JOB [--dry-run]`
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// The job name.
    #[arg(value_name = "JOB")]
    pub job: String,
    /// Print the plan (what would be retired and freed) without changing anything.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
}

/// `reverberator status [--json]`
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the daemon's answer as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `reverberator serve [--listen ADDR]`
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  reverberator serve\n  \
    reverberator serve --listen 127.0.0.1:9000\n\n\
    Pages: / (jobs, with a chart), /jobs/JOB (versions), /jobs/JOB/v/N/PATH (browse), \
    /jobs/JOB/log/PATH (history), /metrics (Prometheus). Read-only. A listen address that \
    is not loopback needs [web] token_file; requests then need the token (Authorization: \
    Bearer TOKEN, or the cookie of the /login form). Prints `serving on http://ADDR/` \
    once listening. Reference: docs/COMMANDS.md.")]
pub struct ServeArgs {
    /// Listen here instead of `[web] listen` (IP:PORT; port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
}

/// `reverberator completions SHELL`
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate for.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `reverberator man`
#[derive(Debug, Args)]
pub struct ManArgs {}
