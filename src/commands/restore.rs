//! `reverberator restore JOB PATH [-n N | --at TIME] --to DIR [--overwrite]`:
//! plan the restore, print every conflict and stop (writing nothing) when anything is in
//! the way, else write it with a progress bar on stderr when stderr is a terminal and the
//! restore is long. Exit 0 when everything was restored, 1 otherwise.
//!
//! With `--tar FILE|-` instead of `--to`: stream PATH as a tar archive
//! ([`crate::vault::read::write_version_tar`]) to FILE (created, never through a symlink;
//! an existing file is refused) or standard output.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Context;

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{GlobalArgs, RestoreArgs};
use crate::exit::ExitCode;
use crate::vault::layout::JobFolder;

use crate::vault::read::{self, RestorePlan, RestoreRequest, VersionSel, Which};

/// Show a progress bar from this many entries, or this many bytes, on.
const LONG_ENTRIES: u64 = 2_000;
const LONG_BYTES: u64 = 256 << 20;

/// Run `reverberator restore`.
pub fn run(global: &GlobalArgs, args: &RestoreArgs) -> anyhow::Result<ExitCode> {
    let (job, folder) = super::list::open_job(global, &args.job)?;
    let name = &job.name;
    let which = match (&args.version, &args.at) {
        (Some(VersionSel::Number(n)), _) => Which::Number(*n),
        (Some(VersionSel::Latest), _) => Which::Newest,
        (None, Some(at)) => Which::At(read::parse_time(at)?),
        (None, None) => Which::Newest,
    };
    if let Some(tar) = &args.tar {
        return to_tar(&folder, name, &which, &args.path, tar);
    }
    let Some(to) = args.to.clone() else {
        anyhow::bail!("give --to DIR or --tar FILE");
    };
    let req = RestoreRequest {
        path: args.path.clone(),
        which,
        to,
        overwrite: args.overwrite,
    };
    let plan = read::plan_restore(&folder, &req).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let blocking = plan.blocking();
    if !blocking.is_empty() {
        for conflict in &blocking {
            eprintln!("reverberator: {name}: {conflict}");
        }
        eprintln!(
            "reverberator: {name}: {}; nothing restored",
            super::count(blocking.len() as u64, "conflict", "conflicts")
        );
        return Ok(ExitCode::Failure);
    }
    let bar = progress_bar(&plan);
    let report = plan.apply(&mut |entries, _bytes| {
        if let Some(bar) = &bar {
            bar.set_position(entries);
        }
    });
    let report = report.map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    for skipped in &report.skipped {
        eprintln!("reverberator: {name}: skipped {skipped}");
    }
    for error in &report.errors {
        eprintln!("reverberator: {name}: {error}");
    }
    eprintln!(
        "{name}: restored {} ({}, {}) from {} to {}",
        super::count(report.entries, "entry", "entries"),
        super::count(report.bytes, "byte", "bytes"),
        super::count(report.hard_links, "hard link", "hard links"),
        plan.version,
        plan.to.display()
    );
    Ok(if report.errors.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}

/// `--tar`: the archive to `dest` (`-`: stdout); a summary on stderr.
fn to_tar(
    folder: &JobFolder,
    name: &str,
    which: &Which,
    path: &Path,
    dest: &Path,
) -> anyhow::Result<ExitCode> {
    let version = read::which_version(folder, which).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let stats = if dest == Path::new("-") {
        let out = std::io::stdout().lock();
        read::write_version_tar(folder, version.number, path, out)
    } else {
        let file = create_new(dest).with_context(|| format!("{name}: {}", dest.display()))?;
        read::write_version_tar(folder, version.number, path, file)
    };
    let stats = match stats {
        Ok(stats) => stats,
        Err(e) if broken_pipe(&e) => return Ok(ExitCode::Success),
        Err(e) => anyhow::bail!("{name}: {e}"),
    };
    for skipped in &stats.skipped {
        eprintln!("reverberator: {name}: skipped {skipped}");
    }
    eprintln!(
        "{name}: wrote {} ({} bytes of data, {}) from {version} as tar",
        counted(stats.entries, "entry", "entries"),
        stats.bytes,
        counted(stats.hard_links, "hard link", "hard links"),
    );
    Ok(ExitCode::Success)
}

/// `1 entry`, `2 entries`.
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Create `path` for writing: a new file only, never through a symlink at its name.
fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    crate::fs::create_new(path, 0o600)
}

/// The reader of stdout went away (`| head`): not a failure.
fn broken_pipe(e: &read::ReadError) -> bool {
    matches!(e, read::ReadError::Io(p) if p.source.kind() == std::io::ErrorKind::BrokenPipe)
}

fn progress_bar(plan: &RestorePlan<'_>) -> Option<ProgressBar> {
    let long = plan.entries >= LONG_ENTRIES || plan.bytes >= LONG_BYTES;
    if !long || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(plan.entries);
    let style =
        ProgressStyle::with_template("{spinner} restoring {pos}/{len} entries {wide_bar} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}
