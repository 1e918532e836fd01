//! Mount awareness in the loop: each job's source and vault are judged against the mount
//! table (`watch::mounts::MountGuard`, on the mount-check thread: `mountcheck.rs`) when the
//! job starts, after every mount-table change (the `MOUNTS` token) and, while it is halted,
//! every [`HALT_RECHECK`] (a missing folder that is created again changes no mount); the verdicts go to the job machines, and
//! their `Halt`/`Resume` actions drop or re-add the watches. Nothing is journaled while a
//! job is halted; `unmount`/`halt` (with the time they happened) and `mount`/`resume` are
//! journaled once the vault is back.

use std::time::Instant;

use mio::{Interest, Poll};

use crate::vault::journal::{Event, JournalLine};
use crate::watch::mounts::MountWatcher;

use super::job::{self, HaltRecord};
use super::{tokens, Daemon};

/// How often a halted job's paths are looked at again without a mount-table change.
pub const HALT_RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

impl Daemon {
    pub(super) fn halt(&mut self, i: usize, side: job::Side, reason: String) {
        let slot = &mut self.slots[i];
        tracing::warn!(job = %slot.job.name, side = side.as_str(), "halted: {reason}");
        self.workers.cancel_queued(&slot.job.name);
        slot.unwatch(self.poll.registry());
    }

    /// The vault is writable again: journal the halt `h` (`unmount`, `halt`, at the time
    /// it happened) and the return (`mount`, `resume`).
    pub(super) fn journal_resume(&mut self, i: usize, h: HaltRecord) {
        let slot = &self.slots[i];
        tracing::info!(job = %slot.job.name, "resumed: the {} is back", h.side.as_str());
        let at = |event| JournalLine {
            time: h.at,
            ..JournalLine::now(event)
        };
        let side = h.side.as_str();
        for line in [
            at(Event::Unmount).path(side).message(&h.reason),
            at(Event::Halt)
                .path(side)
                .message("no versions while a filesystem is away"),
            JournalLine::now(Event::Mount).path(side),
            JournalLine::now(Event::Resume)
                .path(side)
                .message("delta scan follows"),
        ] {
            self.journal.send(slot, line);
        }
    }

    /// Ask the mount-check thread for slot `i`'s verdict against the watcher's table (or
    /// a fresh read); it comes back through [`Daemon::handle_verdicts`].
    pub(super) fn ask_mount_check(&mut self, i: usize) {
        let table = self.mounts.as_ref().map(|w| w.table().clone());
        let slot = &self.slots[i];
        self.mount_checks
            .check(&slot.job, slot.instance, &slot.guard, table);
    }

    /// The mount checks' verdicts, to the job machines (the first `Ready` starts a job:
    /// its `Rescan` sets the watches up first).
    pub(super) fn handle_verdicts(&mut self, now: Instant) {
        for v in self.mount_checks.verdicts() {
            let Some(i) = self.slot_of(&v.job, v.instance) else {
                continue;
            };
            let wall = chrono::Local::now().fixed_offset();
            let actions = self.slots[i].machine.on_mount(v.state, now, wall);
            self.apply(i, actions);
        }
    }

    /// While a job is halted, look again every [`HALT_RECHECK`]: a vault or source folder
    /// that was missing (or not a directory) comes back without any mount-table change.
    pub(super) fn recheck_halted(&mut self, now: Instant) {
        if self.halt_recheck_at.is_some_and(|at| now < at) {
            return;
        }
        self.halt_recheck_at = None;
        let halted: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].is_halted())
            .collect();
        for &i in &halted {
            self.ask_mount_check(i);
        }
        if !halted.is_empty() {
            self.halt_recheck_at = Some(now + HALT_RECHECK);
        }
    }

    /// When the halted jobs are looked at again (None: no job is halted).
    pub(super) fn halt_deadline(&self) -> Option<Instant> {
        let halted = self.slots.iter().any(|s| s.is_halted());
        halted.then(|| self.halt_recheck_at.unwrap_or_else(Instant::now))
    }

    /// The mount table changed: judge every job again, and rescan the jobs with a mount
    /// point that came or went strictly inside their source (no inotify event says so:
    /// the folder there now shows other content, and its watches are another
    /// filesystem's).
    pub(super) fn handle_mounts(&mut self, now: Instant) {
        let before = self.mounts.as_ref().map(|w| w.table().clone());
        let changed = self.mounts.as_mut().is_some_and(MountWatcher::drain);
        if !changed {
            return;
        }
        for i in 0..self.slots.len() {
            self.ask_mount_check(i);
        }
        let (Some(before), Some(w)) = (before, self.mounts.as_ref()) else {
            return;
        };
        let diff = before.diff(w.table());
        let points: Vec<_> = diff
            .mounted
            .iter()
            .chain(&diff.unmounted)
            .map(|m| m.mount_point.clone())
            .collect();
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            let source = &slot.job.source;
            let inside = points
                .iter()
                .find(|p| p.starts_with(source) && p.as_path() != source.as_path());
            if let Some(p) = inside.filter(|_| slot.is_watched()) {
                tracing::info!(job = %slot.job.name, "a mount inside the source changed at {}: resyncing the watches and rescanning", p.display());
                let actions = slot.machine.on_lost_track(now);
                self.apply(i, actions);
            }
        }
    }
}

/// The mount-table watcher, registered for priority events (None: mount changes are not
/// noticed; logged).
pub(super) fn mount_watcher(poll: &Poll) -> Option<MountWatcher> {
    let registered = MountWatcher::new().and_then(|mut w| {
        let registry = poll.registry();
        registry.register(&mut w, tokens::MOUNTS, Interest::PRIORITY)?;
        Ok(w)
    });
    registered
        .map_err(|e| tracing::warn!("cannot watch the mount table: {e}"))
        .ok()
}
