//! What a job's rules and budget say about each of its versions now, changing nothing:
//! which rules keep a version ([`keep_reasons`], `list`'s reasons column and the web page),
//! and whether it stays or goes and why ([`preview`], `prune --dry-run` with a `keep`
//! table). It decides with [`policy`](super::policy) and estimates the budget from the
//! cached figures; it never plans more than the first retire ([`dry_step`]).

use std::collections::HashMap;

use super::account::Usage;
use super::dry::{dry_step, DryRun, DryStep, Sim};
use super::enforce::{is_budget, Limits, Recounted};
use super::plan::RetireReason;
use super::policy::{Keep, Verdict};
use super::{intent, RetireError};
use crate::config::{Budget, JobConfig};
use crate::error::IoContext;
use crate::vault::layout::{JobFolder, VersionName};
use crate::vault::lock::JobLock;

/// Whether a version stays, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// It stays, kept by these rules (never empty).
    Stays(Vec<Keep>),
    /// It goes, for these reasons: `Rules` (no rule keeps it), or `VaultLimit` beside the
    /// budget reasons, or `KeepVersions` without a `keep` table.
    Goes(Vec<RetireReason>),
}

/// One version and its fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionFate {
    /// The version.
    pub version: VersionName,
    /// Whether it stays.
    pub fate: Fate,
}

/// What enforcing a job with a `keep` table would do, version by version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// Every version, oldest first.
    pub fates: Vec<VersionFate>,
    /// The exact plan of the first version to go (none when nothing goes).
    pub first: Option<DryStep>,
    /// The recount the enforcement would do first (counted now, not saved).
    pub recount: Option<Recounted>,
    /// What the job folder uses now.
    pub used: Usage,
    /// At least what it uses afterwards (as if every version that goes freed all it owns).
    pub used_after: Usage,
    /// The budget.
    pub budget: Budget,
}

/// The rules that keep each version of `folder` under `job`'s `keep_versions` and `keep`
/// table, oldest first (an empty list: no rule keeps it, it goes at the next
/// enforcement). The budget is not consulted: after each enforcement the folder is within
/// it unless the newest version alone exceeds it.
pub fn keep_reasons(folder: &JobFolder, job: &JobConfig) -> Result<Vec<Verdict>, RetireError> {
    let versions = folder.versions().at(folder.root())?;
    let limits = Limits {
        keep_versions: job.settings.keep_versions.max(1),
        budget: Budget::default(),
        keep: job.settings.keep,
    };
    Ok(limits.verdicts(&versions))
}

/// The fates a dry run without a `keep` table gives: the versions it would retire go for
/// its reasons, the others stay, kept by `last`.
pub fn fates_of(versions: &[VersionName], limits: &Limits, dry: &DryRun) -> Vec<VersionFate> {
    let goes: HashMap<u64, &Vec<RetireReason>> = dry
        .steps
        .iter()
        .map(|s| (s.version.number, &s.reasons))
        .collect();
    limits
        .verdicts(versions)
        .into_iter()
        .map(|v| VersionFate {
            fate: match goes.get(&v.version.number) {
                Some(r) => Fate::Goes((*r).clone()),
                None => Fate::Stays(if v.keep.is_empty() {
                    vec![Keep::Last]
                } else {
                    v.keep
                }),
            },
            version: v.version,
        })
        .collect()
}

/// What enforcing `job` (with a `keep` table) would do, changing nothing; takes the job
/// lock to read a consistent folder. `None` when a retire cut short earlier is pending
/// (the caller reports that, [`super::dry_run`]).
pub fn preview(job: &JobConfig) -> Result<Option<Preview>, RetireError> {
    let dir = job.job_dir();
    let _lock = JobLock::acquire(&dir).map_err(RetireError::Lock)?;
    let folder = JobFolder::open(&dir).at(&dir)?;
    if intent::read(&folder)?.is_some() {
        return Ok(None);
    }
    preview_in(&folder, &Limits::for_job(job)?).map(Some)
}

/// [`preview`] on an open folder.
pub fn preview_in(folder: &JobFolder, limits: &Limits) -> Result<Preview, RetireError> {
    let versions = folder.versions().at(folder.root())?;
    let (sim, recounted) = Sim::load(folder, &versions, limits)?;
    let used = sim.used();
    let mut after = used;
    let mut fates = Vec::new();
    let mut staying = Vec::new();
    for v in limits.verdicts(&versions) {
        if v.kept() {
            staying.push(v);
            continue;
        }
        after = after.minus(sim.owned(v.version.number));
        fates.push(VersionFate {
            version: v.version,
            fate: Fate::Goes(vec![limits.rules_reason()]),
        });
    }
    let mut staying = staying.into_iter().peekable();
    while let Some(v) = staying.next() {
        let over = limits.reasons(2, after);
        if staying.peek().is_none() || !over.iter().any(is_budget) {
            fates.push(VersionFate {
                version: v.version,
                fate: Fate::Stays(v.keep),
            });
            continue;
        }
        after = after.minus(sim.owned(v.version.number));
        let mut reasons = vec![RetireReason::VaultLimit { kept_by: v.keep }];
        reasons.extend(over.into_iter().filter(is_budget));
        fates.push(VersionFate {
            version: v.version,
            fate: Fate::Goes(reasons),
        });
    }
    fates.sort_by_key(|f| f.version.number);
    let first = first_step(folder, &fates)?;
    Ok(Preview {
        fates,
        first,
        recount: recounted,
        used,
        used_after: after,
        budget: limits.budget,
    })
}

/// The exact plan of the oldest version that goes.
fn first_step(folder: &JobFolder, fates: &[VersionFate]) -> Result<Option<DryStep>, RetireError> {
    let Some((version, reasons)) = fates.iter().find_map(|f| match &f.fate {
        Fate::Goes(r) => Some((&f.version, r)),
        Fate::Stays(_) => None,
    }) else {
        return Ok(None);
    };
    dry_step(folder, version.number, reasons.clone()).map(Some)
}
