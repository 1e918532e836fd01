//! Enforcing a job's limits: `keep_versions`, the `keep` tiers and the `vault_limit`
//! budget resolved against the vault filesystem. Never retires the newest version;
//! recounts the job folder from disk the first time a budget is exceeded; and records the
//! over-budget message when the newest version alone is too big.
//!
//! Without a `keep` table: the oldest version goes while there are more than
//! `keep_versions` or the folder is over budget (reasons `KeepVersions`, `Bytes`,
//! `Inodes`), exactly as before the tiers existed. With one: each pass decides once
//! ([`policy::decide`](super::policy::decide)) and retires the versions no rule keeps,
//! oldest first (reason `Rules`), and passes again until nothing goes; then, while over
//! budget, the oldest version goes whatever keeps it (`VaultLimit` beside `Bytes` /
//! `Inodes`).

use super::account::{self, apply_recount, recount, Figures, Usage};
use super::apply::{finish, Retired};
use super::dry::{simulate, DryRun};
use super::plan::{plan_in, RetireReason};
use super::policy::{decide, Keep, Verdict};
use super::{apply, intent, RetireError};
use crate::config::{Budget, JobConfig, KeepRules};
use crate::error::IoContext;
use crate::vault::journal::{Event, Journal, JournalLine};
use crate::vault::layout::{JobFolder, VersionName};
use crate::vault::lock::JobLock;

/// The limits of one job, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How many versions to keep at most (at least 1).
    pub keep_versions: u32,
    /// The bytes/inodes budget of the job folder.
    pub budget: Budget,
    /// The age tiers (empty: `keep_versions` alone counts versions, as without a table).
    pub keep: KeepRules,
}

impl Limits {
    /// The limits of `job`: `vault_limit` resolved against the capacity (`statvfs`) of the
    /// vault filesystem (not consulted when the limit is unlimited).
    pub fn for_job(job: &JobConfig) -> Result<Limits, RetireError> {
        let budget = if job.settings.vault_limit.is_unlimited() {
            Budget::default()
        } else {
            let cap = crate::fs::capacity(&job.vault).at(&job.vault)?;
            job.settings.vault_limit.resolve(cap)
        };
        Ok(Limits {
            keep_versions: job.settings.keep_versions.max(1),
            budget,
            keep: job.settings.keep,
        })
    }

    /// Why the oldest of `count` versions must go, given what the folder uses. With a
    /// `keep` table the count is the rules' business ([`Limits::verdicts`]): only the
    /// budget reasons are given.
    pub fn reasons(&self, count: usize, used: Usage) -> Vec<RetireReason> {
        let mut out = Vec::new();
        if self.keep.is_empty() && count > self.keep_versions as usize {
            out.push(RetireReason::KeepVersions {
                count,
                keep: self.keep_versions,
            });
        }
        if let Some(budget) = self.budget.bytes.filter(|b| used.bytes > *b) {
            out.push(RetireReason::Bytes {
                used: used.bytes,
                budget,
            });
        }
        if let Some(budget) = self.budget.inodes.filter(|b| used.inodes > *b) {
            out.push(RetireReason::Inodes {
                used: used.inodes,
                budget,
            });
        }
        out
    }

    /// What `keep_versions` and the tiers say about each of `versions`, oldest first.
    pub fn verdicts(&self, versions: &[VersionName]) -> Vec<Verdict> {
        decide(versions, self.keep_versions, &self.keep)
    }

    /// The reason a version no rule keeps goes for.
    pub fn rules_reason(&self) -> RetireReason {
        RetireReason::Rules {
            keep_versions: self.keep_versions,
            rules: self.keep,
        }
    }

    /// `budget` (the budget reasons for the oldest version) with the `VaultLimit` reason
    /// first, naming the rules that kept the oldest version, when the job has a `keep`
    /// table; unchanged without one.
    pub fn budget_reasons(
        &self,
        versions: &[VersionName],
        budget: Vec<RetireReason>,
    ) -> Vec<RetireReason> {
        if self.keep.is_empty() || !budget.iter().any(is_budget) {
            return budget;
        }
        let kept_by: Vec<Keep> = self
            .verdicts(versions)
            .into_iter()
            .next()
            .map(|v| v.keep)
            .unwrap_or_default();
        let mut out = vec![RetireReason::VaultLimit { kept_by }];
        out.extend(budget);
        out
    }
}

/// True for the reasons that are about the budget (not the version count).
pub(super) fn is_budget(r: &RetireReason) -> bool {
    matches!(r, RetireReason::Bytes { .. } | RetireReason::Inodes { .. })
}

/// A recount of the job folder from disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recounted {
    /// What the cached figures said.
    pub cached: Usage,
    /// What the disk holds.
    pub counted: Usage,
}

/// What enforcing a job's limits did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetireReport {
    /// A retire an earlier process started and this one finished first.
    pub recovered: Option<Retired>,
    /// The recount done because a budget was exceeded for the first time.
    pub recount: Option<Recounted>,
    /// The versions retired, oldest first.
    pub retired: Vec<Retired>,
    /// What the job folder uses afterwards (cached figures).
    pub used: Usage,
    /// The budget enforced.
    pub budget: Budget,
    /// Set when the newest version alone exceeds the budget (kept; journaled).
    pub over_budget: Option<String>,
}

/// Finish a retire an earlier process started (a pending `retire.intent`), if any. Every
/// writer calls this at job open, holding the job lock, before changing anything.
pub fn recover(folder: &JobFolder) -> Result<Option<Retired>, RetireError> {
    let Some(plan) = intent::read(folder)? else {
        return Ok(None);
    };
    tracing::warn!(job = %folder.root().display(), retired = %plan.retired, "finishing an interrupted retire");
    finish(folder, plan, true).map(Some)
}

/// Enforce `job`'s limits now: take the job lock, finish a pending retire, then retire
/// oldest versions until `keep_versions` and the budget hold.
pub fn enforce(job: &JobConfig) -> Result<RetireReport, RetireError> {
    let dir = job.job_dir();
    let lock = JobLock::acquire(&dir).map_err(RetireError::Lock)?;
    let folder = JobFolder::open(&dir).at(&dir)?;
    let limits = Limits::for_job(job)?;
    enforce_locked(&folder, &limits, &lock)
}

/// [`enforce`] for a caller that already holds the job lock and has the folder open (the
/// snapshot path, after each commit). Finishes a pending retire first.
pub fn enforce_locked(
    folder: &JobFolder,
    limits: &Limits,
    _lock: &JobLock,
) -> Result<RetireReport, RetireError> {
    let mut report = RetireReport {
        recovered: recover(folder)?,
        budget: limits.budget,
        ..RetireReport::default()
    };
    // The figures walk the bookkeeping folder (a few files per version): read at every
    // pass only when a budget needs them, else once for the report at the end.
    let budgeted = limits.budget.bytes.is_some() || limits.budget.inodes.is_some();
    loop {
        let versions = folder.versions().at(folder.root())?;
        let figures = match budgeted {
            true => Some(Figures::load(folder, &versions)?),
            false => None,
        };
        let used = figures.as_ref().map(Figures::used).unwrap_or_default();
        let reasons = limits.reasons(versions.len(), used);
        let recounted = figures.as_ref().map_or(true, |f| f.recounted);
        if reasons.iter().any(is_budget) && !recounted {
            let counted = recount(folder, &versions)?;
            apply_recount(folder, &counted)?;
            report.recount = Some(Recounted {
                cached: used,
                counted: counted.total(),
            });
            continue;
        }
        report.used = used;
        if thin(folder, limits, &versions, &mut report)? {
            continue;
        }
        if reasons.is_empty() {
            if !budgeted {
                report.used = Figures::load(folder, &versions)?.used();
            }
            account::set_over_budget(folder, None)?;
            return Ok(report);
        }
        if versions.len() < 2 {
            let msg = over_budget_message(&versions, &reasons);
            journal_error(folder, &msg);
            account::set_over_budget(folder, Some(&msg))?;
            report.over_budget = Some(msg);
            return Ok(report);
        }
        let reasons = limits.budget_reasons(&versions, reasons);
        report
            .retired
            .push(retire_oldest(folder, &versions, reasons)?);
    }
}

/// One pass of the `keep` tiers: decide once, then retire the versions no rule keeps,
/// oldest first (versions in the middle too). True when something was retired (the
/// caller passes again).
fn thin(
    folder: &JobFolder,
    limits: &Limits,
    versions: &[VersionName],
    report: &mut RetireReport,
) -> Result<bool, RetireError> {
    if limits.keep.is_empty() {
        return Ok(false);
    }
    let mut any = false;
    let mut left = versions.to_vec();
    for victim in limits.verdicts(versions).iter().filter(|v| !v.kept()) {
        let number = victim.version.number;
        let result = plan_in(folder, &left, number, vec![limits.rules_reason()])
            .and_then(|p| apply(folder, p));
        match result {
            Ok(done) => {
                left.retain(|v| v.number != number);
                report.retired.push(done)
            }
            Err(e) => {
                journal_error(folder, &format!("retire refused: {e}"));
                return Err(e);
            }
        }
        any = true;
    }
    Ok(any)
}

/// Retire the oldest of `versions` (just listed under the job lock).
fn retire_oldest(
    folder: &JobFolder,
    versions: &[VersionName],
    reasons: Vec<RetireReason>,
) -> Result<Retired, RetireError> {
    let oldest = versions.first().map(|v| v.number);
    let result = oldest
        .ok_or_else(|| RetireError::TooFewVersions {
            folder: folder.root().to_path_buf(),
            count: 0,
        })
        .and_then(|victim| plan_in(folder, versions, victim, reasons))
        .and_then(|p| apply(folder, p));
    if let Err(e) = &result {
        journal_error(folder, &format!("retire refused: {e}"));
    }
    result
}

fn over_budget_message(versions: &[VersionName], reasons: &[RetireReason]) -> String {
    let why: Vec<String> = reasons.iter().map(|r| r.to_string()).collect();
    let newest = versions.last().map(|v| v.to_string()).unwrap_or_default();
    format!(
        "over budget: the newest version {newest} alone exceeds it ({}); kept",
        why.join("; ")
    )
}

/// Journal an `error` line; a journal that cannot be written is only logged (the error
/// being reported matters more).
fn journal_error(folder: &JobFolder, msg: &str) {
    let line = JournalLine::now(Event::Error).message(msg);
    if let Err(e) = Journal::append(folder.root(), &line) {
        tracing::error!(job = %folder.root().display(), "cannot journal `{msg}`: {e}");
    }
}

/// What [`enforce`] would do for `job`, changing nothing (takes the job lock to read a
/// consistent folder).
pub fn dry_run(job: &JobConfig) -> Result<DryRun, RetireError> {
    let dir = job.job_dir();
    let _lock = JobLock::acquire(&dir).map_err(RetireError::Lock)?;
    let folder = JobFolder::open(&dir).at(&dir)?;
    let limits = Limits::for_job(job)?;
    match intent::read(&folder)? {
        Some(pending) => Ok(DryRun::pending(pending, limits.budget)),
        None => simulate(&folder, &limits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::retire::RetirePlan;
    use std::time::Duration;

    use crate::util::version as v;

    /// The tier reasons survive the intent file (a crash replays them into the journal).
    #[test]
    fn the_tier_reasons_round_trip_through_the_intent() {
        let plan = RetirePlan {
            retired: v(1),
            heir: v(2),
            reasons: vec![
                RetireReason::Rules {
                    keep_versions: 10,
                    rules: KeepRules {
                        within: Some(Duration::from_millis(7_200_500)),
                        hourly: 24,
                        daily: 30,
                        weekly: 12,
                        monthly: 12,
                        yearly: 5,
                    },
                },
                RetireReason::Rules {
                    keep_versions: 1,
                    rules: KeepRules {
                        hourly: 2,
                        ..KeepRules::default()
                    },
                },
                RetireReason::VaultLimit {
                    kept_by: vec![Keep::Within, Keep::Daily],
                },
                RetireReason::VaultLimit { kept_by: vec![] },
                RetireReason::Inodes { used: 9, budget: 8 },
            ],
            moves: vec![],
            splits: Vec::new(),
            repoints: vec![],
            materialize: vec![],
            carried: vec![],
            refs_at: Vec::new(),
            times: vec![],
        };
        let text = intent::to_string(&plan);
        assert_eq!(intent::from_str(&text), Ok(plan.clone()));
        let shown: Vec<String> = plan.reasons.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            shown,
            [
                "rules: kept by none of keep_versions = 10, within 2h 500ms, hourly 24, daily 30, weekly 12, monthly 12, yearly 5",
                "rules: kept by none of keep_versions = 1, hourly 2",
                "vault_limit: over budget, the oldest version goes first although kept by within, daily",
                "vault_limit: over budget, the oldest version goes first",
                "9 inodes used, budget 8 inodes",
            ]
        );
        assert!(intent::from_str(&text.replace("within,daily", "within,weekdays")).is_err());
    }

    #[test]
    fn with_a_keep_table_the_count_is_the_rules_business() {
        let mut limits = Limits {
            keep_versions: 2,
            budget: Budget {
                bytes: Some(100),
                inodes: None,
            },
            keep: KeepRules::default(),
        };
        let used = Usage {
            bytes: 200,
            inodes: 1,
        };
        assert_eq!(limits.reasons(3, used).len(), 2, "keep_versions and bytes");
        limits.keep.daily = 1;
        let r = limits.reasons(3, used);
        assert!(
            matches!(r.as_slice(), [RetireReason::Bytes { .. }]),
            "{r:?}"
        );
        let r = limits.budget_reasons(&[v(1), v(2), v(3)], r);
        assert!(
            matches!(r.as_slice(), [RetireReason::VaultLimit { kept_by }, RetireReason::Bytes { .. }] if kept_by.is_empty()),
            "{r:?}"
        );
    }
}
