//! `reverberator diff JOB A B` (versions named as [`read::VersionSel`] parses them): one line per path that differs between versions A and B
//! (`A`/`D`/`M` and the escaped path, sorted by path bytes). Exit 0 whether or not
//! anything differs; 1 on error (e.g. an unknown version number). It renders
//! [`crate::vault::read::diff`]; it knows nothing about the vault layout.

use std::io::Write;

use crate::cli::{DiffArgs, GlobalArgs};
use crate::exit::ExitCode;
use crate::vault::read;

/// Run `reverberator diff`.
pub fn run(global: &GlobalArgs, args: &DiffArgs) -> anyhow::Result<ExitCode> {
    let (job, folder) = super::list::open_job(global, &args.job)?;
    let named = |e| anyhow::anyhow!("{}: {e}", job.name);
    let a = args.a.resolve(&folder).map_err(named)?;
    let b = args.b.resolve(&folder).map_err(named)?;
    let lines = read::diff(&folder, a.number, b.number).map_err(named)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in &lines {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(ExitCode::Success)
}
