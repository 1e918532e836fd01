//! The figment layers: the file, then the `REVERBERATOR_…` environment overrides, merged
//! and checked against the serde mirror ([`super::raw`]) key by key, so that every unknown
//! key and every wrongly typed value is reported (a plain `extract` stops at the first).
//!
//! Each leaf is deserialized alone (`{key: value}` into its table's raw type), which yields
//! serde's own unknown-field and type errors for exactly that key; those are placed by key
//! path through the [`Locator`]. Values from the file are read strictly; values from the
//! environment leniently (`"5"` is a number, `"yes"` a boolean), since a variable is always
//! text. This module knows the table structure (`defaults`, `jobs.NAME`) but not what a valid
//! duration or path is; that is [`super::resolve`].

use figment::error::Kind;
use figment::providers::Serialized;
use figment::value::{Dict, Value};
use figment::Figment;
use serde::de::DeserializeOwned;

use super::diag::{Locator, Part};
use super::env::EnvOverrides;
use super::raw::{RawConfig, RawJob, RawKeep, RawSettings};
use super::settings::expected;
use super::tree::SpanIndex;
use super::Diagnostic;

/// Merge the file's values (parsed once, in `index`) with `env`, report every key problem into `diags`, and return the raw
/// config built from the keys that passed (so resolution can report the rest), or `None`
/// when the file's values cannot be read at all.
pub fn layer(
    index: &SpanIndex,
    env: &EnvOverrides,
    loc: &Locator,
    diags: &mut Vec<Diagnostic>,
) -> Option<RawConfig> {
    let file = Serialized::defaults(index.values().clone());
    let figment = Figment::from(file).merge(env.clone());
    for var in env.malformed() {
        let mut d = Diagnostic::error("names no config key (an empty segment between `__`)")
            .with_hint("write REVERBERATOR_DEFAULTS__SETTLE or REVERBERATOR_JOBS__NAME__KEY");
        d.env_var = Some(var.clone());
        diags.push(d);
    }
    let root = match figment.extract::<Dict>() {
        Ok(root) => root,
        Err(e) => {
            diags.push(from_figment(&e, loc));
            return None;
        }
    };
    let before = diags.len();
    let clean = check_root(&root, loc, diags);
    let extracted = if diags.len() > before {
        Figment::from(Serialized::defaults(clean)).extract_lossy::<RawConfig>()
    } else {
        figment.extract_lossy::<RawConfig>()
    };
    match extracted {
        Ok(raw) => Some(raw),
        Err(e) => {
            diags.push(from_figment(&e, loc));
            None
        }
    }
}

/// Check every key; return the root with the bad keys left out.
fn check_root(root: &Dict, loc: &Locator, diags: &mut Vec<Diagnostic>) -> Dict {
    let mut clean = Dict::new();
    for (key, value) in root {
        let kept = match (key.as_str(), value.as_dict()) {
            ("defaults", Some(d)) => Some(check_table::<RawSettings>(&["defaults"], d, loc, diags)),
            ("jobs", Some(d)) => Some(check_jobs(d, loc, diags)),
            ("web", Some(d)) => Some(check_table::<super::web::RawWeb>(&["web"], d, loc, diags)),
            ("defaults" | "jobs" | "web", None) => {
                diags.push(not_a_table(&[key.as_str()], loc));
                None
            }
            _ => {
                check_leaf::<RawConfig>(&[], key, value, loc, diags);
                None
            }
        };
        if let Some(d) = kept {
            clean.insert(key.clone(), Value::from(d));
        }
    }
    clean
}

fn check_jobs(jobs: &Dict, loc: &Locator, diags: &mut Vec<Diagnostic>) -> Dict {
    let mut clean = Dict::new();
    for (name, job) in jobs {
        let path = ["jobs", name.as_str()];
        match job.as_dict() {
            Some(d) => {
                let kept = check_table::<RawJob>(&path, d, loc, diags);
                clean.insert(name.clone(), Value::from(kept));
            }
            None => diags.push(not_a_table(&path, loc)),
        }
    }
    clean
}

/// Check each key of `table` alone against `T`; return the keys that passed.
fn check_table<T: DeserializeOwned>(
    path: &[&str],
    table: &Dict,
    loc: &Locator,
    diags: &mut Vec<Diagnostic>,
) -> Dict {
    let mut clean = Dict::new();
    for (key, value) in table {
        if let (NESTED_KEEP, Some(inner)) = (key.as_str(), value.as_dict()) {
            let mut inner_path = path.to_vec();
            inner_path.push(NESTED_KEEP);
            let kept = check_table::<RawKeep>(&inner_path, inner, loc, diags);
            clean.insert(key.clone(), Value::from(kept));
        } else if check_leaf::<T>(path, key, value, loc, diags) {
            clean.insert(key.clone(), value.clone());
        }
    }
    clean
}

/// The one table nested in `[defaults]` and `[jobs.NAME]`: its keys are checked one by one
/// like theirs, so each problem inside it gets its own position.
const NESTED_KEEP: &str = "keep";

/// Deserialize `{key: value}` alone into `T` (the raw type of the table at `table`);
/// false (and a diagnostic) when it does not fit.
fn check_leaf<T: DeserializeOwned>(
    table: &[&str],
    key: &str,
    value: &Value,
    loc: &Locator,
    diags: &mut Vec<Diagnostic>,
) -> bool {
    let mut path = table.to_vec();
    path.push(key);
    let mut single = Dict::new();
    single.insert(key.to_owned(), value.clone());
    let mini = Figment::from(Serialized::defaults(single));
    let result = match loc.env_var(&path) {
        Some(_) => mini.extract_lossy::<T>().map(drop),
        None => mini.extract::<T>().map(drop),
    };
    if let Err(e) = &result {
        diags.push(leaf_error(&path, value, e, loc));
    }
    result.is_ok()
}

fn leaf_error(path: &[&str], value: &Value, e: &figment::Error, loc: &Locator) -> Diagnostic {
    let (table, key) = path.split_at(path.len() - 1);
    let key = key.first().copied().unwrap_or_default();
    match &e.kind {
        Kind::UnknownField(name, expected) => {
            let d = loc.error(
                path,
                Part::Key,
                format!("unknown key `{name}` {}", section(table)),
            );
            d.with_hint(did_you_mean(name, expected))
        }
        Kind::InvalidType(..) | Kind::InvalidValue(..) => {
            let d = loc.error(
                path,
                Part::Value,
                format!("`{key}` must be {}, found {}", expected(key), found(value)),
            );
            match (key, value) {
                (_, Value::Num(_, n)) if expected(key).starts_with("a duration") => {
                    let secs = (*n).to_i128().unwrap_or(0).max(0);
                    d.with_hint(format!("durations carry a unit: {key} = \"{secs}s\""))
                }
                _ => d,
            }
        }
        other => loc.error(path, Part::Value, format!("`{key}`: {other}")),
    }
}

fn not_a_table(path: &[&str], loc: &Locator) -> Diagnostic {
    let header = path.join(".");
    loc.error(
        path,
        Part::Key,
        format!("`{header}` must be a table ([{header}])"),
    )
}

/// Where a key sits, for messages: `in [defaults]`, `in [jobs.demo]`, `at the top level`.
fn section(table: &[&str]) -> String {
    if table.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("in [{}]", table.join("."))
    }
}

/// "did you mean `settle`?" when a known key is close, else the list of known keys.
pub fn did_you_mean(name: &str, expected: &[&str]) -> String {
    let best = expected
        .iter()
        .map(|e| (strsim::jaro_winkler(name, e), *e))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((score, e)) if score >= 0.8 => format!("did you mean `{e}`?"),
        _ => format!(
            "known keys: {}",
            expected
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A short description of a value as the user wrote it.
fn found(value: &Value) -> String {
    match value {
        Value::String(_, s) => format!("the string {s:?}"),
        Value::Char(_, c) => format!("the character {c:?}"),
        Value::Bool(_, b) => format!("the boolean {b}"),
        Value::Num(_, n) => match (*n).to_i128() {
            Some(i) => format!("the number {i}"),
            None => "a fractional number".to_owned(),
        },
        Value::Empty(..) => "nothing".to_owned(),
        Value::Dict(..) => "a table".to_owned(),
        Value::Array(_, a) => match a.iter().find(|v| !matches!(v, Value::String(..))) {
            Some(v) => format!("an array holding {}", found(v)),
            None => "an array".to_owned(),
        },
    }
}

/// A figment error that escaped the key-by-key checks, placed by its key path.
fn from_figment(e: &figment::Error, loc: &Locator) -> Diagnostic {
    let path: Vec<&str> = e.path.iter().map(String::as_str).collect();
    loc.error(&path, Part::Value, e.kind.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, env: &[(&str, &str)]) -> (Option<RawConfig>, Vec<Diagnostic>) {
        let index = SpanIndex::parse(text).unwrap();
        let env = EnvOverrides::from_vars(env.iter().map(|(k, v)| (*k, *v)));
        let loc = Locator::new(text, &index, &env);
        let mut diags = Vec::new();
        let raw = layer(&index, &env, &loc, &mut diags);
        (raw, diags)
    }

    #[test]
    fn every_unknown_key_is_reported_with_a_hint() {
        let text =
            "[defaults]\nsetle = \"1s\"\nkeep_version = 3\n[jobs.a]\nsorce = \"/a\"\nvault = \"/v\"\n";
        let (raw, diags) = run(text, &[]);
        let kept = raw.unwrap().jobs.unwrap();
        assert_eq!(kept["a"].vault.as_deref(), Some("/v"), "good keys survive");
        assert_eq!(diags.len(), 3, "{diags:#?}");
        let setle = diags.iter().find(|d| d.message.contains("setle")).unwrap();
        assert_eq!(setle.message, "unknown key `setle` in [defaults]");
        assert_eq!(setle.hint.as_deref(), Some("did you mean `settle`?"));
        assert_eq!((setle.line, setle.col), (Some(2), Some(1)));
        let keep = diags
            .iter()
            .find(|d| d.message.contains("`keep_version`"))
            .unwrap();
        assert_eq!(keep.hint.as_deref(), Some("did you mean `keep_versions`?"));
        let sorce = diags.iter().find(|d| d.message.contains("sorce")).unwrap();
        assert_eq!(sorce.message, "unknown key `sorce` in [jobs.a]");
        assert_eq!(sorce.hint.as_deref(), Some("did you mean `source`?"));
    }

    #[test]
    fn wrong_types_point_at_the_value() {
        let text = "[defaults]\nkeep_versions = \"3\"\nkeep_full_copy = 1\n";
        let (_, diags) = run(text, &[]);
        assert_eq!(diags.len(), 2, "{diags:#?}");
        let kv = diags
            .iter()
            .find(|d| d.message.contains("keep_versions"))
            .unwrap();
        assert_eq!(
            kv.message,
            "`keep_versions` must be a whole number from 1 to 4294967295, found the string \"3\""
        );
        assert_eq!((kv.line, kv.col), (Some(2), Some(17)));
        let (_, diags) = run("[defaults]\nsettle = 5\n", &[]);
        assert_eq!(
            diags[0].hint.as_deref(),
            Some("durations carry a unit: settle = \"5s\"")
        );
    }

    #[test]
    fn every_problem_inside_keep_has_its_own_position() {
        let text =
            "[defaults.keep]\ndayly = 7\nhourly = -1\nweekly = 1.5\nwithin = 2\nmonthly = 3\n\
                    [jobs.a]\nsource = \"/a\"\nvault = \"/v\"\nkeep = 3\n";
        let (raw, diags) = run(text, &[]);
        assert_eq!(diags.len(), 5, "{diags:#?}");
        let at = |needle: &str| {
            let d = diags.iter().find(|d| d.message.contains(needle)).unwrap();
            (d.message.clone(), d.line, d.col, d.hint.clone())
        };
        let (m, l, c, h) = at("dayly");
        assert_eq!(m, "unknown key `dayly` in [defaults.keep]");
        assert_eq!(
            (l, c, h.as_deref()),
            (Some(2), Some(1), Some("did you mean `daily`?"))
        );
        let (m, l, c, _) = at("`hourly`");
        assert_eq!(
            m,
            "`hourly` must be a whole number from 0 to 4294967295, found the number -1"
        );
        assert_eq!((l, c), (Some(3), Some(10)));
        let (m, _, _, _) = at("`weekly`");
        assert!(m.ends_with("found a fractional number"), "{m}");
        let (_, _, _, h) = at("`within`");
        assert_eq!(
            h.as_deref(),
            Some("durations carry a unit: within = \"2s\"")
        );
        let (m, l, _, _) = at("`keep` must");
        assert_eq!(m, "`keep` must be a table such as [defaults.keep] or keep = { daily = 7 }, found the number 3");
        assert_eq!(l, Some(10));
        let keep = raw.unwrap().defaults.unwrap().keep.unwrap();
        assert_eq!(
            (keep.monthly, keep.hourly),
            (Some(3), None),
            "good keys survive"
        );
    }

    #[test]
    fn keep_keys_come_from_the_environment_too() {
        let (raw, diags) = run("", &[("REVERBERATOR_DEFAULTS__KEEP__DAILY", "7")]);
        assert!(diags.is_empty(), "{diags:#?}");
        assert_eq!(raw.unwrap().defaults.unwrap().keep.unwrap().daily, Some(7));
        let (_, diags) = run("", &[("REVERBERATOR_DEFAULTS__KEEP__DAYLY", "7")]);
        assert_eq!(diags[0].hint.as_deref(), Some("did you mean `daily`?"));
    }

    #[test]
    fn top_level_and_table_shapes() {
        let (_, diags) = run("job = 1\ndefaults = 3\n", &[]);
        assert_eq!(diags.len(), 2, "{diags:#?}");
        assert!(diags
            .iter()
            .any(|d| d.message == "unknown key `job` at the top level"));
        assert!(diags
            .iter()
            .any(|d| d.message == "`defaults` must be a table ([defaults])"));
    }

    #[test]
    fn env_values_override_and_are_read_leniently() {
        let text = "[defaults]\nkeep_versions = 3\n[jobs.demo]\nsource = \"/s\"\nvault = \"/v\"\n";
        let (raw, diags) = run(
            text,
            &[
                ("REVERBERATOR_DEFAULTS__KEEP_VERSIONS", "7"),
                ("REVERBERATOR_JOBS__DEMO__SETTLE", "5s"),
                ("REVERBERATOR_JOBS__DEMO__KEEP_FULL_COPY", "no"),
            ],
        );
        assert!(diags.is_empty(), "{diags:#?}");
        let raw = raw.unwrap();
        assert_eq!(raw.defaults.unwrap().keep_versions, Some(7));
        let demo = &raw.jobs.unwrap()["demo"];
        assert_eq!(demo.settle.as_deref(), Some("5s"));
        assert_eq!(demo.keep_full_copy, Some(false));
    }

    #[test]
    fn malformed_variables_are_named() {
        let (raw, diags) = run("", &[("REVERBERATOR_JOBS____SETTLE", "5s")]);
        assert!(raw.is_some());
        assert_eq!(diags.len(), 1);
        assert_eq!(
            diags[0].env_var.as_deref(),
            Some("REVERBERATOR_JOBS____SETTLE")
        );
    }

    #[test]
    fn env_errors_name_the_variable() {
        let (_, diags) = run("", &[("REVERBERATOR_DEFAULTS__SETLE", "5s")]);
        assert_eq!(diags.len(), 1);
        assert_eq!(
            diags[0].env_var.as_deref(),
            Some("REVERBERATOR_DEFAULTS__SETLE")
        );
        assert_eq!(diags[0].hint.as_deref(), Some("did you mean `settle`?"));
    }
}
