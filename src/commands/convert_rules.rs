//! `reverberator convert-rules TSV [-o OUT]`: the legacy rule table -> config text on stdout
//! or in OUT. Nothing is written when any row is bad; OUT is written to a temporary sibling
//! and renamed into place, so it is never left half-written.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::cli::{ConvertRulesArgs, GlobalArgs};
use crate::config::legacy::{self, LegacyConvertError};
use crate::exit::ExitCode;

/// Run `reverberator convert-rules`.
pub fn run(_global: &GlobalArgs, args: &ConvertRulesArgs) -> anyhow::Result<ExitCode> {
    let toml = match legacy::from_path(&args.tsv) {
        Ok(toml) => toml,
        Err(e @ LegacyConvertError::Invalid { .. }) => {
            eprintln!("{e}");
            eprintln!("{}: not converted, nothing written", args.tsv.display());
            return Ok(ExitCode::Failure);
        }
        Err(e) => return Err(e.into()),
    };
    match &args.output {
        Some(out) => write_atomically(out, &toml)?,
        None => std::io::stdout().lock().write_all(toml.as_bytes())?,
    }
    Ok(ExitCode::Success)
}

/// Write `text` to a temporary file beside `out`, then rename it over `out`.
fn write_atomically(out: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = temp_sibling(out);
    let result = std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, out))
        .with_context(|| format!("writing {}", out.display()));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn temp_sibling(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    out.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}
