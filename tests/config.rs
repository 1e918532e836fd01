//! Config loading, check-config, convert-rules: the JSON Schema is current, every example
//! and the root demo pass both the schema and the loader, a set of bad configs fails both
//! (and the loader names the right LINE:COL and message), environment overrides layer over
//! the file, the legacy TSV converts field by field, and property tests feed arbitrary
//! TOML-ish text and TSV to the pure cores.

use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;
use reverberator::config::env::EnvOverrides;
use reverberator::config::{legacy, load, raw, ConfigError, Diagnostic, FsSpec, Loaded};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Load `text` as if it were `/cfg/reverberator.toml`, every path present, no environment.
fn load_text(text: &str) -> Result<Loaded, ConfigError> {
    load_with(text, &[])
}

fn load_with(text: &str, env: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    let env = EnvOverrides::from_vars(env.iter().map(|(k, v)| (*k, *v)));
    load::from_str(text, Path::new("/cfg/reverberator.toml"), &env, &|_| true)
}

fn problems(text: &str) -> Vec<Diagnostic> {
    match load_text(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(ConfigError::Invalid { problems, .. }) => problems,
        Err(e) => panic!("unexpected error {e}"),
    }
}

// ---------------------------------------------------------------- schema

fn schema_path() -> PathBuf {
    root().join("schemas/reverberator.schema.json")
}

#[test]
fn schema_file_is_generated_from_the_types() {
    let fresh = raw::json_schema_text();
    if std::env::var_os("REVERBERATOR_UPDATE_SCHEMA").is_some() {
        std::fs::write(schema_path(), &fresh).unwrap();
    }
    let on_disk = std::fs::read_to_string(schema_path()).unwrap_or_default();
    assert!(
        on_disk == fresh,
        "schemas/reverberator.schema.json is out of date with src/config/settings.rs and raw.rs.\n\
         Update it with: REVERBERATOR_UPDATE_SCHEMA=1 cargo test --test tests schema_file"
    );
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(schema_path()).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

/// The schema's verdict on TOML `text`: Ok, or the first validation error as text.
fn schema_check(v: &jsonschema::Validator, text: &str) -> Result<(), String> {
    let value: toml::Value = toml::from_str(text).map_err(|e| e.to_string())?;
    let json = serde_json::to_value(value).map_err(|e| e.to_string())?;
    v.validate(&json).map_err(|e| e.to_string())
}

fn example_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files.push(root().join("reverberator.toml"));
    files
}

#[test]
fn every_example_and_the_demo_pass_schema_and_loader() {
    let v = validator();
    let files = example_files();
    assert!(files.len() >= 5, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.lines()
                .next()
                .is_some_and(|l| l.starts_with("#:schema ")),
            "{} has no #:schema line",
            file.display()
        );
        if let Err(e) = schema_check(&v, &text) {
            panic!("{}: schema rejects it: {e}", file.display());
        }
        let env = EnvOverrides::none();
        if let Err(e) = load::from_str(&text, &file, &env, &|_| true) {
            panic!("{}: loader rejects it:\n{e}", file.display());
        }
    }
}

#[test]
fn the_reference_documents_every_key_of_the_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path()).unwrap()).unwrap();
    let doc = std::fs::read_to_string(root().join("docs/CONFIG.md")).unwrap();
    for table in ["Defaults", "Job"] {
        let props = schema["definitions"][table]["properties"]
            .as_object()
            .unwrap();
        for key in props.keys() {
            assert!(
                doc.contains(&format!("| `{key}` |")),
                "docs/CONFIG.md has no table row for `{key}` ({table})"
            );
        }
    }
}

/// (what, text, line, col, message start). Each must fail the loader at LINE:COL with the
/// message, and the schema too.
const BAD_FOR_BOTH: &[(&str, &str, usize, usize, &str)] = &[
    (
        "unknown top-level key",
        "[job.a]\nsource = \"/s\"\n",
        1,
        2,
        "unknown key `job` at the top level",
    ),
    (
        "unknown key in defaults",
        "[defaults]\nsetle = \"5s\"\n",
        2,
        1,
        "unknown key `setle` in [defaults]",
    ),
    (
        "unknown key in a job",
        "[jobs.a]\nsource = \"/s\"\nvault = \"/v\"\nkep = 3\n",
        4,
        1,
        "unknown key `kep` in [jobs.a]",
    ),
    (
        "unknown key in keep",
        "[defaults.keep]\ndayly = 7\n",
        2,
        1,
        "unknown key `dayly` in [defaults.keep]",
    ),
    (
        "negative keep count",
        "[defaults.keep]\nhourly = -1\n",
        2,
        10,
        "`hourly` must be a whole number from 0 to 4294967295, found the number -1",
    ),
    (
        "fractional keep count",
        "[jobs.a]\nsource = \"/s\"\nvault = \"/v\"\n[jobs.a.keep]\nweekly = 1.5\n",
        5,
        10,
        "`weekly` must be a whole number from 0 to 4294967295, found a fractional number",
    ),
    (
        "unknown key in a job's keep",
        "[jobs.a]\nsource = \"/s\"\nvault = \"/v\"\n[jobs.a.keep]\nmonthy = 12\n",
        5,
        1,
        "unknown key `monthy` in [jobs.a.keep]",
    ),
    (
        "keep within as a number",
        "[defaults.keep]\nwithin = 2\n",
        2,
        10,
        "`within` must be a duration string such as \"2h\" or \"7d\" (\"0\" turns it off), found the number 2",
    ),
    (
        "keep count as a string",
        "[defaults.keep]\ndaily = \"7\"\n",
        2,
        9,
        "`daily` must be a whole number from 0 to 4294967295, found the string \"7\"",
    ),
    (
        "keep count as a boolean",
        "[jobs.a]\nsource = \"/s\"\nvault = \"/v\"\n[jobs.a.keep]\nmonthly = true\n",
        5,
        11,
        "`monthly` must be a whole number from 0 to 4294967295, found the boolean true",
    ),
    (
        "keep not a table",
        "[defaults]\nkeep = 3\n",
        2,
        8,
        "`keep` must be a table",
    ),
    (
        "wrong type",
        "[defaults]\nkeep_full_copy = \"yes\"\n",
        2,
        18,
        "`keep_full_copy` must be true or false, found the string \"yes\"",
    ),
    (
        "keep_versions = 0",
        "[defaults]\nkeep_versions = 0\n",
        2,
        17,
        "`keep_versions` must be at least 1, found 0",
    ),
    (
        "negative keep_versions",
        "[defaults]\nkeep_versions = -2\n",
        2,
        17,
        "`keep_versions` must be a whole number from 1 to 4294967295, found the number -2",
    ),
    (
        "missing vault",
        "[jobs.docs]\nsource = \"/s\"\n",
        1,
        7,
        "job `docs` has no `vault`",
    ),
    (
        "missing source",
        "[jobs.docs]\nvault = \"/v\"\n",
        1,
        7,
        "job `docs` has no `source`",
    ),
    (
        "malformed filesystem signature",
        "[jobs.a]\nsource = \"/s\"\nvault = \"/v\"\nvault_fs = \"usb\"\n",
        4,
        12,
        "bad filesystem signature `usb`",
    ),
    (
        "bad limit expression",
        "[defaults]\nvault_limit = \"5 parsecs\"\n",
        2,
        15,
        "bad limit term `5 parsecs`",
    ),
    (
        "negative limit",
        "[defaults]\nvault_limit = -1\n",
        2,
        15,
        "`vault_limit` must be a limit expression",
    ),
    (
        "jobs is not a table",
        "jobs = [\"a\"]\n",
        1,
        1,
        "`jobs` must be a table ([jobs])",
    ),
    (
        "exclude is not a list of strings",
        "[defaults]\nexclude = [1]\n",
        2,
        11,
        "`exclude` must be an array of glob strings, found an array holding the number 1",
    ),
];

/// Problems only the loader can see (the schema cannot compare or parse values this far).
const BAD_FOR_LOADER: &[(&str, &str, usize, usize, &str)] = &[
    (
        "keep count too large",
        "[defaults.keep]\nyearly = 99999999999\n",
        2,
        10,
        "`yearly` must be a whole number from 0 to 4294967295, found the number 99999999999",
    ),
    (
        "negative keep within",
        "[jobs.a]\nsource = \"/s\"\nvault = \"/v\"\n[jobs.a.keep]\nwithin = \"-3h\"\n",
        5,
        10,
        "bad duration `-3h`",
    ),
    (
        "bad keep within",
        "[defaults.keep]\nwithin = \"2 fortnights\"\n",
        2,
        10,
        "bad duration `2 fortnights`",
    ),
    ("TOML syntax", "[defaults\nsettle = 1\n", 1, 10, "TOML syntax:"),
    ("duplicate key", "[defaults]\nsettle = \"1s\"\nsettle = \"2s\"\n", 3, 1, "TOML syntax:"),
    (
        "bad duration",
        "[defaults]\nsettle = \"soon\"\n",
        2,
        10,
        "bad duration `soon`",
    ),
    (
        "max_settle < settle",
        "[defaults]\nsettle = \"5m\"\nmax_settle = \"1m\"\n",
        3,
        14,
        "`max_settle` (1m) is shorter than `settle` (5m)",
    ),
    (
        "source inside its vault",
        "[jobs.a]\nsource = \"/v/docs\"\nvault = \"/v\"\n",
        3,
        9,
        "the source /v/docs is inside its own vault /v",
    ),
    (
        "vault equal to source",
        "[jobs.a]\nsource = \"data\"\nvault = \"/cfg/data/\"\n",
        3,
        9,
        "`vault` is the same folder as `source` (/cfg/data)",
    ),
    (
        "sanitized names collide",
        "[jobs.\"my docs\"]\nsource = \"/a\"\nvault = \"/v\"\n[jobs.my_docs]\nsource = \"/b\"\nvault = \"/v\"\n",
        4,
        7,
        "jobs `my docs` and `my_docs` both write to /v/my_docs",
    ),
    (
        "bad exclude glob",
        "[jobs.a]\nsource = \"/s\"\nvault = \"/v\"\nexclude = [\"*.tmp\", \"a[b\"]\n",
        4,
        21,
        "bad exclude glob `a[b`",
    ),
    (
        "tilde path",
        "[jobs.a]\nsource = \"~/docs\"\nvault = \"/v\"\n",
        2,
        10,
        "`~/docs`: `~` is not expanded",
    ),
];

fn assert_rejected_at(what: &str, text: &str, line: usize, col: usize, message: &str) {
    let ps = problems(text);
    let hit = ps
        .iter()
        .find(|d| d.is_error() && d.message.starts_with(message));
    let Some(d) = hit else {
        panic!("{what}: no error starting with {message:?} in {ps:#?}");
    };
    assert_eq!((d.line, d.col), (Some(line), Some(col)), "{what}: {d:#?}");
}

#[test]
fn bad_configs_fail_the_loader_at_the_right_place() {
    for (what, text, line, col, message) in BAD_FOR_BOTH.iter().chain(BAD_FOR_LOADER) {
        assert_rejected_at(what, text, *line, *col, message);
    }
}

#[test]
fn bad_configs_fail_the_schema_too() {
    let v = validator();
    for (what, text, ..) in BAD_FOR_BOTH {
        assert!(
            schema_check(&v, text).is_err(),
            "schema accepts {what}:\n{text}"
        );
    }
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let text = "[defaults]\nsetle = \"5s\"\nkeep_versions = 0\n\n[jobs.a]\nsource = \"/s\"\n\
                vault_fs = \"x\"\nsettle = \"later\"\n";
    let ps = problems(text);
    let errors: Vec<_> = ps.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errors.len(), 5, "{errors:#?}");
    let lines: Vec<_> = errors.iter().map(|d| d.line.unwrap()).collect();
    assert_eq!(lines, [2, 3, 5, 7, 8], "file order");
}

#[test]
fn a_rejected_value_is_not_reported_again_as_missing() {
    let ps = problems("[jobs.a]\r\nsource = \"/s\"\r\nvault = 1\r\n");
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_eq!(
        ps[0].message,
        "`vault` must be a path string, found the number 1"
    );
    assert_eq!((ps[0].line, ps[0].col), (Some(3), Some(9)));
}

#[test]
fn rendering_names_file_line_col_with_caret_and_hint() {
    let Err(e) = load_text("[defaults]\nsetle = \"5s\"\n") else {
        panic!("accepted")
    };
    let shown = e.to_string();
    assert!(
        shown.contains(
            "/cfg/reverberator.toml:2:1: error: unknown key `setle` in [defaults]\n  |\n\
             2 | setle = \"5s\"\n  | ^^^^^\n   = hint: did you mean `settle`?"
        ),
        "{shown}"
    );
}

// ---------------------------------------------------------------- values and layering

#[test]
fn the_demo_resolves_as_documented() {
    let path = root().join("reverberator.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let loaded = load::from_str(&text, &path, &EnvOverrides::none(), &|_| true).unwrap();
    let demo = loaded.config.job("demo").unwrap();
    assert_eq!(demo.source, root().join("demo/source"));
    assert_eq!(demo.vault, root().join("demo/vault"));
    assert_eq!(demo.job_dir(), root().join("demo/vault/demo"));
    assert_eq!(demo.settings.settle, Duration::from_secs(2));
}

#[test]
fn defaults_when_nothing_is_set() {
    let loaded = load_text("[jobs.a]\nsource = \"/s\"\nvault = \"/v\"\n").unwrap();
    let a = &loaded.config.jobs[0];
    assert_eq!(a.settings.settle, Duration::from_secs(60));
    assert_eq!(a.settings.max_settle, Duration::from_secs(600));
    assert_eq!(a.settings.keep_versions, 30);
    assert_eq!(a.settings.vault_limit.as_str(), "5%");
    assert!(a.settings.keep_full_copy);
    assert!(!a.settings.attributes_only);
    assert!(a.settings.exclude.patterns().is_empty());
    assert_eq!(
        a.settings.rescan_interval,
        Some(Duration::from_secs(86_400))
    );
    assert_eq!((a.source_fs.clone(), a.vault_fs.clone()), (None, None));
}

#[test]
fn environment_overrides_layer_over_the_file() {
    let text = "[defaults]\nsettle = \"1m\"\n[jobs.demo]\nsource = \"s\"\nvault = \"v\"\n";
    let loaded = load_with(
        text,
        &[
            ("REVERBERATOR_DEFAULTS__SETTLE", "30s"),
            ("REVERBERATOR_JOBS__DEMO__KEEP_VERSIONS", "3"),
            ("REVERBERATOR_JOBS__DEMO__EXCLUDE", "[\"*.log\"]"),
            ("REVERBERATOR_CONFIG", "/somewhere/else.toml"),
        ],
    )
    .unwrap();
    let demo = &loaded.config.jobs[0];
    assert_eq!(demo.settings.settle, Duration::from_secs(30));
    assert_eq!(demo.settings.keep_versions, 3);
    assert_eq!(demo.settings.exclude.patterns(), ["*.log"]);
    assert_eq!(demo.source, Path::new("/cfg/s"));
}

#[test]
fn a_bad_environment_value_names_the_variable() {
    let text = "[jobs.demo]\nsource = \"/s\"\nvault = \"/v\"\n";
    let Err(ConfigError::Invalid { problems, .. }) =
        load_with(text, &[("REVERBERATOR_JOBS__DEMO__SETTLE", "soon")])
    else {
        panic!("accepted")
    };
    assert_eq!(problems.len(), 1);
    let p = &problems[0];
    assert_eq!(
        p.env_var.as_deref(),
        Some("REVERBERATOR_JOBS__DEMO__SETTLE")
    );
    assert_eq!(p.key.as_deref(), Some("jobs.demo.settle"));
    assert!(p.message.starts_with("bad duration `soon`"));
}

#[test]
fn environment_cannot_reach_a_job_with_capitals_and_says_so() {
    let text = "[jobs.Docs]\nsource = \"/s\"\nvault = \"/v\"\n";
    let Err(ConfigError::Invalid { problems, .. }) =
        load_with(text, &[("REVERBERATOR_JOBS__DOCS__SETTLE", "5s")])
    else {
        panic!("accepted")
    };
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].message.contains("instead of overriding `Docs`"));
    assert_eq!(
        problems[0].env_var.as_deref(),
        Some("REVERBERATOR_JOBS__DOCS__SETTLE")
    );
}

#[test]
fn a_job_defined_only_by_the_environment_comes_after_the_file_jobs() {
    let text = "[jobs.z]\nsource = \"/z\"\nvault = \"/v\"\n";
    let loaded = load_with(
        text,
        &[
            ("REVERBERATOR_JOBS__NEW__SOURCE", "/n"),
            ("REVERBERATOR_JOBS__NEW__VAULT", "/v"),
        ],
    )
    .unwrap();
    let names: Vec<_> = loaded.config.jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["z", "new"]);
}

#[test]
fn vault_inside_source_and_missing_paths_are_warnings() {
    let text = "[jobs.a]\nsource = \"/s\"\nvault = \"/s/.vault\"\n";
    let env = EnvOverrides::none();
    let loaded =
        load::from_str(text, Path::new("/c.toml"), &env, &|p| p == Path::new("/s")).unwrap();
    let msgs: Vec<_> = loaded.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(msgs[0].contains("inside the source"));
    assert!(msgs[1].starts_with("vault /s/.vault does not exist"));
    assert_eq!(loaded.warnings[1].line, Some(3));
}

#[test]
fn loading_asks_the_filesystem_only_about_sources_and_vaults() {
    let text =
        "[jobs.a]\nsource = \"/s1\"\nvault = \"/v\"\n[jobs.b]\nsource = \"rel\"\nvault = \"/v\"\n";
    let asked = std::cell::RefCell::new(Vec::new());
    let probe = |p: &Path| {
        asked.borrow_mut().push(p.to_path_buf());
        true
    };
    load::from_str(
        text,
        Path::new("/cfg/r.toml"),
        &EnvOverrides::none(),
        &probe,
    )
    .unwrap();
    let asked = asked.into_inner();
    let expected: Vec<PathBuf> = ["/s1", "/v", "/cfg/rel", "/v"]
        .iter()
        .map(PathBuf::from)
        .collect();
    assert_eq!(asked, expected);
}

#[test]
fn load_reads_an_explicit_file_and_reports_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.toml");
    std::fs::write(&file, "[jobs.x]\nsource = \"src\"\nvault = \"vault\"\n").unwrap();
    let loaded = reverberator::config::load(Some(&file)).unwrap();
    assert_eq!(loaded.config.jobs[0].source, dir.path().join("src"));
    assert_eq!(loaded.warnings.len(), 2, "src and vault do not exist");
    let missing = dir.path().join("nope.toml");
    assert!(matches!(
        reverberator::config::load(Some(&missing)),
        Err(ConfigError::Read { .. })
    ));
}

// ---------------------------------------------------------------- legacy TSV

#[test]
fn legacy_example_converts_to_the_checked_in_toml() {
    let tsv = root().join("examples/legacy-rules.tsv");
    let converted = legacy::from_path(&tsv).unwrap();
    let checked_in = std::fs::read_to_string(root().join("examples/legacy-rules.toml")).unwrap();
    let expected = checked_in
        .split_once('\n')
        .filter(|(first, _)| first.starts_with("#:schema"))
        .map(|(_, rest)| rest)
        .unwrap();
    assert_eq!(converted, expected, "regenerate examples/legacy-rules.toml");
}

#[test]
fn legacy_rows_become_jobs_field_by_field() {
    let tsv = std::fs::read_to_string(root().join("examples/legacy-rules.tsv")).unwrap();
    let toml = legacy::convert(&tsv, "legacy-rules.tsv").unwrap();
    let jobs = load_text(&toml).unwrap().config.jobs;
    let names: Vec<_> = jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["documents", "photos", "etc config", "www"]);

    let photos = &jobs[1];
    assert_eq!(photos.source, Path::new("/home/alice/Pictures"));
    assert_eq!(photos.vault, Path::new("/mnt/backup/reverb"));
    assert_eq!(photos.source_fs, Some(FsSpec::Label("HOME".into())));
    assert_eq!(
        photos.vault_fs,
        Some(FsSpec::Uuid("2f6c1b7e-9a41-4c1e-8b7a-5e0d3c4b2a19".into()))
    );
    assert_eq!(photos.settings.settle, Duration::from_secs(300));
    assert!(photos.settings.keep_full_copy);
    assert!(!photos.settings.attributes_only);
    assert_eq!(photos.settings.keep_versions, 10);
    assert_eq!(photos.settings.vault_limit.as_str(), "10%,i20%,2000");

    let etc = &jobs[2];
    assert_eq!(etc.source_fs, Some(FsSpec::Dev("/dev/sda2".into())));
    assert_eq!(etc.vault_fs, Some(FsSpec::Dev("/dev/sdb1".into())));
    assert_eq!(etc.settings.settle, Duration::from_secs(90));
    assert!(!etc.settings.keep_full_copy);
    assert!(etc.settings.attributes_only);
    assert_eq!(etc.settings.keep_versions, 100);
    assert_eq!(etc.job_dir(), Path::new("/mnt/backup/reverb/etc_config"));

    let www = &jobs[3];
    let defaults = load_text("[jobs.www]\nsource = \"/srv/www\"\nvault = \"/mnt/backup/reverb\"\n")
        .unwrap()
        .config
        .jobs;
    assert_eq!(www, &defaults[0], "empty cells take the defaults");
}

#[test]
fn a_bad_legacy_row_names_line_and_column() {
    let header = legacy::HEADER.join("\t");
    let tsv = format!(
        "{header}\n\n# c\ngood\t/s\t\t1\t/v\t\t\t\t\t\nbad\t/t\t\t1\t/v\tperhaps\t\t\t\t\n"
    );
    let errs = legacy::convert(&tsv, "t.tsv").unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!((errs[0].line, errs[0].col), (5, 14));
    assert!(errs[0].message.contains("`Keep 1 Compelete Backup`"));
}

// ---------------------------------------------------------------- property tests

const KEYS: &[&str] = &[
    "settle",
    "max_settle",
    "keep_versions",
    "vault_limit",
    "keep_full_copy",
    "attributes_only",
    "exclude",
    "rescan_interval",
    "source",
    "vault",
    "source_fs",
    "vault_fs",
    "setle",
    "x",
];
const VALUES: &[&str] = &[
    "\"30s\"",
    "\"1m 30s\"",
    "\"soon\"",
    "\"0\"",
    "0",
    "1",
    "-5",
    "99999999999",
    "1.5",
    "true",
    "\"5%\"",
    "\"i20%, 2G\"",
    "\"5 parsecs\"",
    "\"/s\"",
    "\"/v\"",
    "\"/s/v\"",
    "\"rel\"",
    "\"~/x\"",
    "\"\"",
    "\"label=X\"",
    "\"usb\"",
    "[\"*.tmp\", \"a[\"]",
    "[1, \"x\"]",
    "{ a = 1 }",
    "1979-05-27T07:32:00Z",
    "[",
    "\"unterminated",
];
const HEADERS: &[&str] = &[
    "[defaults]",
    "[jobs.a]",
    "[jobs.b]",
    "[jobs.\"a b\"]",
    "[jobs.a_b]",
    "[job.x]",
    "[[jobs]]",
    "[jobs]",
    "[defaults.x]",
    "[]",
];

/// A line of TOML-ish text: a header, a `key = value` pair, or arbitrary characters.
fn toml_line() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(HEADERS).prop_map(str::to_owned),
        6 => (proptest::sample::select(KEYS), proptest::sample::select(VALUES))
            .prop_map(|(k, v)| format!("{k} = {v}")),
        1 => "[ -~\\t\\u{e9}\\u{1F600}]{0,30}",
    ]
}

fn assert_positioned(text: &str, result: Result<Loaded, ConfigError>) {
    match result {
        Ok(_) => {}
        Err(ConfigError::Invalid { problems, .. }) => {
            assert!(!problems.is_empty());
            for p in problems.iter().filter(|p| p.is_error()) {
                assert!(
                    p.line.is_some() && p.col.is_some() && p.span.is_some(),
                    "no position for {p:#?} in:\n{text}"
                );
                let span = p.span.clone().unwrap_or_default();
                assert!(span.start <= text.len() && span.end <= text.len());
            }
        }
        Err(e) => panic!("unexpected error kind {e}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn environment_values_never_panic_and_are_named(
        overrides in proptest::collection::vec(
            (
                proptest::sample::select(&["DEFAULTS", "JOBS__DEMO", "JOBS__X", "JOB", "DEFAULTS__X"][..]),
                proptest::sample::select(KEYS),
                prop_oneof![proptest::sample::select(VALUES).prop_map(str::to_owned), "\\PC{0,12}"],
            ),
            0..4,
        )
    ) {
        let vars: Vec<(String, String)> = overrides
            .into_iter()
            .map(|(t, k, v)| (format!("REVERBERATOR_{t}__{}", k.to_ascii_uppercase()), v))
            .collect();
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let text = "[jobs.demo]\nsource = \"/s\"\nvault = \"/v\"\n";
        if let Err(e) = load_with(text, &pairs) {
            let ConfigError::Invalid { problems, .. } = e else { panic!("{e}") };
            for p in problems.iter().filter(|p| p.is_error()) {
                prop_assert!(p.env_var.is_some() || p.line.is_some(), "{p:#?} for {pairs:?}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn loader_never_panics_and_every_rejection_has_a_position(
        lines in proptest::collection::vec(toml_line(), 0..14)
    ) {
        let text = lines.join("\n");
        assert_positioned(&text, load_text(&text));
    }

    #[test]
    fn loader_survives_arbitrary_bytes(text in "\\PC{0,200}") {
        assert_positioned(&text, load_text(&text));
    }

    #[test]
    fn converter_never_panics_and_rejections_name_a_real_line(
        rows in proptest::collection::vec(
            proptest::collection::vec(
                prop_oneof![
                    Just(String::new()),
                    proptest::sample::select(&["a", "a b", "/s", "/v", "/s/v", "30", "1m", "x",
                        "yes", "No", "0", "1", "5%", "i2", "label=A", "/dev/sda", "#", "\"q"][..])
                        .prop_map(str::to_owned),
                    "[ -~]{0,8}",
                ],
                0..12,
            ).prop_map(|cells| cells.join("\t")),
            0..8,
        ),
        with_header in any::<bool>(),
    ) {
        let mut text = if with_header { legacy::HEADER.join("\t") + "\n" } else { String::new() };
        text.push_str(&rows.join("\n"));
        let line_count = text.split('\n').count();
        match legacy::convert(&text, "p.tsv") {
            Ok(toml) => {
                prop_assert!(load_text(&toml).is_ok(), "converted output rejected:\n{toml}");
            }
            Err(errs) => {
                prop_assert!(!errs.is_empty());
                for e in errs {
                    prop_assert!(e.line >= 1 && e.line <= line_count.max(1), "{e} in {text:?}");
                    prop_assert!(e.col >= 1);
                }
            }
        }
    }
}
