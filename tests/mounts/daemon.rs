//! The daemon with loop-mounted sources and vaults: `halted-unmounted` when a filesystem
//! leaves or is not the configured one, nothing written meanwhile, and a catch-up version
//! when the right filesystem returns. Drives `reverberator run` as a real process with a
//! short settle and waits on `status` and on the vault with timeouts.

use std::process::{Child, Stdio};
use std::time::Instant;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use reverberator::daemon::status::{fetch, socket_path, JobStatus};

use super::*;
use crate::util::{bin, tree_state, version_state, versions, wait_until};

const JOB: &str = "m";
const LONG: Duration = Duration::from_secs(30);

/// A running daemon; SIGTERM (then SIGKILL) on drop, its log printed if the test failed.
struct Daemon {
    child: Option<Child>,
    config: PathBuf,
    log: PathBuf,
}

impl Daemon {
    fn start(env: &Env, source_fs: Option<&str>, vault_fs: Option<&str>) -> Daemon {
        Self::start_with(env, source_fs, vault_fs, "")
    }

    /// Start with `extra` appended to the config (more jobs).
    fn start_with(
        env: &Env,
        source_fs: Option<&str>,
        vault_fs: Option<&str>,
        extra: &str,
    ) -> Daemon {
        let config = env.path("reverberator.toml");
        let mut text = format!(
            "[jobs.{JOB}]\nsource = {:?}\nvault = {:?}\nsettle = \"300ms\"\nmax_settle = \"1500ms\"\n",
            env.path("src"),
            env.path("vault")
        );
        for (key, value) in [("source_fs", source_fs), ("vault_fs", vault_fs)] {
            if let Some(v) = value {
                text.push_str(&format!("{key} = {v:?}\n"));
            }
        }
        text.push_str(extra);
        fs::write(&config, text).expect("config");
        let log = env.path("daemon.log");
        let child = bin()
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env_remove("REVERBERATOR_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("log"))
            .spawn()
            .expect("spawn daemon");
        let d = Daemon {
            child: Some(child),
            config,
            log,
        };
        d.wait_job("the daemon to answer", |_| true);
        d
    }

    fn job(&self) -> Option<JobStatus> {
        self.job_named(JOB)
    }

    fn job_named(&self, name: &str) -> Option<JobStatus> {
        let socket = socket_path(&self.config).ok()?;
        let report = fetch(&socket, &self.config).ok()?;
        report.jobs.into_iter().find(|j| j.name == name)
    }

    fn wait_job(&self, what: &str, cond: impl Fn(&JobStatus) -> bool) -> JobStatus {
        let mut last = None;
        let ok = wait_until(LONG, || {
            last = self.job();
            last.as_ref().is_some_and(&cond)
        });
        assert!(
            ok,
            "timed out waiting for {what}; last {last:?}\n{}",
            self.log_text()
        );
        last.expect("status")
    }

    fn wait_halted(&self, side: &str) -> JobStatus {
        self.wait_job(&format!("halted-unmounted ({side})"), |j| {
            j.state == "halted-unmounted" && j.halted_side.as_deref() == Some(side)
        })
    }

    /// Wait until the job is watching with nothing pending and its newest version
    /// dereferences to the source; returns that version.
    fn wait_caught_up(&self, env: &Env) -> String {
        let job_dir = job_dir(env);
        let mut last = None;
        let ok = wait_until(LONG, || {
            let Some(j) = self.job() else { return false };
            let quiet = j.state == "watching" && j.pending == 0;
            let newest = versions(&job_dir).pop();
            let same = newest
                .as_ref()
                .is_some_and(|v| version_state(&job_dir, v) == tree_state(&env.path("src")));
            last = Some((j, newest.clone()));
            quiet && same
        });
        assert!(ok, "never caught up; last {last:?}\n{}", self.log_text());
        versions(&job_dir).pop().expect("a version")
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let end = Instant::now() + Duration::from_secs(20);
            while Instant::now() < end && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- daemon log ----\n{}", self.log_text());
        }
    }
}

/// The daemon's job folder in `env`'s vault.
fn job_dir(env: &Env) -> PathBuf {
    env.path("vault")
        .join(reverberator::config::sanitize_job_name(JOB))
}

/// True when `cond` holds at every check for `span` (polling; for "nothing happens").
fn holds_for(span: Duration, mut cond: impl FnMut() -> bool) -> bool {
    !wait_until(span, || !cond())
}

/// Source on a loop ext4 with `spec_of(fs)` as `source_fs`: unmount → halted and no version
/// for `quiet`; a different filesystem at the path → still halted; changed elsewhere and
/// mounted back → resumed with the changes in a new version.
fn source_leaves_and_returns(spec_of: impl Fn(&Ext4) -> Option<String>, quiet: Duration) {
    let env = Env::new();
    let (src, elsewhere) = (env.path("src"), env.path("elsewhere"));
    fs::create_dir(&elsewhere).unwrap();
    let right = Ext4::new(env.dir.path(), "right", Some("rightlabel"));
    let wrong = Ext4::new(env.dir.path(), "wrong", Some("wronglabel"));
    let job_dir = job_dir(&env);
    let m = right.mount(&src);
    fs::write(src.join("f1"), b"one").unwrap();
    let spec = spec_of(&right);
    let d = Daemon::start(&env, spec.as_deref(), None);
    let v0 = d.wait_caught_up(&env);

    m.umount();
    let unmounted = Instant::now();
    let j = d.wait_halted("source");
    eprintln!("source halted {:.0?} after umount", unmounted.elapsed());
    if let Some(spec) = &spec {
        if spec != "auto" {
            assert_eq!(j.awaiting.as_deref(), Some(spec.as_str()));
        }
    }
    let before = versions(&job_dir);
    assert!(
        holds_for(quiet, || versions(&job_dir) == before),
        "a version while halted"
    );

    if spec.is_some() {
        let w = wrong.mount(&src);
        fs::write(src.join("wrong-file"), b"not ours").unwrap();
        assert!(holds_for(Duration::from_secs(3), || {
            d.job().is_some_and(|j| j.state == "halted-unmounted") && versions(&job_dir) == before
        }));
        w.umount();
    }

    let m = right.mount(&elsewhere);
    fs::write(elsewhere.join("f1"), b"changed while away").unwrap();
    fs::write(elsewhere.join("f2"), b"new while away").unwrap();
    m.umount();
    let _m = right.mount(&src);
    let v = d.wait_caught_up(&env);
    assert_ne!(v, v0, "the changes made while away are in no new version");
    let state = version_state(&job_dir, &v);
    assert!(state.contains_key(Path::new("f2")));
    assert!(!state.contains_key(Path::new("wrong-file")));
    assert_journal_has(&job_dir, &["unmount", "halt", "mount", "resume"]);
}

/// Wait (bounded) until journal.tsv has a line for each of `events`.
fn assert_journal_has(job_dir: &Path, events: &[&str]) {
    let path = job_dir.join("journal.tsv");
    let has_all = |text: &str| {
        events
            .iter()
            .all(|e| text.lines().any(|l| l.split('\t').nth(1) == Some(*e)))
    };
    let ok = wait_until(LONG, || {
        fs::read_to_string(&path).is_ok_and(|t| has_all(&t))
    });
    let text = fs::read_to_string(&path).unwrap_or_default();
    assert!(ok, "journal lacks some of {events:?}:\n{text}");
}

#[test]
fn daemon_source_unmount_halts_and_resumes_uuid() {
    require_mount!();
    source_leaves_and_returns(
        |fs| Some(format!("uuid={}", fs.uuid)),
        Duration::from_secs(15),
    );
}

#[test]
fn daemon_source_unmount_halts_and_resumes_auto() {
    require_mount!();
    source_leaves_and_returns(|_| Some("auto".into()), Duration::from_secs(3));
}

#[test]
fn daemon_source_unmount_halts_and_resumes_label() {
    require_mount!();
    source_leaves_and_returns(|_| Some("label=rightlabel".into()), Duration::from_secs(3));
}

#[test]
fn daemon_source_unmount_halts_and_resumes_dev() {
    require_mount!();
    source_leaves_and_returns(
        |fs| Some(format!("dev={}", fs.lo.dev())),
        Duration::from_secs(3),
    );
}

#[test]
fn daemon_source_unmount_halts_and_resumes_without_spec() {
    require_mount!();
    source_leaves_and_returns(|_| None, Duration::from_secs(3));
}

/// Vault on a loop ext4: unmount → halted, source changes write nothing into the bare
/// mountpoint; mount back → resumes and catches up.
fn vault_leaves_and_returns(spec_of: impl Fn(&Ext4) -> Option<String>) {
    let env = Env::new();
    let (src, vault) = (env.path("src"), env.path("vault"));
    let vfs = Ext4::new(env.dir.path(), "vault", Some("vaultlabel"));
    fs::write(src.join("f1"), b"one").unwrap();
    let m = vfs.mount(&vault);
    let spec = spec_of(&vfs);
    let d = Daemon::start(&env, None, spec.as_deref());
    let v0 = d.wait_caught_up(&env);

    m.umount();
    let unmounted = Instant::now();
    d.wait_halted("vault");
    eprintln!("vault halted {:.0?} after umount", unmounted.elapsed());
    fs::write(src.join("f2"), b"written while the vault is away").unwrap();
    assert!(
        holds_for(Duration::from_secs(3), || is_empty_dir(&vault)),
        "something was written into the bare mountpoint"
    );
    let _m = vfs.mount(&vault);
    let v = d.wait_caught_up(&env);
    assert_ne!(v, v0);
    assert!(version_state(&job_dir(&env), &v).contains_key(Path::new("f2")));
    assert_journal_has(&job_dir(&env), &["unmount", "halt", "mount", "resume"]);
}

#[test]
fn daemon_vault_unmount_halts_writes_nothing_and_catches_up_uuid() {
    require_mount!();
    vault_leaves_and_returns(|fs| Some(format!("uuid={}", fs.uuid)));
}

#[test]
fn daemon_vault_unmount_halts_writes_nothing_and_catches_up_label() {
    require_mount!();
    vault_leaves_and_returns(|_| Some("label=vaultlabel".into()));
}

#[test]
fn daemon_vault_unmount_halts_writes_nothing_and_catches_up_dev() {
    require_mount!();
    vault_leaves_and_returns(|fs| Some(format!("dev={}", fs.lo.dev())));
}

#[test]
fn daemon_vault_unmount_halts_writes_nothing_and_catches_up_without_spec() {
    require_mount!();
    vault_leaves_and_returns(|_| None);
}

#[test]
fn daemon_lazy_umount_with_a_held_file_halts() {
    require_mount!();
    let env = Env::new();
    let src = env.path("src");
    let fs_a = Ext4::new(env.dir.path(), "a", None);
    let job_dir = job_dir(&env);
    let m = fs_a.mount(&src);
    fs::write(src.join("held"), b"open").unwrap();
    let d = Daemon::start(&env, Some(&format!("uuid={}", fs_a.uuid)), None);
    d.wait_caught_up(&env);
    let held = File::open(src.join("held")).unwrap();
    m.umount_lazy();
    d.wait_halted("source");
    let before = versions(&job_dir);
    assert!(holds_for(Duration::from_secs(3), || versions(&job_dir) == before));
    drop(held);
    let _m = fs_a.mount(&src);
    d.wait_caught_up(&env);
}

#[test]
fn daemon_filesystem_mounted_over_the_source_halts_and_nothing_from_it_is_stored() {
    require_mount!();
    let env = Env::new();
    let src = env.path("src");
    let (base, over) = (
        Ext4::new(env.dir.path(), "base", None),
        Ext4::new(env.dir.path(), "over", None),
    );
    // Put a file on the over filesystem first.
    let staging = env.path("staging");
    fs::create_dir(&staging).unwrap();
    let m = over.mount(&staging);
    fs::write(staging.join("from-over"), b"not ours").unwrap();
    m.umount();

    let job_dir = job_dir(&env);
    let _b = base.mount(&src);
    fs::write(src.join("f1"), b"one").unwrap();
    let d = Daemon::start(&env, None, None);
    d.wait_caught_up(&env);
    let top = over.mount(&src);
    d.wait_halted("source");
    let before = versions(&job_dir);
    assert!(holds_for(Duration::from_secs(3), || versions(&job_dir) == before));
    top.umount();
    let v = d.wait_caught_up(&env);
    for name in versions(&job_dir) {
        let state = version_state(&job_dir, &name);
        assert!(
            !state.contains_key(Path::new("from-over")),
            "{name} stored the over-mount"
        );
    }
    assert!(version_state(&job_dir, &v).contains_key(Path::new("f1")));
}

#[test]
fn daemon_job_whose_source_is_not_there_starts_halted_and_the_others_run() {
    require_mount!();
    let env = Env::new();
    let (src, vault) = (env.path("src"), env.path("vault"));
    let fs_a = Ext4::new(env.dir.path(), "a", None);
    let other = env.path("other");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("g"), b"other job").unwrap();
    let extra =
        format!("[jobs.other]\nsource = {other:?}\nvault = {vault:?}\nsettle = \"300ms\"\n");
    // The disk is not mounted: the source path is a bare directory on the root filesystem.
    let d = Daemon::start_with(&env, Some(&format!("uuid={}", fs_a.uuid)), None, &extra);
    let j = d.wait_halted("source");
    assert_eq!(j.awaiting, Some(format!("uuid={}", fs_a.uuid)));
    let ok = wait_until(LONG, || {
        d.job_named("other")
            .is_some_and(|o| o.state == "watching" && o.newest.is_some())
    });
    assert!(ok, "the other job did not run\n{}", d.log_text());
    assert!(!job_dir(&env).exists(), "a halted job got a job folder");

    let m = fs_a.mount(&src);
    fs::write(src.join("f1"), b"one").unwrap();
    d.wait_caught_up(&env);
    drop(m);
}
