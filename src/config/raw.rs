//! The serde mirror of the config file: every field optional, unknown keys rejected
//! (`deny_unknown_fields` on every table), values kept as written (durations and limits are
//! still text). The `[defaults]` and `[jobs.NAME]` tables are generated from the one list of
//! settings in [`super::settings`] and re-exported here. These types are the single source
//! of truth for the key names: the layered loader deserializes into them, and the JSON
//! Schema (`schemas/reverberator.schema.json`) is generated from them, so the schema and the
//! loader cannot disagree on names or types.
//!
//! Positions are not kept here: figment's merged values carry no spans, so they come from
//! the span index of [`super::tree`], looked up by key path. This module knows nothing about
//! defaults, paths or the filesystem; [`super::resolve`] turns these values into a
//! [`super::Config`].

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

pub use super::settings::{RawJob, RawSettings};

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "reverberator.toml")]
pub struct RawConfig {
    /// Settings that apply to every job unless the job overrides them.
    pub defaults: Option<RawSettings>,
    /// The jobs: the table key is the job name (free text; its vault folder is a sanitized
    /// form of it).
    // Sorted by name here; the file order comes from the span index (`tree.rs`).
    pub jobs: Option<BTreeMap<String, RawJob>>,
    /// `reverberator serve`: where the read-only web view listens and its token.
    pub web: Option<super::web::RawWeb>,
}

/// The `keep` table: which older versions survive beside the `keep_versions` newest.
/// A version is kept when any rule keeps it; the newest version is always kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Keep")]
pub struct RawKeep {
    /// Every version made within this long of the newest version (humantime: "2h", "7d";
    /// "0" turns it off).
    pub within: Option<String>,
    /// For the N most recent hours that hold a version: the newest version of each.
    #[schemars(range(min = 0, max = 4294967295_u32))]
    pub hourly: Option<u32>,
    /// For the N most recent days (the version's own local time) that hold a version: the
    /// newest of each.
    #[schemars(range(min = 0, max = 4294967295_u32))]
    pub daily: Option<u32>,
    /// For the N most recent ISO weeks that hold a version: the newest of each.
    #[schemars(range(min = 0, max = 4294967295_u32))]
    pub weekly: Option<u32>,
    /// For the N most recent months that hold a version: the newest of each.
    #[schemars(range(min = 0, max = 4294967295_u32))]
    pub monthly: Option<u32>,
    /// For the N most recent years that hold a version: the newest of each.
    #[schemars(range(min = 0, max = 4294967295_u32))]
    pub yearly: Option<u32>,
}

/// A limit expression as written: text (`"5%, i20%"`) or a plain byte count (`2000`, `0`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum RawLimit {
    /// `vault_limit = "5%"`.
    Text(String),
    /// `vault_limit = 2000` (bytes; 0 = unlimited).
    Bytes(u64),
}

impl RawLimit {
    /// The expression as text, ready for [`super::LimitExpr`]'s parser.
    pub fn to_text(&self) -> String {
        match self {
            RawLimit::Text(t) => t.clone(),
            RawLimit::Bytes(n) => n.to_string(),
        }
    }
}

impl<'de> Deserialize<'de> for RawLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LimitVisitor)
    }
}

struct LimitVisitor;

impl Visitor<'_> for LimitVisitor {
    type Value = RawLimit;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a limit expression string (\"5%\", \"500MiB, i20%\") or a byte count")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawLimit, E> {
        Ok(RawLimit::Text(v.to_owned()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawLimit, E> {
        Ok(RawLimit::Bytes(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawLimit, E> {
        u64::try_from(v)
            .map(RawLimit::Bytes)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }
}

impl JsonSchema for RawLimit {
    fn schema_name() -> String {
        "Limit".to_owned()
    }

    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let value = serde_json::json!({
            "description": "A limit expression (\"5%\", \"500MiB, i20%\") or a byte count; 0 = unlimited.",
            "anyOf": [
                { "type": "string", "pattern": LIMIT_PATTERN },
                { "type": "integer", "minimum": 0 }
            ]
        });
        serde_json::from_value(value).unwrap_or(schemars::schema::Schema::Bool(true))
    }
}

/// What the schema accepts as a limit expression string (the loader's grammar, see
/// [`super::limit`]; the schema is a little stricter about number forms such as `1e3`).
const LIMIT_PATTERN: &str = concat!(
    r"^(?:\s*(?:[iI]\s*\d+(?:\.\d+)?\s*%|[iI]\s*\d+|\d+(?:\.\d+)?\s*%",
    r"|\d+(?:\.\d+)?\s*(?:[kKmMgGtTpPeE][iI]?)?[bB]?)?\s*)",
    r"(?:,\s*(?:[iI]\s*\d+(?:\.\d+)?\s*%|[iI]\s*\d+|\d+(?:\.\d+)?\s*%",
    r"|\d+(?:\.\d+)?\s*(?:[kKmMgGtTpPeE][iI]?)?[bB]?)?\s*)*$"
);

/// The JSON Schema of the config file, generated from [`RawConfig`].
pub fn json_schema() -> schemars::schema::RootSchema {
    let mut schema = schemars::schema_for!(RawConfig);
    let meta = schema.schema.metadata();
    meta.description = Some(
        "reverberator.toml: jobs that keep browseable versions of directories in a vault."
            .to_owned(),
    );
    schema
}

/// The schema as pretty JSON text with a trailing newline (the checked-in file's form).
pub fn json_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RawConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn unknown_keys_are_rejected_in_every_table() {
        assert!(parse("bogus = 1").is_err());
        assert!(parse("[defaults]\nsetle = \"1s\"").is_err());
        assert!(parse("[jobs.a]\nsource = \"/a\"\nvault = \"/v\"\nkeep = 1").is_err());
        assert!(parse("[defaults.keep]\ndayly = 1").is_err());
        assert!(parse("[defaults.keep]\ndaily = -1").is_err());
        assert!(parse("[defaults.keep]\ndaily = 1.5").is_err());
    }

    #[test]
    fn limit_accepts_text_and_count() {
        let c = parse("[defaults]\nvault_limit = 2000").unwrap();
        assert_eq!(c.defaults.unwrap().vault_limit, Some(RawLimit::Bytes(2000)));
        let c = parse("[defaults]\nvault_limit = \"5%\"").unwrap();
        assert_eq!(
            c.defaults.unwrap().vault_limit.map(|l| l.to_text()),
            Some("5%".into())
        );
        assert!(parse("[defaults]\nvault_limit = -1").is_err());
        assert!(parse("[defaults]\nvault_limit = true").is_err());
    }
}
