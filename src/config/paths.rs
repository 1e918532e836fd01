//! Path rules: `source` and `vault` made absolute against the config file's folder and
//! normalized lexically, the relations between a job's folders (same folder, source inside
//! its vault, vault inside its source), jobs that would share a vault folder or version each
//! other's vaults, and the existence warnings.
//!
//! Nothing here touches the filesystem except through the `is_dir` probe that
//! [`path_warnings`] receives; symlinks are not resolved.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use super::diag::Part;
use super::resolve::{with, Ctx, Problem};
use super::{Config, JobConfig};

/// A path as written -> absolute and lexically normalized (symlinks are not resolved).
pub fn parse_path(text: &str, base: &Path) -> Result<PathBuf, Problem> {
    if text.trim().is_empty() {
        return Err(Problem::new("the path is empty", None));
    }
    if text.starts_with('~') {
        return Err(Problem::new(
            format!("`{text}`: `~` is not expanded"),
            Some("write the absolute path, e.g. /home/alice/Documents"),
        ));
    }
    if text.contains('\0') {
        return Err(Problem::new("the path contains a NUL character", None));
    }
    Ok(normalize(&base.join(text)))
}

/// Remove `.` and resolve `..` lexically (never above `/`).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if out.parent().is_some() {
                    out.pop();
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Source and vault must not be the same folder, the source must not be inside its vault;
/// a vault inside its source is allowed (the daemon excludes it) and worth a warning.
pub(crate) fn check_nesting(source: &Path, vault: &Path, section: &[&str], ctx: &mut Ctx) {
    let path = with(section, "vault");
    if source == vault {
        let p = Problem::new(
            format!(
                "`vault` is the same folder as `source` ({})",
                vault.display()
            ),
            Some("put the vault on another disk or at least outside the source"),
        );
        ctx.error(&path, Part::Value, p);
    } else if source.starts_with(vault) {
        let p = Problem::new(
            format!(
                "the source {} is inside its own vault {}",
                source.display(),
                vault.display()
            ),
            Some("the vault must not contain the folder it keeps versions of"),
        );
        ctx.error(&path, Part::Value, p);
    } else if vault.starts_with(source) {
        let msg = format!(
            "the vault {} is inside the source {}; it is excluded from the versions automatically",
            vault.display(),
            source.display()
        );
        ctx.warning(&path, msg);
    }
}

/// Two jobs whose names sanitize to the same folder in the same vault would share versions.
pub(crate) fn check_collisions(jobs: &[JobConfig], ctx: &mut Ctx) {
    let mut seen: HashMap<PathBuf, &str> = HashMap::new();
    for job in jobs {
        let dir = job.job_dir();
        match seen.get(&dir) {
            Some(first) => {
                let msg = format!(
                    "jobs `{first}` and `{}` both write to {}: their names sanitize to the same folder",
                    job.name,
                    dir.display()
                );
                let hint =
                    "rename one of them (names keep only A-Z a-z 0-9 . _ -; others become _)";
                ctx.error(
                    &["jobs", &job.name],
                    Part::Key,
                    Problem::new(msg, Some(hint)),
                );
            }
            None => {
                seen.insert(dir, &job.name);
            }
        }
    }
}

/// A job whose vault folder lies inside another job's source makes that other job version
/// every snapshot of the first (the automatic exclusion covers only a job's own vault):
/// worth a warning.
pub(crate) fn check_cross_jobs(jobs: &[JobConfig], ctx: &mut Ctx) {
    for a in jobs {
        let dir = a.job_dir();
        for b in jobs
            .iter()
            .filter(|b| b.name != a.name && dir.starts_with(&b.source))
        {
            let msg = format!(
                "job `{}` keeps its versions in {}, inside the source of job `{}`: \
                 `{}` would keep versions of those versions",
                a.name,
                dir.display(),
                b.name,
                b.name
            );
            ctx.warning(&["jobs", &a.name, "vault"], msg);
        }
    }
}

/// Warnings for sources and vaults that do not exist right now (a removable disk may be
/// unplugged). `is_dir` is the only filesystem access, injected by the caller.
pub fn path_warnings(config: &Config, is_dir: &dyn Fn(&Path) -> bool, ctx: &mut Ctx) {
    for job in &config.jobs {
        for (key, path) in [("source", &job.source), ("vault", &job.vault)] {
            if !is_dir(path) {
                let msg = format!(
                    "{key} {} does not exist (or is not a folder) right now; job `{}` waits for it: \
                     mount the disk that holds it (the job resumes when it is mounted), or create \
                     the folder and restart the daemon",
                    path.display(),
                    job.name
                );
                ctx.warning(&["jobs", &job.name, key], msg);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::diag::Locator;
    use crate::config::env::EnvOverrides;
    use crate::config::resolve::tests::{messages, resolve_text};
    use crate::config::tree::SpanIndex;

    #[test]
    fn relative_paths_are_resolved_against_the_config_folder() {
        let (c, _) = resolve_text("[jobs.a]\nsource = \"demo/./source\"\nvault = \"../vault\"\n");
        let job = &c.unwrap().jobs[0];
        assert_eq!(job.source, Path::new("/etc/r/demo/source"));
        assert_eq!(job.vault, Path::new("/etc/vault"));
    }

    #[test]
    fn missing_paths_and_nesting() {
        let (_, d) = resolve_text("[jobs.a]\nsource = \"/s\"\n");
        assert_eq!(messages(&d), ["job `a` has no `vault`"]);
        assert_eq!((d[0].line, d[0].col), (Some(1), Some(7)));
        let (_, d) = resolve_text("[jobs.a]\nsource = \"/s\"\nvault = \"/s/\"\n");
        assert!(d[0].message.starts_with("`vault` is the same folder"));
        let (_, d) = resolve_text("[jobs.a]\nsource = \"/v/s\"\nvault = \"/v\"\n");
        assert!(d[0].message.contains("inside its own vault"));
        let (c, d) = resolve_text("[jobs.a]\nsource = \"/s\"\nvault = \"/s/.vault\"\n");
        assert!(c.is_some());
        assert!(!d[0].is_error() && d[0].message.contains("excluded"));
    }

    #[test]
    fn sanitized_names_collide_in_one_vault_only() {
        let two = "[jobs.\"a b\"]\nsource = \"/s1\"\nvault = \"/v\"\n[jobs.a_b]\nsource = \"/s2\"\nvault = \"/v\"\n";
        let (_, d) = resolve_text(two);
        assert_eq!(d.len(), 1);
        assert!(
            d[0].message.contains("both write to /v/a_b"),
            "{}",
            d[0].message
        );
        assert_eq!(d[0].line, Some(4));
        let apart = two.replacen("vault = \"/v\"", "vault = \"/w\"", 1);
        assert!(resolve_text(&apart).1.is_empty());
    }

    #[test]
    fn a_vault_inside_another_jobs_source_warns() {
        let (c, d) = resolve_text(
            "[jobs.a]\nsource = \"/home\"\nvault = \"/srv/v\"\n[jobs.b]\nsource = \"/srv\"\nvault = \"/w\"\n",
        );
        assert!(c.is_some());
        assert_eq!(d.len(), 1, "{d:#?}");
        assert!(!d[0].is_error());
        assert!(d[0].message.contains("inside the source of job `b`"));
        assert_eq!(d[0].line, Some(3));
    }

    #[test]
    fn missing_paths_warn() {
        let (c, _) = resolve_text("[jobs.a]\nsource = \"/s\"\nvault = \"/v\"\n");
        let text = "";
        let index = SpanIndex::parse(text).unwrap();
        let env = EnvOverrides::none();
        let loc = Locator::new(text, &index, &env);
        let mut ctx = Ctx::new(&loc);
        path_warnings(&c.unwrap(), &|p| p == Path::new("/s"), &mut ctx);
        assert_eq!(ctx.diags.len(), 1);
        assert!(ctx.diags[0].message.starts_with("vault /v does not exist"));
    }
}
