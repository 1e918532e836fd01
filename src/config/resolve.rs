//! Raw config -> [`Config`]: defaults merged into each job, durations, limits, globs,
//! filesystem signatures and paths parsed and checked, every problem collected.
//!
//! Resolution goes per section and per field in small functions: [`resolve_settings`]
//! (shared by `[defaults]` and each job), [`resolve_job`], then the checks across jobs.
//! A value that does not parse is reported once and replaced by the inherited value, so one
//! mistake does not cascade into more messages. Paths are made absolute against the config
//! file's folder and normalized lexically (`.` and `..` removed); nothing here touches the
//! filesystem: [`super::paths::path_warnings`] takes the existence probe as an argument.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::diag::{Locator, Part};
use super::paths::{check_collisions, check_cross_jobs, check_nesting, parse_path};
use super::raw::{RawConfig, RawJob, RawLimit, RawSettings};
use super::settings::Settings;
use super::{Config, Diagnostic, FsSpec, JobConfig, LimitExpr};

/// A value that does not parse: the message and an optional hint.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl Problem {
    pub(crate) fn new(message: impl Into<String>, hint: Option<&str>) -> Self {
        Problem {
            message: message.into(),
            hint: hint.map(str::to_owned),
        }
    }
}

/// Collects diagnostics while resolving.
pub struct Ctx<'a, 'l> {
    loc: &'a Locator<'l>,
    /// Everything found so far (errors and warnings).
    pub diags: Vec<Diagnostic>,
}

impl<'a, 'l> Ctx<'a, 'l> {
    /// A context placing diagnostics with `loc`.
    pub fn new(loc: &'a Locator<'l>) -> Self {
        Ctx {
            loc,
            diags: Vec::new(),
        }
    }

    pub(crate) fn error(&mut self, path: &[&str], part: Part, p: Problem) {
        let mut d = self.loc.error(path, part, p.message);
        d.hint = p.hint;
        self.diags.push(d);
    }

    pub(crate) fn warning(&mut self, path: &[&str], message: String) {
        self.diags
            .push(self.loc.warning(path, Part::Value, message));
    }

    fn is_set(&self, path: &[&str]) -> bool {
        self.loc.is_set(path)
    }

    fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }

    /// Parse `raw` (when set) with `parse`, reporting a failure at `section.key`.
    pub(crate) fn field<R, T>(
        &mut self,
        section: &[&str],
        key: &str,
        raw: Option<&R>,
        parse: impl FnOnce(&R) -> Result<T, Problem>,
    ) -> Option<T> {
        let raw = raw?;
        parse(raw)
            .map_err(|p| self.error(&with(section, key), Part::Value, p))
            .ok()
    }
}

pub(crate) fn with<'s>(section: &[&'s str], key: &'s str) -> Vec<&'s str> {
    let mut p = section.to_vec();
    p.push(key);
    p
}

/// Resolve a whole raw config read from `config_path` (absolute).
pub fn resolve(
    raw: &RawConfig,
    file_order: &[String],
    config_path: &Path,
    ctx: &mut Ctx,
) -> Option<Config> {
    let base = config_path.parent().unwrap_or(Path::new("/"));
    let raw_defaults = raw.defaults.clone().unwrap_or_default();
    let defaults = resolve_settings(&Settings::builtin(), &raw_defaults, &["defaults"], ctx);
    let empty = Default::default();
    let raw_jobs = raw.jobs.as_ref().unwrap_or(&empty);
    let mut jobs = Vec::new();
    for name in job_order(file_order, raw_jobs.keys()) {
        if !file_order.contains(&name) && !ensure_env_job_is_new(&name, file_order, ctx) {
            continue;
        }
        if let Some(job) = raw_jobs.get(&name) {
            jobs.extend(resolve_job(&name, job, &defaults, base, ctx));
        }
    }
    check_collisions(&jobs, ctx);
    check_cross_jobs(&jobs, ctx);
    if raw_jobs.is_empty() {
        ctx.warning(
            &[],
            "no jobs: add a [jobs.NAME] table with source and vault".into(),
        );
    }
    let web = super::web::resolve_web(raw.web.as_ref(), base, ctx);
    (!ctx.has_errors()).then(|| Config {
        path: config_path.to_path_buf(),
        jobs,
        web,
    })
}

/// A job only the environment defines whose name matches a file job but for case is a
/// failed override (variable names are lower-cased): say so instead of "no source".
fn ensure_env_job_is_new(name: &str, file_order: &[String], ctx: &mut Ctx) -> bool {
    let Some(meant) = file_order.iter().find(|f| f.eq_ignore_ascii_case(name)) else {
        return true;
    };
    let msg = format!(
        "environment overrides address jobs by lower-cased name: these variables define a \
         new job `{name}` instead of overriding `{meant}`"
    );
    let hint = format!("rename the job to `{name}` in the file, or set the value there");
    ctx.error(&["jobs", name], Part::Key, Problem::new(msg, Some(&hint)));
    false
}

/// File order first, then jobs that only the environment defines (sorted).
fn job_order<'k>(file: &[String], all: impl Iterator<Item = &'k String>) -> Vec<String> {
    let mut order = file.to_vec();
    order.extend(all.filter(|n| !file.contains(n)).cloned());
    order
}

/// Settings at `section` (`defaults` or `jobs.NAME`): `raw` on top of `base`.
pub fn resolve_settings(
    base: &Settings,
    raw: &RawSettings,
    section: &[&str],
    ctx: &mut Ctx,
) -> Settings {
    let s = base.resolve(raw, section, ctx);
    check_settle_order(&s, raw, section, ctx);
    s
}

/// `max_settle < settle` is an error where either is set, unless a misspelled `settle` or
/// `max_settle` was already reported: the order then compares a default the user did not
/// mean, and the typo is the one error to fix.
fn check_settle_order(s: &Settings, raw: &RawSettings, section: &[&str], ctx: &mut Ctx) {
    if s.max_settle >= s.settle || (raw.settle.is_none() && raw.max_settle.is_none()) {
        return;
    }
    let settle_typo = |d: &Diagnostic| {
        let hint = d.hint.as_deref().unwrap_or("");
        d.is_error() && (hint.ends_with("`settle`?") || hint.ends_with("`max_settle`?"))
    };
    if ctx.diags.iter().any(settle_typo) {
        return;
    }
    let key = if raw.max_settle.is_some() {
        "max_settle"
    } else {
        "settle"
    };
    let message = format!(
        "`max_settle` ({}) is shorter than `settle` ({})",
        humantime::format_duration(s.max_settle),
        humantime::format_duration(s.settle)
    );
    let hint = "max_settle is how long continuous change may postpone a version; make it >= settle";
    ctx.error(
        &with(section, key),
        Part::Value,
        Problem::new(message, Some(hint)),
    );
}

/// A humantime duration (`"90s"`, `"1m 30s"`, `"500ms"`).
pub fn parse_duration(text: &str) -> Result<Duration, Problem> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        Problem::new(
            format!("bad duration `{text}`: {}", duration_reason(&e)),
            Some("write a number with a unit: \"90s\", \"1m 30s\", \"500ms\", \"2h\""),
        )
    })
}

/// humantime's reasons in words a user can act on (its own name byte offsets).
fn duration_reason(e: &humantime::DurationError) -> String {
    use humantime::DurationError as E;
    match e {
        E::InvalidCharacter(_) => "only numbers, units and spaces are allowed".into(),
        E::NumberExpected(_) => "a number is missing (or a unit is split by a space)".into(),
        E::UnknownUnit { unit, .. } => {
            format!("unknown unit `{unit}` (use ms, s, m, h, d, w)")
        }
        E::NumberOverflow => "the number is too large (or finer than a nanosecond)".into(),
        E::Empty => "it is empty".into(),
    }
}

/// `rescan_interval`: a duration, `"0"` (or any zero duration) for never.
pub fn parse_rescan(text: &str) -> Result<Option<Duration>, Problem> {
    if text.trim() == "0" {
        return Ok(None);
    }
    parse_duration(text).map(|d| (!d.is_zero()).then_some(d))
}

pub(crate) fn parse_keep(n: &u32) -> Result<u32, Problem> {
    match *n {
        0 => Err(Problem::new(
            "`keep_versions` must be at least 1, found 0",
            Some("keep_versions = 1 keeps only the newest version"),
        )),
        n => Ok(n),
    }
}

pub(crate) fn parse_limit(raw: &RawLimit) -> Result<LimitExpr, Problem> {
    raw.to_text().parse().map_err(|e: super::limit::LimitError| {
        Problem::new(
            e.to_string(),
            Some("terms: N% (of the vault's bytes), iN% (of its inodes), iN (inodes), or a size like 500MiB; 0 = unlimited"),
        )
    })
}

/// One job: its settings on top of the defaults, its paths and signatures.
pub fn resolve_job(
    name: &str,
    raw: &RawJob,
    defaults: &Settings,
    base: &Path,
    ctx: &mut Ctx,
) -> Option<JobConfig> {
    let section = ["jobs", name];
    if name.trim().is_empty() {
        let p = Problem::new(
            "a job name must not be empty",
            Some("write [jobs.documents]"),
        );
        ctx.error(&section, Part::Key, p);
    }
    let s = resolve_settings(defaults, &raw.settings(), &section, ctx);
    let source = required_path(raw.source.as_deref(), &section, "source", base, ctx);
    let vault = required_path(raw.vault.as_deref(), &section, "vault", base, ctx);
    let source_fs = ctx.field(&section, "source_fs", raw.source_fs.as_ref(), |t| {
        parse_fs(t)
    });
    let vault_fs = ctx.field(&section, "vault_fs", raw.vault_fs.as_ref(), |t| parse_fs(t));
    let (source, vault) = (source?, vault?);
    check_nesting(&source, &vault, &section, ctx);
    Some(JobConfig {
        name: name.to_owned(),
        source,
        vault,
        source_fs,
        vault_fs,
        settings: s,
    })
}

fn parse_fs(text: &str) -> Result<FsSpec, Problem> {
    text.parse().map_err(|e: super::signature::FsSpecError| {
        Problem::new(
            e.to_string(),
            Some("for example: label=BACKUP or uuid=0a1b2c3d-…"),
        )
    })
}

/// `source`/`vault`: required, not empty, no `~`; relative to the config file's folder.
fn required_path(
    raw: Option<&str>,
    section: &[&str],
    key: &str,
    base: &Path,
    ctx: &mut Ctx,
) -> Option<PathBuf> {
    let Some(text) = raw else {
        if ctx.is_set(&with(section, key)) {
            return None; // set, but rejected already (wrong type)
        }
        let name = section.get(1).copied().unwrap_or_default();
        let msg = format!("job `{name}` has no `{key}`");
        let hint = format!("add {key} = \"/absolute/path\" under [jobs.{name}]");
        ctx.error(section, Part::Key, Problem::new(msg, Some(&hint)));
        return None;
    };
    ctx.field(section, key, Some(&text), |t| parse_path(t, base))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::env::EnvOverrides;
    use crate::config::tree::SpanIndex;

    pub(crate) fn resolve_text(text: &str) -> (Option<Config>, Vec<Diagnostic>) {
        let raw: RawConfig = toml::from_str(text).unwrap();
        let index = SpanIndex::parse(text).unwrap();
        let env = EnvOverrides::none();
        let loc = Locator::new(text, &index, &env);
        let mut ctx = Ctx::new(&loc);
        let c = resolve(
            &raw,
            index.job_order(),
            Path::new("/etc/r/r.toml"),
            &mut ctx,
        );
        (c, ctx.diags)
    }

    pub(crate) fn messages(diags: &[Diagnostic]) -> Vec<String> {
        diags.iter().map(|d| d.message.clone()).collect()
    }

    #[test]
    fn defaults_apply_and_jobs_override() {
        let (c, d) = resolve_text(
            "[defaults]\nsettle = \"30s\"\n[jobs.a]\nsource = \"/s\"\nvault = \"/v\"\nkeep_versions = 4\n",
        );
        assert!(d.is_empty(), "{d:#?}");
        let job = &c.unwrap().jobs[0];
        assert_eq!(job.settings.settle, Duration::from_secs(30));
        assert_eq!(job.settings.max_settle, Duration::from_secs(600));
        assert_eq!(job.settings.keep_versions, 4);
        assert_eq!(job.settings.vault_limit.as_str(), "5%");
        assert!(job.settings.keep_full_copy && !job.settings.attributes_only);
        assert_eq!(
            job.settings.rescan_interval,
            Some(Duration::from_secs(86400))
        );
    }

    #[test]
    fn every_bad_value_is_reported_once() {
        let (c, d) = resolve_text(
            "[defaults]\nsettle = \"soon\"\nkeep_versions = 0\nvault_limit = \"5 parsecs\"\n\
             [jobs.a]\nsource = \"/s\"\nvault = \"/v\"\n[jobs.b]\nsource = \"/s2\"\nvault = \"/v\"\n",
        );
        assert!(c.is_none());
        assert_eq!(d.len(), 3, "{d:#?}");
        assert!(d[0].message.starts_with("bad duration `soon`"));
        assert_eq!((d[0].line, d[0].col), (Some(2), Some(10)));
        assert_eq!(d[1].message, "`keep_versions` must be at least 1, found 0");
        assert!(d[2].message.starts_with("bad limit term `5 parsecs`"));
    }

    #[test]
    fn a_settle_typo_is_the_only_error_not_also_a_settle_order_one() {
        for text in [
            "[defaults]\nmax_settle = \"30s\"\n[jobs.a]\nsource = \"/s\"\nvault = \"/v\"\nsetle = \"2s\"\n",
            "[jobs.a]\nsource = \"/s\"\nvault = \"/v\"\nsetle = \"2s\"\nmax_settle = \"30s\"\n",
        ] {
            let (c, d) = crate::config::load::from_str(
                text,
                Path::new("/r.toml"),
                &EnvOverrides::none(),
                &|_| true,
            )
            .map(|l| (Some(l.config), l.warnings))
            .unwrap_or_else(|e| match e {
                crate::config::ConfigError::Invalid { problems, .. } => (None, problems),
                other => panic!("{other}"),
            });
            assert!(c.is_none());
            assert_eq!(messages(&d), ["unknown key `setle` in [jobs.a]"], "{text}");
        }
    }

    #[test]
    fn settle_order_is_checked_where_set() {
        let (_, d) = resolve_text("[defaults]\nsettle = \"5m\"\nmax_settle = \"1m\"\n");
        assert_eq!(
            messages(&d)[0],
            "`max_settle` (1m) is shorter than `settle` (5m)"
        );
        let (_, d) = resolve_text("[jobs.a]\nsource = \"/s\"\nvault = \"/v\"\nsettle = \"1h\"\n");
        assert_eq!(d[0].key.as_deref(), Some("jobs.a.settle"));
    }

    #[test]
    fn bad_globs_point_at_their_element() {
        let (_, d) = resolve_text("[defaults]\nexclude = [\"ok\", \"a[\", \"{x\"]\n");
        let d: Vec<_> = d.into_iter().filter(Diagnostic::is_error).collect();
        assert_eq!(d.len(), 2, "{d:#?}");
        assert_eq!(d[0].key.as_deref(), Some("defaults.exclude.1"));
        assert_eq!((d[0].line, d[0].col), (Some(2), Some(18)));
    }

    #[test]
    fn rescan_zero_is_off_and_tilde_is_refused() {
        assert_eq!(parse_rescan("0"), Ok(None));
        assert_eq!(parse_rescan("0s"), Ok(None));
        assert_eq!(parse_rescan("1h"), Ok(Some(Duration::from_secs(3600))));
        let msg = |t| parse_duration(t).unwrap_err().message;
        assert_eq!(
            msg("5 parsecs"),
            "bad duration `5 parsecs`: unknown unit `parsecs` (use ms, s, m, h, d, w)"
        );
        assert_eq!(
            msg("soon"),
            "bad duration `soon`: a number is missing (or a unit is split by a space)"
        );
        assert_eq!(msg(""), "bad duration ``: it is empty");
        assert!(msg("5s!").contains("only numbers, units and spaces"));
        assert!(parse_path("~/x", Path::new("/")).is_err());
        assert!(parse_path("", Path::new("/")).is_err());
        assert!(parse_path("a\0b", Path::new("/")).is_err());
    }

    #[test]
    fn fs_specs_parse_or_point_at_the_value() {
        let (c, d) = resolve_text(
            "[jobs.a]\nsource = \"/s\"\nvault = \"/v\"\nsource_fs = \"auto\"\nvault_fs = \"label=B\"\n",
        );
        assert!(d.is_empty());
        let job = &c.unwrap().jobs[0];
        assert_eq!(job.source_fs, Some(FsSpec::Auto));
        assert_eq!(job.vault_fs, Some(FsSpec::Label("B".into())));
        let (_, d) =
            resolve_text("[jobs.a]\nsource = \"/s\"\nvault = \"/v\"\nvault_fs = \"usb\"\n");
        assert!(d[0].message.starts_with("bad filesystem signature `usb`"));
        assert_eq!((d[0].line, d[0].col), (Some(4), Some(12)));
    }
}
