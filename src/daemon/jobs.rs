//! Starting, stopping and reloading jobs: a job's watches are set up before its start
//! scan (changes from then on are caught), a removed job's queued work is dropped (a running
//! snapshot finishes), and SIGHUP applies [`super::reload::plan`] job by job.

use std::time::Instant;

use crate::config::{Config, Loaded};
use crate::vault::journal::{Event, JournalLine};

use super::job::Timing;
use super::reload::{self, JobChange};
use super::slot::JobSlot;
use super::{log_warnings, Daemon};

impl Daemon {
    /// (Re)build the job's watches if it has none: on the setup thread (its scan waits).
    pub(super) fn ensure_watched(&mut self, i: usize) {
        self.slots[i].start_setup(&mut self.setups);
    }

    /// Watchers handed back by the setup thread: put in place, the watch limit reported to
    /// the job's machine (new watchers; a resync reports it as an event), the coverage
    /// journaled if it changed, then the scan that waited for the watches submitted and the
    /// events queued meanwhile fed to the machine.
    pub(super) fn handle_setups(&mut self, now: Instant) {
        for done in self.setups.finished() {
            let Some(i) = self.slot_of(&done.job, done.instance) else {
                if let Ok((w, _)) = &done.result {
                    let fd = w.raw_fd();
                    let _ = self
                        .poll
                        .registry()
                        .deregister(&mut mio::unix::SourceFd(&fd));
                }
                continue;
            };
            let slot = &mut self.slots[i];
            let outcome = slot.setup_done(done, self.poll.registry(), &mut self.tokens, now);
            if outcome.installed && slot.limit_error().is_some() {
                let msg = slot.limit_error().unwrap_or_default();
                self.journal
                    .send(slot, JournalLine::now(Event::Error).message(&msg));
                let actions = slot.machine.on_watch_limit(now);
                self.apply(i, actions);
            }
            self.note_coverage(i);
            if let Some(reason) = outcome.scan {
                self.submit_scan(i, reason);
            }
            if !outcome.events.is_empty() {
                self.on_watch_events(i, outcome.events, now);
            }
            if self.slots[i].wants_rewatch() {
                self.ensure_watched(i);
            }
        }
    }

    /// Journal a change of the job's watch coverage once (not once per folder): an
    /// `error` line when folders it cannot watch appear or their count changes; a log line
    /// when every folder is watched again. The watch limit has its own `error` line.
    pub(super) fn note_coverage(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        let now = slot.coverage();
        if now == slot.coverage_noted {
            return;
        }
        match &now {
            Some(c) if slot.limit_error().is_none() => {
                tracing::warn!(job = %slot.job.name, "watch coverage incomplete: {c}");
                self.journal.send(
                    slot,
                    JournalLine::now(Event::Error)
                        .message(format!("watch coverage incomplete: {c}")),
                );
            }
            Some(_) => {}
            None => tracing::info!(job = %slot.job.name, "every folder is watched again"),
        }
        slot.coverage_noted = now;
    }

    /// Start a job: once its mount check finds both sides ready (`halt.rs`), watches first
    /// (changes from then on are caught), then its start scan.
    pub(super) fn add_job(&mut self, job: crate::config::JobConfig) {
        self.instances += 1;
        self.slots.push(JobSlot::new(job, self.instances));
        let i = self.slots.len() - 1;
        // Started (watches, then the start scan) or halted by its first mount verdict.
        self.ask_mount_check(i);
    }

    /// Stop a job: drop its watches and queued work (a running snapshot finishes).
    pub(super) fn remove_job(&mut self, name: &str, why: &str) {
        let Some(i) = self.slots.iter().position(|s| s.job.name == name) else {
            return;
        };
        let mut slot = self.slots.remove(i);
        slot.unwatch(self.poll.registry());
        self.mount_checks.forget(slot.instance);
        self.workers.cancel_queued(name);
        self.journal
            .send(&slot, JournalLine::now(Event::Stop).path(".").message(why));
    }

    pub(super) fn reload(&mut self, now: Instant) {
        self.notifier.reloading();
        tracing::info!("SIGHUP: reloading {}", self.config.path.display());
        match crate::config::load(Some(&self.config.path)) {
            Ok(loaded) => self.apply_reload(loaded, now),
            Err(e) => {
                tracing::error!("reload failed, still running the previous config:\n{e}");
                let msg = format!("reload failed, still running the previous config: {e}");
                for s in &self.slots {
                    self.journal
                        .send(s, JournalLine::now(Event::Error).message(&msg));
                }
            }
        }
        self.notifier.ready(&self.summary());
    }

    pub(super) fn apply_reload(&mut self, loaded: Loaded, now: Instant) {
        log_warnings(&loaded);
        let new = loaded.config;
        for (name, change) in &reload::plan(&self.config, &new) {
            tracing::info!(job = %name, "reload: {change}");
            self.apply_change(name, *change, &new, now);
        }
        let order = |s: &JobSlot| new.jobs.iter().position(|j| j.name == s.job.name);
        self.slots.sort_by_key(order);
        self.config = new;
    }

    pub(super) fn apply_change(
        &mut self,
        name: &str,
        change: JobChange,
        new: &Config,
        now: Instant,
    ) {
        let new_job = new.job(name).cloned();
        match (change, new_job) {
            (JobChange::Remove, _) => self.remove_job(name, "removed from the config"),
            (JobChange::Restart, Some(job)) => {
                self.remove_job(name, "restarting: source, vault or excludes changed");
                self.add_job(job);
            }
            (JobChange::Add, Some(job)) => self.add_job(job),
            (JobChange::UpdateInPlace, Some(job)) => self.update_job(job, now),
            _ => {}
        }
        if change != JobChange::Remove {
            if let Some(s) = self.slots.iter().find(|s| s.job.name == name) {
                let line = JournalLine::now(Event::Reload)
                    .path(".")
                    .message(change.to_string());
                self.journal.send(s, line);
            }
        }
    }

    pub(super) fn update_job(&mut self, job: crate::config::JobConfig, now: Instant) {
        let Some(i) = self.slots.iter().position(|s| s.job.name == job.name) else {
            return;
        };
        let timing = Timing::from_job(&job);
        self.slots[i].job = job;
        let actions = self.slots[i].machine.set_timing(timing, now);
        self.apply(i, actions);
    }
}
