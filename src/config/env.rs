//! `REVERBERATOR_…` environment overrides, as a figment provider layered over the file.
//!
//! `REVERBERATOR_DEFAULTS__SETTLE=30s` sets `defaults.settle`;
//! `REVERBERATOR_JOBS__DEMO__SETTLE=5s` sets `jobs.demo.settle`. After the prefix, `__`
//! separates key segments and the name is lower-cased (so only jobs whose names are lower
//! case and free of characters an environment name cannot hold can be overridden).
//! Variables without `__` after the prefix are not config keys: `REVERBERATOR_CONFIG` (the
//! file lookup variable) and any other setting stay out of the config. Values stay text
//! (`"0"` is a string for `rescan_interval`) and are read leniently where the key wants a
//! number or a boolean (`"5"`, `"yes"`); a value starting with `[` is a TOML-like array.
//!
//! The provider is built from a list of `(name, value)` pairs so the loader's pure core can
//! be tested without touching the process environment; [`EnvOverrides::from_process`] is the
//! thin I/O wrapper. This module knows nothing about which keys exist.

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

/// The prefix every override starts with.
pub const PREFIX: &str = "REVERBERATOR_";
/// The file lookup variable: never treated as a key.
pub const CONFIG_VAR: &str = "REVERBERATOR_CONFIG";
/// The separator between key segments.
pub const SEPARATOR: &str = "__";
/// The figment metadata name of this provider (how the loader tells env values apart).
pub const PROVIDER_NAME: &str = "environment variable(s)";

/// One override: the variable, the key path it sets, the value text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The variable name as set (`REVERBERATOR_JOBS__DEMO__SETTLE`).
    pub var: String,
    /// The key path it sets (`["jobs", "demo", "settle"]`).
    pub path: Vec<String>,
    /// The value as text.
    pub value: String,
}

/// Every `REVERBERATOR_…__…` variable, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvOverrides {
    overrides: Vec<Override>,
    malformed: Vec<String>,
}

impl EnvOverrides {
    /// No overrides at all.
    pub fn none() -> Self {
        EnvOverrides::default()
    }

    /// Overrides from `(name, value)` pairs; names without the prefix or without `__` are
    /// ignored, names with an empty segment (`REVERBERATOR_JOBS____X`) are kept as malformed.
    pub fn from_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut env = EnvOverrides::default();
        for (name, value) in vars {
            let name = name.into();
            match key_path(&name) {
                Some(Ok(path)) => env.overrides.push(Override {
                    var: name,
                    path,
                    value: value.into(),
                }),
                Some(Err(())) => env.malformed.push(name),
                None => {}
            }
        }
        env.overrides.sort_by(|a, b| a.var.cmp(&b.var));
        env
    }

    /// Overrides from this process's environment (non-Unicode text is replaced lossily).
    pub fn from_process() -> Self {
        EnvOverrides::from_vars(std::env::vars_os().map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        }))
    }

    /// The overrides, sorted by variable name.
    pub fn overrides(&self) -> &[Override] {
        &self.overrides
    }

    /// Variables that look like overrides but name no key (an empty segment).
    pub fn malformed(&self) -> &[String] {
        &self.malformed
    }

    /// The variable that sets `path` or one of its ancestors (`jobs.demo.exclude` covers
    /// `jobs.demo.exclude.1`).
    pub fn var_for(&self, path: &[&str]) -> Option<&str> {
        self.overrides
            .iter()
            .find(|o| o.path.len() <= path.len() && o.path.iter().zip(path).all(|(a, b)| a == b))
            .map(|o| o.var.as_str())
    }
}

/// `Some(Ok(path))` for an override, `Some(Err)` for a malformed one, `None` for a variable
/// that is not an override at all.
fn key_path(name: &str) -> Option<Result<Vec<String>, ()>> {
    if name.eq_ignore_ascii_case(CONFIG_VAR) {
        return None;
    }
    let rest = name.strip_prefix(PREFIX)?;
    if !rest.contains(SEPARATOR) {
        return None;
    }
    let path: Vec<String> = rest
        .split(SEPARATOR)
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    if path.iter().any(|s| s.is_empty()) {
        return Some(Err(()));
    }
    Some(Ok(path))
}

/// An override's value: an array when it looks like one, text otherwise.
fn to_value(text: &str) -> Value {
    if text.trim_start().starts_with('[') {
        if let Ok(v @ Value::Array(..)) = text.parse::<Value>() {
            return v;
        }
    }
    Value::from(text.to_owned())
}

impl Provider for EnvOverrides {
    fn metadata(&self) -> Metadata {
        Metadata::named(PROVIDER_NAME).interpolater(|_: &Profile, keys: &[&str]| {
            let upper: Vec<String> = keys.iter().map(|k| k.to_ascii_uppercase()).collect();
            format!("{PREFIX}{}", upper.join(SEPARATOR))
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for o in &self.overrides {
            insert(&mut dict, &o.path, to_value(&o.value));
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// Put `value` at `path` inside `dict`, creating (or replacing non-table values with)
/// tables on the way.
fn insert(dict: &mut Dict, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = dict;
    for seg in parents {
        let slot = cur
            .entry(seg.clone())
            .or_insert_with(|| Value::from(Dict::new()));
        if !matches!(slot, Value::Dict(..)) {
            *slot = Value::from(Dict::new());
        }
        match slot {
            Value::Dict(_, d) => cur = d,
            _ => return,
        }
    }
    cur.insert(last.clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvOverrides {
        EnvOverrides::from_vars(pairs.iter().map(|(k, v)| (*k, *v)))
    }

    #[test]
    fn names_become_key_paths() {
        let e = env(&[
            ("REVERBERATOR_JOBS__DEMO__SETTLE", "5s"),
            ("REVERBERATOR_CONFIG", "/etc/x.toml"),
            ("REVERBERATOR_LOG", "debug"),
            ("HOME", "/root"),
        ]);
        assert_eq!(e.overrides().len(), 1);
        assert_eq!(e.overrides()[0].path, ["jobs", "demo", "settle"]);
        assert_eq!(
            e.var_for(&["jobs", "demo", "settle"]),
            Some("REVERBERATOR_JOBS__DEMO__SETTLE")
        );
        assert_eq!(e.var_for(&["jobs", "demo"]), None);
    }

    #[test]
    fn empty_segments_are_malformed() {
        let e = env(&[("REVERBERATOR_JOBS____SETTLE", "5s")]);
        assert!(e.overrides().is_empty());
        assert_eq!(e.malformed(), ["REVERBERATOR_JOBS____SETTLE"]);
    }

    #[test]
    fn values_merge_into_one_dict() {
        let e = env(&[
            ("REVERBERATOR_DEFAULTS__SETTLE", "0"),
            ("REVERBERATOR_DEFAULTS__EXCLUDE", "[\"*.tmp\", \"x\"]"),
        ]);
        let data = e.data().unwrap();
        let d = &data[&Profile::Default];
        let defaults = d["defaults"].as_dict().unwrap();
        assert_eq!(defaults["settle"].as_str(), Some("0"));
        assert_eq!(defaults["exclude"].as_array().map(|a| a.len()), Some(2));
    }
}
