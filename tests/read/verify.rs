//! `verify` through the binary: a sound hand-built vault, then broken copies of it, each
//! problem on its own line.

use std::os::unix::fs::symlink;

use super::{name, stderr, stdout, Env};

#[test]
fn verify_passes_on_a_sound_vault() {
    let e = Env::two_versions();
    let out = e.run(&["verify", "docs"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");
}

/// Break a sound vault with `damage`; verify must print exactly one line per problem,
/// each matching one of `want`, and exit 1.
fn broken(damage: impl FnOnce(&Env), want: &[&str]) {
    let e = Env::two_versions();
    damage(&e);
    let out = e.run(&["verify", "docs"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), want.len(), "{text}");
    for (line, want) in lines.iter().zip(want) {
        assert!(line.starts_with("docs: "), "{line}");
        assert!(line.contains(want), "{line} lacks {want}");
    }
}

#[test]
fn verify_finds_a_dangling_structural_link() {
    broken(
        |e| std::fs::remove_dir_all(e.at(0, "photos")).unwrap(),
        &["V1--2026-11-23_10-01-00_+0100/pics: structural link -> ../V0--2026-11-23_10-00-00_+0100/photos: dangling"],
    );
}

#[test]
fn verify_finds_a_link_to_a_link() {
    broken(
        |e| {
            e.dir(2, "").link(2, "old", 1, "notes/old").link(2, "notes", 1, "notes");
            e.commit(&[0, 1, 2]);
        },
        &["V2--2026-11-23_10-02-00_+0100/old: structural link -> ../V1--2026-11-23_10-01-00_+0100/notes/old: points at or through another link"],
    );
}

#[test]
fn verify_finds_a_leftover_partial_build() {
    broken(
        |e| std::fs::create_dir(e.folder.root().join(name(2).partial_name())).unwrap(),
        &["leftover partial build .V2--2026-11-23_10-02-00_+0100.partial"],
    );
}

#[test]
fn verify_finds_an_index_missing_a_version() {
    broken(
        |e| {
            e.commit(&[0, 1]);
            let text = std::fs::read_to_string(e.folder.root().join("index.tsv")).unwrap();
            let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with("0\t")).collect();
            std::fs::write(e.folder.root().join("index.tsv"), kept.join("\n") + "\n").unwrap();
        },
        &["index.tsv does not list V0--2026-11-23_10-00-00_+0100"],
    );
}

#[test]
fn verify_finds_a_stale_latest() {
    broken(
        |e| {
            let latest = e.folder.root().join("latest");
            std::fs::remove_file(&latest).unwrap();
            symlink(name(0).to_string(), latest).unwrap();
        },
        &["`latest` points at V0--2026-11-23_10-00-00_+0100, not at the newest version V1--2026-11-23_10-01-00_+0100"],
    );
}

#[test]
fn verify_reports_several_problems_each_on_its_own_line() {
    broken(
        |e| {
            std::fs::remove_dir_all(e.at(0, "photos")).unwrap();
            std::fs::create_dir(e.folder.root().join(name(2).partial_name())).unwrap();
            std::fs::write(e.folder.root().join("index.tsv"), "not\tan\tindex\n").unwrap();
        },
        &[
            "pics: structural link",
            "leftover partial build",
            "cannot read index.tsv",
        ],
    );
}
