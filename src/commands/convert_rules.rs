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

/// Write `text` to a temporary file beside `out`, then rename it over `out`. The temporary
/// file is removed on failure, but only when this process created it.
fn write_atomically(out: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = temp_sibling(out);
    write_new(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, out)
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .with_context(|| format!("writing {}", out.display()))
}

/// Create `path` (it must not exist: a file or symlink planted at that name is refused,
/// never followed) and write `text`, durably; on a write error the new file is removed.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = crate::fs::create_new(path, 0o644)?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .inspect_err(|_| {
            let _ = std::fs::remove_file(path);
        })
}

fn temp_sibling(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    out.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temporary_file_is_never_written_through_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "mine").unwrap();
        let planted = temp_sibling(&dir.path().join("out.toml"));
        std::os::unix::fs::symlink(&target, &planted).unwrap();
        assert!(write_atomically(&dir.path().join("out.toml"), "x = 1\n").is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "mine");
        assert!(planted.symlink_metadata().is_ok(), "not ours: left alone");
        std::fs::remove_file(&planted).unwrap();
        write_atomically(&dir.path().join("out.toml"), "x = 1\n").unwrap();
        let written = std::fs::read_to_string(dir.path().join("out.toml")).unwrap();
        assert_eq!(written, "x = 1\n");
        assert!(
            planted.symlink_metadata().is_err(),
            "temporary file renamed away"
        );
    }
}
