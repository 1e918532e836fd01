//! The legacy rule table (a TSV with the original tool's header, typos included) ->
//! `reverberator.toml` text. It knows nothing about the vault or the daemon; the legacy
//! format is only ever read.
//!
//! [`parse`] reads the table (csv crate, tab-separated; blank lines and lines starting with
//! `#` skipped) into [`LegacyRule`]s, checking every cell and collecting every problem with
//! its line and column. [`to_toml`] renders the rules; [`convert`] does both and then loads
//! the result with the real loader, so whatever `check-config` would reject is reported here
//! against the row and column it came from. [`from_path`] is the thin I/O wrapper. Empty
//! cells are left out of the TOML, so they take the loader's defaults.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use super::resolve::parse_duration;
use super::{FsSpec, LimitExpr};

mod convert;

pub use convert::{convert, from_path, to_toml};

/// The header row, exactly as the original tool wrote it (typos included).
pub const HEADER: [&str; 10] = [
    "Job Name (Unique Key)",
    "Path Monitoring",
    "Monitoring File System Signature",
    "Minium snapshot time",
    "Vault Path",
    "Keep 1 Compelete Backup",
    "Only Sync Attributes (permissions)",
    "Keep N versions",
    "Backup Size Limit",
    "Vault File System Signature",
];

/// The config key each column becomes (same order as [`HEADER`]; the name is the table key).
pub(crate) const KEYS: [&str; 10] = [
    "",
    "source",
    "source_fs",
    "settle",
    "vault",
    "keep_full_copy",
    "attributes_only",
    "keep_versions",
    "vault_limit",
    "vault_fs",
];

/// One row of the table, checked; `None` means the cell was empty (the default applies).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyRule {
    /// 1-based line of the row in the TSV.
    pub line: usize,
    /// `Job Name (Unique Key)`.
    pub name: String,
    /// `Path Monitoring`.
    pub source: String,
    /// `Monitoring File System Signature`, normalized (`label=X`).
    pub source_fs: Option<String>,
    /// `Minium snapshot time` as a humantime duration (`"90s"`).
    pub settle: Option<String>,
    /// `Vault Path`.
    pub vault: String,
    /// `Keep 1 Compelete Backup`.
    pub keep_full_copy: Option<bool>,
    /// `Only Sync Attributes (permissions)`.
    pub attributes_only: Option<bool>,
    /// `Keep N versions` (>= 1).
    pub keep_versions: Option<u32>,
    /// `Backup Size Limit` as written (a valid limit expression).
    pub vault_limit: Option<String>,
    /// `Vault File System Signature`, normalized.
    pub vault_fs: Option<String>,
}

/// A problem in the table: 1-based line and column (in characters), the column's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyError {
    /// 1-based line.
    pub line: usize,
    /// 1-based character column of the cell (1 for row-level problems).
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LegacyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: error: {}", self.line, self.col, self.message)
    }
}

/// Why a table could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum LegacyConvertError {
    /// The file could not be read.
    #[error("{path}: {source}", path = .path.display())]
    Read {
        /// The TSV file.
        path: std::path::PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Rows with problems (every one found).
    #[error("{}", render_errors(.path, .errors))]
    Invalid {
        /// The TSV file (or `-` for text).
        path: std::path::PathBuf,
        /// Every problem.
        errors: Vec<LegacyError>,
    },
}

fn render_errors(path: &Path, errors: &[LegacyError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}:{e}", path.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Read the table's text into checked rules, or every problem found.
pub fn parse(text: &str) -> Result<Vec<LegacyRule>, Vec<LegacyError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split('\n').collect();
    let uncommented = blank_comments(&lines);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .has_headers(false)
        .flexible(true)
        .from_reader(uncommented.as_bytes());
    let mut errors = Vec::new();
    let mut rules: Vec<LegacyRule> = Vec::new();
    let mut header_seen = false;
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(1, |p| line_of(&uncommented, p.byte()));
                errors.push(err(line, 1, format!("unreadable row: {e}")));
                continue;
            }
        };
        let line = record
            .position()
            .map_or(1, |p| line_of(&uncommented, p.byte()));
        let cells: Vec<&str> = record.iter().collect();
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let raw_line = lines.get(line.saturating_sub(1)).copied().unwrap_or("");
        if !header_seen {
            header_seen = true;
            errors.extend(check_header(&cells, line, raw_line));
            continue;
        }
        match parse_row(&cells, line, raw_line) {
            Ok(rule) => {
                check_unique(&rule, &rules, &mut errors, raw_line).then(|| rules.push(rule))
            }
            Err(mut e) => {
                errors.append(&mut e);
                None
            }
        };
    }
    if !header_seen {
        errors.push(err(
            1,
            1,
            "no header row: the first row must be the legacy header".into(),
        ));
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

/// `text` with every line starting with `#` emptied: csv skips blank lines, and unlike its
/// own comment support this keeps its line and byte positions true to the file.
fn blank_comments(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| if l.starts_with('#') { "" } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

/// 1-based line of the record csv says starts at byte `offset` (csv reports where it
/// started reading, before the blank lines it skips).
fn line_of(text: &str, offset: u64) -> usize {
    let bytes = text.as_bytes();
    let mut end = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    while end < bytes.len() && matches!(bytes[end], b'\n' | b'\r') {
        end += 1;
    }
    bytes[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

pub(crate) fn err(line: usize, col: usize, message: String) -> LegacyError {
    LegacyError { line, col, message }
}

/// 1-based character column where cell `index` starts on the raw line (tab-separated).
pub(crate) fn cell_col(raw_line: &str, index: usize) -> usize {
    raw_line
        .split('\t')
        .take(index)
        .map(|c| c.chars().count() + 1)
        .sum::<usize>()
        + 1
}

fn check_header(cells: &[&str], line: usize, raw: &str) -> Vec<LegacyError> {
    if cells.len() != HEADER.len() {
        let msg = format!(
            "the header has {} columns, expected {}: {}",
            cells.len(),
            HEADER.len(),
            HEADER.join(" | ")
        );
        return vec![err(line, 1, msg)];
    }
    let bad = cells
        .iter()
        .zip(HEADER)
        .enumerate()
        .find(|(_, (c, h))| c.trim() != *h);
    match bad {
        Some((i, (c, h))) => {
            let msg = format!(
                "header column {} is `{}`, expected `{h}` (the legacy spelling)",
                i + 1,
                c.trim()
            );
            vec![err(line, cell_col(raw, i), msg)]
        }
        None => Vec::new(),
    }
}

fn parse_row(cells: &[&str], line: usize, raw: &str) -> Result<LegacyRule, Vec<LegacyError>> {
    if cells.len() != HEADER.len() {
        let msg = format!(
            "the row has {} cells, expected {}",
            cells.len(),
            HEADER.len()
        );
        return Err(vec![err(line, 1, msg)]);
    }
    let mut errors = Vec::new();
    let mut cell = |i: usize, parse: &dyn Fn(&str) -> Result<(), String>| {
        let text = cells[i].trim();
        if let Err(m) = parse(text) {
            errors.push(err(line, cell_col(raw, i), format!("`{}`: {m}", HEADER[i])));
        }
        text.to_owned()
    };
    let name = cell(0, &required);
    let source = cell(1, &required);
    let source_fs = cell(2, &|t| fs_spec(t).map(drop));
    let settle = cell(3, &|t| seconds(t).map(drop));
    let vault = cell(4, &required);
    let full = cell(5, &|t| boolean(t).map(drop));
    let attrs = cell(6, &|t| boolean(t).map(drop));
    let keep = cell(7, &|t| keep_versions(t).map(drop));
    let limit = cell(8, &|t| {
        t.parse::<LimitExpr>().map(drop).map_err(|e| e.to_string())
    });
    let vault_fs = cell(9, &|t| fs_spec(t).map(drop));
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(LegacyRule {
        line,
        name,
        source,
        source_fs: fs_spec(&source_fs).ok().flatten(),
        settle: seconds(&settle).ok().flatten(),
        vault,
        keep_full_copy: boolean(&full).ok().flatten(),
        attributes_only: boolean(&attrs).ok().flatten(),
        keep_versions: keep_versions(&keep).ok().flatten(),
        vault_limit: (!limit.is_empty()).then_some(limit),
        vault_fs: fs_spec(&vault_fs).ok().flatten(),
    })
}

fn check_unique(
    rule: &LegacyRule,
    rules: &[LegacyRule],
    errors: &mut Vec<LegacyError>,
    raw: &str,
) -> bool {
    match rules.iter().find(|r| r.name == rule.name) {
        Some(first) => {
            let msg = format!(
                "job name `{}` is already used on line {} (it is the unique key)",
                rule.name, first.line
            );
            errors.push(err(rule.line, cell_col(raw, 0), msg));
            false
        }
        None => true,
    }
}

fn required(t: &str) -> Result<(), String> {
    if t.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(())
    }
}

/// Seconds as a plain number (`90`, `1.5`) or a humantime duration (`1m 30s`).
fn seconds(t: &str) -> Result<Option<String>, String> {
    if t.is_empty() {
        return Ok(None);
    }
    if let Ok(secs) = t.parse::<f64>() {
        return Duration::try_from_secs_f64(secs)
            .map(|d| Some(humantime::format_duration(d).to_string()))
            .map_err(|_| format!("`{t}` is not a number of seconds >= 0"));
    }
    parse_duration(t).map(|_| Some(t.to_owned())).map_err(|p| {
        format!(
            "`{t}` is neither seconds nor a duration like \"1m 30s\" ({})",
            p.message
        )
    })
}

/// true/false/yes/no/1/0, any case.
fn boolean(t: &str) -> Result<Option<bool>, String> {
    match t.to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "true" | "yes" | "1" => Ok(Some(true)),
        "false" | "no" | "0" => Ok(Some(false)),
        _ => Err(format!("`{t}` is not a boolean (true/false, yes/no, 1/0)")),
    }
}

fn keep_versions(t: &str) -> Result<Option<u32>, String> {
    if t.is_empty() {
        return Ok(None);
    }
    match t.parse::<u32>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(Some(n)),
        Err(_) => Err(format!("`{t}` is not a whole number >= 1")),
    }
}

/// A signature in the config's form; a bare `/dev/…` becomes `dev=/dev/…`.
fn fs_spec(t: &str) -> Result<Option<String>, String> {
    if t.is_empty() {
        return Ok(None);
    }
    let text = if t.starts_with("/dev/") {
        format!("dev={t}")
    } else {
        t.to_owned()
    };
    text.parse::<FsSpec>()
        .map(|s| Some(s.to_string()))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn table(rows: &[&str]) -> String {
        let mut t = HEADER.join("\t");
        t.push('\n');
        for r in rows {
            t.push_str(r);
            t.push('\n');
        }
        t
    }

    #[test]
    fn a_full_row_converts() {
        let t = table(&[
            "docs\t/home/a/Documents\tlabel=HOME\t90\t/mnt/b\tYes\t0\t5\t10%,i20%\tuuid=1234",
        ]);
        let rules = parse(&t).unwrap();
        assert_eq!(
            rules[0],
            LegacyRule {
                line: 2,
                name: "docs".into(),
                source: "/home/a/Documents".into(),
                source_fs: Some("label=HOME".into()),
                settle: Some("1m 30s".into()),
                vault: "/mnt/b".into(),
                keep_full_copy: Some(true),
                attributes_only: Some(false),
                keep_versions: Some(5),
                vault_limit: Some("10%,i20%".into()),
                vault_fs: Some("uuid=1234".into()),
            }
        );
    }

    #[test]
    fn blank_comment_and_empty_cells() {
        let t = format!(
            "# legacy rules\n\n{}",
            table(&["", "# off", "a\t/s\t\t\t/v\t\t\t\t\t"])
        );
        let rules = parse(&t).unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].line, 6);
        assert_eq!(rules[0].settle, None);
        assert_eq!(rules[0].keep_full_copy, None);
    }

    #[test]
    fn bad_cells_name_line_and_column() {
        let t = table(&["a\t/s\t\tsoon\t/v\tmaybe\t\t0\t\t"]);
        let errs = parse(&t).unwrap_err();
        assert_eq!(errs.len(), 3);
        assert_eq!((errs[0].line, errs[0].col), (2, 7));
        assert!(errs[0].message.starts_with("`Minium snapshot time`"));
        assert_eq!((errs[1].line, errs[1].col), (2, 15));
        assert!(errs[2].message.contains("at least 1"));
    }

    #[test]
    fn header_must_match_the_legacy_spelling() {
        let fixed = HEADER.join("\t").replace("Minium", "Minimum");
        let errs = parse(&format!("{fixed}\n")).unwrap_err();
        assert_eq!(errs[0].line, 1);
        assert!(errs[0].message.contains("expected `Minium snapshot time`"));
        assert!(parse("").is_err());
    }

    #[test]
    fn wrong_cell_count_and_duplicate_names() {
        let errs = parse(&table(&["a\t/s"])).unwrap_err();
        assert!(errs[0].message.contains("2 cells"));
        let dup = table(&["a\t/s\t\t\t/v\t\t\t\t\t", "a\t/t\t\t\t/v\t\t\t\t\t"]);
        let errs = parse(&dup).unwrap_err();
        assert_eq!(errs[0].line, 3);
        assert!(errs[0].message.contains("already used on line 2"));
    }

    #[test]
    fn a_byte_order_mark_and_crlf_are_accepted() {
        let t = format!(
            "\u{feff}{}",
            table(&["a\t/s\t\t5\t/v\tFalse\t\t\t\t"]).replace('\n', "\r\n")
        );
        let rules = parse(&t).unwrap();
        assert_eq!(rules[0].vault, "/v");
        assert_eq!(rules[0].keep_full_copy, Some(false));
    }

    #[test]
    fn booleans_any_case() {
        for (t, b) in [
            ("TRUE", true),
            ("No", false),
            ("1", true),
            ("0", false),
            ("yes", true),
        ] {
            assert_eq!(boolean(t), Ok(Some(b)));
        }
        assert!(boolean("y").is_err());
    }
}
