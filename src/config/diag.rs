//! Diagnostics: building a [`Diagnostic`] at a key path ([`Locator`]), turning byte spans
//! into 1-based line and column, and rendering `FILE:LINE:COL: error: message` followed by
//! the source line, a caret under the offending text and a hint.
//!
//! This module knows where things are in the text and how to show them; it does not decide
//! what is wrong (that is [`super::layer`] and [`super::resolve`]).

use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;

use super::env::EnvOverrides;
use super::tree::SpanIndex;
use super::{Diagnostic, Severity};

impl Diagnostic {
    /// An error without a position yet.
    pub fn error(message: impl Into<String>) -> Self {
        Diagnostic::new(Severity::Error, message.into())
    }

    /// A warning without a position yet.
    pub fn warning(message: impl Into<String>) -> Self {
        Diagnostic::new(Severity::Warning, message.into())
    }

    fn new(severity: Severity, message: String) -> Self {
        Diagnostic {
            severity,
            span: None,
            line: None,
            col: None,
            message,
            hint: None,
            key: None,
            env_var: None,
        }
    }

    /// Place the diagnostic at `span` of `text` (clamped to the text).
    pub fn at_span(mut self, text: &str, span: Range<usize>) -> Self {
        let start = floor_char_boundary(text, span.start.min(text.len()));
        let end = span.end.clamp(start, text.len());
        let (line, col) = line_col(text, start);
        self.span = Some(start..end);
        self.line = Some(line);
        self.col = Some(col);
        self
    }

    /// Add a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// True for errors (the config is rejected).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = text[line_start..offset].chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Which part of a `key = value` pair a diagnostic points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The key (unknown keys, missing values inside a table).
    Key,
    /// The value (wrong types, bad durations).
    Value,
}

/// Places diagnostics by key path: in the file (line:col from the span index), or at the
/// environment variable that set the value.
#[derive(Debug, Clone, Copy)]
pub struct Locator<'a> {
    text: &'a str,
    index: &'a SpanIndex,
    env: &'a EnvOverrides,
}

impl<'a> Locator<'a> {
    /// A locator over one file's text, its span index and the environment overrides.
    pub fn new(text: &'a str, index: &'a SpanIndex, env: &'a EnvOverrides) -> Self {
        Locator { text, index, env }
    }

    /// True when the file or the environment sets `path` (even to a value that was rejected).
    pub fn is_set(&self, path: &[&str]) -> bool {
        self.index.get(path).is_some() || self.env.var_for(path).is_some()
    }

    /// The environment variable that sets `path` (or an ancestor), if any.
    pub fn env_var(&self, path: &[&str]) -> Option<&'a str> {
        self.env.var_for(path)
    }

    /// An error about `path`, placed at its key or value.
    pub fn error(&self, path: &[&str], part: Part, message: impl Into<String>) -> Diagnostic {
        self.place(Diagnostic::error(message), path, part)
    }

    /// A warning about `path`, placed at its key or value.
    pub fn warning(&self, path: &[&str], part: Part, message: impl Into<String>) -> Diagnostic {
        self.place(Diagnostic::warning(message), path, part)
    }

    /// Set `d`'s key path and position: the environment variable when one set the value,
    /// else the file span, else the nearest ancestor the file has.
    pub fn place(&self, mut d: Diagnostic, path: &[&str], part: Part) -> Diagnostic {
        if path.is_empty() {
            return d;
        }
        d.key = Some(path.join("."));
        if let Some(var) = self.env.var_for(path) {
            d.env_var = Some(var.to_owned());
            return d;
        }
        if let Some(span) = self.exact_span(path, part) {
            return d.at_span(self.text, span);
        }
        if let Some(o) = self
            .env
            .overrides()
            .iter()
            .find(|o| o.path.starts_with_strs(path))
        {
            d.env_var = Some(o.var.clone());
            return d;
        }
        match self.ancestor_span(path) {
            Some(span) => d.at_span(self.text, span),
            None => d,
        }
    }

    fn exact_span(&self, path: &[&str], part: Part) -> Option<Range<usize>> {
        let e = self.index.get(path)?;
        match part {
            Part::Key => e.key.clone().or_else(|| e.value.clone()),
            Part::Value => e.value.clone().or_else(|| e.key.clone()),
        }
    }

    fn ancestor_span(&self, path: &[&str]) -> Option<Range<usize>> {
        (1..path.len())
            .rev()
            .find_map(|n| self.exact_span(&path[..n], Part::Key))
    }
}

trait StartsWithStrs {
    fn starts_with_strs(&self, prefix: &[&str]) -> bool;
}

impl StartsWithStrs for Vec<String> {
    fn starts_with_strs(&self, prefix: &[&str]) -> bool {
        self.len() >= prefix.len() && self.iter().zip(prefix).all(|(a, b)| a == b)
    }
}

/// Render one diagnostic: `FILE:LINE:COL: error: message`, the source line with a caret
/// under the span, then the hint. Values set by the environment name the variable instead.
pub fn render(file: &Path, text: &str, d: &Diagnostic) -> String {
    let mut out = headline(file, d);
    out.push('\n');
    if let (Some(span), Some(line)) = (&d.span, d.line) {
        out.push_str(&snippet(text, span, line));
    }
    if let (Some(var), Some(key)) = (&d.env_var, &d.key) {
        let _ = writeln!(
            out,
            "   = note: ${var} overrides `{key}` of {}",
            file.display()
        );
    }
    if let Some(hint) = &d.hint {
        let _ = writeln!(out, "   = hint: {hint}");
    }
    out
}

/// The first line of [`render`], without its newline: `FILE:LINE:COL: error: message`
/// (or `VAR: error: message` for a value set by the environment). For logs, where the
/// snippet would not fit.
pub fn headline(file: &Path, d: &Diagnostic) -> String {
    let sev = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    match (&d.env_var, d.line, d.col) {
        (Some(var), _, _) => format!("{var}: {sev}: {}", d.message),
        (None, Some(line), Some(col)) => {
            format!("{}:{line}:{col}: {sev}: {}", file.display(), d.message)
        }
        _ => format!("{}: {sev}: {}", file.display(), d.message),
    }
}

/// Render every diagnostic, separated by blank lines.
pub fn render_all(file: &Path, text: &str, diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| render(file, text, d))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The line holding `span.start`, and a caret line under the span (cut at the line's end).
fn snippet(text: &str, span: &Range<usize>, line_no: usize) -> String {
    let start = floor_char_boundary(text, span.start.min(text.len()));
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = text[line_start..line_end].trim_end_matches('\r');
    let end = span.end.clamp(start, line_start + line.len());
    let pad: String = text[line_start..start]
        .chars()
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let width = text[start..floor_char_boundary(text, end)]
        .chars()
        .count()
        .max(1);
    let gutter = line_no.to_string().len();
    format!(
        "{:gutter$} |\n{line_no} | {line}\n{:gutter$} | {pad}{}\n",
        "",
        "",
        "^".repeat(width)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_is_one_based_and_counts_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        let quote = text.find('"').unwrap();
        assert_eq!(line_col(text, quote), (2, 6));
        assert_eq!(line_col(text, 10_000), (3, 1));
    }

    #[test]
    fn render_shows_line_and_caret() {
        let text = "[defaults]\nsetle = \"5s\"\n";
        let d = Diagnostic::error("unknown key `setle` in [defaults]")
            .at_span(text, 11..16)
            .with_hint("did you mean `settle`?");
        let out = render(Path::new("r.toml"), text, &d);
        assert_eq!(
            out,
            "r.toml:2:1: error: unknown key `setle` in [defaults]\n  |\n2 | setle = \"5s\"\n  | ^^^^^\n   = hint: did you mean `settle`?\n"
        );
    }

    #[test]
    fn render_without_position_names_the_file() {
        let d = Diagnostic::warning("vault missing");
        assert_eq!(
            render(Path::new("r.toml"), "", &d),
            "r.toml: warning: vault missing\n"
        );
    }

    #[test]
    fn caret_is_cut_at_the_end_of_the_line() {
        let text = "x = [\n  1,\n]\n";
        let d = Diagnostic::error("bad").at_span(text, 4..text.len());
        let out = render(Path::new("f"), text, &d);
        assert!(out.contains("1 | x = [\n  |     ^\n"), "{out}");
    }

    #[test]
    fn locator_prefers_the_environment() {
        let text = "[jobs.demo]\nsettle = \"5s\"\n";
        let index = SpanIndex::parse(text).unwrap();
        let env = EnvOverrides::from_vars([("REVERBERATOR_JOBS__DEMO__SETTLE", "x")]);
        let loc = Locator::new(text, &index, &env);
        let d = loc.error(&["jobs", "demo", "settle"], Part::Value, "bad");
        assert_eq!(
            d.env_var.as_deref(),
            Some("REVERBERATOR_JOBS__DEMO__SETTLE")
        );
        assert_eq!(d.line, None);
        let none = EnvOverrides::none();
        let loc = Locator::new(text, &index, &none);
        let d = loc.error(&["jobs", "demo", "settle"], Part::Value, "bad");
        assert_eq!((d.line, d.col), (Some(2), Some(10)));
        let d = loc.error(&["jobs", "demo", "vault"], Part::Key, "missing");
        assert_eq!((d.line, d.col), (Some(1), Some(7)));
        let loc = Locator::new(text, &index, &env);
        let d = loc.error(&[], Part::Key, "about the whole file");
        assert_eq!((d.line, d.env_var, d.key), (None, None, None));
    }
}
