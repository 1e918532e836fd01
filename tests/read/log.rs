//! `log PATH` over versions written by `vault::snapshot` from real source trees: every kind
//! of change a path can go through, paths inside unchanged linked folders, renames with and
//! without `--follow`, and the `--json` shape of the binary.

use std::path::{Path, PathBuf};

use reverberator::change::{Change, ChangeSet};
use reverberator::fs::FileKind;
use reverberator::vault::layout::JobFolder;
use reverberator::vault::read::{log, LogEntry, LogOptions, PathChange};
use reverberator::vault::snapshot::{snapshot, SnapshotOutcome};
use reverberator::writer::snapshot_with_scan;

use crate::util::{self, stderr};

struct Series {
    env: util::Env,
}

impl Series {
    fn new() -> Series {
        Series {
            env: util::Env::new("docs"),
        }
    }

    fn src(&self) -> &util::TempTree {
        &self.env.src
    }

    /// A version from a delta scan; its number.
    fn snap(&self) -> u64 {
        match snapshot_with_scan(&self.env.job_config()).expect("snapshot") {
            SnapshotOutcome::Committed(v) => v.name.number,
            SnapshotOutcome::Unchanged => panic!("nothing changed"),
        }
    }

    /// A version from a ChangeSet, as the daemon builds them (moves included).
    fn snap_changes(&self, changes: &ChangeSet) -> u64 {
        match snapshot(&self.env.job_config(), changes).expect("snapshot") {
            SnapshotOutcome::Committed(v) => v.name.number,
            SnapshotOutcome::Unchanged => panic!("nothing changed"),
        }
    }

    fn log(&self, path: &str, follow: bool) -> Vec<LogEntry> {
        let folder = JobFolder::open(&self.env.job_dir()).unwrap();
        log(&folder, Path::new(path), &LogOptions { follow }).unwrap()
    }
}

/// (version, change) pairs.
fn changes(entries: &[LogEntry]) -> Vec<(u64, PathChange)> {
    entries
        .iter()
        .map(|e| (e.version.number, e.change))
        .collect()
}

#[test]
fn a_file_added_modified_chmodded_deleted_and_recreated() {
    let s = Series::new();
    s.src().file("other", "o").file("notes/f", "one");
    s.snap(); // 0
    s.src().file("notes/f", "two!");
    s.snap(); // 1
    s.src().chmod("notes/f", 0o600);
    s.snap(); // 2
    s.src().file("other", "o2");
    s.snap(); // 3: f untouched
    s.src().remove("notes/f");
    s.snap(); // 4
    s.src().file("other", "o3");
    s.snap(); // 5: f absent
    s.src().file("notes/f", "three");
    s.snap(); // 6
    let got = s.log("notes/f", false);
    assert_eq!(
        changes(&got),
        [
            (0, PathChange::Added),
            (1, PathChange::Modified),
            (2, PathChange::Attributes),
            (4, PathChange::Deleted),
            (6, PathChange::Added),
        ]
    );
    assert_eq!(got[0].size, Some(3));
    assert_eq!(got[1].size, Some(4));
    assert_eq!(got[1].what.first(), Some(&"content"));
    assert_eq!(got[2].what, ["mode"]);
    assert_eq!((got[3].kind, got[3].size), (None, None));
    assert_eq!(got[4].kind, Some(FileKind::File));
    assert!(got.iter().all(|e| e.path == Path::new("notes/f")));
    // The folder holding it changed below in every version that touched f, never in 3/5.
    let folder = s.log("notes", false);
    assert_eq!(
        changes(&folder),
        [
            (0, PathChange::Added),
            (1, PathChange::Modified),
            (2, PathChange::Modified),
            (4, PathChange::Modified),
            (6, PathChange::Modified),
        ]
    );
    assert_eq!(folder[0].entries, Some(1));
    assert_eq!(folder[3].entries, Some(0));
    assert_eq!(folder[0].size, None);
    assert_eq!(folder[1].what[0], "below");
}

#[test]
fn a_file_that_became_a_folder_and_back() {
    let s = Series::new();
    s.src().file("x", "file");
    s.snap();
    s.src().remove("x").file("x/inner", "i");
    s.snap();
    s.src().remove("x").file("x", "file again");
    s.snap();
    let got = s.log("x", false);
    assert_eq!(
        changes(&got),
        [
            (0, PathChange::Added),
            (1, PathChange::Replaced),
            (2, PathChange::Replaced),
        ]
    );
    let kinds: Vec<_> = got.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            Some(FileKind::File),
            Some(FileKind::Dir),
            Some(FileKind::File)
        ]
    );
    assert_eq!(got[1].what, ["type"]);
    assert_eq!(got[1].entries, Some(1));
    // A path below the folder exists only while it is a folder.
    assert_eq!(
        changes(&s.log("x/inner", false)),
        [(1, PathChange::Added), (2, PathChange::Deleted)]
    );
}

#[test]
fn attributes_only_changes_name_what_changed() {
    let s = Series::new();
    s.src().file("f", "same").touch("f", 1_000_000, 0);
    s.snap();
    s.src().touch("f", 1_000_000, 5);
    s.snap();
    s.src().chmod("f", 0o640);
    s.snap();
    let with_xattr = xattr::set(s.src().path().join("f"), "user.tag", b"v").is_ok();
    if with_xattr {
        s.snap();
    } else {
        util::skip_part("no user xattrs on this filesystem: the xattr step");
    }
    let got = s.log("f", false);
    let whats: Vec<_> = got.iter().skip(1).map(|e| e.what.clone()).collect();
    let mut want = vec![vec!["mtime"], vec!["mode"]];
    if with_xattr {
        want.push(vec!["xattrs"]);
    }
    assert_eq!(whats, want);
    assert!(got
        .iter()
        .skip(1)
        .all(|e| e.change == PathChange::Attributes));
}

#[test]
fn a_path_inside_an_unchanged_linked_folder_has_one_entry() {
    let s = Series::new();
    s.src()
        .file("deep/a/b/leaf", "leaf")
        .file("busy/counter", "0");
    s.snap();
    for i in 1..6 {
        s.src().file("busy/counter", i.to_string().repeat(i));
        s.snap();
    }
    // `deep` is a structural link in V1..V5: the lookups go through it.
    let links = util::links_of(&s.env.job_dir(), 5);
    assert!(links.contains(Path::new("deep")), "{links:?}");
    assert_eq!(
        changes(&s.log("deep/a/b/leaf", false)),
        [(0, PathChange::Added)]
    );
    assert_eq!(changes(&s.log("deep", false)), [(0, PathChange::Added)]);
    assert_eq!(s.log("busy/counter", false).len(), 6);
    s.src().file("deep/a/b/leaf", "leaf 2");
    s.snap();
    assert_eq!(
        changes(&s.log("deep", false)),
        [(0, PathChange::Added), (6, PathChange::Modified)]
    );
    // The root changes in every version.
    assert_eq!(s.log(".", false).len(), 7);
    assert!(s.log("never/there", false).is_empty());
}

#[test]
fn a_moved_folder_is_deleted_at_the_old_path_and_followed_from_the_new_one() {
    let s = Series::new();
    s.src().file("old/sub/f", "f").file("keep", "k");
    s.snap(); // 0
    s.src().file("old/sub/f", "f2");
    s.snap(); // 1
    s.src().rename("old", "new");
    let mut moved = ChangeSet::new();
    moved.record_move(Path::new("old"), Path::new("new"));
    s.snap_changes(&moved); // 2: the daemon saw the rename
    s.src().file("new/sub/f", "f3");
    s.snap(); // 3
    assert_eq!(
        changes(&s.log("old", false)),
        [
            (0, PathChange::Added),
            (1, PathChange::Modified),
            (2, PathChange::Deleted)
        ]
    );
    assert_eq!(
        changes(&s.log("new/sub/f", false)),
        [(2, PathChange::Added), (3, PathChange::Modified)]
    );
    let followed = s.log("new", true);
    assert_eq!(
        changes(&followed),
        [
            (0, PathChange::Added),
            (1, PathChange::Modified),
            (2, PathChange::Moved),
            (3, PathChange::Modified),
        ]
    );
    assert_eq!(followed[0].path, Path::new("old"));
    assert_eq!(followed[2].from.as_deref(), Some(Path::new("old")));
    assert_eq!(followed[3].path, Path::new("new"));
    // A folder moved by a scan (no rename seen) is new: nothing to follow.
    s.src().rename("new", "newer");
    s.snap();
    assert_eq!(changes(&s.log("newer", true)), [(4, PathChange::Added)]);
}

#[test]
fn a_folder_moved_and_changed_at_once_is_followed_through_an_unchanged_subfolder() {
    let s = Series::new();
    s.src().file("old/sub/f", "f").file("old/g", "g");
    s.snap(); // 0
    s.src().file("old/g", "g2");
    s.snap(); // 1: `old/sub` links to V0
    s.src().rename("old", "new").file("new/g", "g three");
    let mut changes_2 = ChangeSet::new();
    changes_2.record_move(Path::new("old"), Path::new("new"));
    changes_2.record("new/g", Change::Modified);
    s.snap_changes(&changes_2); // 2: `new` is a new real folder, `new/sub` a link
    assert!(!util::links_of(&s.env.job_dir(), 2).contains(Path::new("new")));
    let followed = s.log("new", true);
    assert_eq!(
        changes(&followed),
        [
            (0, PathChange::Added),
            (1, PathChange::Modified),
            (2, PathChange::Moved),
        ]
    );
    assert_eq!(followed[2].from.as_deref(), Some(Path::new("old")));
    assert_eq!(
        followed[2].what.first(),
        Some(&"below"),
        "the move changed g too"
    );
    // Without a subfolder to go by, such a move is not followed.
    s.src().rename("new/sub", "sub-out");
    s.snap(); // 3
    s.src().rename("new", "newest").file("newest/g", "g four");
    let mut changes_4 = ChangeSet::new();
    changes_4.record_move(Path::new("new"), Path::new("newest"));
    changes_4.record("newest/g", Change::Modified);
    s.snap_changes(&changes_4); // 4
    assert_eq!(changes(&s.log("newest", true)), [(4, PathChange::Added)]);
}

#[test]
fn a_file_renamed_in_its_folder_is_followed() {
    let s = Series::new();
    s.src().file("d/a.txt", "text");
    s.snap();
    s.src().file("d/a.txt", "text 2");
    s.snap();
    s.src().rename("d/a.txt", "d/b.txt");
    let mut moved = ChangeSet::new();
    moved.record(
        "d/b.txt",
        Change::Moved {
            from: "d/a.txt".into(),
        },
    );
    s.snap_changes(&moved);
    let plain = s.log("d/b.txt", false);
    assert_eq!(changes(&plain), [(2, PathChange::Added)]);
    let followed = s.log("d/b.txt", true);
    assert_eq!(
        changes(&followed),
        [
            (0, PathChange::Added),
            (1, PathChange::Modified),
            (2, PathChange::Moved)
        ]
    );
    assert_eq!(followed[2].from, Some(PathBuf::from("d/a.txt")));
}

#[test]
fn log_json_has_the_contract_keys() {
    let s = Series::new();
    s.src().file("f", "1");
    s.snap();
    s.src().remove("f");
    s.snap();
    let out = s.env.run(&["log", "docs", "f", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let mut keys: Vec<&str> = rows[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["change", "entries", "from", "kind", "name", "path", "size", "time", "version", "what"]
    );
    assert_eq!(rows[0]["change"], "added");
    assert_eq!(rows[0]["kind"], "file");
    assert_eq!(rows[0]["size"], 1);
    assert_eq!(rows[1]["change"], "deleted");
    assert!(rows[1]["kind"].is_null());
    assert_eq!(rows[1]["version"], 1);
    let out = s.env.run(&["log", "docs", "f"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = util::stdout(&out);
    assert!(text.starts_with("VERSION"), "{text}");
    assert_eq!(text.lines().count(), 3, "{text}");
    let out = s.env.run(&["log", "docs", "../etc"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn identities_survive_a_retire_that_moves_real_folders() {
    let s = Series {
        env: util::Env::with_extra("docs", "keep_versions = 3"),
    };
    s.src()
        .file("still/a/f", "unchanged since V0")
        .file("later/g", "g")
        .file("busy", "0");
    s.snap(); // 0
    for i in 1..4 {
        s.src().file("busy", i.to_string());
        s.snap(); // 1..3: `still` and `later` are structural links into V0
    }
    s.src().file("later/g", "g changed");
    s.snap(); // 4
    let out = s.env.run(&["prune", "docs"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let kept: Vec<u64> = util::versions(&s.env.job_dir())
        .iter()
        .map(|v| util::version_number(v))
        .collect();
    assert_eq!(kept, [2, 3, 4]);
    let links = |n| util::links_of(&s.env.job_dir(), n);
    let (in2, in3, in4) = (links(2), links(3), links(4));
    assert!(
        !in4.contains(Path::new("still")),
        "moved into V4, the newest version linking to it, as a real folder: {in4:?}"
    );
    assert!(
        in2.contains(Path::new("still")),
        "V2 links forward to it: {in2:?}"
    );
    assert!(
        in3.contains(Path::new("still")),
        "V3 links forward to it: {in3:?}"
    );
    assert!(
        !in3.contains(Path::new("later")),
        "V3 holds `later`: {in3:?}"
    );
    // V0's real folders moved into V3 and V4 by the retire: still one entry each (the
    // oldest kept version shows what it holds as added).
    assert_eq!(changes(&s.log("still", false)), [(2, PathChange::Added)]);
    assert_eq!(
        changes(&s.log("still/a/f", false)),
        [(2, PathChange::Added)]
    );
    assert_eq!(
        changes(&s.log("later/g", false)),
        [(2, PathChange::Added), (4, PathChange::Modified)]
    );
    assert_eq!(s.log("busy", false).len(), 2);
}

#[test]
fn a_path_through_a_source_symlink_is_never_followed() {
    let s = Series::new();
    s.src().symlink("etc", "/etc").file("f", "f");
    s.snap();
    assert!(s.log("etc/passwd", false).is_empty());
    let etc = s.log("etc", false);
    assert_eq!(etc[0].kind, Some(FileKind::Symlink));
    assert_eq!(etc[0].size, Some(4));
}
