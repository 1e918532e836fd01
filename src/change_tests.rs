//! The coalescing rules of [`ChangeSet`], tested from data: each case is a sequence of
//! observed changes and the whole set expected afterwards.

use super::*;

/// One observed change: `C`reate, `M`odify, `A`ttrib, `D`elete a path, or `Mv` from -> to.
#[derive(Debug, Clone, Copy)]
enum Op {
    C(&'static str),
    M(&'static str),
    A(&'static str),
    D(&'static str),
    Mv(&'static str, &'static str),
}
use Op::*;

/// An expected record: (path, "C" | "M" | "A" | "D" | "<from").
type Want = (&'static str, &'static str);

struct Case {
    name: &'static str,
    ops: &'static [Op],
    want: &'static [Want],
}

const fn case(name: &'static str, ops: &'static [Op], want: &'static [Want]) -> Case {
    Case { name, ops, want }
}

/// Every cell of the per-path table in the module docs: the first op(s) set `old`, the
/// last one is `new`.
const PAIRS: &[Case] = &[
    case("none+create", &[C("a")], &[("a", "C")]),
    case("none+modify", &[M("a")], &[("a", "M")]),
    case("none+attrib", &[A("a")], &[("a", "A")]),
    case("none+delete", &[D("a")], &[("a", "D")]),
    case("created+create", &[C("a"), C("a")], &[("a", "C")]),
    case("created+modify", &[C("a"), M("a")], &[("a", "C")]),
    case("created+attrib", &[C("a"), A("a")], &[("a", "C")]),
    case("created+delete", &[C("a"), D("a")], &[]),
    case("modified+create", &[M("a"), C("a")], &[("a", "M")]),
    case("modified+modify", &[M("a"), M("a")], &[("a", "M")]),
    case("modified+attrib", &[M("a"), A("a")], &[("a", "M")]),
    case("modified+delete", &[M("a"), D("a")], &[("a", "D")]),
    case("attrib+create", &[A("a"), C("a")], &[("a", "M")]),
    case("attrib+modify", &[A("a"), M("a")], &[("a", "M")]),
    case("attrib+attrib", &[A("a"), A("a")], &[("a", "A")]),
    case("attrib+delete", &[A("a"), D("a")], &[("a", "D")]),
    case("deleted+create", &[D("a"), C("a")], &[("a", "M")]),
    case("deleted+modify", &[D("a"), M("a")], &[("a", "M")]),
    case("deleted+attrib", &[D("a"), A("a")], &[("a", "M")]),
    case("deleted+delete", &[D("a"), D("a")], &[("a", "D")]),
    case(
        "moved+create",
        &[Mv("x", "a"), C("a")],
        &[("a", "M"), ("x", "D")],
    ),
    case(
        "moved+modify",
        &[Mv("x", "a"), M("a")],
        &[("a", "M"), ("x", "D")],
    ),
    case(
        "moved+attrib",
        &[Mv("x", "a"), A("a")],
        &[("a", "M"), ("x", "D")],
    ),
    case(
        "moved+delete",
        &[Mv("x", "a"), D("a")],
        &[("a", "D"), ("x", "D")],
    ),
    case(
        "deleted+create+delete stays deleted",
        &[D("a"), C("a"), D("a")],
        &[("a", "D")],
    ),
];

/// Rules across paths: directories, moves, editor saves.
const TREES: &[Case] = &[
    case(
        "deleting a dir drops what is below it",
        &[M("d/f"), A("d/g"), C("d/h"), D("d/f"), D("d")],
        &[("d", "D")],
    ),
    case(
        "a created dir absorbs its subtree",
        &[C("d"), C("d/f"), M("d/f"), C("d/e"), C("d/e/g"), A("d")],
        &[("d", "C")],
    ),
    case(
        "mkdir -p and a file",
        &[C("a"), C("a/b"), C("a/b/c"), C("a/b/c/f"), M("a/b/c/f")],
        &[("a", "C")],
    ),
    case(
        "a created dir removed again leaves nothing",
        &[C("d"), C("d/f"), D("d/f"), D("d")],
        &[],
    ),
    case(
        "creating a dir drops stale records below it",
        &[D("d/x"), C("d")],
        &[("d", "C")],
    ),
    case(
        "a dir recreated keeps records below (not known new)",
        &[M("d/old"), D("d"), C("d"), C("d/f")],
        &[("d", "M"), ("d/f", "C")],
    ),
    case("a move", &[Mv("a", "b")], &[("a", "D"), ("b", "<a")]),
    case(
        "chains collapse",
        &[Mv("a", "b"), Mv("b", "c")],
        &[("a", "D"), ("b", "D"), ("c", "<a")],
    ),
    case(
        "moving back is no change at the origin",
        &[Mv("a", "b"), Mv("b", "a")],
        &[("b", "D")],
    ),
    case(
        "editor save: temp file renamed over the original",
        &[C("f.tmp"), M("f.tmp"), A("f.tmp"), Mv("f.tmp", "f")],
        &[("f", "M")],
    ),
    case(
        "created then moved onto a known-new path stays created",
        &[C("x"), C("t"), Mv("t", "x")],
        &[("x", "C")],
    ),
    case(
        "modified then moved is taken from the source",
        &[M("a"), Mv("a", "b")],
        &[("a", "D"), ("b", "M")],
    ),
    case(
        "attrib then moved is taken from the source",
        &[A("a"), Mv("a", "b")],
        &[("a", "D"), ("b", "M")],
    ),
    case(
        "a move replaces what the target had",
        &[M("b"), Mv("a", "b")],
        &[("a", "D"), ("b", "<a")],
    ),
    case(
        "a dir move carries the records below it",
        &[M("d/f"), Mv("d/g", "d/h"), Mv("d", "e")],
        &[
            ("d", "D"),
            ("e", "<d"),
            ("e/f", "M"),
            ("e/g", "D"),
            ("e/h", "<d/g"),
        ],
    ),
    case(
        "moving out of a created dir: bytes only in the source",
        &[C("n"), C("n/f"), Mv("n/f", "g")],
        &[("g", "M"), ("n", "C")],
    ),
    case(
        "moving into a created dir is absorbed at the target",
        &[C("n"), Mv("a", "n/a")],
        &[("a", "D"), ("n", "C")],
    ),
    case(
        "delete after a move",
        &[Mv("a", "b"), D("b")],
        &[("a", "D"), ("b", "D")],
    ),
    case(
        "backup-style save: rename away, write new, drop backup",
        &[Mv("f", "f~"), C("f"), M("f"), D("f~")],
        &[("f", "M"), ("f~", "D")],
    ),
    case(
        "a dir moved onto a created target keeps it created",
        &[C("t"), C("n"), C("n/f"), Mv("n", "t")],
        &[("t", "C")],
    ),
    case(
        "siblings with a common prefix are not below each other",
        &[M("ab"), M("a/x"), D("a")],
        &[("a", "D"), ("ab", "M")],
    ),
];

fn replay(ops: &[Op]) -> ChangeSet {
    let mut set = ChangeSet::new();
    for op in ops {
        match *op {
            C(p) => set.record(p, Change::Created),
            M(p) => set.record(p, Change::Modified),
            A(p) => set.record(p, Change::Attrib),
            D(p) => set.record(p, Change::Deleted),
            Mv(f, t) => set.record(t, Change::Moved { from: f.into() }),
        }
    }
    set
}

fn render(set: &ChangeSet) -> Vec<(String, String)> {
    set.iter()
        .map(|(p, c)| {
            let code = match c {
                Change::Created => "C".to_owned(),
                Change::Modified => "M".to_owned(),
                Change::Attrib => "A".to_owned(),
                Change::Deleted => "D".to_owned(),
                Change::Moved { from } => format!("<{}", from.display()),
            };
            (p.display().to_string(), code)
        })
        .collect()
}

fn check(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let got = render(&replay(case.ops));
        let want: Vec<(String, String)> = case
            .want
            .iter()
            .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
            .collect();
        if got != want {
            failures.push(format!("{}: got {got:?}, want {want:?}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn per_path_table() {
    check(PAIRS);
}

#[test]
fn tree_rules() {
    check(TREES);
}

#[test]
fn empty_set_api() {
    let set = ChangeSet::new();
    assert!(set.is_empty());
    assert_eq!(set.len(), 0);
    assert_eq!(set.get(Path::new("a")), None);
}
