//! `reverberator check-config [FILE]`: run exactly the loader `run` uses
//! ([`crate::config::load`]) and report. Valid: the warnings (if any) on stderr, a summary of
//! each job's resolved settings on stdout, exit 0. Invalid: every problem as
//! `FILE:LINE:COL: error: message` with the source line, a caret and a hint, exit 1. It
//! renders only: it knows no config rule the loader does not apply itself.

use std::fmt::Write as _;
use std::io::Write as _;

use crate::cli::{CheckConfigArgs, GlobalArgs};
use crate::config::{self, diag, ConfigError, JobConfig, Loaded};
use crate::exit::ExitCode;

/// Run `reverberator check-config`.
pub fn run(global: &GlobalArgs, args: &CheckConfigArgs) -> anyhow::Result<ExitCode> {
    let explicit = args.file.as_deref().or(global.config.as_deref());
    match config::load(explicit) {
        Ok(loaded) => report_valid(&loaded),
        Err(ConfigError::Invalid {
            path,
            text,
            problems,
        }) => {
            eprint!("{}", diag::render_all(&path, &text, &problems));
            let errors = problems.iter().filter(|d| d.is_error()).count();
            let errors = super::count(errors as u64, "error", "errors");
            eprintln!("\n{}: invalid ({errors})", path.display());
            Ok(ExitCode::Failure)
        }
        Err(other) => {
            eprintln!("reverberator: error: {:#}", anyhow::Error::new(other));
            Ok(ExitCode::Failure)
        }
    }
}

fn report_valid(loaded: &Loaded) -> anyhow::Result<ExitCode> {
    if !loaded.warnings.is_empty() {
        eprintln!("{}", loaded.render_warnings());
    }
    let mut out = std::io::stdout().lock();
    out.write_all(summary(loaded).as_bytes())?;
    Ok(ExitCode::Success)
}

/// The summary printed for a valid config.
pub fn summary(loaded: &Loaded) -> String {
    let c = &loaded.config;
    let mut s = format!(
        "{}: ok, {}, {}\n",
        c.path.display(),
        super::count(c.jobs.len() as u64, "job", "jobs"),
        super::count(loaded.warnings.len() as u64, "warning", "warnings")
    );
    for job in &c.jobs {
        s.push_str(&job_summary(job));
    }
    s
}

fn job_summary(job: &JobConfig) -> String {
    let dur = |d| humantime::format_duration(d).to_string();
    let opt_fs = |f: &Option<config::FsSpec>| f.as_ref().map_or("-".to_owned(), |f| f.to_string());
    let limit = if job.settings.vault_limit.is_unlimited() {
        "unlimited".to_owned()
    } else {
        job.settings.vault_limit.as_str().trim().to_owned()
    };
    let mut s = String::new();
    let _ = writeln!(s, "\njob {}", toml_text(job.name.as_str()));
    let _ = writeln!(s, "  source           {}", job.source.display());
    let _ = writeln!(s, "  vault folder     {}", job.job_dir().display());
    let _ = writeln!(s, "  settle           {}", dur(job.settings.settle));
    let _ = writeln!(s, "  max_settle       {}", dur(job.settings.max_settle));
    let _ = writeln!(s, "  keep_versions    {}", job.settings.keep_versions);
    let _ = writeln!(s, "  vault_limit      {limit}");
    let _ = writeln!(s, "  keep_full_copy   {}", job.settings.keep_full_copy);
    let _ = writeln!(s, "  attributes_only  {}", job.settings.attributes_only);
    let _ = writeln!(
        s,
        "  exclude          {}",
        toml_text(job.settings.exclude.patterns().to_vec())
    );
    let _ = writeln!(s, "  source_fs        {}", opt_fs(&job.source_fs));
    let _ = writeln!(s, "  vault_fs         {}", opt_fs(&job.vault_fs));
    let rescan = job.settings.rescan_interval.map_or("off".to_owned(), dur);
    let _ = writeln!(s, "  rescan_interval  {rescan}");
    s
}

/// A value as it would be written in the config file (`"demo"`, `["*.tmp", ".cache"]`),
/// rather than as Rust's `Debug` would show it.
fn toml_text(value: impl Into<toml::Value>) -> String {
    value.into().to_string()
}
