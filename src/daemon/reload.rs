//! SIGHUP: diff the old and new Config into Keep / UpdateInPlace / Restart / Add / Remove
//! per job (by job name).
//!
//! A job restarts (watches rebuilt, start scan) when what it watches or where it writes
//! changed: source, vault, excludes, or the filesystem signatures. Every other change
//! (settle, max_settle, rescan_interval, limits, attributes_only, keep_full_copy) applies
//! in place: the job keeps its watches and its pending changes. Pure: no I/O.

use crate::config::{Config, JobConfig};

/// What a reload does to one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobChange {
    /// Identical: nothing happens.
    Keep,
    /// Timing or limits changed: applied to the running job.
    UpdateInPlace,
    /// Source, vault, excludes or filesystem signatures changed: the job restarts.
    Restart,
    /// A new job: it starts.
    Add,
    /// Gone from the config: it stops (an in-flight snapshot finishes).
    Remove,
}

impl std::fmt::Display for JobChange {
    /// The words of the journal's `reload` lines.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobChange::Keep => "unchanged",
            JobChange::UpdateInPlace => "settings updated in place",
            JobChange::Restart => "restarted (source, vault, excludes or signatures changed)",
            JobChange::Add => "added",
            JobChange::Remove => "removed",
        })
    }
}

/// Diff `old` against `new`: the reload plan, every job name of either config with what
/// happens to it, new jobs in file order after the existing ones.
pub fn plan(old: &Config, new: &Config) -> Vec<(String, JobChange)> {
    let mut jobs: Vec<(String, JobChange)> = old
        .jobs
        .iter()
        .map(|o| {
            let change = new
                .job(&o.name)
                .map_or(JobChange::Remove, |n| classify(o, n));
            (o.name.clone(), change)
        })
        .collect();
    jobs.extend(
        new.jobs
            .iter()
            .filter(|n| old.job(&n.name).is_none())
            .map(|n| (n.name.clone(), JobChange::Add)),
    );
    jobs
}

/// How one job present in both configs changed.
pub fn classify(old: &JobConfig, new: &JobConfig) -> JobChange {
    let restart = old.source != new.source
        || old.vault != new.vault
        || old.settings.exclude != new.settings.exclude
        || old.source_fs != new.source_fs
        || old.vault_fs != new.vault_fs;
    if restart {
        JobChange::Restart
    } else if old != new {
        JobChange::UpdateInPlace
    } else {
        JobChange::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Excludes, Settings};
    use std::path::PathBuf;
    use std::time::Duration;

    fn job(name: &str) -> JobConfig {
        JobConfig {
            name: name.into(),
            source: PathBuf::from(format!("/src/{name}")),
            vault: PathBuf::from("/vault"),
            source_fs: None,
            vault_fs: None,
            settings: Settings {
                settle: Duration::from_secs(2),
                max_settle: Duration::from_secs(60),
                attributes_only: true,
                rescan_interval: Some(Duration::from_secs(86_400)),
                ..Settings::for_test()
            },
        }
    }

    fn config(jobs: Vec<JobConfig>) -> Config {
        Config {
            path: PathBuf::from("/etc/reverberator/reverberator.toml"),
            jobs,
            web: Default::default(),
        }
    }

    /// (what changes in job "a", expected classification)
    const EDITS: &[(&str, JobChange)] = &[
        ("nothing", JobChange::Keep),
        ("settle", JobChange::UpdateInPlace),
        ("max_settle", JobChange::UpdateInPlace),
        ("keep_versions", JobChange::UpdateInPlace),
        ("rescan_interval", JobChange::UpdateInPlace),
        ("source", JobChange::Restart),
        ("vault", JobChange::Restart),
        ("exclude", JobChange::Restart),
    ];

    fn edit(j: &mut JobConfig, what: &str) {
        match what {
            "settle" => j.settings.settle = Duration::from_secs(5),
            "max_settle" => j.settings.max_settle = Duration::from_secs(600),
            "keep_versions" => j.settings.keep_versions = 3,
            "rescan_interval" => j.settings.rescan_interval = None,
            "source" => j.source = PathBuf::from("/elsewhere"),
            "vault" => j.vault = PathBuf::from("/vault2"),
            "exclude" => j.settings.exclude = Excludes::new(&["*.tmp"]).unwrap(),
            _ => {}
        }
    }

    #[test]
    fn each_edit_is_classified() {
        for (what, want) in EDITS {
            let mut new = job("a");
            edit(&mut new, what);
            assert_eq!(classify(&job("a"), &new), *want, "editing {what}");
        }
    }

    #[test]
    fn jobs_are_matched_by_name() {
        let mut b2 = job("b");
        b2.settings.settle = Duration::from_secs(9);
        let old = config(vec![job("a"), job("b"), job("c")]);
        let new = config(vec![job("d"), b2, job("c")]);
        assert_eq!(
            plan(&old, &new),
            vec![
                ("a".into(), JobChange::Remove),
                ("b".into(), JobChange::UpdateInPlace),
                ("c".into(), JobChange::Keep),
                ("d".into(), JobChange::Add),
            ]
        );
        assert!(plan(&old, &old).iter().all(|(_, c)| *c == JobChange::Keep));
    }
}
