//! `reverberator verify JOB`: check the job folder against the layout contract. Prints one
//! line per problem on stdout (`JOB: problem`) and exits 1 when there is any; prints
//! nothing on stdout and exits 0 when the folder is sound.
//!
//! Verify takes the job's lock (waiting while a snapshot or retire runs), so a build in
//! progress is never reported as a leftover. Where the lock cannot be taken at all (a
//! read-only vault), it verifies without it.

use std::io::Write;

use crate::cli::{GlobalArgs, VerifyArgs};
use crate::exit::ExitCode;
use crate::vault::lock::JobLock;
use crate::vault::read;

/// Run `reverberator verify`.
pub fn run(global: &GlobalArgs, args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let (job, folder) = super::list::open_job(global, &args.job)?;
    let _lock = match JobLock::acquire(folder.root()) {
        Ok(lock) => Some(lock),
        Err(e) => {
            eprintln!(
                "reverberator: {}: verifying without the lock: {e}",
                job.name
            );
            None
        }
    };
    let problems = read::verify(&folder);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for problem in &problems {
        writeln!(out, "{}: {problem}", job.name)?;
    }
    out.flush()?;
    if problems.is_empty() {
        let count = folder.versions().map(|v| v.len()).unwrap_or(0);
        eprintln!("{}: ok ({count} versions)", job.name);
        Ok(ExitCode::Success)
    } else {
        Ok(ExitCode::Failure)
    }
}
