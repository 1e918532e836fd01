//! Property: random sequences of changes (files written deep inside linked subtrees, moved
//! directories, deleted subtrees, type changes, chmod), a snapshot after each, interleaved
//! with retires of the oldest versions and of versions anywhere in the history; after
//! every retire every remaining version dereferences exactly as it did when it was
//! committed, `verify` passes and the index total equals a recount. Versions are made at
//! random times (the thread clock), and thinning under random `keep` tiers leaves exactly
//! the versions a plain reference implementation of the rules keeps.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, FixedOffset};
use proptest::prelude::*;
use reverberator::config::KeepRules;
use reverberator::vault::layout::{set_thread_clock, VersionName};

use super::harness::Job;
use reverberator::vault::retire;

#[derive(Debug, Clone)]
enum Op {
    Write {
        at: usize,
        name: u8,
        content: u8,
    },
    Mkdir {
        at: usize,
        name: u8,
        depth: u8,
    },
    Delete {
        at: usize,
    },
    MoveDir {
        at: usize,
        into: usize,
        name: u8,
    },
    TypeChange {
        at: usize,
    },
    Chmod {
        at: usize,
    },
    Retire {
        keep: u8,
    },
    RetireAt {
        at: usize,
    },
    /// Move the clock on by this many minutes.
    Wait {
        minutes: u32,
    },
    /// Enforce `keep_versions = last` and these tiers (within in hours, then the counts).
    Thin {
        last: u8,
        within: Option<u8>,
        counts: [u8; 5],
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<usize>(), 0u8..4, any::<u8>()).prop_map(|(at, name, content)| Op::Write { at, name, content }),
        1 => (any::<usize>(), 0u8..4, 1u8..4).prop_map(|(at, name, depth)| Op::Mkdir { at, name, depth }),
        1 => any::<usize>().prop_map(|at| Op::Delete { at }),
        2 => (any::<usize>(), any::<usize>(), 0u8..4).prop_map(|(at, into, name)| Op::MoveDir { at, into, name }),
        1 => any::<usize>().prop_map(|at| Op::TypeChange { at }),
        1 => any::<usize>().prop_map(|at| Op::Chmod { at }),
        2 => (1u8..4).prop_map(|keep| Op::Retire { keep }),
        3 => any::<usize>().prop_map(|at| Op::RetireAt { at }),
        3 => (0u32..6000).prop_map(|minutes| Op::Wait { minutes }),
        2 => (1u8..3, proptest::option::of(1u8..48), proptest::array::uniform5(0u8..4))
            .prop_map(|(last, within, counts)| Op::Thin { last, within, counts }),
    ]
}

/// Every path under `root` (relative, sorted), directories and others separately.
fn listing(root: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut dirs, mut files) = (vec![PathBuf::new()], Vec::new());
    let mut i = 0;
    while i < dirs.len() {
        let dir = dirs[i].clone();
        let mut names: Vec<_> = std::fs::read_dir(root.join(&dir))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            let rel = dir.join(n);
            if std::fs::symlink_metadata(root.join(&rel)).unwrap().is_dir() {
                dirs.push(rel);
            } else {
                files.push(rel);
            }
        }
        i += 1;
    }
    (dirs, files)
}

fn pick(v: &[PathBuf], at: usize) -> Option<&PathBuf> {
    (!v.is_empty()).then(|| &v[at % v.len()])
}

fn initial(job: &Job) {
    for a in 0..3 {
        for b in 0..2 {
            let d = format!("d{a}/s{b}/t");
            job.src
                .dir(&d)
                .file(format!("{d}/f"), format!("{a}{b}"))
                .file(format!("d{a}/s{b}/g"), "g");
        }
    }
    job.src.symlink("d0/link", "nowhere").dir("empty");
}

/// Apply one change to the source and snapshot it; false when it did not apply.
fn change(job: &mut Job, op: &Op) -> bool {
    let root = job.src.path().to_path_buf();
    let (dirs, files) = listing(&root);
    let subdirs: Vec<PathBuf> = dirs[1..].to_vec();
    let all: Vec<PathBuf> = subdirs.iter().chain(&files).cloned().collect();
    match *op {
        Op::Write { at, name, content } => {
            let d = pick(&dirs, at).unwrap();
            let f = d.join(format!("w{name}"));
            if root.join(&f).is_dir() {
                return false;
            }
            job.src.file(&f, vec![content; 1 + content as usize * 37]);
        }
        Op::Mkdir { at, name, depth } => {
            let mut d = pick(&dirs, at).unwrap().join(format!("m{name}"));
            for i in 1..depth {
                d.push(format!("n{i}"));
            }
            if std::fs::symlink_metadata(root.join(&d)).is_ok() || !job.src_is_dir_chain(&d) {
                return false;
            }
            job.src.dir(&d).file(d.join("leaf"), "leaf");
        }
        Op::Delete { at } => match pick(&all, at) {
            Some(p) => {
                job.src.remove(p);
            }
            None => return false,
        },
        Op::MoveDir { at, into, name } => {
            let (Some(from), Some(into)) = (pick(&subdirs, at), pick(&dirs, into)) else {
                return false;
            };
            let to = into.join(format!("mv{name}"));
            if into.starts_with(from) || std::fs::symlink_metadata(root.join(&to)).is_ok() {
                return false;
            }
            let (from, to) = (
                from.to_str().unwrap().to_owned(),
                to.to_str().unwrap().to_owned(),
            );
            return job.snap_move(&from, &to).is_some();
        }
        Op::TypeChange { at } => {
            let Some(p) = pick(&all, at).cloned() else {
                return false;
            };
            let was_dir = root.join(&p).is_dir()
                && !std::fs::symlink_metadata(root.join(&p))
                    .unwrap()
                    .is_symlink();
            job.src.remove(&p);
            if was_dir {
                job.src.file(&p, "was a dir");
            } else {
                job.src.dir(&p).file(p.join("inner"), "was a file");
            }
        }
        Op::Chmod { at } => {
            let Some(p) = pick(&files, at) else {
                return false;
            };
            if std::fs::symlink_metadata(root.join(p))
                .unwrap()
                .is_symlink()
            {
                return false;
            }
            job.src.chmod(p, 0o600);
        }
        Op::Retire { .. } | Op::RetireAt { .. } | Op::Wait { .. } | Op::Thin { .. } => {
            return false
        }
    }
    job.snap().is_some()
}

impl Job {
    fn src_is_dir_chain(&self, d: &Path) -> bool {
        d.ancestors().skip(1).all(|a| {
            std::fs::symlink_metadata(self.src.path().join(a))
                .map(|m| m.is_dir())
                .unwrap_or(true)
        })
    }
}

fn rules(within: Option<u8>, c: [u8; 5]) -> KeepRules {
    KeepRules {
        within: within.map(|h| std::time::Duration::from_secs(u64::from(h) * 3600)),
        hourly: c[0].into(),
        daily: c[1].into(),
        weekly: c[2].into(),
        monthly: c[3].into(),
        yearly: c[4].into(),
    }
}

/// A plain reference of the rules (restic's `forget`): walking newest first, a tier keeps
/// each version whose bucket differs from the one before it, `count` of them, and the
/// oldest version when counts are left; `last` keeps the newest ones, `within` those after
/// the newest time minus it. Returns the versions some rule keeps.
fn reference_keeps(versions: &[VersionName], last: u32, r: &KeepRules) -> Vec<u64> {
    let mut newest_first = versions.to_vec();
    newest_first.sort_by_key(|v| std::cmp::Reverse(v.number));
    let n = newest_first.len();
    let mut kept = vec![false; n];
    for k in kept.iter_mut().take(last.max(1) as usize) {
        *k = true;
    }
    let max_t = newest_first
        .iter()
        .map(|v| v.time.timestamp())
        .max()
        .unwrap_or(0);
    if let Some(w) = r.within {
        for (i, v) in newest_first.iter().enumerate() {
            kept[i] |= v.time.timestamp() > max_t - w.as_secs() as i64;
        }
    }
    let tiers: [(&str, u32); 5] = [
        ("%Y-%m-%d %H", r.hourly),
        ("%Y-%m-%d", r.daily),
        ("%G-W%V", r.weekly),
        ("%Y-%m", r.monthly),
        ("%Y", r.yearly),
    ];
    for (format, count) in tiers {
        let key = |t: &DateTime<FixedOffset>| t.format(format).to_string();
        let mut left = count;
        for i in 0..n {
            if left == 0 {
                break;
            }
            if i == 0 || key(&newest_first[i].time) != key(&newest_first[i - 1].time) {
                kept[i] = true;
                left -= 1;
            } else if i == n - 1 {
                kept[i] = true; // the oldest, while the tier has counts left
            }
        }
    }
    let mut out: Vec<u64> = newest_first
        .iter()
        .zip(kept)
        .filter(|(_, k)| *k)
        .map(|(v, _)| v.number)
        .collect();
    out.sort();
    out
}

/// What repeated enforcement keeps: the reference applied until nothing more goes.
fn reference_fixpoint(mut versions: Vec<VersionName>, last: u32, r: &KeepRules) -> Vec<u64> {
    loop {
        let keep = reference_keeps(&versions, last, r);
        if keep.len() == versions.len() {
            return keep;
        }
        versions.retain(|v| keep.contains(&v.number));
    }
}

impl Job {
    fn version_names(&self) -> Vec<VersionName> {
        self.names().iter().map(|n| n.parse().unwrap()).collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 40, ..ProptestConfig::default() })]

    #[test]
    fn every_remaining_version_survives_random_retires(ops in proptest::collection::vec(op(), 6..24)) {
        let mut job = Job::new();
        let mut clock: DateTime<FixedOffset> =
            DateTime::parse_from_rfc3339("2026-03-28T22:00:00+01:00").unwrap();
        set_thread_clock(Some(clock));
        initial(&job);
        job.snap();
        for op in &ops {
            match op {
                Op::Wait { minutes } => {
                    clock += Duration::minutes(i64::from(*minutes));
                    set_thread_clock(Some(clock));
                }
                Op::Thin { last, within, counts } => {
                    let r = rules(*within, *counts);
                    let want = reference_fixpoint(job.version_names(), u32::from(*last), &r);
                    let mut config = job.config.clone();
                    config.settings.keep_versions = u32::from(*last);
                    config.settings.keep = r;
                    retire::enforce(&config).expect("thin");
                    job.forget_gone();
                    let got: Vec<u64> = job.version_names().iter().map(|v| v.number).collect();
                    prop_assert_eq!(got, want, "{:?}", r);
                    job.check();
                    job.check_totals();
                }
                Op::Retire { keep } => {
                    job.retire_keep(u32::from(*keep));
                    job.check();
                    job.check_totals();
                }
                Op::RetireAt { at } => {
                    job.retire_at(*at);
                    job.check();
                    job.check_totals();
                }
                _ => {
                    change(&mut job, op);
                }
            }
        }
        job.retire_keep(1);
        job.check();
        job.check_totals();
        set_thread_clock(None);
    }
}
