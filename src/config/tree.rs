//! The one parse of a config file: its values (for the figment layers) and, for every key
//! path (`jobs.demo.settle`, `defaults.exclude.2`), the byte ranges of the key and of its
//! value in the text.
//!
//! figment merges the file with the environment into values without positions, so every
//! diagnostic finds its line and column here, by key path. Built with `toml_edit`, the
//! parser behind the `toml` crate (and behind `toml::Spanned`), so syntax errors carry the
//! same spans the `toml` crate would report. This module knows nothing about which keys are
//! valid.

use std::collections::HashMap;
use std::ops::Range;

use figment::value::Dict;
use toml_edit::{ImDocument, Item, TableLike, Value};

/// Where one key and its value sit in the text (byte ranges).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key as written (the last segment of its path).
    pub key: Option<Range<usize>>,
    /// The value (for a `[table]`, its header).
    pub value: Option<Range<usize>>,
}

/// Every key path of a parsed file with its spans, the order of the jobs and the file's
/// values.
#[derive(Debug, Clone, Default)]
pub struct SpanIndex {
    entries: HashMap<Vec<String>, Entry>,
    jobs: Vec<String>,
    values: Dict,
}

/// A TOML syntax error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub span: Option<Range<usize>>,
    /// The parser's message, first line only.
    pub message: String,
}

impl SpanIndex {
    /// Parse `text` as TOML and index it.
    pub fn parse(text: &str) -> Result<SpanIndex, SyntaxError> {
        let doc = ImDocument::parse(text.to_owned()).map_err(|e| SyntaxError {
            span: e.span(),
            message: first_line(e.message()),
        })?;
        let mut index = SpanIndex::default();
        index.walk_table(&mut Vec::new(), doc.as_table());
        if let Some(jobs) = doc.get("jobs").and_then(Item::as_table_like) {
            index.jobs = jobs.iter().map(|(k, _)| k.to_owned()).collect();
        }
        index.values = toml_edit::de::from_document(doc).map_err(|e| SyntaxError {
            span: e.span(),
            message: first_line(e.message()),
        })?;
        Ok(index)
    }

    /// The file's values, as figment's first layer.
    pub fn values(&self) -> &Dict {
        &self.values
    }

    /// The spans of `path`, when the file has that key.
    pub fn get(&self, path: &[&str]) -> Option<&Entry> {
        let key: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
        self.entries.get(&key)
    }

    /// The job names in file order.
    pub fn job_order(&self) -> &[String] {
        &self.jobs
    }

    fn walk_table(&mut self, path: &mut Vec<String>, table: &dyn TableLike) {
        for (name, _) in table.iter() {
            if let Some((key, item)) = table.get_key_value(name) {
                path.push(name.to_owned());
                self.insert(path, key.span(), item.span());
                self.walk_item(path, item);
                path.pop();
            }
        }
    }

    fn walk_item(&mut self, path: &mut Vec<String>, item: &Item) {
        match item {
            Item::Table(t) => self.walk_table(path, t),
            Item::ArrayOfTables(a) => {
                for (i, t) in a.iter().enumerate() {
                    path.push(i.to_string());
                    self.insert(path, None, t.span());
                    self.walk_table(path, t);
                    path.pop();
                }
            }
            Item::Value(v) => self.walk_value(path, v),
            Item::None => {}
        }
    }

    fn walk_value(&mut self, path: &mut Vec<String>, value: &Value) {
        match value {
            Value::InlineTable(t) => self.walk_table(path, t),
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    path.push(i.to_string());
                    self.insert(path, None, v.span());
                    self.walk_value(path, v);
                    path.pop();
                }
            }
            _ => {}
        }
    }

    fn insert(&mut self, path: &[String], key: Option<Range<usize>>, value: Option<Range<usize>>) {
        self.entries
            .entry(path.to_vec())
            .or_insert(Entry { key, value });
    }
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or("").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[defaults]\nsettle = \"5s\"\nexclude = [\"a\", \"b\"]\n\n\
                        [jobs.zeta]\nsource = \"/s\"\n\n[jobs.alpha]\nvault = 1\n";

    fn slice<'a>(r: &Option<Range<usize>>, text: &'a str) -> &'a str {
        &text[r.clone().unwrap()]
    }

    #[test]
    fn keys_and_values_have_spans() {
        let idx = SpanIndex::parse(TEXT).unwrap();
        let e = idx.get(&["defaults", "settle"]).unwrap();
        assert_eq!(slice(&e.key, TEXT), "settle");
        assert_eq!(slice(&e.value, TEXT), "\"5s\"");
        let e = idx.get(&["defaults", "exclude", "1"]).unwrap();
        assert_eq!(slice(&e.value, TEXT), "\"b\"");
        let e = idx.get(&["jobs", "alpha"]).unwrap();
        assert_eq!(slice(&e.key, TEXT), "alpha");
        assert!(idx.get(&["jobs", "alpha", "source"]).is_none());
    }

    #[test]
    fn jobs_in_file_order() {
        let idx = SpanIndex::parse(TEXT).unwrap();
        assert_eq!(idx.job_order(), ["zeta", "alpha"]);
    }

    #[test]
    fn syntax_error_has_a_span() {
        let err = SpanIndex::parse("[defaults]\nsettle = \n").unwrap_err();
        assert!(err.span.is_some());
        assert!(!err.message.is_empty());
    }

    #[test]
    fn dotted_keys_and_inline_tables_are_indexed() {
        let text = "jobs.x.source = \"/s\"\njobs.y = { vault = \"/v\" }\n";
        let idx = SpanIndex::parse(text).unwrap();
        let e = idx.get(&["jobs", "x", "source"]).unwrap();
        assert_eq!(slice(&e.value, text), "\"/s\"");
        let e = idx.get(&["jobs", "y", "vault"]).unwrap();
        assert_eq!(slice(&e.key, text), "vault");
        assert_eq!(idx.job_order(), ["x", "y"]);
    }
}
