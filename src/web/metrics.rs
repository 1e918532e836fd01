//! `/metrics`: per-job figures in the Prometheus/OpenMetrics text format, built with the
//! `prometheus-client` registry on every scrape. Labels are job names (and the state),
//! never paths. The version figures are exactly `list --json`'s (sums of `index.tsv`
//! rows of committed versions); the budget is `vault_limit` resolved against the vault
//! filesystem; overflows and errors are counted from `journal.tsv`, and the last snapshot's
//! duration is the newest version's `snapshot` line there; the state comes from the running
//! daemon's status socket (`no-daemon` without one).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use super::pages::JobSummary;
use super::{error, AppState};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabel {
    job: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    job: String,
    state: String,
}

type G = Family<JobLabel, Gauge>;
type F = Family<JobLabel, Gauge<f64, AtomicU64>>;

/// Render `/metrics`.
pub fn metrics(state: &AppState) -> Response {
    let summaries = super::pages::summaries(state);
    match render(&summaries) {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

fn render(jobs: &[JobSummary]) -> Result<String, std::fmt::Error> {
    let mut reg = Registry::with_prefix("reverberator");
    let versions = G::default();
    let bytes = G::default();
    let inodes = G::default();
    let budget_bytes = G::default();
    let budget_inodes = G::default();
    let last = F::default();
    let took = F::default();
    let overflows = Family::<JobLabel, Counter>::default();
    let errors = Family::<JobLabel, Counter>::default();
    let state = Family::<StateLabel, Gauge>::default();
    for j in jobs {
        let l = JobLabel {
            job: j.name.clone(),
        };
        versions.get_or_create(&l).set(j.versions.len() as i64);
        bytes.get_or_create(&l).set(j.bytes as i64);
        inodes.get_or_create(&l).set(j.inodes as i64);
        if let Some(b) = j.budget.bytes {
            budget_bytes.get_or_create(&l).set(b as i64);
        }
        if let Some(b) = j.budget.inodes {
            budget_inodes.get_or_create(&l).set(b as i64);
        }
        if let Some(v) = j.versions.last() {
            last.get_or_create(&l).set(v.time.timestamp() as f64);
        }
        if let Some(d) = j.last_snapshot {
            took.get_or_create(&l).set(d.as_secs_f64());
        }
        overflows.get_or_create(&l).inc_by(j.overflows);
        errors.get_or_create(&l).inc_by(j.errors);
        let s = StateLabel {
            job: j.name.clone(),
            state: j.state.clone(),
        };
        state.get_or_create(&s).set(1);
    }
    reg.register("job_versions", "Committed versions of the job", versions);
    reg.register(
        "job_vault_bytes",
        "Bytes the job's versions own (sum of index.tsv sizes)",
        bytes,
    );
    reg.register(
        "job_vault_inodes",
        "Inodes the job's versions own (sum of index.tsv inodes)",
        inodes,
    );
    reg.register(
        "job_budget_bytes",
        "The job's vault_limit in bytes, when limited",
        budget_bytes,
    );
    reg.register(
        "job_budget_inodes",
        "The job's vault_limit in inodes, when limited",
        budget_inodes,
    );
    reg.register(
        "job_last_commit_timestamp_seconds",
        "When the newest version was taken (Unix time)",
        last,
    );
    reg.register(
        "job_last_snapshot_duration_seconds",
        "How long the newest version took to build and commit (from journal.tsv)",
        took,
    );
    reg.register(
        "job_overflows",
        "inotify queue overflows recorded in journal.tsv",
        overflows,
    );
    reg.register("job_errors", "Errors recorded in journal.tsv", errors);
    reg.register(
        "job_state",
        "The daemon's state of the job (1 for the current state)",
        state,
    );
    let mut out = String::new();
    encode(&mut out, &reg)?;
    Ok(to_text_format(&out))
}

/// OpenMetrics names a counter family without `_total` in `# HELP`/`# TYPE`, the
/// Prometheus text format (what `promtool check metrics` and most scrapers read) with it:
/// rename those two lines of each counter and drop the `# EOF` marker.
fn to_text_format(open_metrics: &str) -> String {
    let counters: Vec<&str> = open_metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open_metrics.len());
    for line in open_metrics.lines().filter(|l| *l != "# EOF") {
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let name = counters
                .iter()
                .find(|c| rest.strip_prefix(**c).is_some_and(|r| r.starts_with(' ')))?;
            Some(format!("{p}{name}_total{}", &rest[name.len()..]))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_with_total_in_help_and_type() {
        let om = "# HELP x_errors Errors.\n# TYPE x_errors counter\nx_errors_total{job=\"a\"} 2\n\
                  # HELP x_v V.\n# TYPE x_v gauge\nx_v 1\n# EOF\n";
        assert_eq!(
            to_text_format(om),
            "# HELP x_errors_total Errors.\n# TYPE x_errors_total counter\nx_errors_total{job=\"a\"} 2\n\
             # HELP x_v V.\n# TYPE x_v gauge\nx_v 1\n"
        );
    }
}
