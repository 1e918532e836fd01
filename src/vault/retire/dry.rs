//! `prune --dry-run`: what enforcing the limits would retire and free, changing nothing.
//! The first version's plan is the real one ([`plan()`](super::plan())) and what it frees is
//! counted from disk ([`estimate_freed`]); later versions' plans depend on the first retire
//! being done, so for them only the reasons and an upper bound of what they free (what
//! they own by then) are given.

use std::collections::{HashSet, VecDeque};
use std::path::Path;

use super::account::{owned, recount, Figures, Usage};
use super::apply::split;
use super::enforce::{is_budget, Limits, Recounted};
use super::plan::{plan, RetirePlan, RetireReason};
use super::{real, RetireError};
use crate::config::Budget;
use crate::error::IoContext;
use crate::fs::Dir;
use crate::vault::layout::{JobFolder, VersionName};

/// One version a dry run would retire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryStep {
    /// The version.
    pub version: VersionName,
    /// Why it would go.
    pub reasons: Vec<RetireReason>,
    /// The exact plan: for the first version only (later plans depend on it being done).
    pub plan: Option<RetirePlan>,
    /// What it would free: counted from disk for the first version, an upper bound after.
    pub freed: Usage,
}

/// What `prune` would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    /// A retire cut short earlier, which the next writer finishes first.
    pub pending: Option<RetirePlan>,
    /// The recount `prune` would do first (counted now, not saved).
    pub recount: Option<Recounted>,
    /// The versions that would be retired, oldest first.
    pub steps: Vec<DryStep>,
    /// What the job folder uses now.
    pub used: Usage,
    /// What it would use afterwards (estimate after the first step).
    pub used_after: Usage,
    /// The budget.
    pub budget: Budget,
    /// Set when the newest version alone would still exceed the budget.
    pub over_budget: Option<String>,
}

impl DryRun {
    /// A dry run that only reports a pending retire.
    pub(super) fn pending(plan: RetirePlan, budget: Budget) -> DryRun {
        DryRun {
            pending: Some(plan),
            recount: None,
            steps: Vec::new(),
            used: Usage::default(),
            used_after: Usage::default(),
            budget,
            over_budget: None,
        }
    }
}

/// Simulate enforcement on the cached figures (recounted in memory when a budget is
/// exceeded and the folder was never recounted).
pub(super) fn simulate(folder: &JobFolder, limits: &Limits) -> Result<DryRun, RetireError> {
    let versions = folder.versions().at(folder.root())?;
    let (mut sim, recounted) = Sim::load(folder, &versions, limits)?;
    let mut out = DryRun {
        pending: None,
        recount: recounted,
        steps: Vec::new(),
        used: sim.used(),
        used_after: sim.used(),
        budget: limits.budget,
        over_budget: None,
    };
    let mut names: VecDeque<VersionName> = versions.into();
    loop {
        let reasons = limits.reasons(names.len(), sim.used());
        if reasons.is_empty() {
            break;
        }
        if names.len() < 2 {
            out.over_budget = Some(format!(
                "the newest version alone exceeds the budget ({})",
                reasons[0]
            ));
            break;
        }
        let Some(version) = names.pop_front() else {
            break;
        };
        let step = if out.steps.is_empty() {
            let (step, real) = exact_step(folder, version.number, reasons)?;
            for (v, added, gone) in real {
                sim.change(v, added, gone);
            }
            step
        } else {
            let freed = sim.owned(version.number);
            DryStep {
                version,
                reasons,
                plan: None,
                freed,
            }
        };
        sim.retire(step.version.number, step.freed);
        out.steps.push(step);
    }
    out.used_after = sim.used();
    Ok(out)
}

/// What retiring version number `victim` of `folder` now would do, changing nothing: the
/// exact plan ([`plan()`](super::plan())) and what it frees, counted from disk
/// ([`estimate_freed`]). Refuses like [`plan()`](super::plan()) does.
pub fn dry_step(
    folder: &JobFolder,
    victim: u64,
    reasons: Vec<RetireReason>,
) -> Result<DryStep, RetireError> {
    exact_step(folder, victim, reasons).map(|(step, _)| step)
}

/// Per version: what its real copies add, and the links they replace ([`real::estimate`]).
type RealChanges = Vec<(u64, Usage, Usage)>;

/// [`dry_step`], and what its real copies change per version.
fn exact_step(
    folder: &JobFolder,
    victim: u64,
    reasons: Vec<RetireReason>,
) -> Result<(DryStep, RealChanges), RetireError> {
    let p = plan(folder, victim, reasons.clone())?;
    let freed = estimate_freed(folder, &p)?;
    let real = real::estimate(folder, &p)?;
    let step = DryStep {
        version: p.retired.clone(),
        reasons,
        plan: Some(p),
        freed,
    };
    Ok((step, real))
}

/// The figures a simulation changes: each version's own usage (oldest first) and what
/// the folder uses beside its versions.
pub(super) struct Sim {
    rows: Vec<(u64, Usage)>,
    overhead: Usage,
}

impl Sim {
    /// The cached figures of `versions`, recounted from disk in memory (not saved) when a
    /// budget is exceeded and the folder was never recounted; with that recount, if any.
    pub(super) fn load(
        folder: &JobFolder,
        versions: &[VersionName],
        limits: &Limits,
    ) -> Result<(Sim, Option<Recounted>), RetireError> {
        let figures = Figures::load(folder, versions)?;
        let mut sim = Sim {
            rows: figures
                .rows
                .iter()
                .map(|r| (r.version, Usage::of_row(r)))
                .collect(),
            overhead: figures.overhead,
        };
        let cached = figures.used();
        if figures.recounted || !limits.reasons(versions.len(), cached).iter().any(is_budget) {
            return Ok((sim, None));
        }
        let rc = recount(folder, versions)?;
        for (v, u) in &mut sim.rows {
            if let Some(counted) = rc.versions.get(v) {
                *u = *counted;
            }
        }
        sim.overhead = rc.overhead;
        let counted = rc.total();
        Ok((sim, Some(Recounted { cached, counted })))
    }

    pub(super) fn used(&self) -> Usage {
        self.rows.iter().fold(self.overhead, |a, (_, u)| a.plus(*u))
    }

    /// Where version `v`'s row is: the rows are sorted by version (as [`Figures`] loads
    /// them), so a preview of thousands of versions looks each up in log time.
    fn position(&self, v: u64) -> Option<usize> {
        self.rows.binary_search_by_key(&v, |(n, _)| *n).ok()
    }

    pub(super) fn owned(&self, v: u64) -> Usage {
        self.position(v)
            .map_or(Usage::default(), |i| self.rows[i].1)
    }

    /// Version `v` gains `added` and loses `gone` (a link made a real copy).
    fn change(&mut self, v: u64, added: Usage, gone: Usage) {
        if let Some(i) = self.position(v) {
            let u = &mut self.rows[i].1;
            *u = u.plus(added).minus(gone);
        }
    }

    fn retire(&mut self, v: u64, freed: Usage) {
        let Some(pos) = self.position(v) else {
            return;
        };
        let (_, own) = self.rows.remove(pos);
        // The next version (rows are oldest first) gets what is not freed, as `index.tsv`
        // does.
        if let Some((_, heir)) = self.rows.get_mut(pos) {
            *heir = heir.plus(own.minus(freed));
        }
    }
}

/// What applying `plan` would free, counted from disk without changing it: every
/// directory of the retired version that does not move, every other inode all of whose
/// names are in the part that is deleted, and the receivers' links that the moves replace.
pub fn estimate_freed(folder: &JobFolder, plan: &RetirePlan) -> Result<Usage, RetireError> {
    let root = folder.version_path(&plan.retired);
    let skip: HashSet<&Path> = plan.moves.iter().map(|m| m.from.as_path()).collect();
    let mut freed = Dir::open(&root)
        .and_then(|top| owned(top, &|p| skip.contains(p)))
        .at(&root)?;
    for m in &plan.moves {
        let receiver = folder.version_path(&m.receiver);
        let (parent, name) = split(&m.to);
        let meta = Dir::open(&receiver)
            .and_then(|d| d.open_beneath(parent))
            .and_then(|d| d.stat(name))
            .at(receiver.join(&m.to))?;
        freed.add(meta.allocated, 1);
    }
    Ok(freed)
}
