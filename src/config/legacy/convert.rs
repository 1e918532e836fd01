//! Legacy rules -> config text, checked by the real loader: [`to_toml`] renders, [`convert`]
//! parses, renders and loads the result (reporting the loader's errors against the row and
//! cell they came from), [`from_path`] reads the file. It knows no config rule of its own:
//! what is valid is what the loader says.

use std::path::Path;

use super::{cell_col, err, parse, LegacyConvertError, LegacyError, LegacyRule, HEADER, KEYS};
use crate::config::env::EnvOverrides;
use crate::config::{load, ConfigError, Diagnostic};

/// Render rules as config text (no `#:schema` line: where the schema lives depends on
/// where the output goes).
pub fn to_toml(rules: &[LegacyRule], origin: &str) -> String {
    let mut out = format!("# Converted from {origin} by `reverberator convert-rules`.\n");
    out.push_str(
        "# Empty cells were left out: those keys take the [defaults] / built-in values.\n",
    );
    for r in rules {
        out.push('\n');
        out.push_str(&render_rule(r));
    }
    out
}

fn render_rule(r: &LegacyRule) -> String {
    let mut s = format!(
        "[jobs.{}]\n",
        toml_edit::Key::new(r.name.as_str()).display_repr()
    );
    let mut kv = |k: &str, v: String| s.push_str(&format!("{k} = {v}\n"));
    let q = |t: &str| toml::Value::String(t.to_owned()).to_string();
    kv("source", q(&r.source));
    kv("vault", q(&r.vault));
    let strings = [
        ("source_fs", &r.source_fs),
        ("vault_fs", &r.vault_fs),
        ("settle", &r.settle),
        ("vault_limit", &r.vault_limit),
    ];
    for (k, v) in strings {
        if let Some(v) = v {
            kv(k, q(v));
        }
    }
    if let Some(n) = r.keep_versions {
        kv("keep_versions", n.to_string());
    }
    for (k, v) in [
        ("keep_full_copy", r.keep_full_copy),
        ("attributes_only", r.attributes_only),
    ] {
        if let Some(b) = v {
            kv(k, b.to_string());
        }
    }
    s
}

/// Parse, render, then load the rendered text with the real loader (no environment, paths
/// assumed present) and report its errors against the rows they came from.
pub fn convert(text: &str, origin: &str) -> Result<String, Vec<LegacyError>> {
    let rules = parse(text)?;
    let toml = to_toml(&rules, origin);
    let probe = Path::new("/converted/reverberator.toml");
    match load::from_str(&toml, probe, &EnvOverrides::none(), &|_| true) {
        Ok(_) => Ok(toml),
        Err(ConfigError::Invalid { problems, .. }) => Err(problems
            .iter()
            .filter(|d| d.is_error())
            .map(|d| back_to_row(d, &rules, text))
            .collect()),
        Err(e) => Err(vec![err(1, 1, e.to_string())]),
    }
}

/// A loader diagnostic about `jobs.NAME.KEY` -> the row of NAME, the column of KEY.
fn back_to_row(d: &Diagnostic, rules: &[LegacyRule], text: &str) -> LegacyError {
    let key = d.key.as_deref().unwrap_or("");
    let rule = rules
        .iter()
        .filter(|r| key_rest(key, &r.name).is_some())
        .max_by_key(|r| r.name.len());
    let Some(rule) = rule else {
        return err(1, 1, d.message.clone());
    };
    let field = key_rest(key, &rule.name).unwrap_or("");
    let index = KEYS
        .iter()
        .position(|k| !k.is_empty() && *k == field)
        .unwrap_or(0);
    let raw = text
        .split('\n')
        .nth(rule.line.saturating_sub(1))
        .unwrap_or("");
    err(
        rule.line,
        cell_col(raw, index),
        format!("`{}`: {}", HEADER[index], d.message),
    )
}

/// For `jobs.NAME` or `jobs.NAME.KEY`: `Some("")` or `Some("KEY")`.
fn key_rest<'k>(key: &'k str, name: &str) -> Option<&'k str> {
    let rest = key.strip_prefix("jobs.")?.strip_prefix(name)?;
    match rest.strip_prefix('.') {
        Some(field) => Some(field),
        None if rest.is_empty() => Some(""),
        None => None,
    }
}

/// Read and convert the TSV at `path`.
pub fn from_path(path: &Path) -> Result<String, LegacyConvertError> {
    let text = std::fs::read_to_string(path).map_err(|source| LegacyConvertError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let origin = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    convert(&text, &origin).map_err(|errors| LegacyConvertError::Invalid {
        path: path.to_path_buf(),
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::legacy::tests::table;

    #[test]
    fn loader_errors_come_back_to_the_row() {
        let t = table(&["a\t/s\t\t\t/s\t\t\t\t\t"]);
        let errs = convert(&t, "t.tsv").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!((errs[0].line, errs[0].col), (2, 8));
        assert!(errs[0]
            .message
            .starts_with("`Vault Path`: `vault` is the same folder"));
    }

    #[test]
    fn names_are_quoted_when_needed() {
        let t = table(&["my docs\t/s\t\t30s\t/v\t\t\t\t\t"]);
        let out = convert(&t, "t.tsv").unwrap();
        assert!(
            out.contains("[jobs.\"my docs\"]\nsource = \"/s\"\nvault = \"/v\"\nsettle = \"30s\"\n"),
            "{out}"
        );
    }
}
