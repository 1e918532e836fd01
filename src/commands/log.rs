//! `reverberator log JOB PATH [--json] [--follow]`: every version in which PATH changed,
//! oldest first, as a table or `--json`. Exit 0 (also when PATH was never in a version:
//! a note on stderr says so), 1 on error. It renders [`crate::vault::read::log`]; it knows
//! nothing about the vault layout.

use std::io::Write;

use serde_json::json;

use crate::cli::{GlobalArgs, LogArgs};
use crate::exit::ExitCode;
use crate::vault::read::history::kind_name;
use crate::vault::read::{self, shown, shown_or_dot, LogEntry, LogOptions};

/// Run `reverberator log`.
pub fn run(global: &GlobalArgs, args: &LogArgs) -> anyhow::Result<ExitCode> {
    let (job, folder) = super::list::open_job(global, &args.job)?;
    let opts = LogOptions {
        follow: args.follow,
    };
    let entries =
        read::log(&folder, &args.path, &opts).map_err(|e| anyhow::anyhow!("{}: {e}", job.name))?;
    if entries.is_empty() {
        eprintln!(
            "reverberator: {}: {} is in no version",
            job.name,
            shown(&args.path)
        );
    }
    let text = if args.json {
        let rows: Vec<_> = entries.iter().map(to_json).collect();
        serde_json::to_string_pretty(&rows)? + "\n"
    } else {
        to_text(&entries)
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::Success)
}

/// One entry as JSON: paths escaped like TSV fields, the time in RFC 3339.
fn to_json(e: &LogEntry) -> serde_json::Value {
    json!({
        "version": e.version.number,
        "name": e.version.to_string(),
        "time": e.version.time.to_rfc3339(),
        "change": e.change.as_str(),
        "path": shown_or_dot(&e.path),
        "kind": e.kind.map(kind_name),
        "size": e.size,
        "entries": e.entries,
        "what": e.what,
        "from": e.from.as_deref().map(shown_or_dot),
    })
}

/// The table: `VERSION  TIME  CHANGE  KIND  SIZE  WHAT`, plus `(from PATH)` for a move
/// and the path when it is not the one asked for.
fn to_text(entries: &[LogEntry]) -> String {
    let mut out =
        String::from("VERSION  TIME                       CHANGE      KIND           SIZE  WHAT\n");
    let asked = entries.last().map(|e| e.path.clone());
    for e in entries {
        let size = match (e.size, e.entries) {
            (Some(b), _) => b.to_string(),
            (None, Some(1)) => "1 entry".to_owned(),
            (None, Some(n)) => format!("{n} entries"),
            _ => "-".to_owned(),
        };
        let mut what = e.what.join(",");
        if let Some(from) = &e.from {
            what.push_str(&format!(" (from {})", shown_or_dot(from)));
        }
        if Some(&e.path) != asked.as_ref() {
            what.push_str(&format!(" [as {}]", shown_or_dot(&e.path)));
        }
        out.push_str(&format!(
            "{:>7}  {:<25}  {:<10}  {:<7}  {:>10}  {}\n",
            e.version.number,
            e.version.time.to_rfc3339(),
            e.change.as_str(),
            e.kind.map(kind_name).unwrap_or("-"),
            size,
            what.trim_start(),
        ));
    }
    out
}
