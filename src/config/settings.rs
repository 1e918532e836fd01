//! Every setting of `[defaults]` (which a job may override), defined once.
//!
//! One `settings!` entry per key gives its doc text, its schema constraints, its type as
//! written, its resolved type, its built-in default, the function that resolves it and the
//! words diagnostics use for what it must be. From that list come the serde mirrors
//! [`RawSettings`] and [`RawJob`] (which also holds the job's own keys), the JSON Schema of
//! both (through `schemars`), the resolved [`Settings`] with [`Settings::builtin`], its
//! resolution on top of an inherited value (`Settings::resolve`) and the key list the
//! layer's messages read ([`EXPECTED`]). Adding a key is one entry here plus its docs.
//!
//! A resolver has the shape `fn(inherited, as_written, key_path, ctx) -> value` and runs
//! only when the key is set; it reports a bad value at `key_path` and returns the inherited
//! value then, so one mistake does not cascade.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::diag::Part;
use super::keep::{resolve_keep, KeepRules};
use super::raw::{RawKeep, RawLimit};
use super::resolve::{parse_duration, parse_keep, parse_limit, parse_rescan, with, Ctx, Problem};
use super::{Excludes, LimitExpr};

macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])*
        $(#[schemars($($schema:tt)*)])*
        $key:ident: $raw:ty => $ty:ty = $default:expr, by $resolve:path, expects $expects:literal;
    )*) => {
        /// The keys of `[defaults]`; every one may also be set per job.
        #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        #[schemars(rename = "Defaults")]
        pub struct RawSettings {
            $( $(#[doc = $doc])* $(#[schemars($($schema)*)])* pub $key: Option<$raw>, )*
        }

        /// One `[jobs.NAME]` table: the job's own keys plus any `[defaults]` key as an
        /// override (documented as in `[defaults]`).
        #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        #[schemars(rename = "Job")]
        pub struct RawJob {
            /// The directory to keep versions of. Relative paths are resolved against the
            /// folder of the config file.
            #[schemars(required, length(min = 1))]
            pub source: Option<String>,
            /// The vault root; versions go into `<vault>/<sanitized job name>/`. Relative
            /// paths are resolved against the folder of the config file.
            #[schemars(required, length(min = 1))]
            pub vault: Option<String>,
            /// Which filesystem the source must be on: auto | uuid=… | partuuid=… |
            /// label=… | partlabel=… | dev=/dev/…
            #[schemars(regex(
                pattern = r"^\s*(?:[Aa][Uu][Tt][Oo]|(?:[Pp][Aa][Rr][Tt])?(?:[Uu][Uu][Ii][Dd]|[Ll][Aa][Bb][Ee][Ll])\s*=\s*\S.*|[Dd][Ee][Vv]\s*=\s*/dev/.+)\s*$"
            ))]
            pub source_fs: Option<String>,
            /// Which filesystem the vault must be on (same forms as source_fs).
            #[schemars(regex(
                pattern = r"^\s*(?:[Aa][Uu][Tt][Oo]|(?:[Pp][Aa][Rr][Tt])?(?:[Uu][Uu][Ii][Dd]|[Ll][Aa][Bb][Ee][Ll])\s*=\s*\S.*|[Dd][Ee][Vv]\s*=\s*/dev/.+)\s*$"
            ))]
            pub vault_fs: Option<String>,
            $(
                $(#[doc = $doc])*
                $(#[schemars($($schema)*)])*
                pub $key: Option<$raw>,
            )*
        }

        impl RawJob {
            /// The `[defaults]`-style keys this job sets itself.
            pub fn settings(&self) -> RawSettings {
                RawSettings { $( $key: self.$key.clone(), )* }
            }
        }

        /// The `[defaults]`-style settings, resolved: what a job runs with.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Settings {
            $( $(#[doc = $doc])* pub $key: $ty, )*
        }

        impl Settings {
            /// The built-in defaults (what an empty `[defaults]` means).
            pub fn builtin() -> Self {
                Settings { $( $key: $default, )* }
            }

            /// `raw` (the keys set at `section`) on top of `self`, every bad value reported.
            pub(crate) fn resolve(&self, raw: &RawSettings, section: &[&str], ctx: &mut Ctx) -> Self {
                Settings {
                    $( $key: match &raw.$key {
                        Some(r) => $resolve(&self.$key, r, &with(section, stringify!($key)), ctx),
                        None => self.$key.clone(),
                    }, )*
                }
            }
        }

        /// Each setting's key with what its value must be, in words (serde's "u32" is not
        /// for users).
        pub const EXPECTED: &[(&str, &str)] = &[ $( (stringify!($key), $expects), )* ];
    };
}

settings! {
    /// Quiet period after the last change before a version is written (humantime:
    /// "90s", "1m 30s", "500ms"). Default "60s".
    settle: String => Duration = Duration::from_secs(60),
        by duration, expects "a duration string such as \"30s\" or \"1m 30s\"";
    /// Write a version anyway after this much continuous change; must be >= settle.
    /// Default "10m".
    max_settle: String => Duration = Duration::from_secs(600),
        by duration, expects "a duration string such as \"30s\" or \"1m 30s\"";
    /// How many of the newest versions are always kept (>= 1); without `keep` tiers, also
    /// how many are kept at most. Default 30.
    #[schemars(range(min = 1, max = 4294967295_u32))]
    keep_versions: u32 => u32 = 30,
        by count, expects "a whole number from 1 to 4294967295";
    /// Size/inode budget of the job's vault folder: comma-separated terms, the largest per
    /// dimension wins; "N%" of the vault filesystem's bytes, "iN%" of its inodes, "iN" an
    /// inode count, else a size ("2000", "500MiB", "1.5 TB", "2G"); 0 or "" = unlimited.
    /// Default "5%".
    vault_limit: RawLimit => LimitExpr = "5%".parse().unwrap_or_default(),
        by limit, expects "a limit expression string such as \"5%\" or a byte count";
    /// The first version is a complete copy of the source (else links to the live
    /// source). Default true.
    keep_full_copy: bool => bool = true,
        by flag, expects "true or false";
    /// An attribute-only change keeps the previous bytes with the new attributes.
    /// Default false.
    attributes_only: bool => bool = false,
        by flag, expects "true or false";
    /// Globs relative to the source root that are never watched or stored ("*.tmp",
    /// "node_modules", "build/out"); a job's list replaces this one. Default [].
    exclude: Vec<String> => Excludes = Excludes::default(),
        by excludes, expects "an array of glob strings";
    /// How often to run a full delta scan to catch what inotify cannot see ("24h"; "0"
    /// turns it off). Default "24h".
    rescan_interval: String => Option<Duration> = Some(Duration::from_secs(24 * 3600)),
        by rescan, expects "a duration string such as \"24h\" (\"0\" turns it off)";
    /// Age tiers kept beside the `keep_versions` newest (restic `forget` semantics). A
    /// job's `keep` keys override these key by key. Default: no tiers.
    keep: RawKeep => KeepRules = KeepRules::default(),
        by resolve_keep, expects "a table such as [defaults.keep] or keep = { daily = 7 }";
}

impl Settings {
    /// Settings for tests: settle 1 s, max_settle 10 s, 10 versions, no budget, no rescans,
    /// the rest built in. Public so integration tests start from the same place.
    pub fn for_test() -> Settings {
        Settings {
            settle: Duration::from_secs(1),
            max_settle: Duration::from_secs(10),
            keep_versions: 10,
            vault_limit: LimitExpr::default(),
            rescan_interval: None,
            ..Settings::builtin()
        }
    }
}

/// `Ok` as it is, or the error reported at `path` and the inherited value.
fn parsed<T: Clone>(base: &T, r: Result<T, Problem>, path: &[&str], ctx: &mut Ctx) -> T {
    r.unwrap_or_else(|p| {
        ctx.error(path, Part::Value, p);
        base.clone()
    })
}

fn duration(base: &Duration, raw: &str, path: &[&str], ctx: &mut Ctx) -> Duration {
    parsed(base, parse_duration(raw), path, ctx)
}

fn rescan(base: &Option<Duration>, raw: &str, path: &[&str], ctx: &mut Ctx) -> Option<Duration> {
    parsed(base, parse_rescan(raw), path, ctx)
}

fn count(base: &u32, raw: &u32, path: &[&str], ctx: &mut Ctx) -> u32 {
    parsed(base, parse_keep(raw), path, ctx)
}

fn limit(base: &LimitExpr, raw: &RawLimit, path: &[&str], ctx: &mut Ctx) -> LimitExpr {
    parsed(base, parse_limit(raw), path, ctx)
}

fn flag(_: &bool, raw: &bool, _: &[&str], _: &mut Ctx) -> bool {
    *raw
}

/// Compile the globs; each bad one is reported at its own array element.
fn excludes(base: &Excludes, raw: &[String], path: &[&str], ctx: &mut Ctx) -> Excludes {
    let mut ok = true;
    for (i, p) in raw.iter().enumerate() {
        if let Err(e) = Excludes::new(&[p]) {
            let idx = i.to_string();
            let hint = "globs: `*.tmp`, `node_modules`, `build/**`";
            let message = format!("bad exclude glob `{p}`: {}", e.kind());
            ctx.error(
                &with(path, &idx),
                Part::Value,
                Problem::new(message, Some(hint)),
            );
            ok = false;
        }
    }
    match ok {
        true => Excludes::new(raw).unwrap_or_else(|_| base.clone()),
        false => base.clone(),
    }
}

/// What `key`'s value must be, in words, for any key of the file.
pub fn expected(key: &str) -> &'static str {
    if let Some((_, words)) = EXPECTED.iter().find(|(k, _)| *k == key) {
        return words;
    }
    match key {
        "hourly" | "daily" | "weekly" | "monthly" | "yearly" => {
            "a whole number from 0 to 4294967295"
        }
        "within" => "a duration string such as \"2h\" or \"7d\" (\"0\" turns it off)",
        "source" | "vault" => "a path string",
        "source_fs" | "vault_fs" => "a filesystem signature string such as \"label=BACKUP\"",
        "defaults" | "jobs" => "a table",
        _ => "a different type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_settings_copy_every_override() {
        let job = RawJob {
            settle: Some("5s".into()),
            keep_versions: Some(3),
            exclude: Some(vec!["*.tmp".into()]),
            ..RawJob::default()
        };
        let s = job.settings();
        assert_eq!(s.settle.as_deref(), Some("5s"));
        assert_eq!(s.keep_versions, Some(3));
        assert_eq!(s.exclude, Some(vec!["*.tmp".to_owned()]));
    }

    #[test]
    fn every_setting_has_words_for_its_value() {
        let schema = serde_json::to_value(schemars::schema_for!(RawSettings)).unwrap();
        let keys = schema["properties"].as_object().unwrap();
        assert_eq!(keys.len(), EXPECTED.len());
        for (key, words) in EXPECTED {
            assert!(keys.contains_key(*key), "{key}");
            assert_eq!(expected(key), *words);
        }
        assert_eq!(expected("daily"), "a whole number from 0 to 4294967295");
    }
}
