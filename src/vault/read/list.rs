//! `list`: the committed versions of a job folder, oldest first, with the figures
//! `index.tsv` keeps for each (owned bytes and inodes, number of changes), rendered as an
//! aligned text table or as JSON.
//!
//! The folders are the truth, the index holds the figures: a committed folder missing from
//! the index is still listed, with unknown figures and a [`ListNote`]; an index row without
//! a folder is not listed (also a note). `verify` reports both as problems.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde::Serialize;

use super::{versions, ReadError};
use crate::vault::index::Index;
use crate::vault::layout::JobFolder;
use crate::vault::retire::{Keep, Verdict};

/// What a version owns and how much changed in it, as recorded in `index.tsv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    /// Bytes of allocated blocks of the inodes this version holds alone.
    pub size: u64,
    /// Inodes this version holds alone.
    pub inodes: u64,
    /// Entries that changed since the previous version.
    pub changes: u64,
}

/// One committed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// The version number.
    pub version: u64,
    /// The version folder's name.
    pub name: String,
    /// When it was taken (from the folder name).
    pub time: DateTime<FixedOffset>,
    /// Its figures; `None` when `index.tsv` has no row for it.
    pub figures: Option<Figures>,
    /// The rules that keep it (`retire::keep_reasons`; empty: it would go); `None` when
    /// not asked for ([`Listing::set_keep`]): no `KEEP` column, no `keep` key.
    pub keep: Option<Vec<Keep>>,
}

/// Something the user should know about a listing (printed on stderr by `list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListNote {
    /// A committed version folder that `index.tsv` does not list: its figures are unknown.
    NotInIndex {
        /// The folder name.
        name: String,
    },
    /// An `index.tsv` row whose folder does not exist (not listed).
    NoFolder {
        /// The row's version number.
        version: u64,
    },
    /// `index.tsv` could not be read: every figure is unknown.
    IndexUnreadable {
        /// Why.
        reason: String,
    },
    /// The newest version alone exceeds the job's budget: retire keeps it and records why
    /// (`vault::retire::over_budget`); the `list` command adds this note from that record.
    OverBudget {
        /// The recorded message (names the version and the budget it exceeds).
        message: String,
    },
}

impl std::fmt::Display for ListNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListNote::NotInIndex { name } => {
                write!(f, "{name} is not in index.tsv: its figures are unknown")
            }
            ListNote::NoFolder { version } => {
                write!(
                    f,
                    "index.tsv lists version {version}, whose folder is missing"
                )
            }
            ListNote::IndexUnreadable { reason } => {
                write!(f, "index.tsv: {reason}: figures are unknown")
            }
            ListNote::OverBudget { message } => f.write_str(message),
        }
    }
}

/// The versions of a job, oldest first, and what to tell the user about them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Every committed version, oldest first.
    pub versions: Vec<VersionInfo>,
    /// Warnings for stderr.
    pub notes: Vec<ListNote>,
}

/// List the committed versions of `folder` joined with their `index.tsv` rows.
pub fn list(folder: &JobFolder) -> Result<Listing, ReadError> {
    let mut listing = Listing::default();
    let mut figures = match read_figures(folder) {
        Ok(rows) => rows,
        Err(reason) => {
            listing.notes.push(ListNote::IndexUnreadable { reason });
            BTreeMap::new()
        }
    };
    for v in versions(folder)? {
        let name = v.to_string();
        let row = figures.remove(&v.number);
        if row.is_none() {
            listing
                .notes
                .push(ListNote::NotInIndex { name: name.clone() });
        }
        listing.versions.push(VersionInfo {
            version: v.number,
            name,
            time: v.time,
            figures: row,
            keep: None,
        });
    }
    listing.notes.extend(
        figures
            .into_keys()
            .map(|version| ListNote::NoFolder { version }),
    );
    Ok(listing)
}

/// The figures of every `index.tsv` row by version number (a missing index has none).
fn read_figures(folder: &JobFolder) -> Result<BTreeMap<u64, Figures>, String> {
    let index = Index::from_job_dir(folder.root()).map_err(|e| e.to_string())?;
    Ok(index
        .rows
        .iter()
        .map(|r| {
            let f = Figures {
                size: r.size,
                inodes: r.inodes,
                changes: r.changes,
            };
            (r.version, f)
        })
        .collect())
}

/// One version as `list --json` prints it (unknown figures are `null`).
#[derive(Debug, Serialize)]
struct JsonRow<'a> {
    version: u64,
    name: &'a str,
    time: String,
    size: Option<u64>,
    inodes: Option<u64>,
    changes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep: Option<Vec<&'static str>>,
}

/// The time as `list` prints it: RFC 3339 with the folder's offset, whole seconds.
pub fn rfc3339(time: &DateTime<FixedOffset>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, false)
}

impl Listing {
    /// Give each version the rules that keep it (by version number; a version `verdicts`
    /// does not name gets an empty list).
    pub fn set_keep(&mut self, verdicts: &[Verdict]) {
        let by: BTreeMap<u64, &Vec<Keep>> = verdicts
            .iter()
            .map(|v| (v.version.number, &v.keep))
            .collect();
        for v in &mut self.versions {
            v.keep = Some(by.get(&v.version).map(|k| k.to_vec()).unwrap_or_default());
        }
    }

    /// The JSON array `list --json` prints (pretty, one key per line).
    pub fn to_json(&self) -> String {
        let rows: Vec<JsonRow<'_>> = self
            .versions
            .iter()
            .map(|v| JsonRow {
                version: v.version,
                name: &v.name,
                time: rfc3339(&v.time),
                size: v.figures.map(|f| f.size),
                inodes: v.figures.map(|f| f.inodes),
                changes: v.figures.map(|f| f.changes),
                keep: v
                    .keep
                    .as_ref()
                    .map(|k| k.iter().map(|k| k.name()).collect()),
            })
            .collect();
        serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".to_owned())
    }

    /// The text table `list` prints: a header line, then one line per version; numbers
    /// right-aligned, unknown figures as `?`; with keep reasons a `KEEP` column (`-`: no
    /// rule keeps the version, it would go).
    pub fn to_text(&self) -> String {
        let with_keep = self.versions.iter().any(|v| v.keep.is_some());
        let mut header: Vec<String> = ["VERSION", "NAME", "TIME", "SIZE", "INODES", "CHANGES"]
            .map(String::from)
            .to_vec();
        if with_keep {
            header.push("KEEP".into());
        }
        let mut cells = vec![header];
        for v in &self.versions {
            let fig = |get: fn(&Figures) -> String| v.figures.as_ref().map_or("?".into(), get);
            let mut row = vec![
                v.version.to_string(),
                v.name.clone(),
                rfc3339(&v.time),
                fig(|f| human_size(f.size)),
                fig(|f| f.inodes.to_string()),
                fig(|f| f.changes.to_string()),
            ];
            if with_keep {
                row.push(keep_cell(v.keep.as_deref()));
            }
            cells.push(row);
        }
        render_table(&cells)
    }
}

/// The `KEEP` cell: `last,daily`, `-` when no rule keeps the version, `?` when unknown.
fn keep_cell(keep: Option<&[Keep]>) -> String {
    match keep {
        None => "?".into(),
        Some([]) => "-".into(),
        Some(k) => k.iter().map(|k| k.name()).collect::<Vec<_>>().join(","),
    }
}

/// Columns separated by two spaces; columns 0, 3, 4 and 5 (numbers) right-aligned.
fn render_table(cells: &[Vec<String>]) -> String {
    let mut widths = vec![0usize; cells.first().map_or(0, Vec::len)];
    for row in cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in cells {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths.iter().copied()).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(w - cell.chars().count());
            if matches!(i, 0 | 3 | 4 | 5) {
                line.push_str(&pad);
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&pad);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Bytes in binary units with one decimal: `0 B`, `512 B`, `1.5 KiB`, `2.0 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::super::fixture::Fixture;
    use super::*;

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 << 30), "3.0 GiB");
    }

    #[test]
    fn lists_versions_oldest_first_with_figures() {
        let f = Fixture::three_versions();
        let listing = list(&f.folder).unwrap();
        assert!(listing.notes.is_empty(), "{:?}", listing.notes);
        let got: Vec<_> = listing
            .versions
            .iter()
            .map(|v| (v.version, v.figures.map(|f| (f.size, f.inodes, f.changes))))
            .collect();
        assert_eq!(
            got,
            [
                (0, Some((0, 0, 1))),
                (1, Some((100, 1, 2))),
                (2, Some((200, 2, 3)))
            ]
        );
        let text = listing.to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[0],
            "VERSION  NAME                           TIME                        SIZE  INODES  CHANGES"
        );
        assert_eq!(
            lines[2],
            "      1  V1--2026-11-23_10-01-00_+0100  2026-11-23T10:01:00+01:00  100 B       1        2"
        );
    }

    #[test]
    fn json_has_exactly_the_contract_keys() {
        let f = Fixture::three_versions();
        let json: serde_json::Value =
            serde_json::from_str(&list(&f.folder).unwrap().to_json()).unwrap();
        let rows = json.as_array().unwrap();
        assert_eq!(rows.len(), 3);
        let first = rows[0].as_object().unwrap();
        let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["changes", "inodes", "name", "size", "time", "version"]
        );
        assert_eq!(rows[1]["version"], 1);
        assert_eq!(rows[1]["name"], "V1--2026-11-23_10-01-00_+0100");
        assert_eq!(rows[1]["time"], "2026-11-23T10:01:00+01:00");
        assert_eq!(rows[2]["size"], 200);
        assert_eq!(rows[2]["inodes"], 2);
        assert_eq!(rows[2]["changes"], 3);
    }

    #[test]
    fn a_folder_missing_from_the_index_is_listed_with_a_note() {
        let f = Fixture::three_versions();
        f.commit(&[0, 2]);
        let listing = list(&f.folder).unwrap();
        assert_eq!(listing.versions.len(), 3);
        assert_eq!(listing.versions[1].figures, None);
        assert_eq!(
            listing.notes,
            [ListNote::NotInIndex {
                name: Fixture::name(1).to_string()
            }]
        );
        assert!(listing
            .to_text()
            .lines()
            .nth(2)
            .unwrap()
            .ends_with("?       ?        ?"));
        let json: serde_json::Value = serde_json::from_str(&listing.to_json()).unwrap();
        assert!(json[1]["size"].is_null());
    }

    #[test]
    fn an_index_row_without_folder_is_a_note_not_a_version() {
        let f = Fixture::three_versions();
        std::fs::remove_dir_all(f.at(2, "")).unwrap();
        let listing = list(&f.folder).unwrap();
        assert_eq!(listing.versions.len(), 2);
        assert_eq!(listing.notes, [ListNote::NoFolder { version: 2 }]);
    }
}
