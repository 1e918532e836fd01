//! `reverberator status [--json]`: ask the daemon running this config (same lookup as
//! `run`) what each job is doing. No daemon → exit 1 with a clear message.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;

use crate::cli::{GlobalArgs, StatusArgs};
use crate::daemon::status::{fetch, socket_path, JobStatus, StatusError, StatusReport};
use crate::exit::ExitCode;

/// Run `reverberator status`.
pub fn run(global: &GlobalArgs, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let config = crate::config::load::find_in_process(global.config.as_deref())?;
    let config = crate::config::load::absolute(&config);
    let socket = socket_path(&config).with_context(|| format!("{}", config.display()))?;
    let report = match fetch(&socket, &config) {
        Ok(r) => r,
        Err(e @ StatusError::NoDaemon { .. }) => {
            eprintln!("reverberator: {e}");
            return Ok(ExitCode::Failure);
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", render(&report))?;
    }
    Ok(ExitCode::Success)
}

/// The text form: a header line, then one block per job.
pub fn render(report: &StatusReport) -> String {
    let mut s = format!(
        "daemon {} running {}\n",
        report.pid,
        report.config.display()
    );
    for job in &report.jobs {
        s.push_str(&render_job(job));
    }
    s
}

fn when(ms: Option<u64>) -> String {
    ms.map_or("none scheduled".to_owned(), |ms| {
        let rounded = Duration::from_millis(if ms >= 1000 { ms / 1000 * 1000 } else { ms });
        format!("in {}", humantime::format_duration(rounded))
    })
}

fn render_job(j: &JobStatus) -> String {
    let mut s = format!("{}: {}", j.name, j.state);
    if let (Some(side), Some(awaiting)) = (&j.halted_side, &j.awaiting) {
        s.push_str(&format!(" ({side} left; awaiting {awaiting})"));
    }
    s.push('\n');
    s.push_str(&format!("  pending changes: {}\n", j.pending));
    s.push_str(&format!(
        "  newest version:  {}\n",
        j.newest.as_deref().unwrap_or("none")
    ));
    s.push_str(&format!(
        "  next snapshot:   {}\n",
        when(j.next_snapshot_ms)
    ));
    s.push_str(&format!("  next rescan:     {}\n", when(j.next_scan_ms)));
    s.push_str(&format!(
        "  folders watched: {} of {} found by the last walk\n",
        j.watches, j.folders
    ));
    if let Some(c) = &j.coverage {
        s.push_str(&format!("  coverage:        incomplete: {c}\n"));
    }
    if let Some(e) = &j.last_error {
        s.push_str(&format!("  last error:      {e}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_shows_state_pending_newest_and_deadlines() {
        let job = JobStatus {
            name: "docs".into(),
            state: "halted-unmounted".into(),
            pending: 0,
            newest: Some("V3--2026-11-25_10-00-00_+0000".into()),
            next_snapshot_ms: None,
            next_scan_ms: Some(90_500),
            watches: 0,
            watch_limited: false,
            folders: 0,
            coverage: None,
            halted_side: Some("vault".into()),
            awaiting: Some("uuid=1234".into()),
            last_error: None,
        };
        let text = render(&StatusReport {
            pid: 7,
            config: "/etc/r.toml".into(),
            jobs: vec![job],
        });
        assert_eq!(
            text,
            "daemon 7 running /etc/r.toml\n\
             docs: halted-unmounted (vault left; awaiting uuid=1234)\n\
             \x20 pending changes: 0\n\
             \x20 newest version:  V3--2026-11-25_10-00-00_+0000\n\
             \x20 next snapshot:   none scheduled\n\
             \x20 next rescan:     in 1m 30s\n\
             \x20 folders watched: 0 of 0 found by the last walk\n"
        );
    }
}
