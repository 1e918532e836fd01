//! One running job inside the loop: its config, its [`JobMachine`], its watcher (with the
//! mio token it is registered under) and what `status` shows about it. A reload that
//! restarts a job replaces its slot (a new instance number, a new token).

use std::os::fd::RawFd;
use std::path::PathBuf;
use std::time::Instant;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use crate::config::JobConfig;
use crate::watch::inotify::{Filter, WatchError, WatchEvent, Watcher};
use crate::watch::mounts::{MountCheck, MountGuard, MountTable};

use super::job::{JobMachine, MountState, Side, State, Timing};
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
    /// The last failure, for `status`.
    pub last_error: Option<String>,
    /// True once the job's `start` line was journaled.
    pub announced: bool,
    /// Whether source and vault are on the filesystems they must be on.
    guard: MountGuard,
    /// While halted: when and why (journaled once the vault is back).
    pub halted: Option<HaltRecord>,
    /// The watch coverage last journaled (see `Daemon::note_coverage`).
    pub coverage_noted: Option<String>,
}

/// A halt, remembered until the job resumes (nothing is written into a vault that left).
#[derive(Debug, Clone)]
pub struct HaltRecord {
    /// When the job halted.
    pub at: chrono::DateTime<chrono::FixedOffset>,
    /// The side that left.
    pub side: Side,
    /// Why.
    pub reason: String,
}

impl JobSlot {
    /// A slot for `job` (not yet watched).
    pub fn new(job: JobConfig, instance: u64) -> Self {
        let machine = JobMachine::new(Timing::from_job(&job));
        let guard = MountGuard::new(&job);
        JobSlot {
            job,
            instance,
            machine,
            watcher: None,
            last_error: None,
            announced: false,
            guard,
            halted: None,
            coverage_noted: None,
        }
    }

    /// Judge source and vault against the mount table (`findmnt`/`blkid` only when a
    /// path's mount changed since the last check).
    pub fn mount_state(&mut self, table: &MountTable) -> MountState {
        match self.guard.check(table) {
            MountCheck::Ready => MountState::Ready,
            MountCheck::Halted {
                side,
                awaiting,
                reason,
            } => MountState::Halted {
                side,
                awaiting,
                reason,
            },
        }
    }

    /// After the job's first successful run: record `auto` filesystem signatures.
    pub fn record_auto(&mut self) {
        if let Err(e) = self.guard.record_auto(&self.job) {
            tracing::warn!(job = %self.job.name, "cannot record the filesystem signatures: {e}");
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
            excludes: job.exclude.clone(),
            ignored,
        }
    }

    /// Set up the watches and register the inotify fd under a fresh token.
    pub fn watch(
        &mut self,
        registry: &Registry,
        tokens: &mut TokenCounter,
    ) -> Result<(), WatchError> {
        self.unwatch(registry);
        let started = Instant::now();
        let cpu = thread_cpu();
        let watcher = Watcher::new(&self.job.source, Self::filter(&self.job))?;
        let cpu = thread_cpu().saturating_sub(cpu);
        let token = tokens.next_token();
        let fd: RawFd = watcher.raw_fd();
        registry
            .register(&mut SourceFd(&fd), token, Interest::READABLE)
            .map_err(|e| crate::error::PathError::new(&self.job.source, e))?;
        tracing::info!(
            job = %self.job.name,
            watches = watcher.watch_count(),
            "watching {} ({:.2?}, cpu {:.2?})",
            self.job.source.display(),
            started.elapsed(),
            cpu
        );
        self.watcher = Some((token, watcher));
        Ok(())
    }

    /// Drop the watches (deregister and close the inotify fd).
    pub fn unwatch(&mut self, registry: &Registry) {
        if let Some((_, w)) = self.watcher.take() {
            let fd = w.raw_fd();
            let _ = registry.deregister(&mut SourceFd(&fd));
        }
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
        let (_, w) = self.watcher.as_ref()?;
        w.limit_error().map(ToString::to_string)
    }

    /// Make the watch set equal the tree again (before a delta scan: events may have been
    /// lost). The events are the watcher's notices (a watch limit hit now).
    pub fn resync(&mut self) -> Vec<WatchEvent> {
        let Some((_, w)) = self.watcher.as_mut() else {
            return Vec::new();
        };
        let events = w.resync().unwrap_or_else(|e| {
            tracing::error!(job = %self.job.name, "re-adding watches failed: {e}");
            Vec::new()
        });
        if w.limit_error().is_none() {
            self.machine.on_watches_complete();
        }
        events
    }

    /// Watch coverage: `None` when every folder the last walk met is watched, else why not
    /// and what stands in for the missing watches.
    pub fn coverage(&self) -> Option<String> {
        let (_, w) = self.watcher.as_ref()?;
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
                fallback(self.job.rescan_interval)
            )
        })
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
            State::HaltedUnmounted { side, awaiting } => {
                (Some(side.as_str().to_owned()), Some(awaiting.clone()))
            }
            _ => (None, None),
        };
        JobStatus {
            name: self.job.name.clone(),
            state: self.machine.state().name().to_owned(),
            pending: self.machine.pending_len(),
            newest: self.machine.newest().map(str::to_owned),
            next_snapshot_ms: self.machine.snapshot_deadline().map(|d| ms_until(d, now)),
            next_scan_ms: self.machine.scan_deadline().map(|d| ms_until(d, now)),
            watches: self.watcher.as_ref().map_or(0, |(_, w)| w.watch_count()),
            folders: self.watcher.as_ref().map_or(0, |(_, w)| w.walked().folders),
            coverage: self.coverage(),
            watch_limited: self.machine.is_watch_limited(),
            halted_side: side,
            awaiting,
            last_error: self.last_error.clone(),
        }
    }
}

fn ms_until(t: Instant, now: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(now).as_millis()).unwrap_or(u64::MAX)
}

/// CPU time (user + system) of the calling thread.
fn thread_cpu() -> std::time::Duration {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `ru` is a valid out-pointer for getrusage.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, ru.as_mut_ptr()) };
    if rc != 0 {
        return std::time::Duration::ZERO;
    }
    // SAFETY: getrusage succeeded and filled the struct.
    let ru = unsafe { ru.assume_init() };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    std::time::Duration::from_micros(us(ru.ru_utime) + us(ru.ru_stime))
}
