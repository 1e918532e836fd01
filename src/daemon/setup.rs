//! Watch setup off the loop thread: building a job's [`Watcher`] (a walk of every folder of
//! its source) and [`Watcher::resync`] (the same walk, before every delta scan) run on a
//! `watch-setup` thread of their own, so a job with a million folders, or a source on a
//! slow disk, never stops the loop from reading the other jobs' events, signals and
//! `status` requests, nor another job's setup from running.
//!
//! The watcher is shuttled, not shared: the loop hands it over (its inotify fd stays
//! registered under its token; the loop does not read it while it is away), the thread
//! walks, and hands it back through a channel plus the loop's `Waker`. The loop then reads
//! the queue once (edge-triggered: events that came meanwhile raised no new readiness) and
//! submits the job's delta scan, which waited for the watches (see `JobSlot::setup`).
//!
//! The setup's CPU time (journaled beside its wall time) is `getrusage(RUSAGE_THREAD)`,
//! called through `libc` here: a process-accounting call, not file work, so not `fs`'s.
//!
//! For tests, `REVERBERATOR_TEST_SLOW_SETUP=JOB:MS` makes each setup of job `JOB` sleep `MS`
//! milliseconds first (a tree whose walk is slow, without making a huge tree).

use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::Waker;

use crate::watch::inotify::{Filter, WatchError, WatchEvent, Watcher};

/// What the setup thread is asked to do for one job.
#[derive(Debug)]
pub enum Work {
    /// Build a new watcher for `source`.
    New {
        /// The source root.
        source: PathBuf,
        /// What the watcher leaves out.
        filter: Filter,
    },
    /// Make this watcher's watch set equal the tree again.
    Resync(Box<Watcher>),
}

/// A finished setup, for the job run `instance` of `job`.
#[derive(Debug)]
pub struct Finished {
    /// The job's name.
    pub job: String,
    /// The job run it was asked for (a restarted job's result is dropped).
    pub instance: u64,
    /// The watcher and the events the walk produced (`LimitReached`), or why none could
    /// be built. A resync always hands its watcher back.
    pub result: Result<(Box<Watcher>, Vec<WatchEvent>), WatchError>,
    /// True for a resync.
    pub resync: bool,
    /// Wall time of the walk.
    pub took: Duration,
    /// CPU time (user + system) of the walk.
    pub cpu: Duration,
}

/// The setup threads' results, and the loop's waker they ring.
#[derive(Debug)]
pub struct Setups {
    done: Sender<Finished>,
    rx: Receiver<Finished>,
    waker: Arc<Waker>,
    /// Done on the loop thread (a setup thread could not start).
    inline: Vec<Finished>,
}

impl Setups {
    /// Ready to run setups; each finished one wakes `waker`.
    pub fn start(waker: Arc<Waker>) -> Self {
        let (done, rx) = channel::<Finished>();
        Setups {
            done,
            rx,
            waker,
            inline: Vec::new(),
        }
    }

    /// Run `work` for the job run on a thread of its own: a job's setups come one at a
    /// time (its watcher is away meanwhile), but one job's slow walk must not hold
    /// another's (with one thread for all jobs, a setup queued behind a slow one waited
    /// for it). Without a thread (it could not start), the work is done here, on the loop
    /// thread, as before this module existed.
    pub fn submit(&mut self, job: &str, instance: u64, work: Work) {
        let item = (job.to_owned(), instance, work);
        let slot = Arc::new(Mutex::new(Some(item)));
        let (done, waker, mine) = (self.done.clone(), Arc::clone(&self.waker), slot.clone());
        let spawned = std::thread::Builder::new()
            .name("watch-setup".into())
            .spawn(move || {
                let Some((job, instance, w)) = mine.lock().ok().and_then(|mut m| m.take()) else {
                    return;
                };
                if done.send(run(job, instance, w)).is_ok() {
                    if let Err(e) = waker.wake() {
                        tracing::error!("cannot wake the event loop: {e}");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start a watch-setup thread: {e}");
            let taken = slot.lock().ok().and_then(|mut m| m.take());
            if let Some((job, instance, work)) = taken {
                self.inline.push(run(job, instance, work));
            }
        }
    }

    /// The setups finished since the last call.
    pub fn finished(&mut self) -> Vec<Finished> {
        let mut out = std::mem::take(&mut self.inline);
        out.extend(self.rx.try_iter());
        out
    }

    /// True when a finished setup waits (only the inline fallback needs the loop to look
    /// without a wake-up).
    pub fn has_inline(&self) -> bool {
        !self.inline.is_empty()
    }
}

fn run(job: String, instance: u64, work: Work) -> Finished {
    if let Some(ms) = test_delay("REVERBERATOR_TEST_SLOW_SETUP", &job) {
        std::thread::sleep(Duration::from_millis(ms));
    }
    let started = Instant::now();
    let cpu = thread_cpu();
    let (result, resync) = match work {
        Work::New { source, filter } => (
            Watcher::new(&source, filter).map(|w| (Box::new(w), Vec::new())),
            false,
        ),
        Work::Resync(mut w) => {
            let events = w.resync().unwrap_or_else(|e| {
                tracing::error!(job = %job, "re-adding watches failed: {e}");
                Vec::new()
            });
            (Ok((w, events)), true)
        }
    };
    Finished {
        job,
        instance,
        result,
        resync,
        took: started.elapsed(),
        cpu: thread_cpu().saturating_sub(cpu),
    }
}

/// A test hook `VAR=JOB:MS`: the milliseconds to sleep when `job` is `JOB`.
pub(super) fn test_delay(var: &str, job: &str) -> Option<u64> {
    let v = std::env::var(var).ok()?;
    let (name, ms) = v.rsplit_once(':')?;
    (name == job).then(|| ms.parse().ok()).flatten()
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
