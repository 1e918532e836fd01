//! Issue 11: the daemon applies the `keep` tiers after every commit. Versions get their
//! times from the test clock (V{n} at 10:00 + n × 20 min); with `keep_versions = 1` and
//! `hourly = 2` the seventh version (12:00) leaves V5 (hour 11) and V6 (hour 12), and
//! every version retired on the way is journaled as not kept by any rule.

use super::{Daemon, LONG, SETTLE};
use crate::util::{
    assert_same_state, tree_state, version_number, version_state, versions, wait_until, Env,
};

#[test]
fn daemon_thins_after_commits() {
    let extra = format!("{SETTLE}keep_versions = 1\n[jobs.docs.keep]\nhourly = 2\n");
    let env = Env::with_extra("docs", &extra);
    env.src
        .dir("stay/deep")
        .file("stay/deep/s", "unchanged")
        .file("f", "0");
    let mut d = Daemon::start_env(
        &env.config(),
        env.outer.path(),
        &[("REVERBERATOR_TEST_CLOCK", "2026-01-05T10:00:00+01:00,20m")],
    );
    let job_dir = env.job_dir();
    let newest_is = |n: u64| {
        wait_until(LONG, || {
            let v = versions(&job_dir);
            v.last().is_some_and(|l| version_number(l) == n)
                && version_state(&job_dir, v.last().unwrap()) == tree_state(env.src.path())
        })
    };
    assert!(newest_is(0), "no V0: {}", d.log_text());
    let mut states = vec![tree_state(env.src.path())];
    for i in 1..=6u64 {
        env.src.file("f", format!("{i}"));
        assert!(
            newest_is(i),
            "no V{i}: {:?}\n{}",
            versions(&job_dir),
            d.log_text()
        );
        states.push(tree_state(env.src.path()));
    }
    let kept = || -> Vec<u64> {
        versions(&job_dir)
            .iter()
            .map(|v| version_number(v))
            .collect()
    };
    assert!(
        wait_until(LONG, || kept() == [5, 6]),
        "kept {:?}, want [5, 6]\n{}",
        kept(),
        d.log_text()
    );
    assert_eq!(d.stop(), Some(0), "daemon exit code");
    let journal = std::fs::read_to_string(job_dir.join("journal.tsv")).unwrap();
    let retires: Vec<&str> = journal
        .lines()
        .filter(|l| l.contains("\tretire\t"))
        .collect();
    assert_eq!(retires.len(), 5, "{journal}");
    assert!(retires
        .iter()
        .all(|l| l.contains("rules: kept by none of keep_versions = 1, hourly 2")));
    for v in versions(&job_dir) {
        let want = &states[version_number(&v) as usize];
        assert_same_state(&format!("version {v}"), &version_state(&job_dir, &v), want);
    }
}
