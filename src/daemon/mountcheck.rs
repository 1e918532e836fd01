//! Mount checks off the loop thread: each job's [`MountGuard`] (a few `stat`s, plus
//! `findmnt`/`blkid` when a path's mount changed, and the `auto` signature records) runs on
//! a `mount-check` thread of its own (one per job run, started at its first check), so a
//! dead network mount or a slow `blkid` never stops the loop from reading events, signals
//! and `status` requests, nor another job from starting, committing or being judged.
//!
//! The loop asks ([`MountChecks::check`], [`MountChecks::record_auto`]); the thread answers
//! through a shared channel plus the loop's `Waker`, in the order asked, with the job run's
//! instance so a verdict for a job that was restarted meanwhile is dropped. Each job's
//! guard is shared with its thread (`Arc<Mutex<_>>`): only the thread locks it; the slot
//! keeps it so that a restarted job gets a fresh one. The guard itself is made on the
//! thread at the job's first check (making it reads the mount table and `stat`s both
//! paths). While one check of a job is blocked, that job's later checks wait behind it.
//!
//! For tests, `REVERBERATOR_TEST_SLOW_MOUNT_CHECK=JOB:MS` makes each check of job `JOB`
//! sleep `MS` milliseconds first (a `stat` on a dead network mount, without one).

use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};

use mio::Waker;

use crate::config::JobConfig;
use crate::watch::mounts::{MountCheck, MountGuard, MountTable};

use super::job::MountState;
use super::setup::test_delay;

/// A job's guard, made on the mount-check thread at its first check.
pub type SharedGuard = Arc<Mutex<Option<MountGuard>>>;

/// A finished check, for the job run `instance` of `job`.
#[derive(Debug)]
pub struct Verdict {
    /// The job's name.
    pub job: String,
    /// The job run it was asked for.
    pub instance: u64,
    /// Ready, or halted and why.
    pub state: MountState,
}

enum Ask {
    Check {
        job: Box<JobConfig>,
        instance: u64,
        guard: SharedGuard,
        table: Option<MountTable>,
    },
    RecordAuto {
        job: Box<JobConfig>,
        guard: SharedGuard,
    },
}

/// The mount-check threads (one per job run, started at its first ask) and the channel
/// their verdicts come back on.
#[derive(Debug)]
pub struct MountChecks {
    /// Each job run's thread, by instance.
    threads: HashMap<u64, Sender<AskBox>>,
    done: Sender<Verdict>,
    rx: Receiver<Verdict>,
    waker: Arc<Waker>,
    /// Done on the loop thread (a thread could not start).
    inline: Vec<Verdict>,
}

/// [`Ask`] behind a type that can be `Debug` without printing guards.
struct AskBox(Ask);

impl std::fmt::Debug for AskBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("mount check")
    }
}

impl MountChecks {
    /// No thread yet; each verdict wakes `waker`.
    pub fn start(waker: Arc<Waker>) -> Self {
        let (done, rx) = channel::<Verdict>();
        MountChecks {
            threads: HashMap::new(),
            done,
            rx,
            waker,
            inline: Vec::new(),
        }
    }

    /// Judge `job`'s source and vault against `table` (None: a fresh read of the mount
    /// table); the verdict comes back from [`MountChecks::verdicts`].
    pub fn check(
        &mut self,
        job: &JobConfig,
        instance: u64,
        guard: &SharedGuard,
        table: Option<MountTable>,
    ) {
        let ask = Ask::Check {
            job: Box::new(job.clone()),
            instance,
            guard: Arc::clone(guard),
            table,
        };
        self.ask(instance, ask);
    }

    /// After the job's first successful run: record its `auto` filesystem signatures.
    pub fn record_auto(&mut self, job: &JobConfig, instance: u64, guard: &SharedGuard) {
        let ask = Ask::RecordAuto {
            job: Box::new(job.clone()),
            guard: Arc::clone(guard),
        };
        self.ask(instance, ask);
    }

    /// The job run `instance` is gone: its thread ends after what it was asked.
    pub fn forget(&mut self, instance: u64) {
        self.threads.remove(&instance);
    }

    /// Hand `ask` to the job run's thread (started now if it has none). Without a
    /// thread (it could not start), the work is done here, on the loop.
    fn ask(&mut self, instance: u64, ask: Ask) {
        if !self.threads.contains_key(&instance) {
            match self.spawn(instance) {
                Ok(tx) => {
                    self.threads.insert(instance, tx);
                }
                Err(e) => tracing::error!("cannot start a mount-check thread: {e}"),
            }
        }
        let ask = match self.threads.get(&instance) {
            Some(tx) => match tx.send(AskBox(ask)) {
                Ok(()) => return,
                Err(back) => back.0 .0,
            },
            None => ask,
        };
        self.inline.extend(run(ask));
    }

    fn spawn(&self, instance: u64) -> std::io::Result<Sender<AskBox>> {
        let (tx, asks) = channel::<AskBox>();
        let done = self.done.clone();
        let waker = Arc::clone(&self.waker);
        std::thread::Builder::new()
            .name(format!("mount-check-{instance}"))
            .spawn(move || {
                for AskBox(ask) in asks {
                    let Some(verdict) = run(ask) else { continue };
                    if done.send(verdict).is_err() {
                        return;
                    }
                    if let Err(e) = waker.wake() {
                        tracing::error!("cannot wake the event loop: {e}");
                    }
                }
            })?;
        Ok(tx)
    }

    /// The verdicts since the last call (each job's in the order asked).
    pub fn verdicts(&mut self) -> Vec<Verdict> {
        let mut out = std::mem::take(&mut self.inline);
        out.extend(self.rx.try_iter());
        out
    }

    /// True when a verdict waits without a wake-up (the inline fallback).
    pub fn has_inline(&self) -> bool {
        !self.inline.is_empty()
    }
}

fn run(ask: Ask) -> Option<Verdict> {
    match ask {
        Ask::Check {
            job,
            instance,
            guard,
            table,
        } => {
            if let Some(ms) = test_delay("REVERBERATOR_TEST_SLOW_MOUNT_CHECK", &job.name) {
                std::thread::sleep(std::time::Duration::from_millis(ms));
            }
            let mut guard = guard.lock().unwrap_or_else(PoisonError::into_inner);
            let guard = guard.get_or_insert_with(|| MountGuard::new(&job));
            let check = match table.map_or_else(MountTable::read, Ok) {
                Ok(table) => guard.check(&table),
                Err(e) => {
                    tracing::warn!(job = %job.name, "cannot read the mount table: {e}");
                    MountCheck::Ready
                }
            };
            Some(Verdict {
                job: job.name.clone(),
                instance,
                state: check,
            })
        }
        Ask::RecordAuto { job, guard } => {
            let mut guard = guard.lock().unwrap_or_else(PoisonError::into_inner);
            let guard = guard.get_or_insert_with(|| MountGuard::new(&job));
            if let Err(e) = guard.record_auto(&job) {
                tracing::warn!(job = %job.name, "cannot record the filesystem signatures: {e}");
            }
            None
        }
    }
}
