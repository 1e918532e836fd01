//! The daemon, driven as a real process: `reverberator run` on a temp config with a short
//! settle. Every test waits on conditions (status answers, versions on disk) with
//! timeouts, and checks that the newest version dereferences to the source; versions seen
//! along the way are recorded and re-checked at the end (no version changes afterwards).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use reverberator::daemon::status::{fetch, socket_path, JobStatus, StatusReport};

use crate::util::{
    assert_no_partial, assert_same_state, bin, tree_state, version_state, versions, wait_until,
    Env, TreeState,
};

const SETTLE: &str = "settle = \"300ms\"\nmax_settle = \"1500ms\"\n";
const LONG: Duration = Duration::from_secs(30);

/// A running daemon; SIGTERM (then SIGKILL) on drop, its log printed if the test failed.
struct Daemon {
    child: Option<Child>,
    config: PathBuf,
    log: PathBuf,
}

impl Daemon {
    fn start(config: &Path, log_dir: &Path) -> Daemon {
        Self::start_env(config, log_dir, &[])
    }

    /// [`Daemon::start`] with extra environment variables (test hooks).
    fn start_env(config: &Path, log_dir: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut cmd = bin();
        cmd.envs(env.iter().copied());
        Self::launch(cmd, config, log_dir)
    }

    /// [`Daemon::start`] in a user namespace of its own whose inotify watch limit is
    /// `watches`. That limit (`/proc/sys/user/max_inotify_watches`) is per namespace, so it
    /// binds this daemon alone; lowering `/proc/sys/fs/inotify/max_user_watches` instead
    /// would make every other test's daemon (all root) fail to add watches meanwhile.
    /// `Err` with the reason where user namespaces are not available.
    fn start_watch_limited(
        config: &Path,
        log_dir: &Path,
        watches: usize,
    ) -> Result<Daemon, String> {
        let probe = Command::new("unshare")
            .args(["-U", "-r", "true"])
            .output()
            .map_err(|e| format!("unshare: {e}"))?;
        if !probe.status.success() {
            return Err(format!(
                "no user namespaces here (unshare -U -r: {})",
                String::from_utf8_lossy(&probe.stderr).trim()
            ));
        }
        let mut cmd = Command::new("unshare");
        cmd.args(["-U", "-r", "sh", "-c"])
            .arg("echo \"$0\" > /proc/sys/user/max_inotify_watches && exec \"$@\"")
            .arg(watches.to_string())
            .arg(env!("CARGO_BIN_EXE_reverberator"));
        Ok(Self::launch(cmd, config, log_dir))
    }

    /// [`Daemon::start`] with an open-files limit (soft and hard) of `files`.
    fn start_files_limited(config: &Path, log_dir: &Path, files: u32) -> Daemon {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("ulimit -n \"$0\" && exec \"$@\"")
            .arg(files.to_string())
            .arg(env!("CARGO_BIN_EXE_reverberator"));
        Self::launch(cmd, config, log_dir)
    }

    /// Set the watch limit of a daemon from [`Daemon::start_watch_limited`].
    fn set_watch_limit(&self, watches: usize) {
        let out = Command::new("nsenter")
            .args(["-t", &self.pid().to_string(), "-U", "sh", "-c"])
            .arg(format!(
                "echo {watches} > /proc/sys/user/max_inotify_watches"
            ))
            .output()
            .expect("nsenter");
        assert!(
            out.status.success(),
            "nsenter: {}",
            crate::util::stderr(&out)
        );
    }

    fn launch(mut cmd: Command, config: &Path, log_dir: &Path) -> Daemon {
        let log = log_dir.join("daemon.log");
        let out = File::create(&log).expect("log file");
        let child = cmd
            .arg("--config")
            .arg(config)
            .arg("run")
            .env_remove("REVERBERATOR_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("spawn daemon");
        let d = Daemon {
            child: Some(child),
            config: config.to_path_buf(),
            log,
        };
        d.wait_status("the daemon to answer", |_| true);
        d
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().expect("running").id() as i32)
    }

    fn status(&self) -> Option<StatusReport> {
        let socket = socket_path(&self.config).ok()?;
        fetch(&socket, &self.config).ok()
    }

    fn job(&self, name: &str) -> Option<JobStatus> {
        self.status()?.jobs.into_iter().find(|j| j.name == name)
    }

    fn wait_status(&self, what: &str, cond: impl Fn(&StatusReport) -> bool) -> StatusReport {
        let mut last = None;
        let ok = wait_until(LONG, || {
            last = self.status();
            last.as_ref().is_some_and(&cond)
        });
        assert!(
            ok,
            "timed out waiting for {what}; last status {last:?}\n{}",
            self.log_text()
        );
        last.expect("status")
    }

    fn signal(&self, sig: Signal) {
        kill(self.pid(), sig).expect("kill");
    }

    /// SIGTERM and wait for the exit; returns the exit code.
    fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let end = Instant::now() + Duration::from_secs(40);
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

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("---- daemon log ----\n{}", self.log_text());
        }
    }
}

/// Versions seen so far, with the tree each must dereference to.
#[derive(Default)]
struct Recorded(BTreeMap<String, TreeState>);

/// Wait until the job is quiet (`watching`, nothing pending) and its newest version
/// dereferences to the source; record that version. Returns its name.
fn settled(d: &Daemon, job: &str, src: &Path, job_dir: &Path, rec: &mut Recorded) -> String {
    let mut last = String::new();
    let ok = wait_until(LONG, || {
        let Some(j) = d.job(job) else { return false };
        let on_disk = versions(job_dir);
        let Some(newest) = on_disk.last() else {
            return false;
        };
        if j.state != "watching" || j.pending != 0 || j.newest.as_deref() != Some(newest.as_str()) {
            last = format!("{j:?}, on disk {on_disk:?}");
            return false;
        }
        let same = version_state(job_dir, newest) == tree_state(src);
        last = format!("{newest} differs from the source");
        same
    });
    assert!(
        ok,
        "job {job} never settled to the source: {last}\n{}",
        d.log_text()
    );
    let newest = versions(job_dir).pop().expect("a version");
    rec.0
        .insert(newest.clone(), version_state(job_dir, &newest));
    newest
}

/// Every recorded version still dereferences to the tree it had; every version on disk is
/// whole (its structural links are one hop to real directories); no partial build is left.
/// (Versions taken between two `settled` points hold an intermediate state the test did not
/// record: they are checked for structure only.)
fn assert_recorded(job_dir: &Path, rec: &Recorded) {
    assert_no_partial(job_dir);
    let on_disk = versions(job_dir);
    for v in &on_disk {
        let state = version_state(job_dir, v);
        if let Some(want) = rec.0.get(v) {
            assert_same_state(&format!("version {v}"), &state, want);
        }
    }
    for v in rec.0.keys() {
        assert!(on_disk.contains(v), "recorded version {v} is gone");
    }
}

fn journal(job_dir: &Path) -> String {
    std::fs::read_to_string(job_dir.join("journal.tsv")).unwrap_or_default()
}

struct Setup {
    daemon: Daemon,
    env: Env,
    rec: Recorded,
}

impl Setup {
    fn new(extra: &str, build: impl FnOnce(&crate::util::TempTree)) -> Setup {
        let env = Env::with_extra("docs", extra);
        build(&env.src);
        let daemon = Daemon::start(&env.config(), env.outer.path());
        let mut s = Setup {
            daemon,
            env,
            rec: Recorded::default(),
        };
        s.settle();
        s
    }

    fn settle(&mut self) -> String {
        settled(
            &self.daemon,
            "docs",
            self.env.src.path(),
            &self.env.job_dir(),
            &mut self.rec,
        )
    }

    fn src(&self, rel: &str) -> PathBuf {
        self.env.src.path().join(rel)
    }

    fn finish(mut self) {
        assert_eq!(self.daemon.stop(), Some(0), "daemon exit code");
        assert_recorded(&self.env.job_dir(), &self.rec);
    }
}

#[test]
fn daemon_create_modify_delete() {
    let mut s = Setup::new(SETTLE, |t| {
        t.file("a.txt", "one").file("d/b.txt", "two");
    });
    assert!(
        versions(&s.env.job_dir())[0].starts_with("V0--"),
        "a new job gets V0"
    );
    s.env.src.file("new.txt", "created");
    let v1 = s.settle();
    s.env.src.file("a.txt", "one, modified");
    let v2 = s.settle();
    assert_ne!(v1, v2);
    s.env.src.remove("d/b.txt");
    s.settle();
    s.env.src.remove("d");
    s.settle();
    assert!(journal(&s.env.job_dir()).contains("\tstart\t"));
    s.finish();
}

#[test]
fn daemon_move_and_chmod() {
    let mut s = Setup::new(SETTLE, |t| {
        t.file("a.txt", "a")
            .file("dir/sub/f", "f")
            .file("dir/g", "g");
    });
    s.env.src.rename("a.txt", "renamed.txt");
    s.settle();
    s.env.src.rename("dir", "moved");
    s.settle();
    s.env
        .src
        .file("moved/sub/after", "written under the new name");
    s.settle();
    s.env
        .src
        .chmod("renamed.txt", 0o600)
        .chmod("moved/sub", 0o700);
    s.settle();
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::rename(s.src("moved/sub"), outside.path().join("sub")).expect("move out");
    s.settle();
    std::fs::create_dir_all(outside.path().join("in/deep")).expect("mkdir");
    std::fs::write(outside.path().join("in/deep/x"), "x").expect("write");
    std::fs::rename(outside.path().join("in"), s.src("in")).expect("move in");
    s.settle();
    s.finish();
}

#[test]
fn daemon_mkdir_p_and_editor_save() {
    let mut s = Setup::new(SETTLE, |t| {
        t.file("doc.txt", "version 1");
    });
    std::fs::create_dir_all(s.src("a/b/c")).expect("mkdir -p");
    std::fs::write(s.src("a/b/c/f"), "deep").expect("write");
    std::fs::write(s.src("a/top"), "top").expect("write");
    s.settle();
    // Editor-style save: write a temp file, then rename it over the original.
    std::fs::write(s.src(".doc.txt.swp"), "version 2").expect("write temp");
    std::fs::rename(s.src(".doc.txt.swp"), s.src("doc.txt")).expect("rename over");
    s.settle();
    s.finish();
}

#[test]
fn daemon_burst_inside_settle_makes_few_versions() {
    let mut s = Setup::new("settle = \"700ms\"\nmax_settle = \"20s\"\n", |t| {
        t.file("seed", "0");
    });
    let before = versions(&s.env.job_dir()).len();
    std::fs::create_dir_all(s.src("burst")).expect("mkdir");
    for i in 0..50 {
        std::fs::write(s.src(&format!("burst/f{i}")), format!("write {i}")).expect("write");
    }
    s.settle();
    let added = versions(&s.env.job_dir()).len() - before;
    assert!(
        (1..=2).contains(&added),
        "50 writes in the settle window made {added} versions"
    );
    s.finish();
}

#[test]
fn daemon_max_settle_forces_versions_during_continuous_change() {
    let mut s = Setup::new("settle = \"500ms\"\nmax_settle = \"1s\"\n", |t| {
        t.file("log", "");
    });
    let before = versions(&s.env.job_dir()).len();
    let start = Instant::now();
    let mut history = vec![String::new()];
    // Write every 100 ms for 3.5 s: settle never elapses, max_settle must.
    while start.elapsed() < Duration::from_millis(3500) {
        let line = format!("line {}\n", history.len());
        s.env.src.append("log", &line);
        history.push(format!("{}{line}", history.last().expect("history")));
        std::thread::sleep(Duration::from_millis(100));
    }
    let during = versions(&s.env.job_dir()).len() - before;
    assert!(
        during >= 2,
        "only {during} versions during 3.5 s of continuous writes"
    );
    s.settle();
    // Each version taken during the writes holds the log as it was after some write.
    for v in versions(&s.env.job_dir()) {
        let log = std::fs::read_to_string(s.env.job_dir().join(&v).join("log")).expect("log");
        assert!(history.contains(&log), "{v}: the log is torn: {log:?}");
    }
    s.finish();
}

/// Lowers `/proc/sys/fs/inotify/max_queued_events` and restores it on drop.
const QUEUE_FILE: &str = "/proc/sys/fs/inotify/max_queued_events";

#[test]
fn daemon_overflow_rescans() {
    if !nix::unistd::geteuid().is_root() {
        crate::skip_test!("lowering {QUEUE_FILE} needs root");
    }
    let env = Env::with_extra("docs", "settle = \"1s\"\nmax_settle = \"10s\"\n");
    env.src.file("seed", "0");
    // The folder exists (and is watched) before the burst: files created in a folder that
    // is not watched yet produce no events at all (its scan finds them), so no overflow.
    env.src.dir("many");
    // The limit is read when the daemon creates its inotify instance (on its setup thread,
    // after `start` returns): restore it once the job is watching, so other processes are
    // affected as briefly as possible.
    let limit = match crate::util::sysctl::Sysctl::lower(QUEUE_FILE, 16) {
        Ok(l) => l,
        Err(why) => crate::skip_test!("{why}"),
    };
    let daemon = Daemon::start(&env.config(), env.outer.path());
    let mut rec = Recorded::default();
    settled(&daemon, "docs", env.src.path(), &env.job_dir(), &mut rec);
    drop(limit);
    // Stop the daemon while the burst is written, so its 16-event queue overflows whatever
    // the machine's load (a daemon that keeps up never overflows).
    daemon.signal(Signal::SIGSTOP);
    for i in 0..300 {
        env.src.file(format!("many/f{i}"), format!("{i}"));
    }
    daemon.signal(Signal::SIGCONT);
    settled(&daemon, "docs", env.src.path(), &env.job_dir(), &mut rec);
    let j = journal(&env.job_dir());
    assert!(
        j.contains("\toverflow\t"),
        "no overflow line in the journal:\n{j}"
    );
    assert!(
        j.contains("\trescan\t"),
        "no rescan line in the journal:\n{j}"
    );
    assert_recorded(&env.job_dir(), &rec);
}

fn job_table(name: &str, src: &Path, vault: &Path, extra: &str) -> String {
    format!("[jobs.{name:?}]\nsource = {src:?}\nvault = {vault:?}\n{SETTLE}{extra}\n")
}

#[test]
fn daemon_sighup_adds_changes_and_removes_jobs() {
    let env = Env::with_extra("one", SETTLE);
    env.src.file("f", "1");
    let two = crate::util::TempTree::new();
    two.file("g", "2");
    let three = crate::util::TempTree::new();
    three.file("h", "3");
    let daemon = Daemon::start(&env.config(), env.outer.path());
    let mut rec_one = Recorded::default();
    settled(&daemon, "one", env.src.path(), &env.job_dir(), &mut rec_one);
    let vault = env.vault();
    let one = job_table("one", env.src.path(), &vault, "");
    let two_dir = vault.join("two");

    // Add job "two" and change job one's settle (in place).
    let one_slower = job_table("one", env.src.path(), &vault, "rescan_interval = \"1h\"\n");
    std::fs::write(
        env.config(),
        format!("{one_slower}{}", job_table("two", two.path(), &vault, "")),
    )
    .unwrap();
    daemon.signal(Signal::SIGHUP);
    daemon.wait_status("job two", |r| r.jobs.iter().any(|j| j.name == "two"));
    let mut rec_two = Recorded::default();
    settled(&daemon, "two", two.path(), &two_dir, &mut rec_two);
    env.src.file("f", "1 changed after the reload");
    settled(&daemon, "one", env.src.path(), &env.job_dir(), &mut rec_one);

    // Point job two at another source: it restarts and catches up by a scan.
    std::fs::write(
        env.config(),
        format!("{one}{}", job_table("two", three.path(), &vault, "")),
    )
    .unwrap();
    daemon.signal(Signal::SIGHUP);
    settled(&daemon, "two", three.path(), &two_dir, &mut rec_two);

    // Remove job one.
    std::fs::write(env.config(), job_table("two", three.path(), &vault, "")).unwrap();
    daemon.signal(Signal::SIGHUP);
    daemon.wait_status("job one gone", |r| {
        r.jobs.len() == 1 && r.jobs[0].name == "two"
    });
    assert!(wait_until(LONG, || journal(&env.job_dir()).contains("\tstop\t")));
    assert!(journal(&two_dir).contains("\treload\t"));
    assert_recorded(&env.job_dir(), &rec_one);
    assert_recorded(&two_dir, &rec_two);
}

#[test]
fn daemon_sighup_with_a_broken_config_keeps_running() {
    let mut s = Setup::new(SETTLE, |t| {
        t.file("f", "1");
    });
    let good = std::fs::read_to_string(s.env.config()).unwrap();
    std::fs::write(s.env.config(), format!("{good}\nsettle = \"soon\"\n[[[")).unwrap();
    s.daemon.signal(Signal::SIGHUP);
    assert!(
        wait_until(LONG, || journal(&s.env.job_dir()).contains("reload failed")),
        "no error line for the broken config:\n{}",
        journal(&s.env.job_dir())
    );
    assert!(s
        .daemon
        .log_text()
        .contains("still running the previous config"));
    s.env
        .src
        .file("f", "2: still versioned with the old config");
    s.settle();
    s.finish();
}

#[test]
fn daemon_sigterm_during_a_snapshot_leaves_whole_versions() {
    let mut s = Setup::new("settle = \"100ms\"\nmax_settle = \"1s\"\n", |t| {
        t.file("seed", "0");
    });
    for i in 0..3000 {
        s.env
            .src
            .file(format!("bulk/d{}/f{i}", i % 30), format!("content {i}"));
    }
    s.daemon.wait_status("a snapshot to start", |r| {
        r.jobs.iter().any(|j| j.state == "snapshotting")
    });
    let code = s.daemon.stop();
    assert_eq!(
        code,
        Some(0),
        "exit code after SIGTERM\n{}",
        s.daemon.log_text()
    );
    assert_no_partial(&s.env.job_dir());
    // Every committed version is whole; files were written once, so every file a version
    // holds must equal the source's.
    assert_recorded(&s.env.job_dir(), &s.rec);
    let source = tree_state(s.env.src.path());
    for v in versions(&s.env.job_dir()) {
        for (path, entry) in version_state(&s.env.job_dir(), &v) {
            if entry.kind == 'f' {
                assert_eq!(Some(&entry), source.get(&path), "{v}: {}", path.display());
            }
        }
    }
    assert!(journal(&s.env.job_dir()).contains("\tstop\t"));
}

#[test]
fn status_without_a_daemon_exits_1() {
    let env = Env::with_extra("docs", SETTLE);
    let out = env.run(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        crate::util::stderr(&out).contains("no reverberator daemon is running"),
        "{}",
        crate::util::stderr(&out)
    );
}

#[test]
fn status_answers_only_for_its_own_config() {
    let env = Env::with_extra("docs", SETTLE);
    let other = Env::with_extra("docs", SETTLE);
    let daemon = Daemon::start(&env.config(), env.outer.path());
    daemon.wait_status("watching", |r| r.jobs.iter().all(|j| j.state == "watching"));
    let out = env.run(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::util::stderr(&out));
    let report: StatusReport = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report.jobs[0].name, "docs");
    assert_eq!(report.jobs[0].state, "watching");
    let text = env.run(&["status"]);
    assert!(crate::util::stdout(&text).contains("docs: watching"));
    assert_eq!(other.run(&["status"]).status.code(), Some(1));
    // A second daemon for the same config refuses to start.
    let second = env.run(&["run"]);
    assert_eq!(second.status.code(), Some(1));
    assert!(crate::util::stderr(&second).contains("already runs this config"));
}

/// Clients that connect and send nothing do not hold the loop: before, each held it for
/// the 200 ms request timeout, one after the other, so 20 of them kept every other
/// client (and every job's events) waiting 4 s. Each of them still gets the status (an
/// empty request asks for it), and a half-sent request is completed when the rest comes.
#[test]
fn silent_status_clients_do_not_hold_the_loop() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let env = Env::with_extra("docs", SETTLE);
    let daemon = Daemon::start(&env.config(), env.outer.path());
    daemon.wait_status("watching", |r| r.jobs.iter().all(|j| j.state == "watching"));
    let socket = socket_path(&env.config()).expect("socket path");
    let silent: Vec<UnixStream> = (0..20)
        .map(|_| UnixStream::connect(&socket).expect("connect"))
        .collect();
    let mut half = UnixStream::connect(&socket).expect("connect");
    half.write_all(b"{\"request\":").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    half.write_all(b"\"status\"}\n").unwrap();
    let asked = Instant::now();
    let report = daemon.status().expect("status answers");
    let took = asked.elapsed();
    assert_eq!(report.jobs[0].name, "docs");
    assert!(
        took < Duration::from_secs(2),
        "status took {took:?} behind 20 silent clients"
    );
    for mut c in silent.into_iter().chain([half]) {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut text = Vec::new();
        c.read_to_end(&mut text).expect("a reply");
        let r: StatusReport = serde_json::from_slice(&text).expect("a status report");
        assert_eq!(r.jobs[0].name, "docs");
    }
}

/// A mount made for a test; lazily unmounted on drop.
struct TestMount(PathBuf);

impl TestMount {
    fn new(args: &[&str], point: &Path) -> Option<TestMount> {
        let ok = Command::new("mount")
            .args(args)
            .arg(point)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| TestMount(point.to_path_buf()))
    }
}

impl Drop for TestMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn daemon_halts_when_the_source_leaves_and_resumes_when_it_returns() {
    if !nix::unistd::geteuid().is_root() {
        crate::skip_test!("mounting needs root");
    }
    let tmp = crate::util::TempTree::new();
    tmp.dir("store").dir("mnt");
    let (store, mnt) = (tmp.path().join("store"), tmp.path().join("mnt"));
    let Some(_fs) = TestMount::new(&["-t", "tmpfs", "tmpfs"], &store) else {
        crate::skip_test!("cannot mount tmpfs here");
    };
    std::fs::create_dir_all(store.join("data/sub")).unwrap();
    std::fs::write(store.join("data/sub/f"), "before").unwrap();
    let store_arg = store.to_string_lossy().into_owned();
    let bind = TestMount::new(&["--bind", &store_arg], &mnt).expect("bind mount");
    let env = Env::new("docs");
    let src = mnt.join("data");
    let vault = env.vault();
    std::fs::write(env.config(), job_table("docs", &src, &vault, "")).unwrap();
    let daemon = Daemon::start(&env.config(), env.outer.path());
    let mut rec = Recorded::default();
    settled(&daemon, "docs", &src, &env.job_dir(), &mut rec);

    drop(bind); // umount -l: no IN_UNMOUNT while the daemon holds the directory open
    let halted = daemon.wait_status("halted-unmounted", |r| {
        r.jobs.iter().any(|j| j.state == "halted-unmounted")
    });
    assert_eq!(halted.jobs[0].halted_side.as_deref(), Some("source"));
    let before = versions(&env.job_dir()).len();
    std::fs::write(store.join("data/sub/f"), "changed while halted").unwrap();
    std::fs::write(store.join("data/new"), "new while halted").unwrap();
    assert!(
        !wait_until(Duration::from_secs(2), || versions(&env.job_dir()).len()
            > before),
        "a version was committed while halted"
    );

    let _bind = TestMount::new(&["--bind", &store_arg], &mnt).expect("bind mount again");
    settled(&daemon, "docs", &src, &env.job_dir(), &mut rec);
    let j = journal(&env.job_dir());
    for event in ["unmount", "halt", "mount", "resume"] {
        assert!(j.contains(&format!("\t{event}\t")), "no {event} line:\n{j}");
    }
    // Journaled on resume, the halt's lines carry the time it began (2 s and more before).
    let time_of = |event: &str| {
        let line = j.lines().find(|l| l.split('\t').nth(1) == Some(event));
        chrono::DateTime::parse_from_rfc3339(line.unwrap().split('\t').next().unwrap()).unwrap()
    };
    let halted_for = time_of("resume") - time_of("unmount");
    assert!(
        halted_for >= chrono::Duration::seconds(2),
        "{halted_for}:\n{j}"
    );
    assert!(time_of("halt") == time_of("unmount"), "{j}");
    assert_recorded(&env.job_dir(), &rec);
}

#[test]
fn daemon_retires_after_each_commit() {
    let mut s = Setup::new(&format!("{SETTLE}keep_versions = 3\n"), |t| {
        t.file("f", "0").file("keep/me", "unchanged");
    });
    for i in 1..=5 {
        s.env.src.file("f", format!("change {i}"));
        s.settle();
    }
    let on_disk = versions(&s.env.job_dir());
    assert_eq!(on_disk.len(), 3, "keep_versions = 3 left {on_disk:?}");
    assert!(on_disk[0].starts_with("V3--"), "{on_disk:?}");
    s.rec.0.retain(|v, _| on_disk.contains(v));
    assert!(journal(&s.env.job_dir()).contains("\tretire\t"));
    s.finish();
}

#[test]
fn daemon_sighup_keeps_the_pending_changes_of_untouched_jobs() {
    let slow = "settle = \"5s\"\nmax_settle = \"20s\"\n";
    let env = Env::with_extra("one", slow);
    env.src.file("f", "1");
    let two = crate::util::TempTree::new();
    two.file("g", "2");
    let daemon = Daemon::start(&env.config(), env.outer.path());
    let mut rec = Recorded::default();
    settled(&daemon, "one", env.src.path(), &env.job_dir(), &mut rec);
    env.src.file("f", "changed, pending across the reload");
    daemon.wait_status("a pending change", |r| r.jobs[0].pending > 0);
    let one = std::fs::read_to_string(env.config()).unwrap();
    let added = job_table("two", two.path(), &env.vault(), "");
    std::fs::write(env.config(), format!("{one}\n{added}")).unwrap();
    daemon.signal(Signal::SIGHUP);
    let r = daemon.wait_status("job two", |r| r.jobs.len() == 2);
    let kept = &r.jobs[0];
    assert_eq!(
        (kept.name.as_str(), kept.state.as_str()),
        ("one", "settling"),
        "{r:?}"
    );
    assert!(
        kept.pending > 0,
        "the reload dropped job one's pending change: {r:?}"
    );
    settled(&daemon, "one", env.src.path(), &env.job_dir(), &mut rec);
    assert!(
        !journal(&env.job_dir()).contains("\trescan\t"),
        "job one was rescanned"
    );
    assert_recorded(&env.job_dir(), &rec);
}

/// A source deeper than `PATH_MAX` (40 nested 200-byte names, 8 KB): watches go through
/// directory fds, events name long paths, a hard-linked pair deep down stays one inode, and
/// every version dereferences to its tree (deep change, `mkdir -p` deep, a short folder
/// moved deep, a deep folder moved up).
#[test]
fn daemon_source_deeper_than_path_max() {
    let mut bottom = PathBuf::from("top");
    for i in 0..40 {
        bottom.push(format!("{i:02}{}", "d".repeat(198)));
    }
    let b = bottom.clone();
    let mut s = Setup::new(SETTLE, move |t| {
        t.file(b.join("leaf"), "v0")
            .file(b.join("hl-a"), "one inode")
            .hard_link(b.join("hl-a"), b.join("hl-b"))
            .file(b.join("same/sub/f"), "unchanged")
            .file("short/moved/f", "moves deep");
    });
    s.env.src.file(bottom.join("leaf"), "v1, changed deep down");
    s.settle();
    s.env.src.file(bottom.join("new/deeper/f"), "created deep");
    s.settle();
    s.env.src.rename("short/moved", bottom.join("moved"));
    s.settle();
    s.env.src.rename(bottom.join("same"), "up");
    s.settle();
    s.finish();
}

/// 3000 nested folders (a 6 KB path of one-byte names): the daemon's snapshot worker used
/// to overflow its stack (an abort of the daemon) at 1500.
#[test]
fn daemon_source_thousands_of_levels_deep() {
    // The harness' tree walks recurse per level: run the test on a large stack.
    let run = || {
        let mut bottom = PathBuf::from("top");
        for _ in 0..3000 {
            bottom.push("a");
        }
        let b = bottom.clone();
        let mut s = Setup::new(SETTLE, move |t| {
            t.file(b.join("leaf"), "v0").file(b.join("same/f"), "same");
        });
        s.env
            .src
            .file(bottom.join("leaf"), "v1, changed 3000 levels down");
        s.settle();
        s.env.src.file(bottom.join("new/f"), "created");
        s.settle();
        s.finish();
    };
    std::thread::scope(|sc| {
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn_scoped(sc, run)
            .expect("thread")
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    });
}

/// inotify reports a `setxattr`/`removexattr` as `IN_ATTRIB`: the next version holds the new
/// xattrs. (Tree states compare `user.*` xattrs, so `settle` waits for exactly that.)
#[test]
fn daemon_versions_xattr_only_changes() {
    let mut s = Setup::new(SETTLE, |t| {
        t.file("a.txt", "a").file("d/f.txt", "f");
    });
    if let Err(e) = xattr::set(s.src("a.txt"), "user.tag", b"one") {
        crate::skip_test!("user xattrs not supported here: {e}");
    }
    let v1 = s.settle();
    xattr::set(s.src("a.txt"), "user.tag", b"two").expect("setxattr");
    xattr::set(s.src("d"), "user.dir", b"on a directory").expect("setxattr");
    let v2 = s.settle();
    assert_ne!(v1, v2);
    xattr::remove(s.src("a.txt"), "user.tag").expect("removexattr");
    let v3 = s.settle();
    assert_ne!(v2, v3);
    let at = |v: &str, rel: &str, name: &str| {
        xattr::get(s.env.job_dir().join(v).join(rel), name).expect("getxattr")
    };
    assert_eq!(at(&v1, "a.txt", "user.tag"), Some(b"one".to_vec()));
    assert_eq!(at(&v2, "a.txt", "user.tag"), Some(b"two".to_vec()));
    assert_eq!(at(&v3, "a.txt", "user.tag"), None);
    assert_eq!(at(&v3, "d/.", "user.dir"), Some(b"on a directory".to_vec()));
    s.finish();
}

mod blind;
mod thin;

#[test]
fn daemon_resumes_when_a_missing_vault_folder_is_created() {
    // No mount comes or goes: the halted job must look again by itself.
    let env = Env::with_extra("late", SETTLE);
    env.src.file("f", "1");
    let vault = env.outer.path().join("vault-made-later");
    let config = env.outer.path().join("late.toml");
    std::fs::write(&config, job_table("late", env.src.path(), &vault, "")).unwrap();
    let mut daemon = Daemon::start(&config, env.outer.path());
    let halted = daemon.wait_status("halted-unmounted", |r| {
        r.jobs.iter().any(|j| j.state == "halted-unmounted")
    });
    assert_eq!(halted.jobs[0].halted_side.as_deref(), Some("vault"));
    assert!(!vault.exists(), "a halted job created its vault");
    std::fs::create_dir(&vault).unwrap();
    let job_dir = vault.join("late");
    let mut rec = Recorded::default();
    settled(&daemon, "late", env.src.path(), &job_dir, &mut rec);
    assert_eq!(versions(&job_dir).len(), 1, "V0 after the folder came");
    assert_eq!(daemon.stop(), Some(0));
    assert_recorded(&job_dir, &rec);
}

/// A `snapshot` asked before a job's first mount verdict is not a scan of its own: nothing
/// is watched, scanned or written until the check says both sides are there. Here the
/// vault is on the wrong filesystem (a signature nothing has) and the check is slowed
/// (`REVERBERATOR_TEST_SLOW_MOUNT_CHECK`), so the request comes while the job is new.
#[test]
fn a_snapshot_asked_before_the_first_mount_check_writes_nothing() {
    let env = Env::with_extra("early", SETTLE);
    env.src.file("f", "1");
    let wrong = "vault_fs = \"uuid=00000000-0000-4000-8000-000000000000\"\n";
    let config = env.outer.path().join("early.toml");
    std::fs::write(
        &config,
        job_table("early", env.src.path(), &env.vault(), wrong),
    )
    .unwrap();
    // Long enough that the request certainly comes before the verdict, on a loaded
    // machine too (checked below: the job is still `starting`, with no watches).
    let hold = [("REVERBERATOR_TEST_SLOW_MOUNT_CHECK", "early:6000")];
    let mut daemon = Daemon::start_env(&config, env.outer.path(), &hold);
    let before = daemon.job("early").expect("early");
    assert_eq!((before.state.as_str(), before.watches), ("starting", 0));
    let out = crate::util::run_bin(&config, &["snapshot", "early"]);
    let report = daemon.wait_status("halted-unmounted", |r| {
        r.jobs.iter().any(|j| j.state == "halted-unmounted")
    });
    assert_ne!(out.status.code(), Some(0), "{}", crate::util::stdout(&out));
    assert_eq!(report.jobs[0].watches, 0, "{:?}", report.jobs[0]);
    assert!(
        !env.job_dir().exists(),
        "a job not yet judged wrote its vault"
    );
    assert_eq!(daemon.stop(), Some(0));
}

/// The other side of the rule above: when the first verdict says both sides are there, a
/// `snapshot` asked meanwhile is answered by the job's start scan (not lost, not a second
/// scan before it).
#[test]
fn a_snapshot_asked_before_the_first_mount_check_is_answered_by_the_start_scan() {
    let env = Env::with_extra("early", SETTLE);
    env.src.file("f", "1");
    let hold = [("REVERBERATOR_TEST_SLOW_MOUNT_CHECK", "early:4000")];
    let mut daemon = Daemon::start_env(&env.config(), env.outer.path(), &hold);
    let before = daemon.job("early").expect("early");
    assert_eq!((before.state.as_str(), before.watches), ("starting", 0));
    let out = env.run(&["snapshot", "early"]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::util::stderr(&out));
    assert!(
        crate::util::stderr(&out).contains("committed by the daemon"),
        "{}",
        crate::util::stderr(&out)
    );
    assert_eq!(
        versions(&env.job_dir()).len(),
        1,
        "one version: the start scan's"
    );
    let journal = journal(&env.job_dir());
    assert!(!journal.contains("requested scan"), "{journal}");
    assert_eq!(daemon.stop(), Some(0));
}
