//! Unit tests of the pure retire plan ([`decide`]) from tables of gathered data.

use super::*;

use crate::util::version as v;

fn t(n: u64, rel: &str) -> Target {
    Some((v(n), PathBuf::from(rel)))
}

fn ts(sec: i64) -> Option<(Timestamp, Timestamp)> {
    Some((Timestamp::new(sec, 1), Timestamp::new(sec, 2)))
}

type Target = Option<(VersionName, PathBuf)>;

/// Version `retired` of V0..V5 goes: `refs` its refs lines with what is there, `own` its
/// own links with their targets; every folder is real with times 7, every path a link
/// shows a real directory of the retired version.
fn data(retired: u64, refs: &[(u64, &str, Target)], own: &[(&str, Target)]) -> Gathered {
    let mut dirs = HashMap::new();
    let mut real = HashMap::new();
    let parent = |p: &str| Path::new(p).parent().unwrap().to_path_buf();
    for (n, p, target) in refs {
        dirs.insert((*n, parent(p)), ts(7));
        if let Some((_, q)) = target {
            real.insert(q.clone(), Ok(()));
            dirs.insert((retired, q.parent().unwrap().to_path_buf()), ts(9));
        }
    }
    for (p, _) in own {
        dirs.insert((retired, parent(p)), ts(8));
    }
    Gathered {
        folder: PathBuf::from("/vault/job"),
        root: PathBuf::from("/vault/job"),
        retired: v(retired),
        heir: v(retired + 1),
        refs: refs
            .iter()
            .map(|(n, p, t)| (v(*n), PathBuf::from(p), t.clone()))
            .collect(),
        real,
        heir_links: refs
            .iter()
            .filter(|(n, _, _)| *n == retired + 1)
            .map(|(_, p, t)| (PathBuf::from(p), t.clone()))
            .collect(),
        own_links: own
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.clone()))
            .collect(),
        dirs,
        limit: 4095,
        split_min: 1,
    }
}

fn why(d: &Gathered) -> String {
    decide(d, vec![RetireReason::Requested])
        .unwrap_err()
        .to_string()
}

fn lt(link: &str, n: u64, rel: &str) -> PathBuf {
    link_target(Path::new(link), &v(n), Path::new(rel))
}

/// A change to good gathered data that must make the plan refuse.
type Change = fn(&mut Gathered);

#[test]
fn table_moves_go_to_the_newest_linker_and_the_rest_is_repointed() {
    // (retired, refs of it) -> (moves as (from, receiver, to), repoints as (version, path,
    // new target), splits as (from, receiver, to, holder, at)).
    type Row = (
        u64,
        Vec<(u64, &'static str, Target)>,
        Vec<(&'static str, u64, &'static str)>,
        Vec<(u64, &'static str, PathBuf)>,
        Vec<(&'static str, u64, &'static str, u64, &'static str)>,
    );
    let rows: Vec<Row> = vec![
        // One folder shared by V1..V3, V3 also inside it from elsewhere (at the same
        // depth): p moves to V2 (the newest linking to p itself), V1 is repointed into
        // V2, and p/q goes to V3, its own newest linker, leaving V2 a link to it.
        (
            0,
            vec![
                (1, "p", t(0, "p")),
                (2, "p", t(0, "p")),
                (3, "x/q", t(0, "p/q")),
            ],
            vec![("p", 2, "p")],
            vec![(1, "p", lt("p", 2, "p"))],
            vec![("p/q", 3, "x/q", 2, "p/q")],
        ),
        // The same from a deeper place: p/q would change depth, so it goes with p.
        (
            0,
            vec![
                (1, "p", t(0, "p")),
                (2, "p", t(0, "p")),
                (3, "x/y/q", t(0, "p/q")),
            ],
            vec![("p", 2, "p")],
            vec![
                (1, "p", lt("p", 2, "p")),
                (3, "x/y/q", lt("x/y/q", 2, "p/q")),
            ],
            vec![],
        ),
        // Nested splits: p/q to V3, p/q/r to V4 (inside V3's place), p/q/r/s stays
        // with it (its newest linker V1 is older than V4); V1's deep links follow.
        (
            0,
            vec![
                (1, "p", t(0, "p")),
                (2, "p", t(0, "p")),
                (1, "z/y/x/w", t(0, "p/q/r/s")),
                (3, "p/q", t(0, "p/q")),
                (4, "p/q/r", t(0, "p/q/r")),
                (1, "k/l/m/n/o", t(0, "p/q/r/s/t")),
            ],
            vec![("p", 2, "p")],
            vec![
                (1, "k/l/m/n/o", lt("k/l/m/n/o", 4, "p/q/r/s/t")),
                (1, "p", lt("p", 2, "p")),
                (1, "z/y/x/w", lt("z/y/x/w", 4, "p/q/r/s")),
            ],
            vec![
                ("p/q", 3, "p/q", 2, "p/q"),
                ("p/q/r", 4, "p/q/r", 3, "p/q/r"),
            ],
        ),
        // A folder moved in the source: it lands at the receiver's place.
        (
            0,
            vec![(1, "old", t(0, "old")), (3, "new/place", t(0, "old"))],
            vec![("old", 3, "new/place")],
            vec![(1, "old", lt("old", 3, "new/place"))],
            vec![],
        ),
        // Stale refs lines (nothing there, or a link elsewhere) are skipped.
        (
            0,
            vec![(1, "a", t(0, "a")), (2, "gone", None), (3, "a", t(2, "a"))],
            vec![("a", 1, "a")],
            vec![],
            vec![],
        ),
        // A version in the middle: an older version's forward link and a newer one's.
        (
            2,
            vec![
                (0, "d/e", t(2, "d/e")),
                (1, "d/e", t(2, "d/e")),
                (4, "d", t(2, "d")),
            ],
            vec![("d", 4, "d")],
            vec![
                (0, "d/e", lt("d/e", 4, "d/e")),
                (1, "d/e", lt("d/e", 4, "d/e")),
            ],
            vec![],
        ),
        // Two top folders, two receivers; a nested folder with a newer linker splits.
        (
            1,
            vec![
                (2, "a", t(1, "a")),
                (3, "a/b", t(1, "a/b")),
                (4, "c", t(1, "c")),
                (5, "c", t(1, "c")),
            ],
            vec![("a", 2, "a"), ("c", 5, "c")],
            vec![(4, "c", lt("c", 5, "c"))],
            vec![("a/b", 3, "a/b", 2, "a/b")],
        ),
        // A receiver that shows more of the folder does not split it.
        (
            1,
            vec![
                (2, "a", t(1, "a")),
                (3, "a/b", t(1, "a/b")),
                (3, "x/c", t(1, "a/b/c")),
            ],
            vec![("a", 2, "a")],
            vec![
                (3, "a/b", lt("a/b", 2, "a/b")),
                (3, "x/c", lt("x/c", 2, "a/b/c")),
            ],
            vec![],
        ),
        // Nobody links into it: nothing moves.
        (3, vec![(4, "x", t(1, "x"))], vec![], vec![], vec![]),
    ];
    let mut d = data(
        1,
        &[
            (2, "a", t(1, "a")),
            (3, "a/b", t(1, "a/b")),
            (4, "a/b", t(1, "a/b")),
        ],
        &[],
    );
    d.split_min = 3;
    let plan = decide(&d, vec![]).unwrap();
    assert!(plan.splits.is_empty(), "two newer links do not pay a split");
    d.split_min = 2;
    assert_eq!(decide(&d, vec![]).unwrap().splits.len(), 1);
    for (i, (retired, refs, moves, repoints, splits)) in rows.into_iter().enumerate() {
        let d = data(retired, &refs, &[]);
        let plan = decide(&d, vec![RetireReason::Requested]).unwrap();
        let got: Vec<(&Path, u64, &Path)> = plan
            .moves
            .iter()
            .map(|m| (m.from.as_path(), m.receiver.number, m.to.as_path()))
            .collect();
        let want: Vec<(&Path, u64, &Path)> = moves
            .iter()
            .map(|(a, n, b)| (Path::new(*a), *n, Path::new(*b)))
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
        let got: Vec<(&Path, u64, &Path, u64, &Path)> = plan
            .splits
            .iter()
            .map(|s| {
                let (a, b) = (s.from.as_path(), s.to.as_path());
                (a, s.receiver.number, b, s.holder.number, s.at.as_path())
            })
            .collect();
        let want: Vec<(&Path, u64, &Path, u64, &Path)> = splits
            .iter()
            .map(|(a, n, b, h, at)| (Path::new(*a), *n, Path::new(*b), *h, Path::new(*at)))
            .collect();
        assert_eq!(got, want, "row {i}");
        for s in &plan.splits {
            assert_eq!(
                s.link_text,
                link_target(&s.at, &s.receiver, &s.to),
                "row {i}"
            );
            assert_eq!(s.old_target, link_target(&s.to, &plan.retired, &s.from));
            let depth = s.from.components().count() + 1;
            assert_eq!(s.stage.components().count(), depth, "row {i}: {s:?}");
            assert!(s.stage.starts_with(".reverberator/retire-stage"), "row {i}");
            assert_eq!(s.stage_text, Path::new("/vault/job").join(&s.stage));
        }
        assert!(plan.materialize.is_empty(), "row {i}");
        for (version, link) in plan
            .repoints
            .iter()
            .map(|r| (&r.version, &r.path))
            .chain(plan.moves.iter().map(|m| (&m.receiver, &m.to)))
            .chain(plan.splits.iter().map(|s| (&s.receiver, &s.to)))
            .chain(plan.splits.iter().map(|s| (&s.holder, &s.at)))
        {
            let dir = link.parent().unwrap();
            assert!(
                plan.times
                    .iter()
                    .any(|t| &t.version == version && t.dir == dir),
                "row {i}: the times of {}/{} are kept",
                version,
                dir.display()
            );
        }
    }
}

#[test]
fn own_links_inside_a_moving_folder_are_carried_and_the_rest_go() {
    // V2 holds a real `a` with its own links a/l (into V0) and top (into V1); V3 links
    // to V2's `a` at the same depth, V4 from a deeper place.
    let own = [
        ("a/l", t(0, "a/l")),
        ("a/s/m", t(1, "m")),
        ("top", t(1, "top")),
    ];
    let d = data(2, &[(3, "a", t(2, "a"))], &own);
    let plan = decide(&d, vec![]).unwrap();
    let got: Vec<(&Path, u64, &Path, u64, bool)> = plan
        .carried
        .iter()
        .map(|c| {
            let r = (c.from.as_path(), c.receiver.number, c.path.as_path());
            (r.0, r.1, r.2, c.target.number, c.retexts())
        })
        .collect();
    assert_eq!(
        got,
        [
            (Path::new("a/l"), 3, Path::new("a/l"), 0, false),
            (Path::new("a/s/m"), 3, Path::new("a/s/m"), 1, false),
        ]
    );
    let d = data(2, &[(3, "a", t(2, "a")), (4, "x/y/a", t(2, "a"))], &own);
    let plan = decide(&d, vec![]).unwrap();
    let c = &plan.carried[0];
    assert_eq!(
        (c.receiver.number, c.path.as_path()),
        (4, Path::new("x/y/a/l"))
    );
    assert!(c.retexts());
    assert_eq!(c.old_target, lt("a/l", 0, "a/l"));
    assert_eq!(c.new_target, lt("x/y/a/l", 0, "a/l"));
    assert_eq!(
        c.transit,
        Path::new("/vault/job").join(v(0).to_string()).join("a/l")
    );
    // The folder holding a re-texted link keeps its times, read where it was.
    let kept = plan
        .times
        .iter()
        .find(|t| t.version.number == 4 && t.dir == Path::new("x/y/a"))
        .expect("times of the carried link's folder");
    assert_eq!(Some((kept.atime, kept.mtime)), ts(8));
    // The repointed V3 link names V4's place; the refs V0 and V1 gain name V4's paths.
    assert_eq!(plan.repoints[0].new_target, lt("a", 4, "x/y/a"));
    let refs = plan.new_refs();
    assert_eq!(refs[&4], [(3, Path::new("a"))]);
    assert_eq!(refs[&0], [(4, Path::new("x/y/a/l"))]);
    assert_eq!(refs[&1], [(4, Path::new("x/y/a/s/m"))]);
}

#[test]
fn a_new_text_too_long_for_the_filesystem_makes_the_link_real() {
    let mut d = data(
        0,
        &[
            (1, "p", t(0, "p")),
            (2, "p", t(0, "p")),
            (3, "p", t(0, "p")),
        ],
        &[],
    );
    let text = lt("p", 3, "p");
    d.limit = text.as_os_str().len() + 18; // 19 spare digits needed for V3
    let plan = decide(&d, vec![RetireReason::Requested]).unwrap();
    assert!(plan.repoints.is_empty(), "{plan:?}");
    let real: Vec<(u64, &Path, u64, &Path)> = plan
        .materialize
        .iter()
        .map(|m| {
            let h = (m.holder.number, m.in_holder.as_path());
            (m.version.number, m.from.as_path(), h.0, h.1)
        })
        .collect();
    assert_eq!(
        real,
        [
            (1, Path::new("p"), 3, Path::new("p")),
            (2, Path::new("p"), 3, Path::new("p"))
        ]
    );
    d.limit += 1;
    let plan = decide(&d, vec![RetireReason::Requested]).unwrap();
    assert_eq!((plan.repoints.len(), plan.materialize.len()), (2, 0));
}

#[test]
fn bookkeeping_that_does_not_match_the_disk_refuses_the_plan() {
    let ok = || {
        data(
            1,
            &[(2, "p", t(1, "p")), (3, "p", t(1, "p"))],
            &[("p/l", t(0, "l"))],
        )
    };
    assert!(decide(&ok(), vec![]).is_ok());
    // Each row: a change to the good data, and the words the refusal must hold.
    let rows: Vec<(Change, &str)> = vec![
        (|d| d.own_links[0].1 = None, "is not one"),
        (|d| d.own_links[0].1 = t(3, "l"), "its own version"),
        (
            |d| {
                d.refs.push((v(3), PathBuf::from("q"), t(1, "p/in")));
                d.real.insert(PathBuf::from("p/in"), Ok(()));
            },
            "a second time",
        ),
        (
            |d| d.refs.push((v(2), PathBuf::from("w"), t(1, ""))),
            "whole version",
        ),
        (
            |d| {
                d.real.insert(PathBuf::from("p"), Err("ENOTDIR".into()));
            },
            "ENOTDIR",
        ),
        (
            |d| {
                d.refs.push((v(4), PathBuf::from("z"), t(1, "p/l/deeper")));
                d.real.insert(PathBuf::from("p/l/deeper"), Ok(()));
            },
            "two hops",
        ),
        (
            |d| {
                d.dirs.insert((2, PathBuf::new()), None);
            },
            "is not a real directory",
        ),
        (
            |d| d.limit = lt("p/l", 0, "l").as_os_str().len() + 5,
            "too long",
        ),
        (
            |d| d.heir_links.push((PathBuf::from("h"), t(1, "h"))),
            "missing from its refs file",
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
fn places_find_the_innermost_move_or_split_around() {
    let m = |from: &str, to: &str| Move {
        from: PathBuf::from(from),
        receiver: v(9),
        to: PathBuf::from(to),
    };
    let moves = [m("a/b", "x"), m("a/c", "y"), m("c", "c")];
    let split = Split {
        from: PathBuf::from("c/d"),
        receiver: v(8),
        to: PathBuf::from("e/d"),
        old_target: PathBuf::new(),
        holder: v(9),
        at: PathBuf::from("c/d"),
        stage: PathBuf::new(),
        stage_text: PathBuf::new(),
        link_text: PathBuf::new(),
    };
    let splits = [split];
    let places = Places::new(&moves, &splits);
    let at = |p: &str| places.find(Path::new(p)).map(|(_, to, _)| to);
    assert_eq!(at("c/d/f"), Some(PathBuf::from("e/d/f")));
    assert_eq!(places.find(Path::new("c/d")).unwrap().0, &v(8));
    assert_eq!(places.find(Path::new("c/dd")).unwrap().0, &v(9));
    assert_eq!(at("a/b"), Some(PathBuf::from("x")));
    assert_eq!(at("a/b/c/d"), Some(PathBuf::from("x/c/d")));
    assert_eq!(at("a/c/z"), Some(PathBuf::from("y/z")));
    assert_eq!(at("c/z"), Some(PathBuf::from("c/z")));
    assert_eq!(at("a"), None);
    assert_eq!(at("a/bb"), None);
    assert_eq!(at("b"), None);
}
