//! `reverberator list`: the versions of one job, oldest first, as a table or `--json`.
//! Also home of [`open_job`], which the read commands (list, diff, restore, verify) share.

use std::io::Write;

use anyhow::Context;

use crate::cli::{GlobalArgs, ListArgs};
use crate::config::{self, JobConfig};
use crate::exit::ExitCode;
use crate::vault::layout::JobFolder;
use crate::vault::read;

/// Run `reverberator list`.
pub fn run(global: &GlobalArgs, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let (job, folder) = open_job(global, &args.job)?;
    let listing = read::list(&folder)?;
    for note in &listing.notes {
        eprintln!("reverberator: {}: {note}", job.name);
    }
    let text = if args.json {
        let mut json = listing.to_json();
        json.push('\n');
        json
    } else {
        listing.to_text()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::Success)
}

/// Load the config, find the job called `name` (an unknown name lists the known ones) and
/// open its folder in the vault.
pub(super) fn open_job(global: &GlobalArgs, name: &str) -> anyhow::Result<(JobConfig, JobFolder)> {
    let loaded = config::load(global.config.as_deref())?;
    for warning in &loaded.warnings {
        tracing::warn!("{}", warning.message);
    }
    let config = loaded.config;
    let Some(job) = config.job(name) else {
        let known: Vec<&str> = config.jobs.iter().map(|j| j.name.as_str()).collect();
        anyhow::bail!(
            "{}: no job called `{name}`; jobs: {}",
            config.path.display(),
            if known.is_empty() {
                "(none)".to_owned()
            } else {
                known.join(", ")
            }
        );
    };
    let dir = job.job_dir();
    if !dir.is_dir() {
        anyhow::bail!(
            "job `{name}` has no versions yet: {} does not exist (is the vault disk mounted?)",
            dir.display()
        );
    }
    let folder = JobFolder::open(&dir).with_context(|| format!("{}", dir.display()))?;
    Ok((job.clone(), folder))
}
