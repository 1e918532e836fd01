//! `reverberator snapshot [JOB...]`: for each job (all when none are named) run the delta
//! scan and commit the difference as a new version. Prints the new version folder name per
//! committed job on stdout (one line each); an unchanged job prints nothing on stdout and
//! `JOB: unchanged` on stderr. A progress spinner goes to stderr only when stderr is a
//! terminal.
//!
//! One writer per job: when a daemon runs this config (it answers on the status socket),
//! the command asks it to commit now instead (`daemon::status::request_snapshot`): the
//! daemon's worker scans and commits, and the command prints what it committed, in the same
//! form, with `JOB: committed by the daemon (pid N)` on stderr. Otherwise it writes itself.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;

use crate::change::Progress;
use crate::cli::{GlobalArgs, SnapshotArgs};
use crate::config::{self, Config, JobConfig};
use crate::daemon::status::{request_snapshot, socket_path, StatusError};
use crate::exit::ExitCode;
use crate::vault::retire::{RetireError, RetireReport};
use crate::vault::snapshot::SnapshotOutcome;
use crate::watch::mounts::{MountCheck, MountGuard, MountTable};
use crate::writer::{self, Source};

/// Run `reverberator snapshot`.
pub fn run(global: &GlobalArgs, args: &SnapshotArgs) -> anyhow::Result<ExitCode> {
    // An invalid config is reported with every problem and its position.
    let config = config::load(global.config.as_deref())?.config;
    let jobs = select_jobs(&config, &args.jobs)?;
    if let Some(code) = through_daemon(&config, &jobs)? {
        return Ok(code);
    }
    let mut code = ExitCode::Success;
    for job in jobs {
        code = code.merge(snapshot_job(job)?);
    }
    Ok(code)
}

/// Ask the daemon running `config`, if any, to commit `jobs`; `None` when no daemon runs it.
fn through_daemon(config: &Config, jobs: &[&JobConfig]) -> anyhow::Result<Option<ExitCode>> {
    let path = crate::config::load::absolute(&config.path);
    let Ok(socket) = socket_path(&path) else {
        return Ok(None);
    };
    let names: Vec<String> = jobs.iter().map(|j| j.name.clone()).collect();
    let reply = match request_snapshot(&socket, &path, &names) {
        Ok(r) => r,
        Err(StatusError::NoDaemon { .. }) => return Ok(None),
        Err(e) => return Err(anyhow::Error::new(e).context("asking the running daemon")),
    };
    let mut out = std::io::stdout().lock();
    let mut code = ExitCode::Success;
    for j in &reply.jobs {
        let why = j.message.as_deref().unwrap_or("");
        match (j.outcome.as_str(), &j.version) {
            ("committed", Some(v)) => {
                writeln!(out, "{v}")?;
                eprintln!("{}: committed by the daemon (pid {})", j.name, reply.pid);
            }
            ("unchanged", _) => eprintln!("{}: unchanged", j.name),
            ("halted", _) => {
                eprintln!("{}: not snapshotting: {why}", j.name);
                code = code.merge(ExitCode::Failure);
            }
            _ => {
                eprintln!("reverberator: error: job {}: {why}", j.name);
                code = code.merge(ExitCode::Failure);
            }
        }
    }
    out.flush()?;
    Ok(Some(code))
}

/// The jobs named on the command line (in that order), or every job when none is named.
fn select_jobs<'c>(config: &'c Config, names: &[String]) -> anyhow::Result<Vec<&'c JobConfig>> {
    if names.is_empty() {
        return Ok(config.jobs.iter().collect());
    }
    names
        .iter()
        .map(|name| Ok(config.find_job(name)?))
        .collect()
}

/// Snapshot one job; a failing job is reported and the others go on (exit 1 at the end).
fn snapshot_job(job: &JobConfig) -> anyhow::Result<ExitCode> {
    // Never snapshot an empty mount point, nor write into a vault whose disk is not there.
    let mut guard = MountGuard::new(job);
    let table = MountTable::read().context("cannot read the mount table")?;
    if let check @ MountCheck::Halted { .. } = guard.check(&table) {
        eprintln!("{}: not snapshotting: {check}", job.name);
        return Ok(ExitCode::Failure);
    }
    let progress = Progress::default();
    let written = with_spinner(&job.name, &progress, || {
        writer::write(job, Source::Scan { full: false }, &progress)
    });
    match written.map(|w| (w.outcome, w.retired)) {
        Ok((SnapshotOutcome::Committed(v), retired)) => {
            if let Err(e) = guard.record_auto(job) {
                eprintln!("{}: cannot record the filesystem signatures: {e}", job.name);
            }
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", v.name)?;
            out.flush()?;
            if v.skipped > 0 {
                eprintln!(
                    "{}: {} entries could not be stored (see journal.tsv)",
                    job.name, v.skipped
                );
            }
            Ok(report_retired(job, retired))
        }
        Ok((SnapshotOutcome::Unchanged, _)) => {
            eprintln!("{}: unchanged", job.name);
            Ok(ExitCode::Success)
        }
        Err(e) => {
            eprintln!("reverberator: error: {:#}", anyhow::Error::new(e));
            Ok(ExitCode::Failure)
        }
    }
}

/// Name on stderr the versions the retire after a commit retired (`None`: none ran).
fn report_retired(job: &JobConfig, retired: Option<Result<RetireReport, RetireError>>) -> ExitCode {
    match retired {
        None => ExitCode::Success,
        Some(Ok(report)) => {
            for r in &report.retired {
                eprintln!("{}: retired {}", job.name, r.plan.retired);
            }
            if let Some(note) = &report.over_budget {
                eprintln!("{}: {note}", job.name);
            }
            ExitCode::Success
        }
        Some(Err(e)) => {
            eprintln!(
                "reverberator: error: job {}: retire: {:#}",
                job.name,
                anyhow::Error::new(e)
            );
            ExitCode::Failure
        }
    }
}

/// Run `work`, showing a spinner fed by `progress` when stderr is a terminal.
fn with_spinner<T: Send>(job: &str, progress: &Progress, work: impl FnOnce() -> T + Send) -> T {
    if !std::io::stderr().is_terminal() {
        return work();
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(120));
    let done = AtomicBool::new(false);
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                bar.set_message(format!(
                    "{job}: {} scanned, {} written, {} copied",
                    progress.scanned.load(Ordering::Relaxed),
                    progress.written.load(Ordering::Relaxed),
                    indicatif::HumanBytes(progress.bytes.load(Ordering::Relaxed)),
                ));
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let r = work();
        done.store(true, Ordering::Relaxed);
        r
    });
    bar.finish_and_clear();
    result
}
