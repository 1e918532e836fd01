//! JobMachine: the per-job state machine, pure (takes events and `now`, returns actions).
//!
//! It owns one job's pending [`ChangeSet`], its state (`starting` → `watching` →
//! `settling` → `snapshotting` → `watching`, and `halted-unmounted` from anywhere) and its
//! deadlines (settle, max_settle, rescan_interval, retry after a failure). It does no I/O
//! and reads no clock: the loop passes `now` in and executes the returned [`Action`]s
//! (start a worker, drop or re-add watches, write a journal line). It knows nothing about
//! inotify, mio or the vault. It is one file past 600 lines on purpose: every transition
//! of the one `State` enum reads beside the others (its tests are in `job_tests.rs`).
//!
//! Rules:
//! - each change restarts `settle`; a burst longer than `max_settle` is snapshotted anyway;
//! - at most one worker per job: changes that arrive while a snapshot or scan runs start
//!   the next ChangeSet, which settles from the time of its first change once the worker
//!   is done;
//! - a delta scan (start, overflow, resume, failure retry, `rescan_interval`, watch limit)
//!   replaces whatever was pending: the scan sees the whole source;
//! - `halted-unmounted` discards the pending changes, ignores changes and ticks, and on
//!   resume goes through `starting` (a delta scan) again; a worker that outlived the halt
//!   finishes first; the halt as it began ([`HaltRecord`]) stays in the state until the
//!   resume hands it to the loop, which journals it then;
//! - whether a worker runs is read off the state (`starting`, `snapshotting`, or a halt
//!   that a worker outlived), never kept beside it; before the start scan the state is
//!   `New` (shown as `starting`): like a halt, it ignores events and starts no worker
//!   before [`JobMachine::start`] (the start scan covers them, and answers a `snapshot`
//!   request).

use std::time::{Duration, Instant};

use crate::change::{Change, ChangeSet};
use crate::config::JobConfig;

/// After a failed snapshot or scan, retry (with a delta scan) this much later.
pub const RETRY_AFTER: Duration = Duration::from_secs(30);
/// With incomplete watches (the inotify watch limit was hit), scan at least this often.
pub const WATCH_LIMIT_SCAN_EVERY: Duration = Duration::from_secs(60);

/// The job's timing parameters (the parts of [`JobConfig`] the machine needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Quiet period after the last change.
    pub settle: Duration,
    /// Longest burst before a snapshot is forced.
    pub max_settle: Duration,
    /// Periodic delta scan (`None`: never).
    pub rescan_interval: Option<Duration>,
}

impl Timing {
    /// The timing of `job`.
    pub fn from_job(job: &JobConfig) -> Self {
        Timing {
            settle: job.settings.settle,
            max_settle: job.settings.max_settle.max(job.settings.settle),
            rescan_interval: job.settings.rescan_interval.filter(|d| !d.is_zero()),
        }
    }
}

/// Which side of a job left (or is not the configured filesystem): the mount watcher's own
/// type, so a verdict needs no translation.
pub use crate::watch::mounts::Side;

/// What the mount check says about a job: the mount watcher's own verdict, as [`Side`] is.
pub use crate::watch::mounts::MountCheck as MountState;

/// Why a delta scan runs (named in the journal's `rescan`/`start` lines and the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanReason {
    /// The daemon (or the job) started.
    Start,
    /// The inotify queue overflowed: events were lost.
    Overflow,
    /// The filesystems came back after a halt.
    Resume,
    /// `rescan_interval` elapsed.
    Interval,
    /// The previous snapshot or scan failed.
    Retry,
    /// The watches are incomplete (inotify watch limit), so scans stand in for them.
    WatchLimit,
    /// `reverberator snapshot` asked the daemon for a version now.
    Requested,
    /// The watcher lost track of a folder (folder events read after the folders changed
    /// again): its watches are resynced and the source scanned.
    LostTrack,
    /// A file written in the burst was removed or replaced before its version: if it had
    /// other names (hard links), their new bytes have no record, so a scan finds them.
    RemovedAfterWrite,
}

impl std::fmt::Display for ScanReason {
    /// The words used in the journal and the log (a contract of journal.tsv's messages).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ScanReason::Start => "start",
            ScanReason::Overflow => "overflow",
            ScanReason::Resume => "resume",
            ScanReason::Interval => "periodic",
            ScanReason::Retry => "retry",
            ScanReason::WatchLimit => "watch-limit",
            ScanReason::Requested => "requested",
            ScanReason::LostTrack => "lost-track",
            ScanReason::RemovedAfterWrite => "removed-after-write",
        })
    }
}

/// A journal line the machine asks for (the loop writes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// The inotify queue overflowed.
    Overflow,
    /// A snapshot or scan failed.
    Error(String),
}

/// What the loop must do for the machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Commit a version from this ChangeSet (then retire), on a worker.
    Snapshot(ChangeSet),
    /// Delta-scan the source against the newest version and commit the difference.
    Rescan(ScanReason),
    /// Drop the job's watches: a filesystem left.
    Halt {
        /// The side that left.
        side: Side,
        /// What is awaited.
        awaiting: String,
        /// Why.
        reason: String,
    },
    /// Re-add the job's watches and journal the halt: the filesystems are back (a
    /// `Rescan` follows).
    Resume(HaltRecord),
    /// Write a journal line.
    Journal(Note),
}

/// The first and the latest change of a burst, and whether it is committed from a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Burst {
    /// The first change.
    pub since: Instant,
    /// The latest change.
    pub last: Instant,
    /// Once settled, the burst is committed from a delta scan instead of its ChangeSet, for
    /// this reason (the watcher lost track of a folder, or a written file was removed).
    pub scan: Option<ScanReason>,
}

impl Burst {
    fn at(now: Instant) -> Self {
        Burst {
            since: now,
            last: now,
            scan: None,
        }
    }

    fn extend(burst: Option<Burst>, now: Instant) -> Burst {
        burst.map_or(Burst::at(now), |b| Burst { last: now, ..b })
    }

    fn due(&self, t: &Timing) -> Instant {
        (self.last + t.settle).min(self.since + t.max_settle)
    }
}

/// The job's state, with the data each state needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Nothing started yet: the first mount check and the watches are being set up (no
    /// worker runs; the start scan covers whatever changes meanwhile).
    New,
    /// The start (or resume) scan running; `pending` tracks the changes seen meanwhile.
    Starting {
        /// Changes seen since the scan started.
        pending: Option<Burst>,
    },
    /// Every watch in place, nothing pending.
    Watching,
    /// Changes pending, waiting for `settle` quiet (or `max_settle`).
    Settling(Burst),
    /// A worker is committing a version (or scanning); `pending` tracks new changes.
    Snapshotting {
        /// Changes seen since the worker started.
        pending: Option<Burst>,
    },
    /// A filesystem left: nothing is watched or written until it returns.
    HaltedUnmounted {
        /// The side that left.
        side: Side,
        /// What is awaited.
        awaiting: String,
        /// A worker started before the halt is still running (it finishes; nothing new
        /// starts until it has).
        worker: bool,
        /// The halt as it began (a later verdict may name another side), handed to the
        /// loop with [`Action::Resume`].
        first: HaltRecord,
    },
}

/// A halt as it began: when, which side left and why. Nothing is written into a vault that
/// left, so its `unmount` and `halt` lines are journaled, with this time, on resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaltRecord {
    /// When the job halted (wall time: a halt can span a suspend, which the monotonic
    /// clock does not count).
    pub at: chrono::DateTime<chrono::FixedOffset>,
    /// The side that left.
    pub side: Side,
    /// Why.
    pub reason: String,
}

impl State {
    /// The name `status` shows.
    pub fn name(&self) -> &'static str {
        match self {
            State::New | State::Starting { .. } => "starting",
            State::Watching => "watching",
            State::Settling(_) => "settling",
            State::Snapshotting { .. } => "snapshotting",
            State::HaltedUnmounted { .. } => "halted-unmounted",
        }
    }
}

/// How a worker's job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// A version was committed (its folder name).
    Committed(String),
    /// Nothing differed from the newest version (its folder name, if any).
    Unchanged(Option<String>),
    /// The snapshot or scan failed (the message is journaled).
    Failed(String),
}

/// A delta scan the job wants, and since a failure, not before when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Wanted {
    reason: ScanReason,
    not_before: Option<Instant>,
}

impl Wanted {
    /// A scan wanted as soon as no worker runs.
    fn now(reason: ScanReason) -> Wanted {
        Wanted {
            reason,
            not_before: None,
        }
    }
}

/// One job's state machine.
#[derive(Debug, Clone)]
pub struct JobMachine {
    state: State,
    timing: Timing,
    changes: ChangeSet,
    scan: Option<Wanted>,
    next_rescan: Option<Instant>,
    watch_limited: bool,
    newest: Option<String>,
}

impl JobMachine {
    /// A machine in `new` (shown as `starting`); call [`JobMachine::start`] to get its first
    /// actions.
    pub fn new(timing: Timing) -> Self {
        JobMachine {
            state: State::New,
            timing,
            changes: ChangeSet::new(),
            scan: None,
            next_rescan: None,
            watch_limited: false,
            newest: None,
        }
    }

    /// Begin: the start scan (the loop sets the watches up before it runs). The first
    /// `Ready` verdict calls this; so do tests.
    pub fn start(&mut self, now: Instant) -> Vec<Action> {
        self.scan = Some(Wanted::now(ScanReason::Start));
        self.due_scan(now).unwrap_or_default()
    }

    /// Changes seen by the watcher (already filtered by excludes and the vault path).
    pub fn on_fs(
        &mut self,
        changes: Vec<(std::path::PathBuf, Change)>,
        now: Instant,
    ) -> Vec<Action> {
        if changes.is_empty() || self.inactive() {
            return Vec::new();
        }
        let mut hidden = None;
        for (path, change) in changes {
            if hidden.is_none() && self.hides_a_write(&path, &change) {
                hidden = Some(ScanReason::RemovedAfterWrite);
            }
            self.changes.record(path, change);
        }
        let grow = |b: Option<Burst>| {
            let b = Burst::extend(b, now);
            Burst {
                scan: b.scan.or(hidden),
                ..b
            }
        };
        self.state = match self.state.clone() {
            State::Starting { pending } => State::Starting {
                pending: Some(grow(pending)),
            },
            State::Snapshotting { pending } => State::Snapshotting {
                pending: Some(grow(pending)),
            },
            State::Settling(b) => State::Settling(grow(Some(b))),
            _ => State::Settling(grow(None)),
        };
        Vec::new()
    }

    /// True when `change` removes (or renames something over) a file written in this burst.
    /// inotify reports a write through one name of a multiply-linked file for that name
    /// only, and the snapshot checks the names it has records for (`nlink > 1`: a delta
    /// scan); once that name is gone, nothing would point at the other names, whose bytes
    /// changed. Whether the file had other names is not known any more: the burst is
    /// committed from a delta scan (rare: a file written, then removed within `settle`; a
    /// file created in the burst does not count, its other names are new too).
    fn hides_a_write(&self, path: &std::path::Path, change: &Change) -> bool {
        matches!(change, Change::Deleted | Change::Moved { .. })
            && self
                .changes
                .any_at_or_below(path, |c| matches!(c, Change::Modified | Change::Attrib))
    }

    /// Time has passed: commit a settled burst, start a due scan.
    pub fn on_tick(&mut self, now: Instant) -> Vec<Action> {
        if self.held() {
            return Vec::new();
        }
        if let Some(actions) = self.due_scan(now) {
            return actions;
        }
        if let State::Settling(burst) = self.state {
            if burst.due(&self.timing) <= now {
                return self.take_snapshot(now);
            }
        }
        Vec::new()
    }

    /// The worker finished.
    pub fn on_done(&mut self, done: Done, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        match done {
            Done::Committed(name) => self.newest = Some(name),
            Done::Unchanged(name) => self.newest = name.or(self.newest.take()),
            Done::Failed(msg) => {
                actions.push(Action::Journal(Note::Error(msg)));
                self.scan = Some(Wanted {
                    reason: ScanReason::Retry,
                    not_before: Some(now + RETRY_AFTER),
                });
            }
        }
        if let State::HaltedUnmounted { worker, .. } = &mut self.state {
            *worker = false;
            return actions;
        }
        self.state = match self.state.clone() {
            State::Starting { pending: Some(b) } | State::Snapshotting { pending: Some(b) } => {
                State::Settling(b)
            }
            _ => State::Watching,
        };
        actions.extend(self.on_tick(now));
        actions
    }

    /// The inotify queue overflowed: the next ChangeSet comes from a delta scan.
    pub fn on_overflow(&mut self, now: Instant) -> Vec<Action> {
        if self.inactive() {
            return Vec::new();
        }
        self.scan = Some(Wanted::now(ScanReason::Overflow));
        let mut actions = vec![Action::Journal(Note::Overflow)];
        actions.extend(self.on_tick(now));
        actions
    }

    /// The watcher lost track of a folder (its events were read after the folders changed
    /// again, so some changes may have no record): the burst settles as usual (no version
    /// of a half-done burst) and is then committed from a delta scan, after a resync of the
    /// watches (done by the loop before every scan). Unlike an overflow, no journal line of
    /// its own: the scan's `rescan` line names the reason.
    pub fn on_lost_track(&mut self, now: Instant) -> Vec<Action> {
        if self.inactive() {
            return Vec::new();
        }
        let mark = |b: Burst| Burst {
            scan: Some(ScanReason::LostTrack),
            ..b
        };
        self.state = match self.state.clone() {
            State::Starting { pending } => State::Starting {
                pending: Some(mark(Burst::extend(pending, now))),
            },
            State::Snapshotting { pending } => State::Snapshotting {
                pending: Some(mark(Burst::extend(pending, now))),
            },
            State::Settling(b) => State::Settling(mark(b)),
            _ => State::Settling(mark(Burst::at(now))),
        };
        Vec::new()
    }

    /// `reverberator snapshot` asked for a version now: a delta scan as soon as no worker
    /// runs for the job (a scan already wanted stays: it covers the same; a failure's retry
    /// does not wait). Halted or not started: nothing (the start scan answers it).
    pub fn on_request(&mut self, now: Instant) -> Vec<Action> {
        if self.inactive() {
            return Vec::new();
        }
        let wanted = self.scan.get_or_insert(Wanted::now(ScanReason::Requested));
        wanted.not_before = None;
        self.on_tick(now)
    }

    /// Adding a watch hit the inotify limit: scans stand in for the missing watches.
    pub fn on_watch_limit(&mut self, now: Instant) -> Vec<Action> {
        self.watch_limited = true;
        if self
            .next_rescan
            .map_or(true, |t| t > now + WATCH_LIMIT_SCAN_EVERY)
        {
            self.next_rescan = Some(now + WATCH_LIMIT_SCAN_EVERY);
        }
        Vec::new()
    }

    /// Every folder is watched again (a resync met no watch limit): periodic scans no
    /// longer stand in for watches.
    pub fn on_watches_complete(&mut self) {
        self.watch_limited = false;
    }

    /// The mount check's verdict for this job, at `now` (`wall`: the same moment on the
    /// wall clock, which a halt's journal lines carry): the first `Ready` starts it.
    pub fn on_mount(
        &mut self,
        check: MountState,
        now: Instant,
        wall: chrono::DateTime<chrono::FixedOffset>,
    ) -> Vec<Action> {
        let MountState::Halted {
            side,
            awaiting,
            reason,
        } = check
        else {
            return match self.state.clone() {
                State::New => self.start(now),
                State::HaltedUnmounted { worker, first, .. } => {
                    // A worker that outlived the halt finishes first (`on_done` starts the
                    // scan then); the state says `starting` meanwhile, as a scan would.
                    self.state = State::Starting { pending: None };
                    self.scan = Some(Wanted::now(ScanReason::Resume));
                    let mut actions = vec![Action::Resume(first)];
                    if !worker {
                        actions.extend(self.due_scan(now).unwrap_or_default());
                    }
                    actions
                }
                _ => Vec::new(),
            };
        };
        let first = match &self.state {
            State::HaltedUnmounted {
                side: s,
                awaiting: a,
                ..
            } if (*s, a) == (side, &awaiting) => return Vec::new(),
            State::HaltedUnmounted { first, .. } => first.clone(),
            _ => HaltRecord {
                at: wall,
                side,
                reason: reason.clone(),
            },
        };
        self.state = State::HaltedUnmounted {
            side,
            awaiting: awaiting.clone(),
            worker: self.is_busy(),
            first,
        };
        self.changes = ChangeSet::new();
        self.scan = None;
        vec![Action::Halt {
            side,
            awaiting,
            reason,
        }]
    }

    /// New settle/max_settle/rescan_interval (a reload that changed only those).
    pub fn set_timing(&mut self, timing: Timing, now: Instant) -> Vec<Action> {
        self.timing = timing;
        self.next_rescan = None;
        self.schedule_rescan(now);
        self.on_tick(now)
    }

    /// Start the wanted scan if it is due (a retry waits for its time), or the
    /// `rescan_interval` scan.
    fn due_scan(&mut self, now: Instant) -> Option<Vec<Action>> {
        if self
            .scan
            .and_then(|w| w.not_before)
            .is_some_and(|t| t > now)
        {
            return None;
        }
        if self.scan.is_none() && self.next_rescan.is_some_and(|t| t <= now) {
            self.scan = Some(Wanted::now(self.interval_reason()));
        }
        let reason = self.scan.take()?.reason;
        self.changes = ChangeSet::new();
        self.state = match self.state {
            State::New | State::Starting { .. } => State::Starting { pending: None },
            _ => State::Snapshotting { pending: None },
        };
        self.next_rescan = None;
        self.schedule_rescan(now);
        Some(vec![Action::Rescan(reason)])
    }

    fn interval_reason(&self) -> ScanReason {
        if self.watch_limited {
            ScanReason::WatchLimit
        } else {
            ScanReason::Interval
        }
    }

    fn schedule_rescan(&mut self, now: Instant) {
        let every = match (self.timing.rescan_interval, self.watch_limited) {
            (Some(d), true) => Some(d.min(WATCH_LIMIT_SCAN_EVERY)),
            (None, true) => Some(WATCH_LIMIT_SCAN_EVERY),
            (d, false) => d,
        };
        self.next_rescan = every.map(|d| now + d);
    }

    fn take_snapshot(&mut self, now: Instant) -> Vec<Action> {
        if let State::Settling(Burst {
            scan: Some(reason), ..
        }) = self.state
        {
            self.scan.get_or_insert(Wanted::now(reason));
            if let Some(actions) = self.due_scan(now) {
                return actions;
            }
        }
        let changes = std::mem::take(&mut self.changes);
        if changes.is_empty() {
            self.state = State::Watching;
            return Vec::new();
        }
        self.state = State::Snapshotting { pending: None };
        vec![Action::Snapshot(changes)]
    }

    /// When the machine next wants `on_tick` (`None`: only events will wake it).
    pub fn deadline(&self) -> Option<Instant> {
        if self.held() {
            return None;
        }
        let settle = match &self.state {
            State::Settling(b) => Some(b.due(&self.timing)),
            _ => None,
        };
        let scan = match self.scan {
            Some(w) => w.not_before,
            None => self.next_rescan,
        };
        [settle, scan].into_iter().flatten().min()
    }

    /// When the pending changes will be committed (settle, max_settle, or a failure's
    /// retry), if that is scheduled.
    pub fn snapshot_deadline(&self) -> Option<Instant> {
        match (&self.state, self.scan) {
            (State::Settling(b), _) => Some(b.due(&self.timing)),
            (_, Some(w)) if !self.is_busy() => w.not_before,
            _ => None,
        }
    }

    /// When the next periodic delta scan (`rescan_interval`, or the watch-limit fallback)
    /// is due.
    pub fn scan_deadline(&self) -> Option<Instant> {
        self.next_rescan.filter(|_| !self.is_halted())
    }

    fn is_halted(&self) -> bool {
        matches!(self.state, State::HaltedUnmounted { .. })
    }

    /// True when the job is halted or has not started (its first mount verdict has not
    /// come: nothing is read or written before it says both sides are there): events are
    /// ignored, the start or resume scan covers them.
    fn inactive(&self) -> bool {
        matches!(self.state, State::New | State::HaltedUnmounted { .. })
    }

    /// True when no worker may start: one runs, or the job is [inactive](Self::inactive).
    fn held(&self) -> bool {
        self.is_busy() || self.inactive()
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// How many paths are pending for the next version.
    pub fn pending_len(&self) -> usize {
        self.changes.len()
    }

    /// The newest version's folder name, as far as this daemon knows.
    pub fn newest(&self) -> Option<&str> {
        self.newest.as_deref()
    }

    /// True while a worker runs for this job: a start or resume scan (`starting`), a
    /// snapshot or scan (`snapshotting`), or one that outlived a halt.
    pub fn is_busy(&self) -> bool {
        match self.state {
            State::Starting { .. } | State::Snapshotting { .. } => true,
            State::HaltedUnmounted { worker, .. } => worker,
            State::New | State::Watching | State::Settling(_) => false,
        }
    }

    /// True when the watches are incomplete (scans stand in for them).
    pub fn is_watch_limited(&self) -> bool {
        self.watch_limited
    }
}

#[cfg(test)]
#[path = "job_tests.rs"]
mod tests;
