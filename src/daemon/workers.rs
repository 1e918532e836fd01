//! Snapshot, scan and retire threads; results come back through a channel plus
//! `mio::Waker`.
//!
//! The loop submits [`Task`]s; at most `max` (given to [`Workers::new`]) run at once (the
//! rest wait in a queue) and the loop itself keeps at most one per job (the `JobMachine` is
//! `busy` until its result comes back). A worker takes the per-job lock inside the vault
//! functions, so a one-shot `reverberator snapshot` of the same job simply waits. Also owns
//! the journal thread, so journal appends never block the loop either.
//!
//! One writer per job, even when another process commits: each result carries the newest
//! version the worker saw under the job lock, the pool keeps it per job, and a
//! [`Task::Snapshot`] is run with that number as its base
//! ([`crate::writer::Source::Changes`]): when someone else committed in between,
//! a delta scan against their version replaces the ChangeSet, so the daemon never commits
//! a version identical to the newest.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::Waker;

use crate::change::ChangeSet;
use crate::change::Progress;
use crate::config::JobConfig;
use crate::vault::journal::{Event, Journal, JournalLine};
use crate::vault::retire::{RetireError, RetireReport};
use crate::vault::snapshot::SnapshotOutcome;
use crate::writer::{self, Source, WriteError, Written};

use super::job::{Done, ScanReason};
use super::slot::JobSlot;

/// What a worker does for a job.
#[derive(Debug, Clone)]
pub enum Task {
    /// Commit a version from the watcher's ChangeSet (no walk of the tree).
    Snapshot(ChangeSet),
    /// Delta-scan the source against the newest version and commit the difference.
    Scan(ScanReason),
}

/// A finished task.
#[derive(Debug)]
pub struct WorkResult {
    /// The job name.
    pub job: String,
    /// The job instance it was submitted for (a restarted job has a new one).
    pub instance: u64,
    /// How it ended.
    pub done: Done,
    /// The newest version number the worker saw under the job lock (`None`: it failed
    /// before knowing, or there is none).
    pub newest: Option<u64>,
}

struct Queued {
    job: JobConfig,
    instance: u64,
    task: Task,
    /// For a snapshot: the version its ChangeSet was collected against.
    base: Option<u64>,
}

/// The bounded worker pool.
pub struct Workers {
    max: usize,
    running: usize,
    queue: VecDeque<Queued>,
    tx: Sender<WorkResult>,
    rx: Receiver<WorkResult>,
    waker: Arc<Waker>,
    handles: Vec<JoinHandle<()>>,
    /// Per job name: (instance, newest version number) from its last result.
    newest: HashMap<String, (u64, u64)>,
}

impl Workers {
    /// A pool running at most `max` tasks at once; finished tasks wake `waker`.
    pub fn new(max: usize, waker: Arc<Waker>) -> Self {
        let (tx, rx) = channel();
        Workers {
            max: max.max(1),
            running: 0,
            queue: VecDeque::new(),
            tx,
            rx,
            waker,
            handles: Vec::new(),
            newest: HashMap::new(),
        }
    }

    /// Run `task` for `job` now, or as soon as a worker is free.
    pub fn submit(&mut self, job: JobConfig, instance: u64, task: Task) {
        let base = match task {
            Task::Snapshot(_) => self.base(&job.name, instance),
            Task::Scan(_) => None,
        };
        self.queue.push_back(Queued {
            job,
            instance,
            task,
            base,
        });
        self.spawn_queued();
    }

    /// Drop the queued (not yet running) tasks of `job`; returns how many.
    pub fn cancel_queued(&mut self, job: &str) -> usize {
        let before = self.queue.len();
        self.queue.retain(|q| q.job.name != job);
        before - self.queue.len()
    }

    /// The newest version the last result of `job` (this instance) saw.
    pub fn base(&self, job: &str, instance: u64) -> Option<u64> {
        match self.newest.get(job) {
            Some(&(i, n)) if i == instance => Some(n),
            _ => None,
        }
    }

    /// Every result that is ready (non-blocking); frees workers for queued tasks.
    pub fn results(&mut self) -> Vec<WorkResult> {
        let out: Vec<WorkResult> = self.rx.try_iter().collect();
        for r in &out {
            self.note_newest(r);
        }
        self.finished(out.len());
        out
    }

    fn note_newest(&mut self, r: &WorkResult) {
        match r.newest {
            Some(n) => {
                self.newest.insert(r.job.clone(), (r.instance, n));
            }
            // Not known after a failure: the next snapshot of this job is not checked
            // against a stale base (the machine follows a failure with a delta scan).
            None if matches!(r.done, Done::Failed(_)) => {
                self.newest.remove(&r.job);
            }
            None => {}
        }
    }

    /// Wait until no task runs, at most until `deadline`; queued tasks are dropped.
    /// Returns the results that came in and how many tasks are still running.
    pub fn drain_until(&mut self, deadline: Instant) -> (Vec<WorkResult>, usize) {
        self.queue.clear();
        let mut out = Vec::new();
        while self.running > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(r) => {
                    self.running -= 1;
                    out.push(r);
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        self.handles.retain(|h| !h.is_finished());
        (out, self.running)
    }

    fn finished(&mut self, n: usize) {
        self.running = self.running.saturating_sub(n);
        self.handles.retain(|h| !h.is_finished());
        self.spawn_queued();
    }

    fn spawn_queued(&mut self) {
        while self.running < self.max {
            let Some(q) = self.queue.pop_front() else {
                return;
            };
            let tx = self.tx.clone();
            let waker = Arc::clone(&self.waker);
            let name = format!("snapshot:{}", q.job.name);
            let spawned = std::thread::Builder::new().name(name).spawn(move || {
                let (done, newest) = run_guarded(&q.job, q.task, q.base);
                let result = WorkResult {
                    job: q.job.name.clone(),
                    instance: q.instance,
                    done,
                    newest,
                };
                let _ = tx.send(result);
                if let Err(e) = waker.wake() {
                    tracing::error!("cannot wake the daemon loop: {e}");
                }
            });
            match spawned {
                Ok(h) => {
                    self.handles.push(h);
                    self.running += 1;
                }
                Err(e) => {
                    tracing::error!("cannot start a worker thread: {e}");
                    return;
                }
            }
        }
    }
}

/// [`run_task`], turning a panic into a failure, so the job is never left `busy` forever
/// (the machine retries with a delta scan).
pub fn run_guarded(job: &JobConfig, task: Task, base: Option<u64>) -> (Done, Option<u64>) {
    let caught =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_task(job, task, base)));
    caught.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(job = %job.name, "snapshot worker panicked: {what}");
        let done = Done::Failed(format!("internal error (worker panicked): {what}"));
        (done, None)
    })
}

/// Run one task on the current thread: snapshot (of a ChangeSet collected since version
/// `base`) or scan, and retire after a commit, in one writer session
/// ([`writer::write`]). Returns how it ended and the newest version number under the job
/// lock.
pub fn run_task(job: &JobConfig, task: Task, base: Option<u64>) -> (Done, Option<u64>) {
    let started = Instant::now();
    let (source, reason) = match &task {
        Task::Snapshot(changes) => (Source::Changes { changes, base }, None),
        // The periodic rescan exists to catch what the watches (and the scan's ctime
        // shortcut) cannot see, so it compares everything.
        Task::Scan(ScanReason::Interval) => {
            (Source::Scan { full: true }, Some(ScanReason::Interval))
        }
        Task::Scan(reason) => (Source::Scan { full: false }, Some(*reason)),
    };
    let mut written = writer::write(job, source, &Progress::default());
    if let Ok(Written {
        rebased: Some(found),
        ..
    }) = &written
    {
        tracing::info!(
            job = %job.name,
            "another writer committed {found} since the daemon's last version: \
             its changes were checked against {found} by a delta scan"
        );
    }
    let retired = written.as_mut().ok().and_then(|w| w.retired.take());
    let newest = written
        .as_ref()
        .ok()
        .and_then(|w| w.newest.as_ref().map(|v| v.number));
    let done = to_done(written.map(|w| (w.outcome, w.newest.map(|v| v.to_string()))));
    log_done(job, &done, reason, started.elapsed());
    if let Some(reason) = reason.filter(|r| *r != ScanReason::Start) {
        journal_scan(job, reason, &done);
    }
    if let Some(retired) = retired {
        log_retired(job, retired);
    }
    (done, newest)
}

fn to_done(outcome: Result<(SnapshotOutcome, Option<String>), WriteError>) -> Done {
    match outcome {
        Ok((SnapshotOutcome::Committed(v), _)) => Done::Committed(v.name.to_string()),
        Ok((SnapshotOutcome::Unchanged, newest)) => Done::Unchanged(newest),
        Err(e) => Done::Failed(format!("{:#}", anyhow::Error::new(e))),
    }
}

fn log_done(job: &JobConfig, done: &Done, reason: Option<ScanReason>, took: Duration) {
    let what = reason.map_or("snapshot".to_owned(), |r| format!("{r} scan"));
    match done {
        Done::Committed(name) => {
            tracing::info!(job = %job.name, "{what}: committed {name} in {took:.2?}")
        }
        Done::Unchanged(_) => tracing::info!(job = %job.name, "{what}: unchanged ({took:.2?})"),
        Done::Failed(msg) => tracing::error!(job = %job.name, "{what} failed: {msg}"),
    }
}

/// The `rescan` journal line: why the scan ran and what it found.
fn journal_scan(job: &JobConfig, reason: ScanReason, done: &Done) {
    let found = match done {
        Done::Committed(name) => format!("{reason} scan: differences found, committed {name}"),
        Done::Unchanged(_) => format!("{reason} scan: nothing missed"),
        Done::Failed(_) => return,
    };
    let line = JournalLine::now(Event::Rescan).path(".").message(found);
    if let Err(e) = Journal::append(&job.job_dir(), &line) {
        tracing::warn!(job = %job.name, "cannot write the journal: {e}");
    }
}

/// Log the retire that followed a commit (each retired version has its journal line). A
/// failure is logged; the next commit tries again.
fn log_retired(job: &JobConfig, retired: Result<RetireReport, RetireError>) {
    match retired {
        Ok(report) if !report.retired.is_empty() => {
            tracing::info!(job = %job.name, retired = report.retired.len(), "retired old versions");
        }
        Ok(report) => {
            if let Some(msg) = report.over_budget {
                tracing::warn!(job = %job.name, "{msg}");
            }
        }
        Err(e) => tracing::error!(job = %job.name, "retire failed: {e}"),
    }
}

/// How many journal lines wait for a job folder that does not exist yet.
const HELD_LINES: usize = 16;

/// Appends journal lines on its own thread, so a slow vault disk never blocks the loop.
#[derive(Debug)]
pub struct JournalSink {
    tx: Option<Sender<(PathBuf, JournalLine)>>,
    handle: Option<JoinHandle<()>>,
}

impl JournalSink {
    /// Start the journal thread.
    pub fn start() -> Self {
        let (tx, rx) = channel::<(PathBuf, JournalLine)>();
        let handle = std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || {
                // Lines for a job folder that does not exist yet (a new job's watch limit or
                // coverage line comes before its first version makes the folder) wait for
                // the next line to that folder once it exists; at most HELD_LINES each.
                let mut held: std::collections::HashMap<PathBuf, Vec<JournalLine>> =
                    std::collections::HashMap::new();
                for (dir, line) in rx {
                    if !dir.is_dir() {
                        let waiting = held.entry(dir).or_default();
                        if waiting.len() < HELD_LINES {
                            waiting.push(line);
                        }
                        continue;
                    }
                    for line in held.remove(&dir).unwrap_or_default().iter().chain([&line]) {
                        if let Err(e) = Journal::append(&dir, line) {
                            tracing::warn!("cannot write the journal in {}: {e}", dir.display());
                        }
                    }
                }
            })
            .map_err(|e| tracing::error!("cannot start the journal thread: {e}"))
            .ok();
        JournalSink {
            tx: Some(tx),
            handle,
        }
    }

    /// Append `line` to the journal of the slot's job (never creates its job folder: a line
    /// sent before the folder exists waits for the next line sent once it does). Nothing
    /// is written while the job is halted: its vault may be a bare mountpoint (the halt is
    /// journaled on resume).
    pub fn send(&self, slot: &JobSlot, line: JournalLine) {
        if slot.is_halted() {
            return;
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send((slot.job.job_dir(), line));
        }
    }

    /// Write what is queued and stop the thread.
    pub fn finish(mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
