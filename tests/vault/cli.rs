//! The binary: output contract, retire wiring, SIGKILL at any instant.

use std::time::Duration;

use super::*;

#[test]
fn snapshot_cli_prints_names_and_says_unchanged() {
    let env = Env::new("cli job");
    env.src.file("f", b"x");
    let out = env.run(&["snapshot"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let name = stdout(&out);
    assert!(
        name.starts_with("V0--") && name.ends_with('\n') && name.lines().count() == 1,
        "{name}"
    );
    let out = env.run(&["snapshot", "cli job"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("cli job: unchanged"),
        "{}",
        stderr(&out)
    );
    env.src.file("g", b"y");
    let out = env.run(&["snapshot", "cli job"]);
    assert!(stdout(&out).starts_with("V1--"), "{}", stdout(&out));
    let out = env.run(&["snapshot", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown job `nope`") && stderr(&out).contains("cli job"),
        "{}",
        stderr(&out)
    );
}

/// SIGKILL `reverberator snapshot` at several instants: no visible partial version, every
/// committed version whole, and the next snapshot succeeds.
#[test]
fn snapshot_killed_never_leaves_a_visible_partial_version() {
    let env = Env::new("kill");
    for i in 0..40 {
        for k in 0..50 {
            env.src
                .file(format!("d{i}/f{k}"), vec![b'x'; 16 * 1024 + i * 50 + k]);
        }
    }
    let want = tree_state(env.src.path());
    for delay_ms in [2u64, 10, 30, 60, 120, 250] {
        let mut child = bin()
            .arg("--config")
            .arg(env.config())
            .args(["snapshot", "kill"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        for v in versions(&env.job_dir()) {
            assert_same_state(
                &format!("{v} after kill at {delay_ms} ms"),
                &version_state(&env.job_dir(), &v),
                &want,
            );
        }
        check_index_matches(&env.job_dir());
    }
    let out = env.run(&["snapshot", "kill"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_no_partial(&env.job_dir());
    let out = env.run(&["verify", "kill"]);
    assert!(
        out.status.success(),
        "verify: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let vs = versions(&env.job_dir());
    assert!(!vs.is_empty());
    for v in &vs {
        assert_same_state(v, &version_state(&env.job_dir(), v), &want);
    }
    check_index_matches(&env.job_dir());
}

#[test]
fn snapshot_cli_enforces_keep_versions() {
    let env = Env::with_extra("keep", "keep_versions = 2");
    let mut names = Vec::new();
    for i in 0..3 {
        env.src.file("f", vec![b'x'; i + 1]);
        let out = env.run(&["snapshot", "keep"]);
        assert!(out.status.success(), "{}", stderr(&out));
        names.push(stdout(&out).trim().to_owned());
    }
    let out_err = env.run(&["snapshot", "keep"]);
    assert!(out_err.status.success());
    assert_eq!(versions(&env.job_dir()), names[1..].to_vec());
    check_index_matches(&env.job_dir());
    // The remaining versions still dereference to their trees.
    let v2 = version_state(&env.job_dir(), &names[2]);
    assert_same_state("newest", &v2, &tree_state(env.src.path()));
}
