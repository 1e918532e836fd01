//! The daemon: one `mio::Poll` over every job's inotify fd, the signals, the mount-table
//! watcher and a `Waker` for worker results. Timers are the poll timeout from the earliest
//! deadline. Snapshots, scans, retires, journal appends and the inotify watch setup and
//! resync (walks of the source's folders, `setup.rs`) run on other threads; what the loop
//! thread itself touches is small: `/proc/self/mountinfo`, reading inotify queues, and
//! the status socket. The mount guards' `stat`s and `findmnt`/`blkid` run on the
//! mount-check thread (`mountcheck.rs`).
//!
//! Sources and tokens ([`tokens`]): SIGHUP/SIGTERM/SIGINT through `signal-hook-mio`, the
//! worker `Waker`, the status socket (a non-blocking Unix listener, [`status`]), the mount
//! watcher (`halt.rs`) and one token per job watcher from a never-reused counter; an
//! unknown token is stale and ignored. Each job's behaviour lives in its
//! [`job::JobMachine`]; this module only executes the machine's actions: start workers
//! ([`workers`]), drop or re-add watches, journal.
//!
//! `impl Daemon` is split by the source of the events each part handles: this file (the
//! loop, worker results, the machines' actions), `jobs.rs` (start, stop and reload jobs;
//! watchers back from the setup thread), `halt.rs` (mount verdicts, halts and resumes),
//! `clients.rs` (status-socket connections) and `request.rs` (`snapshot` requests).
//!
//! - start: every job is watched, then delta-scanned and snapshotted (a new job gets V0);
//! - SIGHUP: [`crate::config::load()`] again; invalid → keep the old config, log the
//!   diagnostics and journal `error`; valid → [`reload::plan`] per job name;
//! - SIGTERM/SIGINT: drop the watches, wait up to [`SHUTDOWN_WAIT`] for running snapshots
//!   (a snapshot cut short leaves only a hidden `.partial` build, removed by the next
//!   writer), journal `stop`, return.

mod clients;
mod halt;
pub mod job;
mod jobs;
mod mountcheck;
pub mod notify;
pub mod reload;
mod request;
mod setup;
mod slot;
pub mod status;
pub mod tokens;
pub mod workers;

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::config::{Config, Loaded};
use crate::vault::journal::{Event, JournalLine};
use crate::watch::inotify::WatchEvent;
use crate::watch::mounts::MountWatcher;

use job::{Action, Note};
use slot::JobSlot;
use status::StatusReport;
use tokens::TokenCounter;
use workers::{JournalSink, Task, Workers};

/// How long SIGTERM waits for running snapshots.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(30);
/// Snapshot/scan workers that run at once, over all jobs.
pub const MAX_WORKERS: usize = 2;

/// Why the daemon could not start or keep running (per-job problems never end up here).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The event loop itself failed.
    #[error("event loop: {0}")]
    Poll(#[source] io::Error),
    /// The signal handlers could not be installed.
    #[error("cannot install the signal handlers: {0}")]
    Signals(#[source] io::Error),
    /// The status socket could not be created.
    #[error("status socket {path}: {source}")]
    Socket {
        /// The socket path.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// Another daemon already runs this config.
    #[error("another reverberator daemon already runs this config (it answers on {0})")]
    AlreadyRunning(PathBuf),
}

/// What the signals asked for since the last look.
#[derive(Debug, Default, Clone, Copy)]
struct Asked {
    reload: bool,
    stop: bool,
}

/// The running daemon.
pub struct Daemon {
    poll: Poll,
    signals: Signals,
    listener: UnixListener,
    socket: PathBuf,
    config: Config,
    slots: Vec<JobSlot>,
    tokens: TokenCounter,
    instances: u64,
    workers: Workers,
    journal: JournalSink,
    notifier: notify::Notifier,
    mounts: Option<MountWatcher>,
    requests: request::Requests,
    setups: setup::Setups,
    mount_checks: mountcheck::MountChecks,
    /// Status-socket clients still sending their request.
    clients: clients::Clients,
    /// When the halted jobs are looked at again.
    halt_recheck_at: Option<Instant>,
}

/// Run the daemon for `loaded` until SIGTERM/SIGINT.
pub fn run(loaded: Loaded) -> Result<(), DaemonError> {
    log_warnings(&loaded);
    let mut daemon = Daemon::new(loaded.config)?;
    daemon.start_jobs();
    daemon.notifier.ready(&daemon.summary());
    let outcome = daemon.event_loop();
    daemon.shutdown();
    outcome
}

impl Daemon {
    /// Set up the poll, signals, waker and status socket (no job runs yet).
    pub fn new(config: Config) -> Result<Daemon, DaemonError> {
        let poll = Poll::new().map_err(DaemonError::Poll)?;
        let mut signals = Signals::new([SIGHUP, SIGTERM, SIGINT]).map_err(DaemonError::Signals)?;
        poll.registry()
            .register(&mut signals, tokens::SIGNALS, Interest::READABLE)
            .map_err(DaemonError::Signals)?;
        let waker =
            Arc::new(Waker::new(poll.registry(), tokens::WAKER).map_err(DaemonError::Poll)?);
        let (listener, socket) = bind_status(&config)?;
        poll.registry()
            .register(
                &mut SourceFd(&listener.as_raw_fd()),
                tokens::STATUS,
                Interest::READABLE,
            )
            .map_err(|source| DaemonError::Socket {
                path: socket.clone(),
                source,
            })?;
        let mounts = halt::mount_watcher(&poll);
        Ok(Daemon {
            poll,
            signals,
            listener,
            socket,
            config,
            slots: Vec::new(),
            tokens: TokenCounter::new(),
            instances: 0,
            workers: Workers::new(MAX_WORKERS, Arc::clone(&waker)),
            setups: setup::Setups::start(Arc::clone(&waker)),
            mount_checks: mountcheck::MountChecks::start(waker),
            halt_recheck_at: None,
            clients: clients::Clients::default(),
            journal: JournalSink::start(),
            notifier: notify::Notifier::from_env(),
            mounts,
            requests: request::Requests::default(),
        })
    }

    fn start_jobs(&mut self) {
        let jobs = self.config.jobs.clone();
        for job in jobs {
            self.notifier
                .status(&format!("setting up watches for job {}", job.name));
            self.add_job(job);
        }
    }

    /// A one-line summary for systemd's STATUS=.
    fn summary(&self) -> String {
        let watches: usize = self
            .slots
            .iter()
            .map(|s| s.status(Instant::now()).watches)
            .sum();
        format!("{} jobs, {watches} folders watched", self.slots.len())
    }

    fn event_loop(&mut self) -> Result<(), DaemonError> {
        let mut events = Events::with_capacity(256);
        loop {
            let timeout = self.timeout(Instant::now());
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(DaemonError::Poll(e)),
            }
            let mut asked = Asked::default();
            for event in events.iter() {
                self.dispatch(event.token(), &mut asked);
            }
            if asked.stop {
                return Ok(());
            }
            if asked.reload {
                self.reload(Instant::now());
            }
            self.handle_timers(Instant::now());
            if self.setups.has_inline() {
                self.handle_setups(Instant::now());
            }
            if self.mount_checks.has_inline() {
                self.handle_verdicts(Instant::now());
            }
            self.recheck_halted(Instant::now());
            self.expire_clients(Instant::now());
            self.sweep_requests(Instant::now());
        }
    }

    fn dispatch(&mut self, token: Token, asked: &mut Asked) {
        let now = Instant::now();
        match token {
            tokens::SIGNALS => self.handle_signals(asked),
            tokens::WAKER => {
                self.handle_results(now);
                self.handle_setups(now);
                self.handle_verdicts(now);
            }
            tokens::STATUS => self.handle_status_clients(now),
            tokens::MOUNTS => self.handle_mounts(now),
            t if self.client_readable(t, now) => {}
            t => self.handle_watcher(t, now),
        }
    }

    /// The poll timeout: until the earliest deadline of any job (None: sleep until an
    /// event; an idle daemon does not wake up).
    fn timeout(&self, now: Instant) -> Option<Duration> {
        self.slots
            .iter()
            .filter_map(JobSlot::deadline)
            .chain(self.halt_deadline())
            .chain(self.clients.deadline())
            .min()
            .map(|d| d.saturating_duration_since(now))
    }

    fn handle_signals(&mut self, asked: &mut Asked) {
        for sig in self.signals.pending() {
            match sig {
                SIGHUP => asked.reload = true,
                SIGTERM | SIGINT => asked.stop = true,
                _ => {}
            }
        }
    }

    /// The slot of the job run `instance` of `job`, if that run is still the job's.
    fn slot_of(&self, job: &str, instance: u64) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.job.name == job && s.instance == instance)
    }

    fn handle_watcher(&mut self, token: Token, now: Instant) {
        let Some(i) = self.slots.iter().position(|s| s.owns(token)) else {
            tracing::trace!(?token, "event for a stale token");
            return;
        };
        let events = self.slots[i].drain(now);
        self.on_watch_events(i, events, now);
    }

    fn handle_timers(&mut self, now: Instant) {
        for i in 0..self.slots.len() {
            let events = self.slots[i].flush(now);
            if !events.is_empty() {
                self.on_watch_events(i, events, now);
            }
            if self.slots[i].machine.deadline().is_some_and(|d| d <= now) {
                let actions = self.slots[i].machine.on_tick(now);
                self.apply(i, actions);
            }
        }
    }

    /// Feed watcher events to the job's machine (changes first, then the kernel's
    /// notices: overflow, watch limit, root gone).
    fn on_watch_events(&mut self, i: usize, events: Vec<WatchEvent>, now: Instant) {
        let changes: Vec<_> = events.iter().filter_map(WatchEvent::to_change).collect();
        let mut actions = self.slots[i].machine.on_fs(changes, now);
        for e in &events {
            actions.extend(self.on_notice(i, e, now));
        }
        self.apply(i, actions);
    }

    fn on_notice(&mut self, i: usize, event: &WatchEvent, now: Instant) -> Vec<Action> {
        let slot = &mut self.slots[i];
        match event {
            WatchEvent::Overflow => {
                tracing::warn!(job = %slot.job.name, "inotify queue overflow: rescanning");
                slot.machine.on_overflow(now)
            }
            WatchEvent::LimitReached => {
                let msg = slot.limit_error().unwrap_or_default();
                self.journal
                    .send(slot, JournalLine::now(Event::Error).message(&msg));
                slot.machine.on_watch_limit(now)
            }
            WatchEvent::RootGone => {
                let msg = format!("the source folder {} went away", slot.job.source.display());
                tracing::error!(job = %slot.job.name, "{msg}");
                slot.unwatch(self.poll.registry());
                slot.machine.on_overflow(now)
            }
            WatchEvent::LostTrack => {
                tracing::info!(job = %slot.job.name, "the watcher lost track of a folder: resyncing the watches and rescanning");
                slot.machine.on_lost_track(now)
            }
            // A hint only: the mount-table watcher decides.
            WatchEvent::Unmounted => Vec::new(),
            _ => Vec::new(),
        }
    }

    fn handle_results(&mut self, now: Instant) {
        for r in self.workers.results() {
            let Some(i) = self.slot_of(&r.job, r.instance) else {
                tracing::debug!(job = %r.job, "result of a job that was removed or restarted");
                continue;
            };
            self.announce(i);
            let slot = &mut self.slots[i];
            slot.last_error = match &r.done {
                job::Done::Failed(m) => Some(m.clone()),
                _ => None,
            };
            let (job, instance) = (slot.job.name.clone(), slot.instance);
            self.requests
                .finished(&job, instance, &r.done, std::process::id());
            let actions = self.slots[i].machine.on_done(r.done, now);
            self.apply(i, actions);
        }
    }

    /// Journal `start` once the job's folder exists (after its first scan).
    fn announce(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if slot.announced {
            return;
        }
        slot.announced = true;
        self.mount_checks
            .record_auto(&slot.job, slot.instance, &slot.guard);
        let msg = format!("watching {} folders", slot.status(Instant::now()).watches);
        self.journal
            .send(slot, JournalLine::now(Event::Start).path(".").message(msg));
    }

    fn handle_status_clients(&mut self, now: Instant) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => self.accept_client(stream, now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!("status socket: {e}");
                    return;
                }
            }
        }
    }

    /// The status of every job, in config order.
    pub fn report(&self, now: Instant) -> StatusReport {
        StatusReport {
            pid: std::process::id(),
            config: self.config.path.clone(),
            jobs: self.slots.iter().map(|s| s.status(now)).collect(),
        }
    }

    /// Execute a machine's actions for slot `i`.
    fn apply(&mut self, i: usize, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Snapshot(changes) => self.submit(i, Task::Snapshot(changes)),
                Action::Rescan(reason) => {
                    // The watch set is made equal to the tree first (events may have been
                    // lost), on the setup thread; the scan waits for it.
                    let slot = &mut self.slots[i];
                    if !slot.start_resync(&mut self.setups) {
                        slot.start_setup(&mut self.setups);
                    }
                    if slot.is_away() {
                        slot.defer_scan(reason);
                    } else {
                        self.submit_scan(i, reason);
                    }
                }
                Action::Halt { side, reason, .. } => self.halt(i, side, reason),
                Action::Resume(halt) => {
                    self.journal_resume(i, halt);
                    self.ensure_watched(i);
                }
                Action::Journal(note) => self.journal_note(i, note),
            }
        }
    }

    /// Submit the job's delta scan (its watches are in place).
    fn submit_scan(&mut self, i: usize, reason: job::ScanReason) {
        self.submit(i, Task::Scan(reason));
        let slot = &self.slots[i];
        self.requests.submitted(&slot.job.name, slot.instance);
    }

    fn submit(&mut self, i: usize, task: Task) {
        let slot = &self.slots[i];
        self.workers.submit(slot.job.clone(), slot.instance, task);
    }

    fn journal_note(&mut self, i: usize, note: Note) {
        let line = match note {
            Note::Overflow => JournalLine::now(Event::Overflow)
                .path(".")
                .message("inotify queue overflow: the next version comes from a delta scan"),
            Note::Error(msg) => JournalLine::now(Event::Error).message(msg),
        };
        self.journal.send(&self.slots[i], line);
    }

    fn shutdown(mut self) {
        self.notifier.stopping();
        tracing::info!("stopping: waiting for running snapshots");
        for s in &mut self.slots {
            s.unwatch(self.poll.registry());
        }
        let (_, still) = self.workers.drain_until(Instant::now() + SHUTDOWN_WAIT);
        if still > 0 {
            tracing::warn!(
                "{still} snapshot(s) still running after {SHUTDOWN_WAIT:?}; exiting anyway \
                 (their hidden partial builds are removed by the next writer)"
            );
        }
        for s in &self.slots {
            self.journal.send(
                s,
                JournalLine::now(Event::Stop)
                    .path(".")
                    .message("daemon stopped"),
            );
        }
        let _ = std::fs::remove_file(&self.socket);
        self.journal.finish();
    }
}

/// The config's warnings, rendered with their positions, as one log line each.
fn log_warnings(loaded: &Loaded) {
    if !loaded.warnings.is_empty() {
        tracing::warn!("{}", loaded.render_warnings().trim_end());
    }
}

/// Bind the status socket of `config`; refuse when a daemon already answers on it, and
/// replace a stale socket file.
fn bind_status(config: &Config) -> Result<(UnixListener, PathBuf), DaemonError> {
    let dir = status::socket_dir();
    let sock_err = |path: &PathBuf| {
        let path = path.clone();
        move |source| DaemonError::Socket { path, source }
    };
    status::ensure_dir(&dir).map_err(sock_err(&dir))?;
    let canonical = std::fs::canonicalize(&config.path).map_err(sock_err(&config.path))?;
    let path = status::socket_in(&dir, &canonical);
    if std::os::unix::net::UnixStream::connect(&path).is_ok() {
        return Err(DaemonError::AlreadyRunning(path));
    }
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).map_err(sock_err(&path))?;
    listener.set_nonblocking(true).map_err(sock_err(&path))?;
    Ok((listener, path))
}
