//! The configuration: one TOML file describing many jobs.
//!
//! Loading happens in two stages (see `../shared/STYLE.md`, habit 2): a serde mirror of the
//! file that stays close to the text ([`raw`]), then resolution into the types below, which
//! are already valid: durations are [`Duration`](std::time::Duration), limits are [`LimitExpr`], globs are one
//! compiled [`Excludes`] matcher, paths are absolute. `check-config` and `run` call exactly
//! the same [`load()`]. The pipeline, one module each:
//!
//! ```text
//! load   find the file, read it            (--config, $REVERBERATOR_CONFIG, ./, /etc)
//! tree   the one TOML parse: values + span of every key (positions for every diagnostic)
//! layer  figment: those values, then env (`env`) (every unknown key / wrong type, key by key)
//! resolve, paths                           (defaults merged, values parsed, relations)
//! diag   line:col, rendering with caret    (FILE:LINE:COL: error: message)
//! ```
//!
//! [`legacy`] converts the old rule TSV into this format. This module owns the config model
//! and its diagnostics; it knows nothing about vaults, inotify or the daemon. The user's
//! reference is `docs/CONFIG.md`.

use std::path::{Path, PathBuf};

pub mod diag;
pub mod env;
pub mod keep;
pub mod layer;
pub mod legacy;
pub mod limit;
pub mod load;
pub mod paths;
pub mod raw;
pub mod resolve;
pub mod settings;
pub mod signature;
pub mod tree;
pub mod web;

pub use keep::KeepRules;
pub use limit::{Budget, FsCapacity, LimitExpr};
pub use settings::Settings;
pub use signature::FsSpec;
pub use web::WebConfig;

/// A whole, valid configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it was read from (absolute).
    pub path: PathBuf,
    /// Every job, in file order.
    pub jobs: Vec<JobConfig>,
    /// `[web]`: where `serve` listens (defaults when the file has no `[web]`).
    pub web: WebConfig,
}

impl Config {
    /// The job called `name`, if any.
    pub fn job(&self, name: &str) -> Option<&JobConfig> {
        self.jobs.iter().find(|j| j.name == name)
    }

    /// The job called `name`, or an error naming the file and the jobs it does define:
    /// what every command that takes a job name reports.
    pub fn find_job(&self, name: &str) -> Result<&JobConfig, UnknownJob> {
        self.job(name).ok_or_else(|| UnknownJob {
            path: self.path.clone(),
            name: name.to_owned(),
            known: self.jobs.iter().map(|j| j.name.clone()).collect(),
        })
    }
}

/// A job name the config does not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: no job called `{name}`; jobs: {}", path.display(), known_list(known))]
pub struct UnknownJob {
    /// The config file.
    pub path: PathBuf,
    /// The name asked for.
    pub name: String,
    /// The jobs the file defines, in file order.
    pub known: Vec<String>,
}

/// `a, b, c`, or `(none)`.
fn known_list(known: &[String]) -> String {
    match known.is_empty() {
        true => "(none)".to_owned(),
        false => known.join(", "),
    }
}

/// One job, with every default applied and every value checked.
#[derive(Debug, Clone, PartialEq)]
pub struct JobConfig {
    /// The job name: the `[jobs.NAME]` table key (free text).
    pub name: String,
    /// The directory to keep versions of (absolute).
    pub source: PathBuf,
    /// The vault root (absolute); the job's versions live in
    /// `vault/<sanitize_job_name(name)>/`, see [`JobConfig::job_dir`].
    pub vault: PathBuf,
    /// Which filesystem the source must be on (`None`: no check beyond the mount point).
    pub source_fs: Option<FsSpec>,
    /// Which filesystem the vault must be on.
    pub vault_fs: Option<FsSpec>,
    /// Timing, retention, limits, excludes: `[defaults]` with the job's overrides.
    pub settings: Settings,
}

impl JobConfig {
    /// A job for unit tests: `name`, `source`, `vault`, no filesystem specs and
    /// [`Settings::for_test`].
    #[cfg(test)]
    pub(crate) fn for_test(name: &str, source: &Path, vault: &Path) -> JobConfig {
        JobConfig {
            name: name.into(),
            source: source.to_owned(),
            vault: vault.to_owned(),
            source_fs: None,
            vault_fs: None,
            settings: Settings::for_test(),
        }
    }

    /// The job's folder inside the vault: `vault/<sanitized name>`.
    pub fn job_dir(&self) -> PathBuf {
        self.vault.join(sanitize_job_name(&self.name))
    }

    /// The vault's path relative to the source root when the vault lies inside the
    /// source (it is then never watched or stored); `None` otherwise.
    pub fn vault_in_source(&self) -> Option<&Path> {
        self.vault.strip_prefix(&self.source).ok()
    }

    /// True when the entry `rel` (relative to the source root; its ancestors already
    /// checked by the caller's walk) is never watched or stored: an exclude glob matches
    /// it, or it is the vault inside the source. The one rule the scan, the snapshot
    /// builder and the watcher share.
    pub fn skips_entry(&self, rel: &Path) -> bool {
        self.settings.exclude.matches_entry(rel) || self.vault_in_source() == Some(rel)
    }
}

/// The folder name of a job inside its vault.
///
/// Rule (a contract: changing it orphans existing vaults): every byte outside
/// `[A-Za-z0-9._-]` becomes `_`; a leading `.` becomes `_` (no hidden or `..` folders);
/// the empty name becomes `_`; the result is cut to at most 200 bytes.
pub fn sanitize_job_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with('.') {
        out.replace_range(0..1, "_");
    }
    if out.is_empty() {
        out.push('_');
    }
    out.truncate(200);
    out
}

/// The compiled exclude globs of a job, matched against paths relative to the source root.
///
/// A pattern without `/` matches a name at any depth (`*.tmp`, `node_modules`); a pattern
/// with `/` is anchored at the source root (`build/out`, `cache/**`). An excluded folder
/// excludes everything below it.
#[derive(Debug, Clone)]
pub struct Excludes {
    patterns: Vec<String>,
    anchored: globset::GlobSet,
    names: globset::GlobSet,
}

impl PartialEq for Excludes {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns
    }
}

impl Default for Excludes {
    fn default() -> Self {
        Excludes {
            patterns: Vec::new(),
            anchored: globset::GlobSet::empty(),
            names: globset::GlobSet::empty(),
        }
    }
}

impl Excludes {
    /// Compile `patterns`; the error names the pattern that does not parse.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, globset::Error> {
        let mut anchored = globset::GlobSetBuilder::new();
        let mut names = globset::GlobSetBuilder::new();
        for p in patterns {
            let p = p.as_ref();
            let trimmed = p.trim_start_matches('/').trim_end_matches('/');
            let glob = globset::GlobBuilder::new(trimmed)
                .literal_separator(true)
                .build()?;
            if p.contains('/') {
                anchored.add(glob);
            } else {
                names.add(glob);
            }
        }
        Ok(Excludes {
            patterns: patterns.iter().map(|p| p.as_ref().to_owned()).collect(),
            anchored: anchored.build()?,
            names: names.build()?,
        })
    }

    /// The patterns as written in the config.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// True when `rel` (relative to the source root) or one of its ancestors is excluded.
    pub fn is_excluded(&self, rel: &Path) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        rel.ancestors()
            .filter(|a| !a.as_os_str().is_empty())
            .any(|a| {
                self.anchored.is_match(a) || a.file_name().is_some_and(|n| self.names.is_match(n))
            })
    }

    /// True when `rel` itself matches (ancestors are assumed checked by the caller's walk).
    pub fn matches_entry(&self, rel: &Path) -> bool {
        !self.patterns.is_empty()
            && (self.anchored.is_match(rel)
                || rel.file_name().is_some_and(|n| self.names.is_match(n)))
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No config file was given and none of the default places has one.
    #[error("no config file: give --config FILE, set $REVERBERATOR_CONFIG, or create ./reverberator.toml or /etc/reverberator/reverberator.toml")]
    NotFound,
    /// The file could not be read. The message names the file; the OS error is the
    /// `source`, so `{:#}` prints it once, after the message.
    #[error("cannot read the config {}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file was read but has problems; each one carries its position. Displayed as
    /// every problem rendered with its line, caret and hint.
    #[error("{path}: {count} problem(s) in the config:\n{rendered}",
        path = .path.display(),
        count = .problems.iter().filter(|d| d.is_error()).count(),
        rendered = diag::render_all(.path, .text, .problems))]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// The file's text, for rendering snippets.
        text: String,
        /// Every problem found (not just the first).
        problems: Vec<Diagnostic>,
    },
}

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The config is rejected.
    Error,
    /// The config is accepted; the user should know.
    Warning,
}

/// One problem in a config file, with its position (1-based line and column) when known.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Byte range in the file text, when known.
    pub span: Option<std::ops::Range<usize>>,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub col: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// A suggestion ("did you mean `settle`?").
    pub hint: Option<String>,
    /// The dotted key path the problem is about (`jobs.demo.settle`), when there is one.
    pub key: Option<String>,
    /// The environment variable that set the offending value, when it came from one
    /// (then `span`, `line` and `col` are `None`).
    pub env_var: Option<String>,
}

/// A loaded config plus the warnings it produced (a missing source disk, a vault inside
/// its source, ...).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The valid config.
    pub config: Config,
    /// Problems that do not stop the config from being used.
    pub warnings: Vec<Diagnostic>,
    /// The file's text, for rendering the warnings' source lines ([`Loaded::render_warnings`]).
    pub text: String,
}

impl Loaded {
    /// Every warning rendered as `FILE:LINE:COL: warning: message` with its source line and
    /// caret (empty when there is none).
    pub fn render_warnings(&self) -> String {
        diag::render_all(&self.config.path, &self.text, &self.warnings)
    }
}

/// Find (`--config`, `$REVERBERATOR_CONFIG`, `./reverberator.toml`,
/// `/etc/reverberator/reverberator.toml`), read and resolve the config, with the
/// `REVERBERATOR_…__…` environment overrides layered over the file. The one loader that
/// `run`, `check-config` and every other command use.
///
/// Reads the file and asks whether each source and vault is a folder right now (for the
/// warnings); touches the filesystem in no other way. [`ConfigError::Invalid`] carries every
/// problem with its position; its `Display` renders them all.
pub fn load(explicit: Option<&Path>) -> Result<Loaded, ConfigError> {
    let path = load::find_in_process(explicit)?;
    load::from_path(&path)
}

#[cfg(test)]
mod tests {
    use super::resolve::tests::resolve_text;
    use super::*;

    #[test]
    fn a_job_skips_its_excludes_and_a_vault_inside_its_source() {
        let text = "[jobs.a]\nsource = \"/s\"\nvault = \"/s/backup\"\nexclude = [\"*.tmp\"]\n\
                    [jobs.b]\nsource = \"/t\"\nvault = \"/v\"\n";
        let (c, _) = resolve_text(text);
        let c = c.expect("valid");
        let (a, b) = (&c.jobs[0], &c.jobs[1]);
        assert_eq!(a.vault_in_source(), Some(Path::new("backup")));
        assert!(a.skips_entry(Path::new("backup")));
        assert!(a.skips_entry(Path::new("x/y.tmp")));
        assert!(!a.skips_entry(Path::new("x/backup")));
        assert!(!a.skips_entry(Path::new("notes")));
        assert_eq!(b.vault_in_source(), None);
        assert!(!b.skips_entry(Path::new("backup")));
        assert_eq!(c.find_job("b").map(|j| j.name.as_str()), Ok("b"));
        let err = c.find_job("nope").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/r/r.toml: no job called `nope`; jobs: a, b"
        );
        let none = Config {
            path: c.path.clone(),
            jobs: Vec::new(),
            web: WebConfig::default(),
        };
        assert!(none
            .find_job("a")
            .unwrap_err()
            .to_string()
            .ends_with("jobs: (none)"));
    }
}
