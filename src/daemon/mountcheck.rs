//! Mount checks off the loop thread: each job's [`MountGuard`] (a few `stat`s, plus
//! `findmnt`/`blkid` when a path's mount changed, and the `auto` signature records) runs on
//! one `mount-check` thread, so a dead network mount or a slow `blkid` never stops the loop
//! from reading the other jobs' events, signals and `status` requests.
//!
//! The loop asks ([`MountChecks::check`], [`MountChecks::record_auto`]); the thread answers
//! through a channel plus the loop's `Waker`, in the order asked (one thread), with the job
//! run's instance so a verdict for a job that was restarted meanwhile is dropped. Each
//! job's guard is shared with the thread (`Arc<Mutex<_>>`): only the thread locks it, the
//! slot keeps it so that a restarted job gets a fresh one. The guard itself is made on the
//! thread at the job's first check (making it reads the mount table and `stat`s both
//! paths).
//!
//! While a check is blocked (a `stat` on a dead mount), later checks of every job wait
//! behind it; the loop, and the jobs' watches and snapshots, do not.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};

use mio::Waker;

use crate::config::JobConfig;
use crate::watch::mounts::{MountCheck, MountGuard, MountTable};

use super::job::MountState;

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

/// The mount-check thread and its two channels.
#[derive(Debug)]
pub struct MountChecks {
    tx: Option<Sender<AskBox>>,
    rx: Receiver<Verdict>,
    /// Done on the loop thread (no thread).
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
    /// Start the thread; each verdict wakes `waker`.
    pub fn start(waker: Arc<Waker>) -> Self {
        let (tx, asks) = channel::<AskBox>();
        let (done, rx) = channel::<Verdict>();
        let spawned = std::thread::Builder::new()
            .name("mount-check".into())
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
            });
        let tx = match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::error!("cannot start the mount-check thread: {e}");
                None
            }
        };
        MountChecks {
            tx,
            rx,
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
        self.ask(Ask::Check {
            job: Box::new(job.clone()),
            instance,
            guard: Arc::clone(guard),
            table,
        });
    }

    /// After the job's first successful run: record its `auto` filesystem signatures.
    pub fn record_auto(&mut self, job: &JobConfig, guard: &SharedGuard) {
        self.ask(Ask::RecordAuto {
            job: Box::new(job.clone()),
            guard: Arc::clone(guard),
        });
    }

    /// Without the thread (it could not start), the work is done here, on the loop.
    fn ask(&mut self, ask: Ask) {
        let ask = match &self.tx {
            Some(tx) => match tx.send(AskBox(ask)) {
                Ok(()) => return,
                Err(back) => back.0 .0,
            },
            None => ask,
        };
        self.inline.extend(run(ask));
    }

    /// The verdicts since the last call, in the order asked.
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
                state: state_of(check),
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

fn state_of(check: MountCheck) -> MountState {
    match check {
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
