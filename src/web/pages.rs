//! The page shell (one stylesheet, no scripts), the jobs page, a job's versions page, the
//! login form and error pages, plus [`JobSummary`]: what the jobs page and `/metrics`
//! know about a job (index figures, budget, journal counts, the daemon's state).

use std::collections::HashMap;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::route::{href, Route, Target};
use super::{chart, error, AppState};
use crate::config::{Budget, JobConfig};
use crate::daemon::status::{fetch, socket_path};
use crate::vault::journal::{Event, Journal, JOURNAL_FILE};
use crate::vault::layout::JobFolder;
use crate::vault::read::{self, list::human_size, list::rfc3339, VersionInfo};
use crate::vault::retire::{self, Figures, Limits};

const STYLE: &str = include_str!("style.css");

/// `/style.css`.
pub fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

/// A whole page: title, the navigation trail, the body.
pub fn shell(title: &str, trail: &[(String, String)], body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · reverberator" }
                link rel="stylesheet" href="/style.css";
            }
            body {
                header {
                    nav {
                        a.brand href="/" { "reverberator" }
                        @for (label, link) in trail {
                            span.sep { "/" }
                            a href=(link) { (label) }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// An error page.
pub fn error_page(status: StatusCode, message: &str) -> Markup {
    shell(
        status.as_str(),
        &[],
        html! { h1 { (status.as_str()) " " (status.canonical_reason().unwrap_or("")) } p.error { (message) } },
    )
}

/// `/login`.
pub fn login_form(wrong: bool) -> Response {
    let page = shell(
        "Log in",
        &[],
        html! {
            h1 { "Log in" }
            @if wrong { p.error { "That token is not right." } }
            form method="post" action="/login" {
                label for="token" { "Token" }
                input #token type="password" name="token" autocomplete="current-password" required;
                button type="submit" { "Log in" }
            }
        },
    );
    page.into_response()
}

/// What the jobs page and `/metrics` show of one job.
#[derive(Debug, Clone)]
pub struct JobSummary {
    /// The job name.
    pub name: String,
    /// The daemon's state, or `no-daemon`.
    pub state: String,
    /// Committed versions with their index figures, oldest first.
    pub versions: Vec<VersionInfo>,
    /// Sum of the versions' owned bytes (as `list --json`).
    pub bytes: u64,
    /// Sum of the versions' owned inodes.
    pub inodes: u64,
    /// The whole job folder's use (versions plus bookkeeping), bytes and inodes.
    pub used: (u64, u64),
    /// The resolved budget.
    pub budget: Budget,
    /// `overflow` lines in the journal.
    pub overflows: u64,
    /// `error` lines in the journal.
    pub errors: u64,
    /// How long the newest version took to build and commit (its journal `snapshot`
    /// line); `None` when that line predates the duration being recorded.
    pub last_snapshot: Option<std::time::Duration>,
    /// What could not be read.
    pub problem: Option<String>,
}

/// Every job's summary, in config order.
pub fn summaries(state: &AppState) -> Vec<JobSummary> {
    let states = daemon_states(state);
    state
        .config
        .jobs
        .iter()
        .map(|j| job_summary(j, states.as_ref()))
        .collect()
}

/// The daemon's state per job, `None` when no daemon runs this config.
fn daemon_states(state: &AppState) -> Option<HashMap<String, String>> {
    let socket = socket_path(&state.config.path).ok()?;
    let report = fetch(&socket, &state.config.path).ok()?;
    Some(report.jobs.into_iter().map(|j| (j.name, j.state)).collect())
}

/// One job's summary.
pub fn job_summary(job: &JobConfig, states: Option<&HashMap<String, String>>) -> JobSummary {
    let state = match states {
        None => "no-daemon".to_owned(),
        Some(s) => s
            .get(&job.name)
            .cloned()
            .unwrap_or_else(|| "unknown".into()),
    };
    let mut s = JobSummary {
        name: job.name.clone(),
        state,
        versions: Vec::new(),
        bytes: 0,
        inodes: 0,
        used: (0, 0),
        budget: Limits::for_job(job).map(|l| l.budget).unwrap_or_default(),
        overflows: 0,
        errors: 0,
        last_snapshot: None,
        problem: None,
    };
    let dir = job.job_dir();
    if !dir.is_dir() {
        s.problem = Some(format!(
            "no versions yet ({} does not exist)",
            dir.display()
        ));
        return s;
    }
    let loaded = JobFolder::open(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))
        .and_then(|f| read::list(&f).map(|l| (f, l)).map_err(|e| e.to_string()));
    let (folder, listing) = match loaded {
        Ok(x) => x,
        Err(e) => {
            s.problem = Some(e);
            return s;
        }
    };
    for v in &listing.versions {
        if let Some(f) = v.figures {
            s.bytes += f.size;
            s.inodes += f.inodes;
        }
    }
    if let Ok(names) = read::versions(&folder) {
        if let Ok(f) = Figures::load(&folder, &names) {
            let u = f.used();
            s.used = (u.bytes, u.inodes);
        }
    }
    let newest = listing.versions.last().map(|v| v.version);
    if let Ok(journal) = Journal::from_path(&dir.join(JOURNAL_FILE)) {
        for line in &journal.lines {
            match line.event {
                Event::Overflow => s.overflows += 1,
                Event::Error => s.errors += 1,
                Event::Snapshot if line.version.is_some() && line.version == newest => {
                    s.last_snapshot = line.snapshot_duration();
                }
                _ => {}
            }
        }
    }
    s.versions = listing.versions;
    s
}

fn age(v: &VersionInfo) -> String {
    let secs = (chrono::Local::now().timestamp() - v.time.timestamp()).max(0) as u64;
    let rounded = std::time::Duration::from_secs(if secs > 3600 { secs / 60 * 60 } else { secs });
    format!("{} ago", humantime::format_duration(rounded))
}

fn budget_text(used: u64, budget: Option<u64>, fmt: fn(u64) -> String) -> String {
    match budget {
        Some(b) if b > 0 => format!(
            "{} of {} ({:.0}%)",
            fmt(used),
            fmt(b),
            used as f64 * 100.0 / b as f64
        ),
        _ => format!("{} (no limit)", fmt(used)),
    }
}

/// `/`: every job.
pub fn jobs(state: &AppState) -> Response {
    let all = summaries(state);
    let body = html! {
        h1 { "Jobs" }
        @for j in &all {
            section.job {
                h2 { a href=(href(&Route::Job(j.name.clone()))) { (j.name) } " " span class={"state " (j.state)} { (j.state) } }
                @if let Some(p) = &j.problem { p.error { (p) } }
                dl.facts {
                    dt { "versions" } dd { (j.versions.len()) }
                    dt { "newest" } dd {
                        @match j.versions.last() {
                            Some(v) => {
                                a href=(href(&Route::Browse(Target { job: j.name.clone(), version: v.version, path: Default::default() }))) { (v.name) }
                                " · " (age(v))
                            }
                            None => { "none" }
                        }
                    }
                    dt { "vault bytes" } dd { (budget_text(j.used.0, j.budget.bytes, human_size)) }
                    dt { "vault inodes" } dd { (budget_text(j.used.1, j.budget.inodes, |n| n.to_string())) }
                }
                (chart::owned(&j.versions))
            }
        }
    };
    shell("Jobs", &[], body).into_response()
}

/// Which rules keep each version of `job` now (`last`, `daily`, …), by version number;
/// an empty list: no rule keeps it, the next retire takes it. Empty when the job folder
/// cannot be read (the page says so elsewhere).
fn keep_reasons(job: &JobConfig) -> HashMap<u64, Vec<retire::Keep>> {
    let Ok(folder) = JobFolder::open(&job.job_dir()) else {
        return HashMap::new();
    };
    retire::keep_reasons(&folder, job)
        .map(|all| {
            all.into_iter()
                .map(|v| (v.version.number, v.keep))
                .collect()
        })
        .unwrap_or_default()
}

/// The keep-reasons cell of version `n`.
fn keep_text(reasons: &HashMap<u64, Vec<retire::Keep>>, n: u64) -> String {
    match reasons.get(&n) {
        None => "—".into(),
        Some(keep) if keep.is_empty() => "no rule: goes at the next retire".into(),
        Some(keep) => keep.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "),
    }
}

/// `/jobs/JOB`: the versions.
pub fn job(state: &AppState, name: &str) -> Response {
    let Some(job) = state.config.job(name) else {
        return error(StatusCode::NOT_FOUND, &format!("no job called `{name}`"));
    };
    let s = job_summary(job, None);
    let reasons = keep_reasons(job);
    let trail = [(name.to_owned(), href(&Route::Job(name.to_owned())))];
    let fig = |v: &VersionInfo, f: fn(&read::list::Figures) -> String| {
        v.figures.as_ref().map_or("?".to_owned(), f)
    };
    let body = html! {
        h1 { (name) }
        @if let Some(p) = &s.problem { p.error { (p) } }
        table.versions {
            thead { tr { th { "version" } th { "time" } th.num { "changes" } th.num { "size" } th.num { "inodes" } th { "kept because" } th {} } }
            tbody {
                @for v in s.versions.iter().rev() {
                    @let t = Target { job: name.to_owned(), version: v.version, path: Default::default() };
                    tr {
                        td { a href=(href(&Route::Browse(t.clone()))) { "V" (v.version) } }
                        td { (rfc3339(&v.time)) }
                        td.num { (fig(v, |f| f.changes.to_string())) }
                        td.num { (fig(v, |f| human_size(f.size))) }
                        td.num { (fig(v, |f| f.inodes.to_string())) }
                        td { (keep_text(&reasons, v.version)) }
                        td { a href=(href(&Route::Tar(t))) { "tar" } }
                    }
                }
            }
        }
    };
    shell(name, &trail, body).into_response()
}
