//! One running job inside the loop: its config, its [`JobMachine`], its watcher (with the
//! mio token it is registered under) and what `status` shows about it. A reload that
//! restarts a job replaces its slot (a new instance number, a new token).
//!
//! The watcher is built and resynced on the setup thread (`setup.rs`): while it is away
//! the slot keeps what `status` showed of it, and the job's delta scan waits for it
//! ([`JobSlot::defer_scan`], handed back by [`JobSlot::setup_done`]).

use std::os::fd::RawFd;
use std::path::PathBuf;
use std::time::Instant;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use crate::config::JobConfig;
use crate::watch::inotify::{Filter, WatchEvent, Watcher};

use super::job::{JobMachine, ScanReason, State, Timing};
use super::mountcheck::SharedGuard;
use super::setup::{Finished, Setups, Work};
use super::status::JobStatus;
use super::tokens::TokenCounter;

/// A job as the loop runs it.
#[derive(Debug)]
pub struct JobSlot {
    /// The job's config.
    pub job: JobConfig,
    /// Distinguishes this run of the job from earlier ones (worker results carry it).
    pub instance: u64,
    /// The state machine.
    pub machine: JobMachine,
    /// The watcher and its token, while the job is watched.
    watcher: Option<(Token, Watcher)>,
    /// The last failure (a worker's or the watcher setup's), for `status`: reported, not
    /// acted on, so it is not part of the machine's state.
    pub last_error: Option<String>,
    /// True once the job's `start` line was journaled (the loop's journal bookkeeping).
    pub announced: bool,
    /// Whether source and vault are on the filesystems they must be on (used on the
    /// mount-check thread only).
    pub guard: SharedGuard,
    /// The watch coverage last journaled (see `Daemon::note_coverage`).
    pub coverage_noted: Option<String>,
    /// While the watcher is on the setup thread.
    away: Option<Away>,
    /// What `status` showed of the watcher when it left (shown while it is away).
    shown: Shown,
    /// The scan of a cancelled setup, for the one that replaces it.
    carried_scan: Option<ScanReason>,
}

/// A watcher on the setup thread.
#[derive(Debug, Default)]
struct Away {
    /// The token its fd stays registered under (a resync); `None` for a new watcher.
    token: Option<Token>,
    /// The delta scan that waits for it.
    scan: Option<ScanReason>,
    /// The job stopped watching meanwhile (a halt): the watcher is dropped on return.
    cancelled: bool,
    /// ... and wants a new one after all (resumed before the old one came back).
    rewatch: bool,
}

/// The watcher's figures as `status` shows them.
#[derive(Debug, Clone, Default)]
struct Shown {
    watches: usize,
    folders: usize,
    coverage: Option<String>,
    limit: Option<String>,
}

/// What a finished setup means for the loop.
#[derive(Debug, Default)]
pub struct SetupOutcome {
    /// The walk's notices and the events queued while the watcher was away.
    pub events: Vec<WatchEvent>,
    /// The delta scan to submit now.
    pub scan: Option<ScanReason>,
    /// True when a new watcher was put in place (its coverage is to be noted).
    pub installed: bool,
}

impl JobSlot {
    /// A slot for `job` (not yet watched).
    pub fn new(job: JobConfig, instance: u64) -> Self {
        let machine = JobMachine::new(Timing::from_job(&job));
        JobSlot {
            job,
            instance,
            machine,
            watcher: None,
            last_error: None,
            announced: false,
            guard: SharedGuard::default(),
            coverage_noted: None,
            away: None,
            shown: Shown::default(),
            carried_scan: None,
        }
    }

    /// True while the job is halted (nothing may be written into its vault).
    pub fn is_halted(&self) -> bool {
        matches!(self.machine.state(), State::HaltedUnmounted { .. })
    }

    /// What the watcher leaves out: the excludes, and the vault when it is inside the
    /// source.
    pub fn filter(job: &JobConfig) -> Filter {
        let ignored = job
            .vault_in_source()
            .map(PathBuf::from)
            .into_iter()
            .collect();
        Filter {
            excludes: job.settings.exclude.clone(),
            ignored,
        }
    }

    /// Hand the setup of the watches to the setup thread (nothing when the job is watched
    /// or a setup is on its way already).
    pub fn start_setup(&mut self, setups: &mut Setups) {
        if self.watcher.is_some() {
            return;
        }
        if let Some(away) = self.away.as_mut() {
            away.rewatch |= away.cancelled;
            return;
        }
        self.away = Some(Away {
            scan: self.carried_scan.take(),
            ..Away::default()
        });
        let work = Work::New {
            source: self.job.source.clone(),
            filter: Self::filter(&self.job),
        };
        setups.submit(&self.job.name, self.instance, work);
    }

    /// Hand the watcher to the setup thread for a resync (its fd stays registered); false
    /// when there is none here.
    pub fn start_resync(&mut self, setups: &mut Setups) -> bool {
        self.shown = self.shown();
        let Some((token, w)) = self.watcher.take() else {
            return false;
        };
        self.away = Some(Away {
            token: Some(token),
            ..Away::default()
        });
        setups.submit(&self.job.name, self.instance, Work::Resync(Box::new(w)));
        true
    }

    /// True while the watcher is on the setup thread.
    pub fn is_away(&self) -> bool {
        self.away.is_some()
    }

    /// Run delta scan `reason` once the watcher is back (a scan already waiting stays:
    /// it sees the same source).
    pub fn defer_scan(&mut self, reason: ScanReason) {
        if let Some(a) = self.away.as_mut() {
            a.scan.get_or_insert(reason);
        }
    }

    /// The setup thread handed the watcher back: put it in place (a new one registered
    /// under a fresh token), read what queued up meanwhile, and say which scan may run.
    pub fn setup_done(
        &mut self,
        done: Finished,
        registry: &Registry,
        tokens: &mut TokenCounter,
        now: Instant,
    ) -> SetupOutcome {
        let Some(away) = self.away.take() else {
            return SetupOutcome::default();
        };
        let mut out = SetupOutcome {
            scan: away.scan,
            ..SetupOutcome::default()
        };
        let (w, events) = match done.result {
            Ok(ok) => ok,
            Err(e) => {
                tracing::error!(job = %self.job.name, "cannot watch the source: {e}");
                self.last_error = Some(e.to_string());
                return out;
            }
        };
        let w = *w;
        if away.cancelled {
            drop_watcher(registry, &w);
            // Resumed before the old watcher came back: a new setup follows (the caller
            // sees `wants_rewatch`), and the scan waits for that one.
            self.carried_scan = away.scan.filter(|_| away.rewatch);
            return SetupOutcome::default();
        }
        let token = match away.token {
            Some(t) => t,
            None => {
                let token = tokens.next_token();
                let fd: RawFd = w.raw_fd();
                if let Err(e) = registry.register(&mut SourceFd(&fd), token, Interest::READABLE) {
                    tracing::error!(job = %self.job.name, "cannot watch the source: {e}");
                    self.last_error = Some(e.to_string());
                    return out;
                }
                tracing::info!(
                    job = %self.job.name,
                    watches = w.watch_count(),
                    "watching {} ({:.2?}, cpu {:.2?}, on the setup thread)",
                    self.job.source.display(),
                    done.took,
                    done.cpu
                );
                out.installed = true;
                token
            }
        };
        if done.resync && w.limit_error().is_none() {
            self.machine.on_watches_complete();
        }
        self.watcher = Some((token, w));
        out.events = events;
        out.events.extend(self.drain(now));
        out
    }

    /// True when a cancelled setup must be followed by a new one (see [`Away::rewatch`]).
    pub fn wants_rewatch(&self) -> bool {
        self.carried_scan.is_some() && self.watcher.is_none() && self.away.is_none()
    }

    /// What `status` shows of the watcher: its figures now, or those from when it left.
    fn shown(&self) -> Shown {
        match self.watcher.as_ref() {
            Some((_, w)) => Shown {
                watches: w.watch_count(),
                folders: w.walked().folders,
                coverage: coverage_of(w, &self.job),
                limit: w.limit_error().map(ToString::to_string),
            },
            None => self.shown.clone(),
        }
    }

    /// Drop the watches (deregister and close the inotify fd; one on the setup thread is
    /// dropped when it comes back).
    pub fn unwatch(&mut self, registry: &Registry) {
        if let Some((_, w)) = self.watcher.take() {
            drop_watcher(registry, &w);
        }
        if let Some(a) = self.away.as_mut() {
            a.cancelled = true;
            a.rewatch = false;
            a.scan = None;
        }
        self.shown = Shown::default();
    }

    /// True while watched.
    pub fn is_watched(&self) -> bool {
        self.watcher.is_some()
    }

    /// True when `token` is this slot's watcher.
    pub fn owns(&self, token: Token) -> bool {
        self.watcher.as_ref().is_some_and(|(t, _)| *t == token)
    }

    /// The watch-limit error, if the watches are incomplete.
    pub fn limit_error(&self) -> Option<String> {
        self.shown().limit
    }

    /// Watch coverage: `None` when every folder the last walk met is watched, else why not
    /// and what stands in for the missing watches.
    pub fn coverage(&self) -> Option<String> {
        self.shown().coverage
    }

    /// Read the watcher's queue (until `WouldBlock`).
    pub fn drain(&mut self, now: Instant) -> Vec<WatchEvent> {
        let Some((_, w)) = self.watcher.as_mut() else {
            return Vec::new();
        };
        w.drain(now).unwrap_or_else(|e| {
            tracing::error!(job = %self.job.name, "reading inotify events failed: {e}");
            vec![WatchEvent::Overflow]
        })
    }

    /// Resolve move pairs whose wait expired.
    pub fn flush(&mut self, now: Instant) -> Vec<WatchEvent> {
        match self.watcher.as_mut() {
            Some((_, w)) if w.deadline().is_some_and(|d| d <= now) => w.flush(now),
            _ => Vec::new(),
        }
    }

    /// The earliest instant this slot needs the loop (machine or move pairing).
    pub fn deadline(&self) -> Option<Instant> {
        let watcher = self.watcher.as_ref().and_then(|(_, w)| w.deadline());
        [self.machine.deadline(), watcher]
            .into_iter()
            .flatten()
            .min()
    }

    /// What `status` shows.
    pub fn status(&self, now: Instant) -> JobStatus {
        let (side, awaiting) = match self.machine.state() {
            State::HaltedUnmounted { side, awaiting, .. } => {
                (Some(side.as_str().to_owned()), Some(awaiting.clone()))
            }
            _ => (None, None),
        };
        let shown = self.shown();
        JobStatus {
            name: self.job.name.clone(),
            state: self.machine.state().name().to_owned(),
            pending: self.machine.pending_len(),
            newest: self.machine.newest().map(str::to_owned),
            next_snapshot_ms: self.machine.snapshot_deadline().map(|d| ms_until(d, now)),
            next_scan_ms: self.machine.scan_deadline().map(|d| ms_until(d, now)),
            watches: shown.watches,
            folders: shown.folders,
            coverage: shown.coverage,
            watch_limited: self.machine.is_watch_limited(),
            halted_side: side,
            awaiting,
            last_error: self.last_error.clone(),
        }
    }
}

/// Watch coverage of `w`: `None` when every folder the last walk met is watched, else why
/// not and what stands in for the missing watches.
fn coverage_of(w: &Watcher, job: &JobConfig) -> Option<String> {
    let walked = w.walked();
    let fallback = |every: Option<std::time::Duration>| match every {
        Some(d) => format!(
            "periodic delta scan every {}",
            humantime::format_duration(d)
        ),
        None => "no periodic delta scan (rescan_interval = \"0\")".to_owned(),
    };
    if let Some(e) = w.limit_error() {
        return Some(format!(
            "{e}; fallback: {}",
            fallback(Some(super::job::WATCH_LIMIT_SCAN_EVERY))
        ));
    }
    (walked.unwatched > 0).then(|| {
        format!(
            "{} of {} folders could not be opened or watched; fallback: {}",
            walked.unwatched,
            walked.folders,
            fallback(job.settings.rescan_interval)
        )
    })
}

/// Deregister a watcher's fd (it is closed when `w` is dropped).
fn drop_watcher(registry: &Registry, w: &Watcher) {
    let fd = w.raw_fd();
    let _ = registry.deregister(&mut SourceFd(&fd));
}

fn ms_until(t: Instant, now: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(now).as_millis()).unwrap_or(u64::MAX)
}
