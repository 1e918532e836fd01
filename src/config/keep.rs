//! The `keep` table resolved: the age tiers a job keeps beside its `keep_versions` newest
//! versions ([`KeepRules`]), and their resolution from `[defaults.keep]` and
//! `[jobs.NAME.keep]`, key by key.
//!
//! This module owns the rules as data and their checks; deciding which versions they keep
//! is `vault::retire::policy` (a pure function over version times), which knows nothing about
//! the file.

use std::fmt;
use std::time::Duration;

use super::raw::RawKeep;
use super::resolve::{parse_duration, Ctx, Problem};

/// The age tiers of a job (restic `forget`'s `--keep-within/hourly/daily/weekly/monthly/
/// yearly`; `keep_versions` is its `--keep-last`). All zero: only `keep_versions` counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeepRules {
    /// Keep every version made within this long of the newest version (`None`: off).
    pub within: Option<Duration>,
    /// The newest version of each of the N most recent hours that hold one.
    pub hourly: u32,
    /// The newest version of each of the N most recent days (the version's local time).
    pub daily: u32,
    /// The newest version of each of the N most recent ISO weeks.
    pub weekly: u32,
    /// The newest version of each of the N most recent months.
    pub monthly: u32,
    /// The newest version of each of the N most recent years.
    pub yearly: u32,
}

impl KeepRules {
    /// True when no tier is set (then `keep_versions` alone decides, as without a table).
    pub fn is_empty(&self) -> bool {
        *self == KeepRules::default()
    }

    /// The count tiers with their names, newest bucket size first.
    pub fn tiers(&self) -> [(&'static str, u32); 5] {
        [
            ("hourly", self.hourly),
            ("daily", self.daily),
            ("weekly", self.weekly),
            ("monthly", self.monthly),
            ("yearly", self.yearly),
        ]
    }
}

/// The rules as a config fragment: `within 2h, hourly 24, daily 30` (`none` when empty).
impl fmt::Display for KeepRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(w) = self.within {
            parts.push(format!("within {}", humantime::format_duration(w)));
        }
        for (name, n) in self.tiers() {
            if n > 0 {
                parts.push(format!("{name} {n}"));
            }
        }
        if parts.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&parts.join(", "))
    }
}

/// `raw` (the `keep` table at `path`) on top of `base`, key by key; a bad `within` is
/// reported at its value and the inherited one kept.
pub fn resolve_keep(base: &KeepRules, raw: &RawKeep, path: &[&str], ctx: &mut Ctx) -> KeepRules {
    let within = ctx
        .field(path, "within", raw.within.as_ref(), |t| parse_within(t))
        .unwrap_or(base.within);
    KeepRules {
        within,
        hourly: raw.hourly.unwrap_or(base.hourly),
        daily: raw.daily.unwrap_or(base.daily),
        weekly: raw.weekly.unwrap_or(base.weekly),
        monthly: raw.monthly.unwrap_or(base.monthly),
        yearly: raw.yearly.unwrap_or(base.yearly),
    }
}

/// `within`: a duration; `"0"` (or any zero duration) turns it off.
pub fn parse_within(text: &str) -> Result<Option<Duration>, Problem> {
    if text.trim() == "0" {
        return Ok(None);
    }
    parse_duration(text)
        .map(|d| (!d.is_zero()).then_some(d))
        .map_err(|p| Problem::new(p.message, Some("write a duration: \"2h\", \"7d\", \"1w\"")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve::tests::{messages, resolve_text};

    const JOB: &str = "[jobs.a]\nsource = \"/s\"\nvault = \"/v\"\n";

    #[test]
    fn without_a_table_there_are_no_tiers() {
        let (c, d) = resolve_text(JOB);
        assert!(d.is_empty(), "{d:#?}");
        let job = &c.unwrap().jobs[0];
        assert!(job.settings.keep.is_empty());
        assert_eq!(job.settings.keep.to_string(), "none");
    }

    #[test]
    fn a_job_overrides_the_defaults_key_by_key() {
        let text = format!(
            "[defaults.keep]\nwithin = \"2h\"\nhourly = 24\ndaily = 30\n{JOB}[jobs.a.keep]\ndaily = 7\nyearly = 5\n\
             [jobs.b]\nsource = \"/t\"\nvault = \"/w\"\n"
        );
        let (c, d) = resolve_text(&text);
        assert!(d.is_empty(), "{d:#?}");
        let c = c.unwrap();
        let a = c.jobs[0].settings.keep;
        assert_eq!(a.within, Some(Duration::from_secs(7200)));
        assert_eq!((a.hourly, a.daily, a.weekly, a.yearly), (24, 7, 0, 5));
        assert_eq!(a.to_string(), "within 2h, hourly 24, daily 7, yearly 5");
        let b = c.jobs[1].settings.keep;
        assert_eq!((b.hourly, b.daily, b.yearly), (24, 30, 0));
    }

    #[test]
    fn within_zero_is_off_and_a_bad_one_points_at_its_value() {
        assert_eq!(parse_within("0"), Ok(None));
        assert_eq!(parse_within("0s"), Ok(None));
        assert_eq!(parse_within("1d"), Ok(Some(Duration::from_secs(86400))));
        let (c, d) = resolve_text(&format!("{JOB}[jobs.a.keep]\nwithin = \"2 fortnights\"\n"));
        assert!(c.is_none());
        assert_eq!(
            messages(&d),
            ["bad duration `2 fortnights`: unknown unit `fortnights` (use ms, s, m, h, d, w)"]
        );
        assert_eq!(d[0].key.as_deref(), Some("jobs.a.keep.within"));
        assert_eq!((d[0].line, d[0].col), (Some(5), Some(10)));
    }
}
