//! `reverberator prune JOB [--dry-run]`: enforce the job's `keep_versions`, `keep` tiers
//! and `vault_limit` now, retiring versions (never the newest) and printing what each
//! retire moved and freed, then each remaining version with the rules that keep it.
//! `--dry-run` prints, per version, whether it stays (and which rules keep it: `last`,
//! `within`, `hourly`, …) or goes (and why: `rules`, `vault_limit`, `keep_versions`), the
//! real plan of the first version to retire (moves, repoints, what deleting it frees),
//! changing nothing. Exit 1 when the newest version alone exceeds the budget (it is kept).

use std::io::Write;

use anyhow::Context;

use crate::cli::{GlobalArgs, PruneArgs};
use crate::config::{self, Budget, ConfigError, JobConfig};
use crate::exit::ExitCode;
use crate::vault::layout::JobFolder;
use crate::vault::retire::{
    self, DryRun, Fate, Limits, Preview, RetirePlan, RetireReason, RetireReport, Retired, Usage,
    VersionFate,
};

/// Run `reverberator prune`.
pub fn run(global: &GlobalArgs, args: &PruneArgs) -> anyhow::Result<ExitCode> {
    let loaded = match config::load(global.config.as_deref()) {
        Ok(l) => l,
        Err(e @ ConfigError::Invalid { .. }) => {
            anyhow::bail!("{e} (run `reverberator check-config` for details)")
        }
        Err(e) => return Err(e.into()),
    };
    let job = loaded.config.find_job(&args.job)?;
    if !job.job_dir().is_dir() {
        anyhow::bail!(
            "job {}: no versions yet ({} does not exist)",
            job.name,
            job.job_dir().display()
        );
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let preview = if args.dry_run && !job.settings.keep.is_empty() {
        retire::preview(job).with_context(|| format!("job {}", job.name))?
    } else {
        None
    };
    let code = if let Some(p) = preview {
        print_preview(&mut out, job, &p)?;
        if over_after(&p) {
            ExitCode::Failure
        } else {
            ExitCode::Success
        }
    } else if args.dry_run {
        let versions = JobFolder::open(&job.job_dir())
            .and_then(|f| f.versions())
            .with_context(|| format!("job {}", job.name))?;
        let dry = retire::dry_run(job).with_context(|| format!("job {}", job.name))?;
        if dry.pending.is_none() {
            let limits = Limits::for_job(job).with_context(|| format!("job {}", job.name))?;
            print_fates(&mut out, job, &retire::fates_of(&versions, &limits, &dry))?;
        }
        print_dry_run(&mut out, job, &dry)?;
        if dry.over_budget.is_some() {
            ExitCode::Failure
        } else {
            ExitCode::Success
        }
    } else {
        let report = retire::enforce(job).with_context(|| format!("job {}", job.name))?;
        print_report(&mut out, job, &report)?;
        print_kept(&mut out, job)?;
        if let Some(msg) = &report.over_budget {
            eprintln!("{}: {msg}", job.name);
            ExitCode::Failure
        } else {
            ExitCode::Success
        }
    };
    out.flush()?;
    Ok(code)
}

fn usage_text(u: Usage) -> String {
    format!("{} bytes and {} inodes", u.bytes, u.inodes)
}

fn budget_text(b: Budget) -> String {
    let part = |v: Option<u64>, unit: &str| {
        v.map_or(format!("no {unit} limit"), |n| format!("{n} {unit}"))
    };
    format!("{}, {}", part(b.bytes, "bytes"), part(b.inodes, "inodes"))
}

fn reasons_text(plan: &RetirePlan) -> String {
    let r: Vec<String> = plan.reasons.iter().map(|r| r.to_string()).collect();
    r.join("; ")
}

fn print_report(
    out: &mut impl Write,
    job: &JobConfig,
    report: &RetireReport,
) -> anyhow::Result<()> {
    if let Some(r) = &report.recovered {
        writeln!(
            out,
            "{}: finished an interrupted retire of {}",
            job.name, r.plan.retired
        )?;
    }
    if let Some(rc) = &report.recount {
        writeln!(
            out,
            "{}: recounted the job folder: {} on disk (cached figures said {})",
            job.name,
            usage_text(rc.counted),
            usage_text(rc.cached)
        )?;
    }
    for r in &report.retired {
        print_retired(out, job, r)?;
    }
    if report.retired.is_empty() {
        writeln!(out, "{}: nothing to retire", job.name)?;
    }
    writeln!(
        out,
        "{}: uses {} (budget: {})",
        job.name,
        usage_text(report.used),
        budget_text(report.budget)
    )?;
    Ok(())
}

fn print_retired(out: &mut impl Write, job: &JobConfig, r: &Retired) -> anyhow::Result<()> {
    writeln!(
        out,
        "{}: retired {} ({}): {} moved{}, {} repointed, {}freed {}",
        job.name,
        r.plan.retired,
        reasons_text(&r.plan),
        super::count(r.plan.moved() as u64, "folder", "folders"),
        match r.plan.receivers().as_slice() {
            [] => String::new(),
            vs => format!(
                " into {}",
                vs.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        super::count(r.plan.repoints.len() as u64, "link", "links"),
        match r.plan.materialize.len() {
            0 => String::new(),
            n => format!(
                "{} made real folders, ",
                super::count(n as u64, "link", "links")
            ),
        },
        usage_text(r.freed)
    )?;
    Ok(())
}

fn print_dry_run(out: &mut impl Write, job: &JobConfig, dry: &DryRun) -> anyhow::Result<()> {
    let name = &job.name;
    if let Some(p) = &dry.pending {
        writeln!(
            out,
            "{name}: an interrupted retire of {} is pending; the next writer finishes it:",
            p.retired
        )?;
        print_plan(out, p)?;
        return Ok(());
    }
    print_would_recount(out, name, dry.recount.as_ref())?;
    for step in &dry.steps {
        let why: Vec<String> = step.reasons.iter().map(|r| r.to_string()).collect();
        match &step.plan {
            Some(p) => {
                writeln!(
                    out,
                    "{name}: would retire {} ({}), freeing {}:",
                    step.version,
                    why.join("; "),
                    usage_text(step.freed)
                )?;
                print_plan(out, p)?;
            }
            None => writeln!(
                out,
                "{name}: would then retire {} ({}), freeing at most {}",
                step.version,
                why.join("; "),
                usage_text(step.freed)
            )?,
        }
    }
    if dry.steps.is_empty() {
        writeln!(out, "{name}: nothing to retire")?;
    }
    if let Some(msg) = &dry.over_budget {
        writeln!(out, "{name}: {msg}; it would be kept")?;
    }
    writeln!(
        out,
        "{name}: uses {} now, about {} after (budget: {})",
        usage_text(dry.used),
        usage_text(dry.used_after),
        budget_text(dry.budget)
    )?;
    Ok(())
}

/// The short name of why a version goes: `rules`, `vault_limit` or `keep_versions`.
fn goes_tag(reasons: &[RetireReason]) -> &'static str {
    match reasons.first() {
        Some(RetireReason::Rules { .. }) => "rules",
        Some(RetireReason::KeepVersions { .. }) => "keep_versions",
        Some(RetireReason::Requested) => "requested",
        _ => "vault_limit",
    }
}

/// One line per version: `JOB: V… stays: last, daily` or `JOB: V… goes (rules): …`.
fn print_fates(out: &mut impl Write, job: &JobConfig, fates: &[VersionFate]) -> anyhow::Result<()> {
    for f in fates {
        match &f.fate {
            Fate::Stays(keep) => {
                let k: Vec<&str> = keep.iter().map(|k| k.name()).collect();
                writeln!(out, "{}: {} stays: {}", job.name, f.version, k.join(", "))?;
            }
            Fate::Goes(reasons) => {
                let why: Vec<String> = reasons.iter().map(|r| r.to_string()).collect();
                writeln!(
                    out,
                    "{}: {} goes ({}): {}",
                    job.name,
                    f.version,
                    goes_tag(reasons),
                    why.join("; ")
                )?;
            }
        }
    }
    Ok(())
}

/// After a real prune: each remaining version and the rules that keep it.
fn print_kept(out: &mut impl Write, job: &JobConfig) -> anyhow::Result<()> {
    let dir = job.job_dir();
    let folder = JobFolder::open(&dir).with_context(|| format!("{}", dir.display()))?;
    let fates: Vec<VersionFate> = retire::keep_reasons(&folder, job)?
        .into_iter()
        .map(|v| VersionFate {
            version: v.version,
            fate: Fate::Stays(v.keep),
        })
        .collect();
    print_fates(out, job, &fates)
}

/// True when even after the preview's retires the folder would be over budget.
fn over_after(p: &Preview) -> bool {
    p.budget.bytes.is_some_and(|b| p.used_after.bytes > b)
        || p.budget.inodes.is_some_and(|b| p.used_after.inodes > b)
}

/// The recount a dry run would do first, if any.
fn print_would_recount(
    out: &mut impl Write,
    name: &str,
    rc: Option<&retire::Recounted>,
) -> anyhow::Result<()> {
    if let Some(rc) = rc {
        writeln!(
            out,
            "{name}: would recount the job folder: {} on disk (cached figures say {})",
            usage_text(rc.counted),
            usage_text(rc.cached)
        )?;
    }
    Ok(())
}

fn print_preview(out: &mut impl Write, job: &JobConfig, p: &Preview) -> anyhow::Result<()> {
    let name = &job.name;
    print_would_recount(out, name, p.recount.as_ref())?;
    print_fates(out, job, &p.fates)?;
    if let Some(step) = &p.first {
        if let Some(plan) = &step.plan {
            writeln!(
                out,
                "{name}: the first retire, {}, frees {}:",
                step.version,
                usage_text(step.freed)
            )?;
            print_plan(out, plan)?;
        }
    }
    let goes = p
        .fates
        .iter()
        .filter(|f| matches!(f.fate, Fate::Goes(_)))
        .count();
    if goes == 0 {
        writeln!(out, "{name}: nothing to retire")?;
    }
    if over_after(p) {
        writeln!(
            out,
            "{name}: the newest version alone would still exceed the budget; it would be kept"
        )?;
    }
    writeln!(
        out,
        "{name}: {goes} of {} version(s) would go; uses {} now, at least {} after (budget: {})",
        p.fates.len(),
        usage_text(p.used),
        usage_text(p.used_after),
        budget_text(p.budget)
    )?;
    Ok(())
}

fn print_plan(out: &mut impl Write, p: &RetirePlan) -> anyhow::Result<()> {
    for m in &p.moves {
        writeln!(
            out,
            "  move    {}/{} -> {}/{}",
            p.retired,
            m.from.display(),
            m.receiver,
            m.to.display()
        )?;
    }
    for s in &p.splits {
        writeln!(
            out,
            "  split   {}/{} -> {}/{} (a link left at {}/{})",
            p.retired,
            s.from.display(),
            s.receiver,
            s.to.display(),
            s.holder,
            s.at.display()
        )?;
    }
    for r in &p.repoints {
        writeln!(
            out,
            "  repoint {}/{}: {} -> {}",
            r.version,
            r.path.display(),
            r.old_target.display(),
            r.new_target.display()
        )?;
    }
    for m in &p.materialize {
        writeln!(
            out,
            "  real    {}/{}: {} -> a real copy of {}/{} (a link there would be too long)",
            m.version,
            m.path.display(),
            m.old_target.display(),
            m.holder,
            m.in_holder.display()
        )?;
    }
    for c in &p.carried {
        writeln!(
            out,
            "  carry   {}/{} -> {}/{} (links to {})",
            p.retired,
            c.from.display(),
            c.receiver,
            c.path.display(),
            c.target
        )?;
    }
    writeln!(out, "  delete  the rest of {}", p.retired)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::retire::{Materialize, Move, Repoint};
    use std::path::PathBuf;

    fn v(n: u64) -> crate::vault::layout::VersionName {
        format!("V{n}--2026-11-25_10-00-0{n}_+0000")
            .parse()
            .unwrap()
    }

    #[test]
    fn plans_print_one_line_per_step() {
        let plan = RetirePlan {
            retired: v(0),
            heir: v(1),
            reasons: Vec::new(),
            moves: vec![Move {
                from: "keep".into(),
                receiver: v(1),
                to: "keep".into(),
            }],
            splits: Vec::new(),
            repoints: vec![Repoint {
                version: v(2),
                path: "keep".into(),
                old_target: "../V0--2026-11-25_10-00-00_+0000/keep".into(),
                new_target: "../V1--2026-11-25_10-00-01_+0000/keep".into(),
            }],
            materialize: vec![Materialize {
                version: v(3),
                path: "deep/m".into(),
                old_target: "../../V0--2026-11-25_10-00-00_+0000/m".into(),
                from: "m".into(),
                holder: v(1),
                in_holder: PathBuf::from("deep/m"),
            }],
            carried: Vec::new(),
            refs_at: Vec::new(),
            times: Vec::new(),
        };
        let mut out = Vec::new();
        print_plan(&mut out, &plan).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "  move    V0--2026-11-25_10-00-00_+0000/keep -> V1--2026-11-25_10-00-01_+0000/keep\n\
             \x20 repoint V2--2026-11-25_10-00-02_+0000/keep: ../V0--2026-11-25_10-00-00_+0000/keep -> ../V1--2026-11-25_10-00-01_+0000/keep\n\
             \x20 real    V3--2026-11-25_10-00-03_+0000/deep/m: ../../V0--2026-11-25_10-00-00_+0000/m -> a real copy of V1--2026-11-25_10-00-01_+0000/deep/m (a link there would be too long)\n\
             \x20 delete  the rest of V0--2026-11-25_10-00-00_+0000\n"
        );
    }
}
