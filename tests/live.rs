//! A daemon run as a real process for the soak and one-writer tests: start, status, signals,
//! stop, and what the kernel says about it (RSS from `/proc/PID/status`, watches from the
//! `inotify wd:` lines of its inotify fd's `/proc/PID/fdinfo`). Also the one-writer tests:
//! with a daemon running, a version committed by another writer is never committed again.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use reverberator::daemon::status::{fetch, socket_path, JobStatus, StatusReport};

use crate::util::{bin, tree_state, version_state, versions, wait_until, Env, TreeState};

/// A running daemon; SIGTERM (then SIGKILL) on drop, its log printed if the test failed.
pub struct Live {
    child: Option<Child>,
    config: PathBuf,
    log: PathBuf,
}

impl Live {
    /// Start `reverberator run` on `config` (log in `log_dir`) and wait for its first answer.
    pub fn start(config: &Path, log_dir: &Path) -> Live {
        let log = log_dir.join("daemon.log");
        let out = File::create(&log).expect("log file");
        let child = bin()
            .arg("--config")
            .arg(config)
            .arg("run")
            .env_remove("REVERBERATOR_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("spawn daemon");
        let d = Live {
            child: Some(child),
            config: config.to_path_buf(),
            log,
        };
        assert!(
            wait_until(Duration::from_secs(30), || d.status().is_some()),
            "the daemon never answered\n{}",
            d.log_text()
        );
        d
    }

    /// Its process id.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().expect("running").id() as i32)
    }

    /// Its status report, if it answers.
    pub fn status(&self) -> Option<StatusReport> {
        let socket = socket_path(&self.config).ok()?;
        fetch(&socket, &self.config).ok()
    }

    /// The status of job `name`.
    pub fn job(&self, name: &str) -> Option<JobStatus> {
        self.status()?.jobs.into_iter().find(|j| j.name == name)
    }

    /// Send `sig`.
    pub fn signal(&self, sig: Signal) {
        kill(self.pid(), sig).expect("kill");
    }

    /// SIGTERM and wait for the exit; returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGCONT);
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            if let Ok(Some(st)) = child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// What it logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Resident set size in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        let text =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Watches held by its inotify fds (one `inotify wd:` line each in fdinfo).
    pub fn kernel_watches(&self) -> usize {
        let fds = format!("/proc/{}/fd", self.pid());
        let Ok(entries) = std::fs::read_dir(&fds) else {
            return 0;
        };
        let mut n = 0;
        for e in entries.flatten() {
            let is_inotify =
                std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().contains("inotify"));
            if !is_inotify {
                continue;
            }
            let info = format!(
                "/proc/{}/fdinfo/{}",
                self.pid(),
                e.file_name().to_string_lossy()
            );
            let text = std::fs::read_to_string(info).unwrap_or_default();
            n += text
                .lines()
                .filter(|l| l.starts_with("inotify wd:"))
                .count();
        }
        n
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            let log = self.log_text();
            let tail: Vec<&str> = log.lines().rev().take(200).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            eprintln!("---- daemon log (last 200 lines) ----\n{}", tail.join("\n"));
        }
    }
}

/// `state` without its hard-link groups. Which names share an inode is not versioned once
/// a tree is in the vault (the delta scan does not compare it, by design: see `scan`'s
/// module docs), so a hard link made later is two inodes in the version.
pub fn unlinked(mut state: TreeState) -> TreeState {
    for e in state.values_mut() {
        e.link_group = None;
    }
    state
}

/// Wait until job `job` is `watching` with nothing pending and its newest version (the one
/// status names) dereferences to `src` (hard-link groups aside, see [`unlinked`]); returns
/// that version's name.
pub fn quiet(d: &Live, job: &str, src: &Path, job_dir: &Path, timeout: Duration) -> Option<String> {
    let mut newest = None;
    let want = unlinked(tree_state(src));
    let ok = wait_until(timeout, || {
        let Some(j) = d.job(job) else { return false };
        let on_disk = versions(job_dir);
        let Some(last) = on_disk.last() else {
            return false;
        };
        if j.state != "watching" || j.pending != 0 || j.newest.as_deref() != Some(last.as_str()) {
            return false;
        }
        newest = Some(last.clone());
        unlinked(version_state(job_dir, last)) == want
    });
    ok.then_some(newest).flatten()
}

/// Start the daemon on `env` (job `docs`) and wait for its first version.
fn watched(env: &Env) -> Live {
    let d = Live::start(&env.config(), env.outer.path());
    let v0 = quiet(
        &d,
        "docs",
        env.src.path(),
        &env.job_dir(),
        Duration::from_secs(30),
    );
    assert!(v0.is_some(), "no first version\n{}", d.log_text());
    d
}

/// Wait until job `docs` has a pending change.
fn seen(d: &Live) {
    assert!(
        wait_until(Duration::from_secs(30), || d
            .job("docs")
            .is_some_and(|j| j.pending > 0)),
        "the daemon never saw the change"
    );
}

fn index_changes(job_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(job_dir.join("index.tsv"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Item 5 of issue 12: an edit, then a commit by another writer (the library's one-shot
/// snapshot, as a `reverberator snapshot` that does not go through the daemon), then the
/// daemon's settle: the daemon must not commit a second version identical to the first
/// (`diff 3 4` empty, the file copied again, "changes 1"). Failed before the fix: the
/// daemon committed V2 for the edit V1 already held.
#[test]
fn daemon_does_not_commit_again_what_another_writer_committed() {
    let env = Env::with_extra("docs", "settle = \"1500ms\"\nmax_settle = \"20s\"\n");
    env.src.file("doc.txt", "v0").file("keep/f", "unchanged");
    let d = watched(&env);
    let long = Duration::from_secs(30);
    env.src.file("doc.txt", "v1: edited while the daemon runs");
    seen(&d);
    let job = env.job_config();
    let other = reverberator::writer::snapshot_with_scan(&job).expect("other writer");
    assert!(
        matches!(
            other,
            reverberator::vault::snapshot::SnapshotOutcome::Committed(_)
        ),
        "the other writer committed nothing: {other:?}"
    );
    let newest = quiet(&d, "docs", env.src.path(), &env.job_dir(), long).expect("quiet");
    let on_disk = versions(&env.job_dir());
    assert_eq!(
        on_disk.len(),
        2,
        "the daemon committed the edit again: {on_disk:?}\nindex:\n{}\n{}",
        index_changes(&env.job_dir()).join("\n"),
        d.log_text()
    );
    assert!(newest.starts_with("V1--"), "{newest}");
    assert!(
        d.log_text().contains("another writer committed"),
        "{}",
        d.log_text()
    );
    // The daemon goes on from the other writer's version.
    env.src.file("doc.txt", "v2: after the other writer");
    let v2 = quiet(&d, "docs", env.src.path(), &env.job_dir(), long).expect("v2");
    assert!(v2.starts_with("V2--"), "{v2}");
}

/// A ChangeSet that changed back after another writer's commit: `a -> b`, another writer
/// commits (it holds `b`), `b -> a`. The daemon's ChangeSet (against V0) coalesced to
/// nothing at `a` and `b: Deleted`, so a filter that checked only the ChangeSet's paths
/// against V1 would not see `a`; the delta scan that replaces it does. (Without the rebase
/// this case also passes: the builder lists the source for a changed folder.)
#[test]
fn daemon_rebases_a_changeset_that_changed_back_after_another_commit() {
    let env = Env::with_extra("docs", "settle = \"1500ms\"\nmax_settle = \"20s\"\n");
    env.src.file("a", "the file").file("other", "x");
    let d = watched(&env);
    let long = Duration::from_secs(30);
    env.src.rename("a", "b");
    seen(&d);
    reverberator::writer::snapshot_with_scan(&env.job_config()).expect("other writer");
    env.src.rename("b", "a");
    let newest = quiet(&d, "docs", env.src.path(), &env.job_dir(), long);
    assert!(
        newest.is_some(),
        "the newest version is not the source: {:?}\n{}",
        versions(&env.job_dir()),
        d.log_text()
    );
    let newest = newest.expect("checked");
    assert!(newest.starts_with("V2--"), "{newest}");
}

/// Item 5 of issue 12 as a user meets it: with the daemon running, an edit and then
/// `reverberator snapshot`. The command asks the daemon, prints the version the daemon
/// committed, and the daemon commits nothing more for the same edit (before: the command
/// committed V1 itself and the daemon then committed V2, identical). Unknown or halted
/// jobs are answered too; a second `snapshot` with nothing changed is `unchanged`.
#[test]
fn snapshot_with_a_daemon_running_asks_the_daemon() {
    let env = Env::with_extra("docs", "settle = \"2s\"\nmax_settle = \"20s\"\n");
    env.src.file("doc.txt", "v0");
    let d = watched(&env);
    let long = Duration::from_secs(30);
    env.src.file("doc.txt", "v1: edited, then `snapshot`");
    let out = env.run(&["snapshot"]);
    let (stdout, stderr) = (crate::util::stdout(&out), crate::util::stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("V1--"), "{stdout}{stderr}");
    assert!(stderr.contains("committed by the daemon"), "{stderr}");
    assert_eq!(
        version_state(&env.job_dir(), stdout.trim()),
        tree_state(env.src.path())
    );
    // Past the daemon's settle: nothing more is committed for the same edit.
    assert!(
        !wait_until(Duration::from_secs(4), || versions(&env.job_dir()).len()
            > 2),
        "the daemon committed the edit again: {:?}\n{}",
        versions(&env.job_dir()),
        d.log_text()
    );
    quiet(&d, "docs", env.src.path(), &env.job_dir(), long).expect("quiet");
    let again = env.run(&["snapshot", "docs"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(crate::util::stdout(&again).is_empty());
    assert!(crate::util::stderr(&again).contains("docs: unchanged"));
    let journal = std::fs::read_to_string(env.job_dir().join("journal.tsv")).unwrap_or_default();
    assert!(journal.contains("requested scan"), "{journal}");
}

/// Found by the soak test: inotify reports a write through one name of a multiply-linked
/// file for that name's folder only, so the version kept the old bytes under the other
/// name (`ln a d/b`, then `echo >> a`: `d/b` stale). A ChangeSet touching such a file is
/// now replaced by a delta scan. Failed before: the newest version never equalled the
/// source.
#[test]
fn daemon_sees_a_write_through_another_name_of_a_hard_link() {
    let env = Env::with_extra("docs", "settle = \"300ms\"\nmax_settle = \"20s\"\n");
    env.src.file("a", "one\n").dir("d");
    let d = watched(&env);
    let long = Duration::from_secs(10);
    env.src.hard_link("a", "d/b");
    quiet(&d, "docs", env.src.path(), &env.job_dir(), long).expect("the link");
    env.src.append("a", "two\n");
    let newest = quiet(&d, "docs", env.src.path(), &env.job_dir(), long);
    assert!(
        newest.is_some(),
        "the write through `a` did not reach `d/b`: {:?}\n{}",
        versions(&env.job_dir()),
        d.log_text()
    );
    env.src.append("d/b", "three\n");
    let newest = quiet(&d, "docs", env.src.path(), &env.job_dir(), long);
    assert!(
        newest.is_some(),
        "the write through `d/b` did not reach `a`"
    );
    // In one burst: a new folder, a link in it, a write through the link (the ChangeSet
    // records only the folder).
    env.src
        .dir("n")
        .hard_link("a", "n/c")
        .append("n/c", "four\n");
    let newest = quiet(&d, "docs", env.src.path(), &env.job_dir(), long);
    assert!(
        newest.is_some(),
        "the write through `n/c` did not reach `a`"
    );
}

/// Found by the soak: a write through the second name of a hard link, and that name
/// removed in the same burst (its folder `rm -r`'d, or the name itself deleted or renamed
/// over): the ChangeSet only says the name is gone, so nothing pointed the snapshot at the
/// other name, whose bytes changed. The settled burst is now committed from a delta scan.
#[test]
fn daemon_sees_a_write_through_a_hard_link_removed_in_the_same_burst() {
    let env = Env::with_extra("docs", "settle = \"300ms\"\nmax_settle = \"20s\"\n");
    env.src.file("a", "one\n").file("x", "x\n").dir("d");
    let d = watched(&env);
    let long = Duration::from_secs(10);
    env.src.hard_link("a", "d/b");
    quiet(&d, "docs", env.src.path(), &env.job_dir(), long).expect("the link");
    env.src.append("d/b", "two\n");
    std::fs::remove_dir_all(env.src.path().join("d")).expect("rm -r d");
    let newest = quiet(&d, "docs", env.src.path(), &env.job_dir(), long);
    assert!(
        newest.is_some(),
        "the write through d/b (then removed) did not reach `a`: {:?}\n{}",
        versions(&env.job_dir()),
        d.log_text()
    );
    // The name renamed over instead.
    env.src.hard_link("a", "c");
    quiet(&d, "docs", env.src.path(), &env.job_dir(), long).expect("the second link");
    env.src.append("c", "three\n");
    std::fs::rename(env.src.path().join("x"), env.src.path().join("c")).expect("mv x c");
    let newest = quiet(&d, "docs", env.src.path(), &env.job_dir(), long);
    assert!(
        newest.is_some(),
        "the write through c (then renamed over) did not reach `a`"
    );
    assert!(
        std::fs::read_to_string(env.job_dir().join("journal.tsv"))
            .unwrap_or_default()
            .contains("removed-after-write scan"),
        "the scan is not journaled"
    );
}
