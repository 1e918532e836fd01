//! `reverberator list`: the versions of one job, oldest first, as a table or `--json`,
//! with the rules that keep each one (`KEEP` column, `keep` array; empty: it would go).
//! Also home of [`open_job`], which the read commands (list, diff, restore, verify) share.
//! It renders [`crate::vault::read::list`]; it knows nothing about the vault layout.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::cli::{GlobalArgs, ListArgs};
use crate::config::{self, diag, JobConfig};
use crate::exit::ExitCode;
use crate::vault::layout::JobFolder;
use crate::vault::read::{self, ListNote};
use crate::vault::retire;

/// Run `reverberator list`.
pub fn run(global: &GlobalArgs, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let (job, dir) = find_job(global, &args.job)?;
    let listing = if dir.is_dir() {
        let folder = JobFolder::open(&dir).with_context(|| format!("{}", dir.display()))?;
        let mut listing = read::list(&folder)?;
        listing.set_keep(&retire::keep_reasons(&folder, &job)?);
        match retire::over_budget(&dir) {
            Ok(Some(message)) => listing.notes.push(ListNote::OverBudget { message }),
            Ok(None) => {}
            Err(e) => tracing::warn!("{}: cannot read the over-budget record: {e}", dir.display()),
        }
        listing
    } else {
        eprintln!(
            "reverberator: {}: no versions yet ({} does not exist)",
            job.name,
            dir.display()
        );
        read::Listing::default()
    };
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
/// open its folder in the vault (an error when it does not exist yet).
pub(super) fn open_job(global: &GlobalArgs, name: &str) -> anyhow::Result<(JobConfig, JobFolder)> {
    let (job, dir) = find_job(global, name)?;
    if !dir.is_dir() {
        anyhow::bail!(
            "job `{name}` has no versions yet: {} does not exist (is the vault disk mounted?)",
            dir.display()
        );
    }
    let folder = JobFolder::open(&dir).with_context(|| format!("{}", dir.display()))?;
    Ok((job, folder))
}

/// Load the config and find the job called `name` and its job folder's path.
fn find_job(global: &GlobalArgs, name: &str) -> anyhow::Result<(JobConfig, PathBuf)> {
    let loaded = config::load(global.config.as_deref())?;
    for warning in &loaded.warnings {
        tracing::warn!("{}", diag::headline(&loaded.config.path, warning));
    }
    let job = loaded.config.find_job(name)?;
    Ok((job.clone(), job.job_dir()))
}
