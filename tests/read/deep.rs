//! Paths longer than PATH_MAX through diff and restore.

use reverberator::writer::snapshot_with_scan;

use crate::util::{self, assert_same_state, tree_state};

/// Paths longer than PATH_MAX (4096 bytes): diff and restore walk by directory fds.
#[test]
fn paths_longer_than_path_max_diff_and_restore() {
    let env = util::Env::new("deep");
    let leaf = env.src.deep("top", 5000);
    env.src.file("top/plain", "p");
    snapshot_with_scan(&env.job_config()).unwrap();
    let v0 = tree_state(env.src.path());
    env.src.file(&leaf, "changed leaf");
    let sibling = leaf.with_file_name("sibling");
    env.src.file(&sibling, "new");
    snapshot_with_scan(&env.job_config()).unwrap();
    let v1 = tree_state(env.src.path());
    assert!(leaf.as_os_str().len() > 5000);

    let out = env.run(&["diff", "deep", "0", "1"]);
    assert!(out.status.success(), "{}", util::stderr(&out));
    let lines: Vec<String> = util::stdout(&out).lines().map(str::to_owned).collect();
    assert!(
        lines.contains(&format!("M {}", leaf.display())),
        "{lines:?}"
    );
    assert!(
        lines.contains(&format!("A {}", sibling.display())),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.ends_with("top/plain")), "{lines:?}");

    for (n, want) in [(0, &v0), (1, &v1)] {
        let to = env.outer.path().join(format!("r{n}"));
        let out = env.run(&[
            "restore",
            "deep",
            ".",
            "--version",
            &n.to_string(),
            "--to",
            to.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "V{n}: {}", util::stderr(&out));
        assert_same_state(&format!("restore of V{n}"), &tree_state(&to), want);
    }
    // One deep file by its long path.
    let to = env.outer.path().join("one");
    let out = env.run(&[
        "restore",
        "deep",
        leaf.to_str().unwrap(),
        "--version",
        "0",
        "--to",
        to.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", util::stderr(&out));
    assert_eq!(std::fs::read(to.join("leaf")).unwrap(), b"deep leaf");
    let out = env.run(&["verify", "deep"]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stdout(&out));
}
