//! The CLI surface, through the real binary: every subcommand's `--help`, completions and
//! the man page generate; `check-config` and `convert-rules` end to end (exit codes, the
//! `FILE:LINE:COL: error:` format, the config lookup, environment overrides, no output file
//! on a bad row).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SUBCOMMANDS: &[&str] = &[
    "run",
    "check-config",
    "convert-rules",
    "snapshot",
    "list",
    "diff",
    "restore",
    "verify",
    "prune",
    "status",
    "completions",
    "man",
];

/// The binary with no `REVERBERATOR_…` variables inherited from the test's environment.
fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reverberator"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("REVERBERATOR_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("the binary runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_subcommand_has_help() {
    let (code, out, _) = run(bin().arg("--help"));
    assert_eq!(code, 0);
    // clap reads `{n}` in help text as a line break: the folder name must survive whole.
    assert!(out.contains("`V<n>--<time>`"), "{out}");
    for sub in SUBCOMMANDS {
        assert!(out.contains(sub), "top-level help lists {sub}");
        let (code, out, err) = run(bin().args([sub, "--help"]));
        assert_eq!(code, 0, "{sub} --help: {err}");
        assert!(out.contains("Usage: reverberator"), "{sub}: {out}");
    }
}

#[test]
fn completions_generate_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = run(bin().args(["completions", shell]));
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(
            out.contains("check-config"),
            "{shell} script names subcommands"
        );
    }
    let (code, _, _) = run(bin().args(["completions", "tcsh"]));
    assert_eq!(code, 2, "an unknown shell is a usage error");
}

#[test]
fn man_page_generates() {
    let (code, out, _) = run(bin().arg("man"));
    assert_eq!(code, 0);
    assert!(
        out.starts_with(".ie") || out.contains(".TH"),
        "roff: {}",
        &out[..80.min(out.len())]
    );
    assert!(out.contains("check\\-config"));
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn check_config_accepts_the_demo_and_prints_a_summary() {
    let (code, out, err) = run(bin().current_dir(root()).arg("check-config"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("reverberator.toml: ok, 1 job,"), "{out}");
    assert!(out.contains("job \"demo\""));
    assert!(out.contains("settle           2s"));
}

#[test]
fn check_config_accepts_every_example() {
    let examples = std::fs::read_dir(root().join("examples")).unwrap();
    for file in examples.map(|e| e.unwrap().path()) {
        if file.extension().is_some_and(|e| e == "toml") {
            let (code, out, err) = run(bin().arg("check-config").arg(&file));
            assert_eq!(code, 0, "{}: {err}", file.display());
            assert!(out.contains(": ok, "), "{out}");
            assert!(!err.contains("error:"), "{err}");
        }
    }
}

#[test]
fn check_config_reports_every_error_with_position_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "bad.toml",
        "[defaults]\nsetle = \"5s\"\nkeep_versions = 0\n",
    );
    let (code, out, err) = run(bin().arg("check-config").arg(&file));
    assert_eq!(code, 1);
    assert!(out.is_empty());
    let f = file.display();
    assert!(
        err.contains(&format!(
            "{f}:2:1: error: unknown key `setle` in [defaults]\n"
        )),
        "{err}"
    );
    assert!(err.contains("2 | setle = \"5s\"\n  | ^^^^^\n"), "{err}");
    assert!(err.contains("did you mean `settle`?"));
    assert!(err.contains(&format!(
        "{f}:3:17: error: `keep_versions` must be at least 1"
    )));
    assert!(!err.contains("panicked") && !err.contains("Diagnostic {"));
}

#[test]
fn check_config_lookup_and_environment_overrides() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    let file = write(
        dir.path(),
        "elsewhere.toml",
        "[jobs.demo]\nsource = \"src\"\nvault = \"vault\"\n",
    );
    let (code, out, err) = run(bin()
        .current_dir(dir.path())
        .arg("check-config")
        .env("REVERBERATOR_CONFIG", &file)
        .env("REVERBERATOR_JOBS__DEMO__SETTLE", "7s"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("settle           7s"), "{out}");
    assert!(
        err.contains("warning: vault"),
        "the vault does not exist: {err}"
    );

    let (code, _, err) = run(bin()
        .arg("-c")
        .arg(&file)
        .arg("check-config")
        .env("REVERBERATOR_JOBS__DEMO__SETTLE", "soon"));
    assert_eq!(code, 1);
    assert!(
        err.starts_with("REVERBERATOR_JOBS__DEMO__SETTLE: error: bad duration `soon`"),
        "{err}"
    );

    let (code, _, err) = run(bin().current_dir(dir.path()).arg("check-config"));
    if !Path::new("/etc/reverberator/reverberator.toml").exists() {
        assert_eq!(code, 1);
        assert!(err.contains("no config file"), "{err}");
    }
}

#[test]
fn convert_rules_writes_nothing_on_a_bad_row() {
    let dir = tempfile::tempdir().unwrap();
    let header = reverberator::config::legacy::HEADER.join("\t");
    let tsv = write(
        dir.path(),
        "rules.tsv",
        &format!("{header}\ndocs\t/s\t\t60\t/v\tmaybe\t\t\t\t\n"),
    );
    let out = dir.path().join("out.toml");
    let (code, stdout, err) = run(bin().arg("convert-rules").arg(&tsv).arg("-o").arg(&out));
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(
        err.contains(&format!(
            "{}:2:16: error: `Keep 1 Compelete Backup`",
            tsv.display()
        )),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left"
    );
}

#[test]
fn convert_rules_output_passes_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("converted.toml");
    let tsv = root().join("examples/legacy-rules.tsv");
    let (code, _, err) = run(bin().arg("convert-rules").arg(&tsv).arg("-o").arg(&out));
    assert_eq!(code, 0, "{err}");
    let (code, stdout, err) = run(bin().arg("check-config").arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("ok, 4 jobs"), "{stdout}");
    let (code, stdout, _) = run(bin().arg("convert-rules").arg(&tsv));
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        std::fs::read_to_string(&out).unwrap(),
        "stdout = -o OUT"
    );
}

/// Newcomer fixes of issue 15 on the CLI surface.
#[test]
fn a_missing_config_names_the_os_error_once() {
    for args in [
        &["-c", "/nonexist.toml", "list", "x"][..],
        &["check-config", "/nonexist.toml"],
    ] {
        let (code, _, err) = run(bin().args(args));
        assert_eq!(code, 1, "{args:?}");
        assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
        assert!(err.contains("/nonexist.toml"), "{err}");
    }
}

#[test]
fn a_config_without_jobs_is_valid_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "r.toml", "[defaults]\n# settle = \"60s\"\n");
    let (code, out, err) = run(bin().arg("check-config").arg(&file));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("r.toml: ok, 0 jobs, 1 warning\n"), "{out}");
    assert!(err.contains("no jobs: add a [jobs.NAME] table"), "{err}");
}

#[test]
fn the_packaged_config_is_valid_and_has_no_jobs() {
    let (code, out, err) = run(bin()
        .arg("check-config")
        .arg(root().join("pkg/reverberator.toml")));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok, 0 jobs"), "{out}");
    // Uncommenting the example job gives a valid config too.
    let text = std::fs::read_to_string(root().join("pkg/reverberator.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let job: String = text
        .lines()
        .skip_while(|l| !l.starts_with("# [jobs."))
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .map(|l| format!("{l}\n"))
        .collect();
    let file = write(dir.path(), "r.toml", &job);
    let (code, out, err) = run(bin().arg("check-config").arg(&file));
    assert_eq!(code, 0, "{job}\n{err}");
    assert!(out.contains("ok, 1 job, "), "{out}");
}

#[test]
fn a_missing_vault_warning_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[jobs.a]\nsource = \"{}\"\nvault = \"/nonexistent-vault-root\"\n",
        dir.path().display()
    );
    let file = write(dir.path(), "r.toml", &text);
    let (code, _, err) = run(bin().arg("check-config").arg(&file));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("mount the disk that holds it") && err.contains("create the folder"),
        "{err}"
    );
}

#[test]
fn restore_help_keeps_the_global_version_flag_visible() {
    let (code, out, _) = run(bin().args(["restore", "--help"]));
    assert_eq!(code, 0);
    assert!(out.contains("-n, --at-version <N>"), "{out}");
    assert!(!out.contains("--version <N>"), "{out}");
    let (code, out, _) = run(bin().arg("--version"));
    assert_eq!((code, out.starts_with("reverberator ")), (0, true));
}
