//! The `keep` tiers through the real binary, with version times from the test clock
//! (`REVERBERATOR_TEST_CLOCK`): `snapshot` thins after each commit, `prune --dry-run`
//! names every version it would retire and changes nothing, `prune` retires them with a
//! journal line naming the rule, `list` shows the reasons, and `vault_limit` overrules the
//! tiers oldest first.
//!
//! The history used (versions every 20 minutes from 10:00, `keep_versions = 1`,
//! `hourly = 2`): after V6 (12:00) the rules keep V6 (`last`, `hourly`: hour 12) and V5
//! (`hourly`: hour 11, the newest of it); the count is used up, so V0..V4 go.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use crate::util::{self, Env, TreeState};

/// The test clock: version n at 10:00 + n × 20 min.
const CLOCK: &str = "2026-01-05T10:00:00+01:00,20m";
const RULES: &str = "keep_versions = 1\n[jobs.thin.keep]\nhourly = 2\n";

struct Thin {
    env: Env,
    /// The tree each version was made from, by folder name.
    recorded: BTreeMap<String, TreeState>,
}

impl Thin {
    fn new(extra: &str) -> Thin {
        let env = Env::with_extra("thin", extra);
        env.src.dir("stay/deep").file("stay/deep/s", "unchanged");
        Thin {
            env,
            recorded: BTreeMap::new(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        util::bin()
            .arg("--config")
            .arg(self.env.config())
            .args(args)
            .env_remove("REVERBERATOR_CONFIG")
            .env("REVERBERATOR_TEST_CLOCK", CLOCK)
            .output()
            .expect("run reverberator")
    }

    /// Change the source, run `snapshot`, record the new version; the versions on disk
    /// after it (numbers).
    fn snap(&mut self, i: usize) -> Vec<u64> {
        self.env.src.file(format!("f{}", i % 2), format!("{i}"));
        let o = self.run(&["snapshot", "thin"]);
        assert!(o.status.success(), "{}", util::stderr(&o));
        let newest = self.names().pop().expect("a version");
        self.recorded
            .entry(newest)
            .or_insert_with(|| util::tree_state(self.env.src.path()));
        self.check()
    }

    fn names(&self) -> Vec<String> {
        util::versions(&self.env.job_dir())
    }

    /// Every remaining version dereferences to its tree; the numbers on disk.
    fn check(&mut self) -> Vec<u64> {
        let names = self.names();
        self.recorded.retain(|k, _| names.contains(k));
        util::assert_all_versions(&self.env.job_dir(), &self.recorded);
        names.iter().map(|n| util::version_number(n)).collect()
    }

    fn journal(&self) -> String {
        std::fs::read_to_string(self.env.job_dir().join("journal.tsv")).unwrap_or_default()
    }

    /// Rewrite the config's job table with `extra`.
    fn reconfigure(&self, extra: &str) {
        let text = format!(
            "[jobs.thin]\nsource = {:?}\nvault = {:?}\n{extra}\n",
            self.env.src.path(),
            self.env.vault()
        );
        std::fs::write(self.env.config(), text).unwrap();
    }
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        util::stdout(o),
        util::stderr(o)
    );
    util::stdout(o)
}

#[test]
fn snapshot_thins_after_each_commit() {
    let mut t = Thin::new(RULES);
    let mut after = Vec::new();
    for i in 0..7 {
        after.push(t.snap(i));
    }
    // Only the oldest end thins until the engine retires versions in the middle; the
    // end state is the same either way.
    assert_eq!(after[0], [0]);
    assert_eq!(
        after[1],
        [0, 1],
        "V0 is the oldest and hourly has a count left"
    );
    assert_eq!(after.last().unwrap(), &[5, 6]);
    let journal = t.journal();
    let retires: Vec<&str> = journal
        .lines()
        .filter(|l| l.contains("\tretire\t"))
        .collect();
    assert_eq!(retires.len(), 5, "{journal}");
    for line in retires {
        assert!(
            line.contains("rules: kept by none of keep_versions = 1, hourly 2"),
            "{line}"
        );
    }
}

/// The kept set after every commit is exactly what the rules keep, middle versions
/// included (each retired from the middle of the history as soon as no rule keeps it).
#[test]
fn snapshot_thins_middle_versions_after_each_commit() {
    let mut t = Thin::new(RULES);
    let want: [&[u64]; 7] = [&[0], &[0, 1], &[0, 2], &[2, 3], &[2, 4], &[2, 5], &[5, 6]];
    for (i, want) in want.iter().enumerate() {
        assert_eq!(t.snap(i), *want, "after V{i}");
    }
}

/// Seven versions made without tiers, then a `keep` table: `--dry-run` names each
/// version's fate and changes nothing; `list` shows the same; `prune` retires exactly
/// the ones named.
#[test]
fn prune_dry_run_names_every_version_it_would_retire_and_changes_nothing() {
    let mut t = Thin::new("keep_versions = 100\n");
    for i in 0..7 {
        t.snap(i);
    }
    t.reconfigure(RULES);
    let names = t.names();
    let before = job_state(&t.env.job_dir());
    let out = ok(&t.run(&["prune", "thin", "--dry-run"]));
    for n in &names[..5] {
        let line =
            format!("thin: {n} goes (rules): rules: kept by none of keep_versions = 1, hourly 2");
        assert!(out.contains(&line), "no `{line}` in:\n{out}");
    }
    assert!(
        out.contains(&format!("thin: {} stays: hourly\n", names[5])),
        "{out}"
    );
    assert!(
        out.contains(&format!("thin: {} stays: last, hourly\n", names[6])),
        "{out}"
    );
    assert!(
        out.contains(&format!("the first retire, {}", names[0])),
        "{out}"
    );
    assert!(out.contains("5 of 7 version(s) would go"), "{out}");
    assert_same_tree(&t.env.job_dir(), &before);

    let json: serde_json::Value =
        serde_json::from_slice(&ok_raw(&t.run(&["list", "thin", "--json"]))).unwrap();
    let keep: Vec<String> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["keep"].to_string())
        .collect();
    assert_eq!(
        keep,
        [
            "[]",
            "[]",
            "[]",
            "[]",
            "[]",
            "[\"hourly\"]",
            "[\"last\",\"hourly\"]"
        ]
    );
    let text = ok(&t.run(&["list", "thin"]));
    assert!(text.lines().next().unwrap().ends_with("KEEP"), "{text}");
    assert!(text.lines().nth(1).unwrap().ends_with("  -"), "{text}");
    assert_same_tree(&t.env.job_dir(), &before);

    let out = ok(&t.run(&["prune", "thin"]));
    assert_eq!(t.check(), [5, 6], "{out}");
    for n in &names[..5] {
        assert!(out.contains(&format!("retired {n} (rules: ")), "{out}");
    }
    assert!(
        out.contains(&format!("thin: {} stays: last, hourly", names[6])),
        "{out}"
    );
    let out = ok(&t.run(&["prune", "thin", "--dry-run"]));
    assert!(out.contains("nothing to retire"), "{out}");
}

/// Over an inode budget the oldest versions go whatever keeps them, never the newest, and
/// the journal says that `vault_limit` overruled the tiers.
#[test]
fn vault_limit_overrules_the_tiers_oldest_first() {
    let mut t = Thin::new("keep_versions = 100\n");
    for i in 0..4 {
        t.snap(i);
    }
    let names = t.names();
    // Every version kept by the tiers (`within`), but the folder is one
    // inode over budget.
    t.reconfigure("keep_versions = 1\n[jobs.thin.keep]\nwithin = \"1d\"\n");
    let out = ok(&t.run(&["prune", "thin", "--dry-run"]));
    assert!(out.contains("0 of 4 version(s) would go"), "{out}");
    let used: u64 = out
        .split(" bytes and ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no inode figure in:\n{out}"));
    t.reconfigure(&format!(
        "keep_versions = 1\nvault_limit = \"i{}\"\n[jobs.thin.keep]\nwithin = \"1d\"\n",
        used - 1
    ));
    let out = ok(&t.run(&["prune", "thin", "--dry-run"]));
    let line = format!(
        "thin: {} goes (vault_limit): vault_limit: over budget",
        names[0]
    );
    assert!(out.contains(&line), "no `{line}` in:\n{out}");
    let out = t.run(&["prune", "thin"]);
    let text = format!("{}{}", util::stdout(&out), util::stderr(&out));
    let left = t.check();
    assert!(left.contains(&3), "the newest is never retired: {text}");
    assert!(!left.contains(&0), "the oldest went first: {text}");
    let journal = t.journal();
    let line = journal
        .lines()
        .find(|l| l.contains("\tretire\t") && l.contains(&names[0]))
        .unwrap_or_else(|| panic!("no retire line for {}: {journal}\n{text}", names[0]));
    assert!(
        line.contains(
            "vault_limit: over budget, the oldest version goes first although kept by within"
        ),
        "{line}"
    );
    assert!(line.contains("inodes used, budget"), "{line}");
}

fn ok_raw(o: &Output) -> Vec<u8> {
    assert!(o.status.success(), "failed: {}", util::stderr(o));
    o.stdout.clone()
}

/// The job folder's tree, without the lock file (which holds the last locker's pid).
fn job_state(dir: &Path) -> TreeState {
    util::tree_state_skipping(dir, &[Path::new(".reverberator/lock")])
}

fn assert_same_tree(dir: &Path, before: &TreeState) {
    util::assert_same_state("the job folder", &job_state(dir), before);
}
