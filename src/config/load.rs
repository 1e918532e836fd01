//! Find the config file, read it, and run the stages: TOML syntax and span index
//! ([`super::tree`]), figment layering of file and environment ([`super::layer`]),
//! resolution ([`super::resolve`]), then the existence warnings. It knows nothing about
//! what the jobs do with their settings.
//!
//! [`from_str`] is the pure core (text, path, environment and an existence probe in; a
//! [`Loaded`] or every problem out); [`super::load()`] is the thin I/O wrapper. The only
//! filesystem access of loading is reading the file and asking whether each source and
//! vault is a folder right now.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::diag::Locator;
use super::env::{EnvOverrides, CONFIG_VAR};
use super::layer::layer;
use super::paths::{normalize, path_warnings};
use super::resolve::{resolve, Ctx};
use super::tree::SpanIndex;
use super::{ConfigError, Diagnostic, Loaded};

/// The default places, in lookup order, after `--config` and `$REVERBERATOR_CONFIG`.
pub const DEFAULT_PATHS: [&str; 2] = ["reverberator.toml", "/etc/reverberator/reverberator.toml"];

/// Which file to read: `explicit`, else `env_value` (`$REVERBERATOR_CONFIG`, when set and
/// not empty), else the first of [`DEFAULT_PATHS`] that `exists`.
pub fn find(
    explicit: Option<&Path>,
    env_value: Option<OsString>,
    exists: &dyn Fn(&Path) -> bool,
) -> Result<PathBuf, ConfigError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(v) = env_value.filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(v));
    }
    DEFAULT_PATHS
        .iter()
        .map(Path::new)
        .find(|p| exists(p))
        .map(Path::to_path_buf)
        .ok_or(ConfigError::NotFound)
}

/// [`find`] with the process's environment and filesystem.
pub fn find_in_process(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    find(explicit, std::env::var_os(CONFIG_VAR), &|p| p.is_file())
}

/// `path` made absolute against the current directory and normalized lexically.
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return normalize(path);
    }
    match std::env::current_dir() {
        Ok(cwd) => normalize(&cwd.join(path)),
        Err(_) => normalize(path),
    }
}

/// Load a config from its text. `path` is the file's absolute path (relative paths in the
/// file are resolved against its folder), `env` the overrides, `is_dir` the existence probe
/// for the warnings.
pub fn from_str(
    text: &str,
    path: &Path,
    env: &EnvOverrides,
    is_dir: &dyn Fn(&Path) -> bool,
) -> Result<Loaded, ConfigError> {
    let invalid = |problems: Vec<Diagnostic>| ConfigError::Invalid {
        path: path.to_path_buf(),
        text: text.to_owned(),
        problems,
    };
    let index = SpanIndex::parse(text).map_err(|e| invalid(vec![syntax(text, e)]))?;
    let loc = Locator::new(text, &index, env);
    let mut ctx = Ctx::new(&loc);
    let raw = layer(&index, env, &loc, &mut ctx.diags);
    let config = raw.and_then(|raw| resolve(&raw, index.job_order(), path, &mut ctx));
    let config = config.filter(|_| !ctx.diags.iter().any(Diagnostic::is_error));
    match config {
        Some(config) => {
            path_warnings(&config, is_dir, &mut ctx);
            Ok(Loaded {
                config,
                warnings: errors_first(ctx.diags),
                text: text.to_owned(),
            })
        }
        None => Err(invalid(errors_first(ctx.diags))),
    }
}

fn syntax(text: &str, e: super::tree::SyntaxError) -> Diagnostic {
    let d = Diagnostic::error(format!("TOML syntax: {}", e.message));
    match e.span {
        Some(span) => d.at_span(text, span),
        None => d,
    }
}

/// Errors, then warnings, each in file order (those without a position last).
fn errors_first(mut diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diags.sort_by_key(|d| {
        let at = d.span.as_ref().map_or(usize::MAX, |s| s.start);
        (!d.is_error(), at)
    });
    diags
}

/// Read `path` and load it with the process's environment.
pub fn from_path(path: &Path) -> Result<Loaded, ConfigError> {
    let abs = absolute(path);
    let text = std::fs::read_to_string(&abs).map_err(|source| ConfigError::Read {
        path: abs.clone(),
        source,
    })?;
    from_str(&text, &abs, &EnvOverrides::from_process(), &|p| p.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_order() {
        let none = |_: &Path| false;
        let all = |_: &Path| true;
        let explicit = Path::new("/x.toml");
        assert_eq!(
            find(Some(explicit), Some("/env.toml".into()), &all).unwrap(),
            explicit
        );
        assert_eq!(
            find(None, Some("/env.toml".into()), &all).unwrap(),
            Path::new("/env.toml")
        );
        assert_eq!(
            find(None, Some("".into()), &all).unwrap(),
            Path::new("reverberator.toml")
        );
        let etc = |p: &Path| p.is_absolute();
        assert_eq!(
            find(None, None, &etc).unwrap(),
            Path::new("/etc/reverberator/reverberator.toml")
        );
        assert!(matches!(
            find(None, None, &none),
            Err(ConfigError::NotFound)
        ));
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err = from_str(
            "[jobs.a\n",
            Path::new("/c.toml"),
            &EnvOverrides::none(),
            &|_| true,
        )
        .unwrap_err();
        let ConfigError::Invalid { problems, .. } = err else {
            panic!("not invalid")
        };
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.starts_with("TOML syntax"));
        assert_eq!(problems[0].line, Some(1));
    }

    #[test]
    fn a_valid_file_loads_with_env_overrides() {
        let env = EnvOverrides::from_vars([("REVERBERATOR_JOBS__DEMO__SETTLE", "5s")]);
        let text = "[jobs.demo]\nsource = \"s\"\nvault = \"v\"\n";
        let loaded = from_str(text, Path::new("/cfg/r.toml"), &env, &|_| true).unwrap();
        let job = &loaded.config.jobs[0];
        assert_eq!(job.settings.settle, std::time::Duration::from_secs(5));
        assert_eq!(job.source, Path::new("/cfg/s"));
        assert!(loaded.warnings.is_empty());
    }
}
