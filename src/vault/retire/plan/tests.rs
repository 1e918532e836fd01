//! Unit tests of the pure retire plan ([`decide`]) from tables of gathered data.

use super::*;

fn v(n: u64) -> VersionName {
    format!("V{n}--2026-11-23_10-00-0{n}_+0100")
        .parse()
        .unwrap()
}

fn t(n: u64, rel: &str) -> Option<(VersionName, PathBuf)> {
    Some((v(n), PathBuf::from(rel)))
}

fn ts(sec: i64) -> Option<(Timestamp, Timestamp)> {
    Some((Timestamp::new(sec, 1), Timestamp::new(sec, 2)))
}

/// V0 retired, V1 the heir, V2 and V3 later: `heir` the heir's links, `refs` the refs
/// lines of V0 with what is there; every folder is real with times 7, every heir link
/// target a real directory of V0.
fn data(heir: &[(&str, Target)], refs: &[(u64, &str, Target)]) -> Gathered {
    let mut dirs = HashMap::new();
    let mut real = HashMap::new();
    for (p, target) in heir {
        let dir = Path::new(p).parent().unwrap().to_path_buf();
        dirs.insert((1, dir), ts(7));
        if let Some((_, r)) = target {
            real.insert(r.clone(), Ok(()));
        }
    }
    for (n, p, _) in refs {
        dirs.insert((*n, Path::new(p).parent().unwrap().to_path_buf()), ts(7));
    }
    Gathered {
        folder: PathBuf::from("/vault/job"),
        retired: v(0),
        heir: v(1),
        versions: (0..4).map(|n| (n, v(n))).collect(),
        heir_links: heir
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.clone()))
            .collect(),
        real,
        own_links: Vec::new(),
        refs: refs
            .iter()
            .map(|(n, p, t)| (v(*n), PathBuf::from(p), t.clone()))
            .collect(),
        dirs,
        limit: 4095,
    }
}

fn why(d: &Gathered) -> String {
    decide(d, vec![RetireReason::Requested])
        .unwrap_err()
        .to_string()
}

type Target = Option<(VersionName, PathBuf)>;

/// A change to good gathered data that must make the plan refuse.
type Change = fn(&mut Gathered);

#[test]
fn table_moves_repoints_and_times() {
    // (heir links, refs of V0) -> (moves, repoints as (version, path, new target)).
    type Row = (
        Vec<(&'static str, Target)>,
        Vec<(u64, &'static str, Target)>,
        Vec<(&'static str, &'static str)>,
        Vec<(u64, &'static str, PathBuf)>,
    );
    let rows: Vec<Row> = vec![
        // One folder shared by V1..V3, V3 inside it: moves into V1, the rest repointed.
        (
            vec![("p", t(0, "p"))],
            vec![
                (1, "p", t(0, "p")),
                (2, "p", t(0, "p")),
                (3, "x/q", t(0, "p/q")),
            ],
            vec![("p", "p")],
            vec![
                (2, "p", link_target(Path::new("p"), &v(1), Path::new("p"))),
                (
                    3,
                    "x/q",
                    link_target(Path::new("x/q"), &v(1), Path::new("p/q")),
                ),
            ],
        ),
        // A folder the heir moved: the repoint names its new place.
        (
            vec![("new/place", t(0, "old"))],
            vec![(3, "z", t(0, "old/sub"))],
            vec![("old", "new/place")],
            vec![(
                3,
                "z",
                link_target(Path::new("z"), &v(1), Path::new("new/place/sub")),
            )],
        ),
        // Stale refs lines (nothing there, or a link elsewhere) are skipped.
        (
            vec![("a", t(0, "a"))],
            vec![(2, "gone", None), (3, "a", t(2, "a"))],
            vec![("a", "a")],
            vec![],
        ),
    ];
    for (i, (heir, refs, moves, repoints)) in rows.into_iter().enumerate() {
        let d = data(&heir, &refs);
        let plan = decide(&d, vec![RetireReason::Requested]).unwrap();
        let got: Vec<(&Path, &Path)> = plan
            .moves
            .iter()
            .map(|m| (m.from.as_path(), m.to.as_path()))
            .collect();
        let want: Vec<(&Path, &Path)> = moves
            .iter()
            .map(|(a, b)| (Path::new(*a), Path::new(*b)))
            .collect();
        assert_eq!(got, want, "row {i}");
        let got: Vec<(u64, &Path, &Path)> = plan
            .repoints
            .iter()
            .map(|r| (r.version.number, r.path.as_path(), r.new_target.as_path()))
            .collect();
        let want: Vec<(u64, &Path, &Path)> = repoints
            .iter()
            .map(|(n, p, t)| (*n, Path::new(*p), t.as_path()))
            .collect();
        assert_eq!(got, want, "row {i}");
        assert!(plan.materialize.is_empty(), "row {i}");
        for r in &plan.repoints {
            let dir = r.path.parent().unwrap();
            assert!(
                plan.times
                    .iter()
                    .any(|t| t.version == r.version && t.dir == dir),
                "row {i}: the times of {}/{} are kept",
                r.version,
                dir.display()
            );
        }
    }
}

#[test]
fn a_new_text_too_long_for_the_filesystem_makes_the_link_real() {
    let mut d = data(
        &[("p", t(0, "p"))],
        &[(2, "p", t(0, "p")), (3, "p", t(0, "p"))],
    );
    let text = link_target(Path::new("p"), &v(1), Path::new("p"));
    d.limit = text.as_os_str().len() + 18; // 19 spare digits needed for V1
    let plan = decide(&d, vec![RetireReason::Requested]).unwrap();
    assert!(plan.repoints.is_empty(), "{plan:?}");
    let real: Vec<(u64, &Path, &Path)> = plan
        .materialize
        .iter()
        .map(|m| (m.version.number, m.from.as_path(), m.in_heir.as_path()))
        .collect();
    assert_eq!(
        real,
        [
            (2, Path::new("p"), Path::new("p")),
            (3, Path::new("p"), Path::new("p"))
        ]
    );
    d.limit += 1;
    let plan = decide(&d, vec![RetireReason::Requested]).unwrap();
    assert_eq!((plan.repoints.len(), plan.materialize.len()), (2, 0));
}

#[test]
fn bookkeeping_that_does_not_match_the_disk_refuses_the_plan() {
    let ok = || data(&[("p", t(0, "p"))], &[(2, "p", t(0, "p"))]);
    assert!(decide(&ok(), vec![]).is_ok());
    // Each row: a change to the good data, and the words the refusal must hold.
    let rows: Vec<(Change, &str)> = vec![
        (|d| d.heir_links[0].1 = None, "is not one"),
        (|d| d.heir_links[0].1 = t(2, "p"), "not the oldest version"),
        (
            |d| d.heir_links.push((PathBuf::from("q"), t(0, "p/in"))),
            "already targets",
        ),
        (|d| d.heir_links[0].1 = t(0, ""), "whole oldest version"),
        (
            |d| {
                d.real.insert(PathBuf::from("p"), Err("ENOTDIR".into()));
            },
            "ENOTDIR",
        ),
        (
            |d| d.own_links.push(PathBuf::from("p/l")),
            "structural link inside p",
        ),
        (
            |d| d.refs.push((v(3), PathBuf::from("c"), t(0, "c"))),
            "no link of",
        ),
        (
            |d| d.refs.push((v(1), PathBuf::from("w"), t(0, "p/w"))),
            "missing from the links file",
        ),
        (
            |d| {
                d.dirs.insert((2, PathBuf::new()), None);
            },
            "is not a real directory",
        ),
    ];
    for (i, (change, words)) in rows.into_iter().enumerate() {
        let mut d = ok();
        change(&mut d);
        let msg = why(&d);
        assert!(msg.contains(words), "row {i}: {msg}");
        assert!(msg.contains("nothing retired"), "row {i}: {msg}");
    }
}

#[test]
fn covering_finds_the_longest_moved_ancestor() {
    let mut m = HashMap::new();
    m.insert(Path::new("a/b"), Path::new("x"));
    m.insert(Path::new("c"), Path::new("c"));
    assert_eq!(covering(&m, Path::new("a/b")), Some(PathBuf::from("x")));
    assert_eq!(
        covering(&m, Path::new("a/b/c/d")),
        Some(PathBuf::from("x/c/d"))
    );
    assert_eq!(covering(&m, Path::new("c/z")), Some(PathBuf::from("c/z")));
    assert_eq!(covering(&m, Path::new("a")), None);
    assert_eq!(covering(&m, Path::new("a/bb")), None);
}
