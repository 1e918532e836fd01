//! The retention policy as a pure function: which versions a job's `keep_versions` and
//! `keep` table ([`KeepRules`]) keep, and by which rules ([`Keep`]). It owns nothing but
//! that decision: no I/O, no clock (`within` is measured from the newest version's own
//! time), no knowledge of budgets (`vault_limit` is enforced after it, in `enforce`).
//!
//! The semantics are those of restic's `forget` (`ApplyPolicy` in
//! `internal/restic/snapshot_policy.go`), with `keep_versions` as `--keep-last`:
//! - walk the versions from the newest to the oldest;
//! - `last` keeps the first `keep_versions` of them;
//! - `within` keeps every version whose time is strictly after (newest time − within);
//! - each count tier (`hourly`, `daily`, `weekly`, `monthly`, `yearly`) has a bucket value
//!   per version (its local year+month+day+hour, year+month+day, ISO year+week, year+month,
//!   year) and keeps a version when that value differs from the value of the last version
//!   *this tier* kept, while its count lasts; each kept version uses up one count;
//! - a tier with counts left also keeps the oldest version (restic: "this maximizes the
//!   history length kept while some counts are left");
//! - a version is kept when any rule keeps it. With `keep_versions` at least 1 the newest
//!   version is always kept (by `last`).
//!
//! Where this differs from restic: versions are ordered by their number (the order they
//! were made in, which is time order unless the clock went back), so the newest version is
//! the one the engine never retires; the newest time is the largest time of any version,
//! even one in the future (restic skips snapshots dated after now; a pure function has no
//! now); `within` is a fixed length (humantime: `1d` is 24h), where restic counts calendar
//! days and months. Buckets use the local time written in each version's name (the zone
//! the machine had when it made the version), as restic uses each snapshot's own zone.

use std::fmt;

use chrono::{DateTime, Datelike, FixedOffset, Timelike};

use crate::config::KeepRules;
use crate::vault::layout::VersionName;

/// A rule that keeps a version (restic's "reasons").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Keep {
    /// One of the `keep_versions` newest versions.
    Last,
    /// Made within `keep.within` of the newest version.
    Within,
    /// The newest version of one of the `keep.hourly` most recent hours holding one.
    Hourly,
    /// The newest version of one of the `keep.daily` most recent days holding one.
    Daily,
    /// The newest version of one of the `keep.weekly` most recent ISO weeks holding one.
    Weekly,
    /// The newest version of one of the `keep.monthly` most recent months holding one.
    Monthly,
    /// The newest version of one of the `keep.yearly` most recent years holding one.
    Yearly,
}

impl Keep {
    /// Every rule, in the order reasons are listed.
    pub const ALL: [Keep; 7] = [
        Keep::Last,
        Keep::Within,
        Keep::Hourly,
        Keep::Daily,
        Keep::Weekly,
        Keep::Monthly,
        Keep::Yearly,
    ];

    /// The rule's name as `prune`, `list` and the journal write it.
    pub fn name(self) -> &'static str {
        match self {
            Keep::Last => "last",
            Keep::Within => "within",
            Keep::Hourly => "hourly",
            Keep::Daily => "daily",
            Keep::Weekly => "weekly",
            Keep::Monthly => "monthly",
            Keep::Yearly => "yearly",
        }
    }

    /// The rule called `name` ([`Keep::name`]).
    pub fn from_name(name: &str) -> Option<Keep> {
        Keep::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The rules that keep one version; empty: no rule keeps it (it goes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The version.
    pub version: VersionName,
    /// The rules keeping it, in [`Keep::ALL`] order; empty when it goes.
    pub keep: Vec<Keep>,
}

impl Verdict {
    /// True when some rule keeps the version.
    pub fn kept(&self) -> bool {
        !self.keep.is_empty()
    }
}

/// The bucket value of `t` for a count tier (restic's `ymdh`, `ymd`, `yw`, `ym`, `y`), in
/// the version's own local time.
fn bucket(rule: Keep, t: &DateTime<FixedOffset>) -> i64 {
    let (y, m, d, h) = (
        i64::from(t.year()),
        i64::from(t.month()),
        i64::from(t.day()),
        i64::from(t.hour()),
    );
    match rule {
        Keep::Hourly => ((y * 100 + m) * 100 + d) * 100 + h,
        Keep::Daily => (y * 100 + m) * 100 + d,
        Keep::Weekly => {
            let w = t.iso_week();
            i64::from(w.year()) * 100 + i64::from(w.week())
        }
        Keep::Monthly => y * 100 + m,
        Keep::Yearly => y,
        Keep::Last | Keep::Within => 0,
    }
}

/// Decide which of `versions` (any order) `keep_versions` (at least 1 is used) and `rules`
/// keep. The verdicts come oldest first (by version number).
pub fn decide(versions: &[VersionName], keep_versions: u32, rules: &KeepRules) -> Vec<Verdict> {
    let mut sorted: Vec<&VersionName> = versions.iter().collect();
    sorted.sort_by_key(|v| std::cmp::Reverse(v.number));
    let Some(latest) = sorted.iter().map(|v| v.time).max() else {
        return Vec::new();
    };
    let since = rules
        .within
        .and_then(|w| chrono::Duration::from_std(w).ok())
        .and_then(|w| latest.checked_sub_signed(w));
    // (rule, counts left, bucket value of the last version it kept)
    let mut tiers: Vec<(Keep, u32, Option<i64>)> = [
        (Keep::Hourly, rules.hourly),
        (Keep::Daily, rules.daily),
        (Keep::Weekly, rules.weekly),
        (Keep::Monthly, rules.monthly),
        (Keep::Yearly, rules.yearly),
    ]
    .into_iter()
    .map(|(k, n)| (k, n, None))
    .collect();
    let last = keep_versions.max(1) as usize;
    let oldest = sorted.len() - 1;
    let mut out: Vec<Verdict> = sorted
        .iter()
        .enumerate()
        .map(|(nr, v)| {
            let mut keep = Vec::new();
            if nr < last {
                keep.push(Keep::Last);
            }
            if rules.within.is_some() && since.map_or(true, |s| v.time > s) {
                keep.push(Keep::Within);
            }
            for (rule, left, seen) in tiers.iter_mut().filter(|t| t.1 > 0) {
                let val = bucket(*rule, &v.time);
                if *seen != Some(val) || nr == oldest {
                    *seen = Some(val);
                    *left -= 1;
                    keep.push(*rule);
                }
            }
            Verdict {
                version: (*v).clone(),
                keep,
            }
        })
        .collect();
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Versions numbered from 0, at the given local times (`YYYY-MM-DD HH:MM`, +0100).
    fn at(times: &[&str]) -> Vec<VersionName> {
        times
            .iter()
            .enumerate()
            .map(|(n, t)| {
                let t = DateTime::parse_from_str(&format!("{t}:00 +0100"), "%Y-%m-%d %H:%M:%S %z")
                    .unwrap();
                VersionName::at(n as u64, t)
            })
            .collect()
    }

    /// The verdicts as `n:rule+rule` (kept) or `n:-` (goes), oldest first.
    fn show(v: &[Verdict]) -> Vec<String> {
        v.iter()
            .map(|v| {
                let k: Vec<&str> = v.keep.iter().map(|k| k.name()).collect();
                let k = if k.is_empty() {
                    "-".into()
                } else {
                    k.join("+")
                };
                format!("{}:{k}", v.version.number)
            })
            .collect()
    }

    fn rules(f: impl FnOnce(&mut KeepRules)) -> KeepRules {
        let mut r = KeepRules::default();
        f(&mut r);
        r
    }

    #[test]
    fn without_tiers_keep_versions_alone_decides() {
        let v = at(&["2026-01-01 10:00", "2026-01-01 11:00", "2026-01-01 12:00"]);
        assert_eq!(
            show(&decide(&v, 2, &KeepRules::default())),
            ["0:-", "1:last", "2:last"]
        );
        // keep_versions 0 is treated as 1: the newest stays.
        assert_eq!(
            show(&decide(&v, 0, &KeepRules::default())),
            ["0:-", "1:-", "2:last"]
        );
        assert!(decide(&[], 3, &KeepRules::default()).is_empty());
    }

    #[test]
    fn daily_keeps_the_newest_of_each_day() {
        let v = at(&[
            "2026-01-01 09:00", // 0
            "2026-01-01 18:00", // 1: newest of Jan 1
            "2026-01-02 08:00", // 2
            "2026-01-02 20:00", // 3: newest of Jan 2
            "2026-01-03 07:00", // 4
            "2026-01-03 07:30", // 5: newest, Jan 3
        ]);
        let r = rules(|r| r.daily = 3);
        assert_eq!(
            show(&decide(&v, 1, &r)),
            ["0:-", "1:daily", "2:-", "3:daily", "4:-", "5:last+daily"]
        );
        // With a fourth count left the oldest is kept as well (restic keeps the oldest
        // while a tier has counts left); with 2 the count runs out at Jan 2.
        let r = rules(|r| r.daily = 4);
        assert_eq!(
            show(&decide(&v, 1, &r)),
            [
                "0:daily",
                "1:daily",
                "2:-",
                "3:daily",
                "4:-",
                "5:last+daily"
            ]
        );
        let r = rules(|r| r.daily = 2);
        assert_eq!(
            show(&decide(&v, 1, &r)),
            ["0:-", "1:-", "2:-", "3:daily", "4:-", "5:last+daily"]
        );
    }

    #[test]
    fn the_oldest_is_kept_while_a_tier_has_counts_left() {
        let v = at(&["2026-01-01 09:00", "2026-01-01 10:00", "2026-01-01 11:00"]);
        // One day only, daily = 5: the newest uses one count, the oldest gets another.
        let r = rules(|r| r.daily = 5);
        assert_eq!(show(&decide(&v, 1, &r)), ["0:daily", "1:-", "2:last+daily"]);
        // daily = 1: the count is used up by the newest; the oldest goes.
        let r = rules(|r| r.daily = 1);
        assert_eq!(show(&decide(&v, 1, &r)), ["0:-", "1:-", "2:last+daily"]);
    }

    #[test]
    fn within_is_measured_from_the_newest_version_strictly() {
        let v = at(&[
            "2026-03-01 08:00", // exactly 2h before the newest: not within
            "2026-03-01 08:01",
            "2026-03-01 10:00",
        ]);
        let r = rules(|r| r.within = Some(Duration::from_secs(7200)));
        assert_eq!(
            show(&decide(&v, 1, &r)),
            ["0:-", "1:within", "2:last+within"]
        );
    }

    #[test]
    fn hourly_weekly_monthly_yearly_buckets() {
        let v = at(&[
            "2024-12-31 23:10", // 0: 2024, Dec, ISO week 2025-W01 (Tuesday)
            "2025-01-05 12:00", // 1: Sunday, still 2025-W01
            "2025-01-06 00:30", // 2: Monday, 2025-W02
            "2025-01-06 00:50", // 3: same hour as 2
            "2025-02-01 10:00", // 4
        ]);
        assert_eq!(
            show(&decide(&v, 1, &rules(|r| r.hourly = 10))),
            ["0:hourly", "1:hourly", "2:-", "3:hourly", "4:last+hourly"]
        );
        assert_eq!(
            show(&decide(&v, 1, &rules(|r| r.weekly = 2))),
            ["0:-", "1:-", "2:-", "3:weekly", "4:last+weekly"]
        );
        assert_eq!(
            show(&decide(&v, 1, &rules(|r| r.weekly = 5))),
            ["0:weekly", "1:weekly", "2:-", "3:weekly", "4:last+weekly"]
        );
        assert_eq!(
            show(&decide(&v, 1, &rules(|r| r.monthly = 2))),
            ["0:-", "1:-", "2:-", "3:monthly", "4:last+monthly"]
        );
        assert_eq!(
            show(&decide(&v, 1, &rules(|r| r.yearly = 5))),
            ["0:yearly", "1:-", "2:-", "3:-", "4:last+yearly"]
        );
    }

    #[test]
    fn buckets_use_each_versions_own_offset() {
        // 23:30 at +0100 and 00:30 at +0200 are the same instant but different local days.
        let a = DateTime::parse_from_rfc3339("2026-06-01T23:30:00+01:00").unwrap();
        let b = DateTime::parse_from_rfc3339("2026-06-02T00:30:00+02:00").unwrap();
        let v = [VersionName::at(0, a), VersionName::at(1, b)];
        assert_eq!(
            show(&decide(&v, 1, &rules(|r| r.daily = 1))),
            ["0:-", "1:last+daily"]
        );
        assert_eq!(
            show(&decide(&v, 1, &rules(|r| r.daily = 2))),
            ["0:daily", "1:last+daily"]
        );
    }

    #[test]
    fn every_rule_together_lists_every_reason_and_input_order_does_not_matter() {
        let mut v = at(&[
            "2025-06-01 10:00",
            "2026-01-01 10:00",
            "2026-01-02 10:00",
            "2026-01-02 10:30",
        ]);
        let r = KeepRules {
            within: Some(Duration::from_secs(3600)),
            hourly: 1,
            daily: 2,
            weekly: 1,
            monthly: 1,
            yearly: 2,
        };
        let want = [
            "0:yearly",
            "1:daily",
            "2:within",
            "3:last+within+hourly+daily+weekly+monthly+yearly",
        ];
        assert_eq!(show(&decide(&v, 1, &r)), want);
        v.reverse();
        assert_eq!(show(&decide(&v, 1, &r)), want);
    }

    /// The worked example of docs/CONFIG.md: a year of versions every 10 minutes (52,560,
    /// from 2026-01-01 00:00 +01:00, one fixed offset) under the recommended table.
    #[test]
    fn a_year_every_ten_minutes_under_the_recommended_rules() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00+01:00").unwrap();
        let versions: Vec<VersionName> = (0..52_560u64)
            .map(|n| VersionName::at(n, start + chrono::Duration::minutes(10 * n as i64)))
            .collect();
        let r = KeepRules {
            within: Some(Duration::from_secs(2 * 3600)),
            hourly: 24,
            daily: 30,
            weekly: 12,
            monthly: 12,
            yearly: 5,
        };
        let verdicts = decide(&versions, 10, &r);
        let kept: Vec<&Verdict> = verdicts.iter().filter(|v| v.kept()).collect();
        let by = |k: Keep| kept.iter().filter(|v| v.keep.contains(&k)).count();
        let only = |k: Keep| kept.iter().filter(|v| v.keep == [k]).count();
        eprintln!(
            "kept {} of {}; last {} within {} hourly {} daily {} weekly {} monthly {} yearly {}; \
             kept by one rule only: hourly {} daily {} weekly {} monthly {} yearly {}; oldest {}",
            kept.len(),
            verdicts.len(),
            by(Keep::Last),
            by(Keep::Within),
            by(Keep::Hourly),
            by(Keep::Daily),
            by(Keep::Weekly),
            by(Keep::Monthly),
            by(Keep::Yearly),
            only(Keep::Hourly),
            only(Keep::Daily),
            only(Keep::Weekly),
            only(Keep::Monthly),
            only(Keep::Yearly),
            kept[0].version,
        );
        assert_eq!(kept.len(), 82);
        let counts = Keep::ALL.map(by);
        assert_eq!(counts, [10, 12, 24, 30, 12, 12, 2]);
        // The oldest version stays: yearly still has counts left when the walk reaches it.
        assert_eq!(kept[0].version.number, 0);
        assert_eq!(kept[0].keep, [Keep::Yearly]);
    }

    /// A deliberately plain reference: per tier, the versions (newest first) whose bucket
    /// differs from the previous version's start a run; the first `n` run starts are kept,
    /// and the oldest too when fewer than `n` starts come before it.
    fn reference(versions: &[VersionName], last: u32, r: &KeepRules) -> Vec<(u64, Vec<Keep>)> {
        let mut newest_first = versions.to_vec();
        newest_first.sort_by_key(|v| std::cmp::Reverse(v.number));
        let max_t = newest_first
            .iter()
            .map(|v| v.time.timestamp())
            .max()
            .unwrap();
        let n = newest_first.len();
        let mut keep: Vec<Vec<Keep>> = vec![Vec::new(); n];
        for k in keep.iter_mut().take(last.max(1) as usize) {
            k.push(Keep::Last);
        }
        if let Some(w) = r.within {
            for (i, v) in newest_first.iter().enumerate() {
                if v.time.timestamp() > max_t - w.as_secs() as i64 {
                    keep[i].push(Keep::Within);
                }
            }
        }
        let key = |rule: Keep, t: &DateTime<FixedOffset>| -> String {
            match rule {
                Keep::Hourly => t.format("%Y-%m-%d %H").to_string(),
                Keep::Daily => t.format("%Y-%m-%d").to_string(),
                Keep::Weekly => t.format("%G-W%V").to_string(),
                Keep::Monthly => t.format("%Y-%m").to_string(),
                _ => t.format("%Y").to_string(),
            }
        };
        for (rule, count) in [
            (Keep::Hourly, r.hourly),
            (Keep::Daily, r.daily),
            (Keep::Weekly, r.weekly),
            (Keep::Monthly, r.monthly),
            (Keep::Yearly, r.yearly),
        ] {
            let keys: Vec<String> = newest_first.iter().map(|v| key(rule, &v.time)).collect();
            let starts: Vec<usize> = (0..n)
                .filter(|&i| i == 0 || keys[i] != keys[i - 1])
                .collect();
            let chosen: Vec<usize> = starts.iter().copied().take(count as usize).collect();
            for &i in &chosen {
                keep[i].push(rule);
            }
            if count as usize > chosen.len() && !chosen.contains(&(n - 1)) {
                keep[n - 1].push(rule);
            }
        }
        let mut out: Vec<(u64, Vec<Keep>)> = newest_first
            .iter()
            .zip(keep)
            .map(|(v, mut k)| {
                k.sort();
                (v.number, k)
            })
            .collect();
        out.reverse();
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        /// [`decide`] agrees with the reference on random histories (times that may go
        /// back, mixed offsets, bursts within one hour and gaps of weeks) and random rules.
        #[test]
        fn decide_matches_a_plain_reference(
            steps in proptest::collection::vec((-7_200i64..400_000, 0usize..3, 0u32..4), 1..60),
            last in 0u32..4,
            counts in proptest::array::uniform5(0u32..6),
            within in proptest::option::of(1u64..300_000),
        ) {
            let offsets = [3600, 7200, -5 * 3600];
            let mut t = 1_767_225_600i64; // 2026-01-01 00:00 UTC
            let versions: Vec<VersionName> = steps
                .iter()
                .enumerate()
                .map(|(n, &(step, off, scale))| {
                    t += step * i64::from(scale + 1);
                    let zone = FixedOffset::east_opt(offsets[off]).unwrap();
                    VersionName::at(n as u64, DateTime::from_timestamp(t, 0).unwrap().with_timezone(&zone))
                })
                .collect();
            let r = KeepRules {
                within: within.map(Duration::from_secs),
                hourly: counts[0],
                daily: counts[1],
                weekly: counts[2],
                monthly: counts[3],
                yearly: counts[4],
            };
            let got: Vec<(u64, Vec<Keep>)> = decide(&versions, last, &r)
                .into_iter()
                .map(|v| (v.version.number, v.keep))
                .collect();
            proptest::prop_assert_eq!(got, reference(&versions, last, &r));
        }
    }
}
