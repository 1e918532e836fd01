//! The watcher on real temp trees: each test changes the tree and waits (with a timeout)
//! until the expected events have been drained.

use super::*;
use crate::change::ChangeSet;
use std::fs;
use std::io::Write;

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
    watcher: Watcher,
    seen: Vec<WatchEvent>,
}

fn fixture_with(filter: Filter, prepare: impl FnOnce(&Path)) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("src");
    let outside = tmp.path().join("outside");
    fs::create_dir(&root).unwrap();
    fs::create_dir(&outside).unwrap();
    prepare(&root);
    let watcher = Watcher::new(&root, filter).unwrap();
    Fixture {
        _tmp: tmp,
        root,
        outside,
        watcher,
        seen: Vec::new(),
    }
}

fn fixture() -> Fixture {
    fixture_with(Filter::default(), |_| {})
}

impl Fixture {
    /// Drain (and flush expired move waits) until `done` holds for everything seen, or
    /// fail after 5 s.
    fn wait_for(&mut self, what: &str, done: impl Fn(&[WatchEvent]) -> bool) {
        let limit = Instant::now() + Duration::from_secs(5);
        loop {
            let now = Instant::now();
            let mut batch = self.watcher.drain(now).unwrap();
            batch.extend(self.watcher.flush(now));
            self.seen.extend(batch);
            if done(&self.seen) {
                return;
            }
            assert!(
                now < limit,
                "timed out waiting for {what}; saw {:?}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn changes(&self) -> ChangeSet {
        let mut set = ChangeSet::new();
        for e in &self.seen {
            if let Some((p, c)) = e.to_change() {
                set.record(p, c);
            }
        }
        set
    }
}

fn created(p: &str, dir: bool) -> WatchEvent {
    WatchEvent::Created {
        path: p.into(),
        dir,
    }
}

fn deleted(p: &str, dir: bool) -> WatchEvent {
    WatchEvent::Deleted {
        path: p.into(),
        dir,
    }
}

fn moved_in(p: &str, dir: bool) -> WatchEvent {
    WatchEvent::MovedIn {
        path: p.into(),
        dir,
    }
}

#[test]
fn setup_watches_every_folder_but_excluded_and_ignored() {
    let filter = Filter {
        excludes: Excludes::new(&["skip"]).unwrap(),
        ignored: vec![PathBuf::from("vault")],
    };
    let f = fixture_with(filter, |root| {
        for d in ["a/b", "a/skip/x", "vault/j", "c"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
    });
    // "", a, a/b, c
    assert_eq!(f.watcher.watch_count(), 4);
    assert!(f.watcher.limit_error().is_none());
}

#[test]
fn mkdir_p_then_touch_is_not_missed() {
    let mut f = fixture();
    fs::create_dir_all(f.root.join("a/b/c")).unwrap();
    fs::write(f.root.join("a/b/c/f"), b"x").unwrap();
    f.wait_for("a/b/c/f", |e| {
        e.contains(&created("a", true))
            && e.iter().any(|x| {
                x.to_change()
                    .is_some_and(|(p, _)| p == Path::new("a/b/c/f"))
            })
    });
    assert_eq!(f.watcher.watch_count(), 4);
    // A later change deep inside is seen through the new watches.
    fs::write(f.root.join("a/b/c/g"), b"y").unwrap();
    f.wait_for("a/b/c/g", |e| e.contains(&created("a/b/c/g", false)));
    assert_eq!(render(&f.changes()), vec!["a C"]);
}

#[test]
fn modify_without_close_is_reported() {
    let mut f = fixture_with(Filter::default(), |root| {
        fs::write(root.join("f"), b"1").unwrap()
    });
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(f.root.join("f"))
        .unwrap();
    file.write_all(b"2").unwrap();
    f.wait_for("IN_MODIFY", |e| {
        e.contains(&WatchEvent::Modified { path: "f".into() })
    });
    drop(file);
}

#[test]
fn chmod_and_delete() {
    let mut f = fixture_with(Filter::default(), |root| {
        fs::write(root.join("f"), b"1").unwrap();
        fs::create_dir_all(root.join("d/e")).unwrap();
    });
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(f.root.join("f"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::remove_dir_all(f.root.join("d")).unwrap();
    f.wait_for("attrib and delete", |e| {
        e.contains(&WatchEvent::Attrib { path: "f".into() }) && e.contains(&deleted("d", true))
    });
    assert_eq!(f.watcher.watch_count(), 1);
    assert_eq!(render(&f.changes()), vec!["d D", "f A"]);
}

#[test]
fn rename_inside_keeps_watches_under_the_new_path() {
    let mut f = fixture_with(Filter::default(), |root| {
        fs::create_dir_all(root.join("d/sub")).unwrap();
    });
    fs::rename(f.root.join("d"), f.root.join("e")).unwrap();
    f.wait_for("the move", |e| {
        e.contains(&WatchEvent::Moved {
            from: "d".into(),
            to: "e".into(),
            dir: true,
        })
    });
    fs::write(f.root.join("e/sub/new"), b"n").unwrap();
    f.wait_for("a file under the new path", |e| {
        e.contains(&created("e/sub/new", false))
    });
    assert_eq!(render(&f.changes()), vec!["d D", "e <d", "e/sub/new C"]);
}

#[test]
fn moved_out_is_deleted_and_its_watches_dropped() {
    let mut f = fixture_with(Filter::default(), |root| {
        fs::create_dir_all(root.join("d/sub")).unwrap();
    });
    assert_eq!(f.watcher.watch_count(), 3);
    fs::rename(f.root.join("d"), f.outside.join("d")).unwrap();
    f.wait_for("the move out", |e| e.contains(&deleted("d", true)));
    assert_eq!(f.watcher.watch_count(), 1);
    // Changes in the moved-out folder are not reported.
    fs::write(f.outside.join("d/sub/x"), b"x").unwrap();
    fs::write(f.root.join("marker"), b"m").unwrap();
    f.wait_for("marker", |e| e.contains(&created("marker", false)));
    assert!(!f
        .seen
        .iter()
        .any(|e| matches!(e, WatchEvent::Created { path, .. } if path.ends_with("x"))));
}

#[test]
fn moved_in_from_outside_is_listed_whole() {
    let mut f = fixture();
    fs::create_dir_all(f.outside.join("m/n")).unwrap();
    fs::write(f.outside.join("m/n/file"), b"z").unwrap();
    fs::rename(f.outside.join("m"), f.root.join("m")).unwrap();
    f.wait_for("moved in", |e| {
        e.contains(&moved_in("m", true)) && e.contains(&created("m/n/file", false))
    });
    assert_eq!(f.watcher.watch_count(), 3);
}

#[test]
fn editor_save_ends_as_one_modified_file() {
    let mut f = fixture_with(Filter::default(), |root| {
        fs::write(root.join("doc.txt"), b"old").unwrap()
    });
    fs::write(f.root.join(".doc.txt.swp"), b"new").unwrap();
    fs::rename(f.root.join(".doc.txt.swp"), f.root.join("doc.txt")).unwrap();
    f.wait_for("the rename", |e| {
        e.iter().any(|x| matches!(x, WatchEvent::Moved { .. }))
    });
    assert_eq!(render(&f.changes()), vec!["doc.txt M"]);
}

#[test]
fn excluded_paths_report_nothing() {
    let filter = Filter {
        excludes: Excludes::new(&["*.tmp"]).unwrap(),
        ignored: vec![],
    };
    let mut f = fixture_with(filter, |_| {});
    fs::write(f.root.join("x.tmp"), b"1").unwrap();
    fs::rename(f.root.join("x.tmp"), f.root.join("kept")).unwrap();
    f.wait_for("kept", |e| e.contains(&moved_in("kept", false)));
    assert!(!f.seen.iter().any(|e| format!("{e:?}").contains("x.tmp")));
}

#[test]
fn the_watch_limit_is_a_named_error_and_stops_adding_watches() {
    let tmp = tempfile::tempdir().unwrap();
    for d in ["a/b", "c", "d"] {
        fs::create_dir_all(tmp.path().join(d)).unwrap();
    }
    let mut w = Watcher::with_budget(tmp.path(), Filter::default(), Some(3)).unwrap();
    assert_eq!(w.watch_count(), 3);
    let msg = w.limit_error().expect("limit hit").to_string();
    assert!(
        msg.contains("/proc/sys/fs/inotify/max_user_watches"),
        "{msg}"
    );
    assert!(msg.contains("periodic delta scans"), "{msg}");
    // A new folder is still reported (its content comes from the source), never watched.
    fs::create_dir(tmp.path().join("e")).unwrap();
    let limit = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    while !seen.contains(&created("e", true)) && Instant::now() < limit {
        seen.extend(w.drain(Instant::now()).unwrap());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(seen.contains(&created("e", true)), "{seen:?}");
    assert_eq!(w.watch_count(), 3);
}

fn render(set: &ChangeSet) -> Vec<String> {
    set.iter()
        .map(|(p, c)| {
            let code = match c {
                Change::Created => "C".to_owned(),
                Change::Modified => "M".to_owned(),
                Change::Attrib => "A".to_owned(),
                Change::Deleted => "D".to_owned(),
                Change::Moved { from } => format!("<{}", from.display()),
            };
            format!("{} {code}", p.display())
        })
        .collect()
}

/// Cost of adding watches through `/proc/self/fd/N` (what the watcher does) against plain
/// paths (`cargo test --lib add_watch_cost -- --ignored --nocapture`).
#[test]
#[ignore]
fn add_watch_cost() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = (0..5000)
        .map(|i| tmp.path().join(format!("d{}/e{i}", i / 100)))
        .collect();
    for d in &dirs {
        fs::create_dir_all(d).unwrap();
    }
    let t = Instant::now();
    let ino = Inotify::init().unwrap();
    for d in &dirs {
        ino.watches()
            .add(d, mask() | WatchMask::DONT_FOLLOW)
            .unwrap();
    }
    let plain = t.elapsed();
    drop(ino);
    let t = Instant::now();
    let ino = Inotify::init().unwrap();
    for d in &dirs {
        let dir = Dir::open(d).unwrap();
        ino.watches().add(proc_path(&dir), mask()).unwrap();
    }
    let via_fd = t.elapsed();
    let t = Instant::now();
    for d in &dirs {
        drop(Dir::open(d).unwrap());
    }
    let open_only = t.elapsed();
    eprintln!(
        "plain paths {plain:?}, via /proc/self/fd {via_fd:?} (of which open+close {open_only:?})"
    );
}

/// With the watch limit, the walk still counts every folder: coverage names what is missed.
#[test]
fn the_walk_counts_the_folders_it_could_not_watch() {
    let tmp = tempfile::tempdir().unwrap();
    for d in ["a/b", "c", "d"] {
        fs::create_dir_all(tmp.path().join(d)).unwrap();
    }
    let w = Watcher::with_budget(tmp.path(), Filter::default(), Some(3)).unwrap();
    let walked = w.walked();
    assert_eq!(w.watch_count(), 3);
    assert!(walked.unwatched >= 1, "{walked:?}");
    assert!(walked.folders > w.watch_count(), "{walked:?}");
}

/// Events lost (never drained, as after an overflow): a resync makes the watch set the
/// tree again, new folders watched (deep ones too) and the watches of removed or
/// moved-out folders dropped, and what the last walk found is reported.
#[test]
fn resync_watches_every_folder_and_drops_gone_ones() {
    let mut f = fixture_with(Filter::default(), |root| {
        fs::create_dir_all(root.join("old/inner")).unwrap();
        fs::create_dir(root.join("leaving")).unwrap();
    });
    assert_eq!(f.watcher.watch_count(), 4);
    fs::create_dir_all(f.root.join("new/a/b/c")).unwrap();
    fs::remove_dir_all(f.root.join("old")).unwrap();
    fs::rename(f.root.join("leaving"), f.outside.join("leaving")).unwrap();
    // Nothing drained: the watcher's map still shows the old tree.
    let events = f.watcher.resync().unwrap();
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(
        f.watcher.watch_count(),
        5,
        "root, new, new/a, new/a/b, new/a/b/c"
    );
    assert_eq!(
        f.watcher.walked(),
        Walked {
            folders: 5,
            unwatched: 0
        }
    );
    // The new deep folder is really watched: a file there is seen.
    f.watcher.drain(Instant::now()).unwrap();
    f.seen.clear();
    fs::write(f.root.join("new/a/b/c/file"), "x").unwrap();
    f.wait_for("the file in the resynced folder", |seen| {
        seen.iter().any(|e| {
            matches!(e, WatchEvent::Created { path, .. } if path == Path::new("new/a/b/c/file"))
        })
    });
}

/// Every folder of the tree gets a file; each must be reported under its own path.
fn every_folder_reports_a_new_file(f: &mut Fixture, folders: &[&str]) {
    f.watcher.drain(Instant::now()).unwrap();
    f.seen.clear();
    for d in folders {
        fs::write(f.root.join(d).join("probe"), "p").unwrap();
    }
    let want: Vec<PathBuf> = folders.iter().map(|d| Path::new(d).join("probe")).collect();
    f.wait_for("a probe in every folder", |seen| {
        want.iter().all(|w| {
            seen.iter()
                .any(|e| matches!(e, WatchEvent::Created { path, .. } if path == w))
        })
    });
}

/// Found by the soak: the events of `mkdir a; mv a b; mkdir a` are read after all three
/// happened, so the watch added for the first `CREATE a` lands on the *new* `a`; the move
/// then renamed that watch to `b`, and the second `CREATE a` took it back: `b` (the first
/// `a`) was never watched.
#[test]
fn a_folder_renamed_and_made_again_before_the_drain_keeps_both_watched() {
    let mut f = fixture();
    fs::create_dir(f.root.join("a")).unwrap();
    fs::rename(f.root.join("a"), f.root.join("b")).unwrap();
    fs::create_dir(f.root.join("a")).unwrap();
    f.wait_for("both folders", |seen| {
        seen.contains(&created("a", true))
            && seen
                .iter()
                .any(|e| matches!(e, WatchEvent::Moved { to, .. } if to == Path::new("b")))
    });
    assert_eq!(f.watcher.watch_count(), 3);
    every_folder_reports_a_new_file(&mut f, &["a", "b"]);
}

/// `mkdir a/x; mv a b` before the drain: `CREATE a` finds nothing at `a`, and the move has
/// no watch to rename; the moved folder is watched (and listed) when its move is read.
#[test]
fn a_folder_made_and_renamed_before_the_drain_is_watched() {
    let mut f = fixture();
    fs::create_dir_all(f.root.join("a/x")).unwrap();
    fs::rename(f.root.join("a"), f.root.join("b")).unwrap();
    f.wait_for("the move", |seen| {
        seen.iter()
            .any(|e| matches!(e, WatchEvent::Moved { to, .. } if to == Path::new("b")))
            && seen.contains(&created("b/x", true))
    });
    assert_eq!(f.watcher.watch_count(), 3);
    every_folder_reports_a_new_file(&mut f, &["b", "b/x"]);
}

/// The folders below `root` (relative, the root as ""), sorted.
fn folders_of(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![PathBuf::new()];
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in fs::read_dir(root.join(&rel)).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                let child = rel.join(e.file_name());
                out.push(child.clone());
                stack.push(child);
            }
        }
    }
    out.sort();
    out
}

/// A small seeded fuzz of folder operations (mkdir -p, rename, rm -r, made again at an old
/// path) with drains at random points between them, as the daemon reads events while a
/// burst goes on. After the last drain the watched paths must be the folders, and a file
/// made in each folder must be reported under that folder's path (no watch under a wrong
/// path). Soak findings are of this kind; each seed is a few dozen operations.
#[test]
fn folder_operations_with_drains_between_keep_the_watch_map_true() {
    for seed in 1..=30u64 {
        let mut f = fixture();
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut next = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        let mut log = Vec::new();
        for op in 0..40 {
            let dirs = folders_of(&f.root);
            let d = dirs[next(dirs.len())].clone();
            let other = dirs[next(dirs.len())].clone();
            let name = format!("n{}", next(4));
            let kind = next(5);
            let r = match kind {
                0 | 1 => {
                    fs::create_dir_all(f.root.join(&d).join(&name).join(format!("m{}", next(2))))
                }
                2 if !d.as_os_str().is_empty() && !other.starts_with(&d) => {
                    fs::rename(f.root.join(&d), f.root.join(&other).join(&name))
                }
                3 if !d.as_os_str().is_empty() => fs::remove_dir_all(f.root.join(&d)),
                _ => fs::create_dir(f.root.join(&d).join(&name)),
            };
            let what = ["mkdir -p", "mkdir -p", "mv", "rm -r", "mkdir"][kind];
            log.push(format!("{op}: {what} {d:?} {other:?} {name} {}", r.is_ok()));
            if next(3) == 0 {
                f.watcher.drain(Instant::now()).unwrap();
                log.push("drain".into());
            }
        }
        std::thread::sleep(Duration::from_millis(30));
        let mut lost = false;
        for _ in 0..3 {
            let now = Instant::now();
            let mut batch = f.watcher.drain(now).unwrap();
            batch.extend(f.watcher.flush(now + MOVE_WAIT));
            lost |= batch.contains(&WatchEvent::LostTrack);
        }
        if lost {
            // The daemon resyncs then (and scans): so does the test.
            f.watcher.resync().unwrap();
        }
        let want = folders_of(&f.root);
        let got = f.watcher.tree.paths();
        let missing: Vec<_> = want.iter().filter(|p| !got.contains(p)).collect();
        let extra: Vec<_> = got.iter().filter(|p| !want.contains(p)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "seed {seed} (lost track: {lost}): unwatched {missing:?}, watched but gone \
             {extra:?}\n{}",
            log.join("\n")
        );
        let names: Vec<String> = want.iter().map(|p| p.display().to_string()).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        every_folder_reports_a_new_file(&mut f, &names);
    }
}
