//! Issue 12: the daemon never goes blind. After an overflow (and every other rescan) the
//! watch set equals the tree; coverage is visible in `status`; the other ways a watcher
//! loses part of the tree (folders moved in, out and back, a folder replaced by a
//! symlink, a watch dropped under a folder that still exists, the watch limit) each end
//! with a change in the affected folder becoming a version within `settle`.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::{settled, Daemon, QueueLimit, Recorded, QUEUE_FILE};
use crate::util::{tree_state, version_state, versions, wait_until, Env};

/// Wait (at most settle + a generous margin) for a new version after `before` that
/// dereferences to the source.
fn version_soon(d: &Daemon, env: &Env, before: usize, within: Duration, what: &str) {
    let job_dir = env.job_dir();
    let ok = wait_until(within, || {
        let v = versions(&job_dir);
        v.len() > before
            && version_state(&job_dir, v.last().expect("a version")) == tree_state(env.src.path())
    });
    assert!(
        ok,
        "{what}: no version of the source within {within:?} (versions {:?}, status {:?})\n{}",
        versions(&job_dir),
        d.job("docs"),
        d.log_text()
    );
}

/// The folders of the source (the root included), as the watcher should see them.
fn folders(root: &Path) -> usize {
    let mut n = 1;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir").flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                n += 1;
                stack.push(e.path());
            }
        }
    }
    n
}

/// The reproduction: `max_queued_events` 256, the daemon stopped while 5,000
/// files are written (half into an existing folder, half into ten new folders), then
/// continued. After the rescan version, every folder is watched and a file written into
/// `flood-9/` becomes a version within settle.
#[test]
fn daemon_overflow_watches_the_folders_made_meanwhile() {
    if !nix::unistd::geteuid().is_root() {
        crate::skip_test!("lowering {QUEUE_FILE} needs root");
    }
    let env = Env::with_extra("docs", "settle = \"1s\"\nmax_settle = \"10s\"\n");
    env.src.file("seed", "0").dir("many").dir("other");
    let Some(limit) = QueueLimit::lower(256) else {
        crate::skip_test!("{QUEUE_FILE} is not writable here");
    };
    let daemon = Daemon::start(&env.config(), env.outer.path());
    drop(limit);
    let mut rec = Recorded::default();
    settled(&daemon, "docs", env.src.path(), &env.job_dir(), &mut rec);
    daemon.signal(Signal::SIGSTOP);
    for i in 0..2500 {
        env.src.file(format!("many/f{i}"), format!("{i}"));
    }
    for i in 0..2500 {
        env.src
            .file(format!("flood-{}/f{i}", i / 250), format!("{i}"));
    }
    daemon.signal(Signal::SIGCONT);
    settled(&daemon, "docs", env.src.path(), &env.job_dir(), &mut rec);
    let journal = super::journal(&env.job_dir());
    assert!(journal.contains("\toverflow\t"), "no overflow:\n{journal}");
    let want = folders(env.src.path());
    assert_eq!(want, 13);
    let j = daemon.job("docs").expect("status");
    assert_eq!(j.watches, want, "folders watched after the overflow: {j:?}");
    let before = versions(&env.job_dir()).len();
    env.src.file("flood-9/after", "written after the overflow");
    version_soon(
        &daemon,
        &env,
        before,
        Duration::from_secs(8),
        "a file in flood-9 after the overflow",
    );
}
