//! Seeded random change series: restore and diff against the recorded source trees.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use reverberator::vault::layout::JobFolder;
use reverberator::vault::read::{self, RestoreRequest, Which};
use reverberator::vault::snapshot::SnapshotOutcome;
use reverberator::writer::snapshot_with_scan;

use crate::util::{self, assert_same_state, tree_state, TreeState};

/// xorshift64*: a small deterministic generator, so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[(self.next() % items.len() as u64) as usize])
    }
}

/// Files and folders below `root` (relative), folders first in each list.
fn contents(root: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(root.join(&rel)).unwrap() {
            let e = e.unwrap();
            let path = rel.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                dirs.push(path.clone());
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    dirs.sort();
    (files, dirs)
}

/// One random change to the source tree.
fn change(root: &Path, rng: &mut Rng, step: usize) {
    let (files, dirs) = contents(root);
    let mut parents = dirs.clone();
    parents.push(PathBuf::new());
    let parent = rng.pick(&parents).cloned().unwrap_or_default();
    let fresh = parent.join(format!("n{step}"));
    match rng.next() % 8 {
        0 => std::fs::write(root.join(&fresh), format!("new {step}")).unwrap(),
        1 => match rng.pick(&files) {
            Some(f) => std::fs::write(root.join(f), format!("changed {step}")).unwrap(),
            None => std::fs::write(root.join(&fresh), "first").unwrap(),
        },
        2 => {
            if let Some(f) = rng.pick(&files) {
                std::fs::remove_file(root.join(f)).unwrap();
            }
        }
        3 => {
            // Move a folder (not into itself).
            if let Some(d) = rng.pick(&dirs) {
                if !fresh.starts_with(d) {
                    std::fs::rename(root.join(d), root.join(&fresh)).unwrap();
                }
            }
        }
        4 => {
            std::fs::create_dir_all(root.join(&fresh).join("x/y")).unwrap();
            std::fs::write(root.join(&fresh).join("x/y/f"), "deep").unwrap();
        }
        5 => {
            if let Some(f) = rng.pick(&files) {
                let mode = 0o600 + (rng.next() % 2) as u32 * 0o44;
                std::fs::set_permissions(root.join(f), PermissionsExt::from_mode(mode)).unwrap();
            }
        }
        6 => {
            // A file replaced by a folder of the same name.
            if let Some(f) = rng.pick(&files) {
                std::fs::remove_file(root.join(f)).unwrap();
                std::fs::create_dir(root.join(f)).unwrap();
                std::fs::write(root.join(f).join("inside"), "was a file").unwrap();
            }
        }
        _ => {
            if let Some(d) = rng.pick(&dirs) {
                std::fs::remove_dir_all(root.join(d)).unwrap();
            }
        }
    }
}

fn run_seed(seed: u64) {
    let env = util::Env::new("rand");
    let src = env.src.path().to_path_buf();
    for d in ["a/b", "a/c", "d"] {
        std::fs::create_dir_all(src.join(d)).unwrap();
    }
    for f in ["a/f", "a/b/g", "a/c/h", "d/i", "top"] {
        std::fs::write(src.join(f), f).unwrap();
    }
    let mut rng = Rng(seed);
    let mut recorded: BTreeMap<u64, TreeState> = BTreeMap::new();
    for step in 0..10 {
        if step > 0 {
            change(&src, &mut rng, step);
            change(&src, &mut rng, step + 100);
        }
        if let SnapshotOutcome::Committed(v) = snapshot_with_scan(&env.job_config()).unwrap() {
            recorded.insert(v.name.number, tree_state(&src));
        }
    }
    assert!(
        recorded.len() >= 6,
        "seed {seed}: only {} versions",
        recorded.len()
    );
    let folder = JobFolder::open(&env.job_dir()).unwrap();
    assert_eq!(read::verify(&folder), [], "seed {seed}");
    for (&n, want) in &recorded {
        let to = env.outer.path().join(format!("r{n}"));
        let req = RestoreRequest {
            path: ".".into(),
            which: Which::Number(n),
            to: to.clone(),
            overwrite: false,
        };
        let plan = read::plan_restore(&folder, &req).unwrap();
        let report = plan.apply(&mut |_, _| {}).unwrap();
        assert!(report.errors.is_empty(), "seed {seed}: {:?}", report.errors);
        assert_same_state(
            &format!("seed {seed}: restore of V{n}"),
            &tree_state(&to),
            want,
        );
    }
    for (&a, sa) in &recorded {
        for (&b, sb) in &recorded {
            let got: String = read::diff(&folder, a, b)
                .unwrap()
                .iter()
                .map(|l| format!("{l}\n"))
                .collect();
            assert_eq!(
                got,
                super::real::expected_diff(sa, sb),
                "seed {seed}: diff {a} {b}"
            );
        }
    }
}

#[test]
fn random_changes_restore_and_diff_exactly() {
    for seed in [0x9e37_79b9_7f4a_7c15, 42, 7, 0xdead_beef] {
        run_seed(seed);
    }
}
