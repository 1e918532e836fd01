//! Mount awareness in the loop: each job's [`super::slot::JobSlot`] judges its source and
//! vault against the mount table (`watch::mounts::MountGuard`) when the job starts and after
//! every mount-table change (the `MOUNTS` token); the verdicts go to the job machines, and
//! their `Halt`/`Resume` actions drop or re-add the watches. Nothing is journaled while a
//! job is halted; `unmount`/`halt` (with the time they happened) and `mount`/`resume` are
//! journaled once the vault is back.

use std::time::Instant;

use mio::{Interest, Poll};

use crate::vault::journal::{Event, JournalLine};
use crate::watch::mounts::{MountTable, MountWatcher};

use super::job::{self, MountState};
use super::slot::HaltRecord;
use super::{tokens, Daemon};

impl Daemon {
    pub(super) fn halt(&mut self, i: usize, side: job::Side, reason: String) {
        let slot = &mut self.slots[i];
        tracing::warn!(job = %slot.job.name, side = side.as_str(), "halted: {reason}");
        self.workers.cancel_queued(&slot.job.name);
        slot.unwatch(self.poll.registry());
        slot.halted.get_or_insert(HaltRecord {
            at: chrono::Local::now().fixed_offset(),
            side,
            reason,
        });
    }

    /// The vault is writable again: journal the halt (`unmount`, `halt`, at the time it
    /// happened) and the return (`mount`, `resume`).
    pub(super) fn journal_resume(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        let Some(h) = slot.halted.take() else {
            return;
        };
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

    /// Slot `i`'s mount verdict against the watcher's table (or a fresh read).
    pub(super) fn mount_state(&mut self, i: usize) -> MountState {
        let fresh;
        let table = match &self.mounts {
            Some(w) => w.table(),
            None => match MountTable::read() {
                Ok(t) => {
                    fresh = t;
                    &fresh
                }
                Err(e) => {
                    tracing::warn!("cannot read the mount table: {e}");
                    return MountState::Ready;
                }
            },
        };
        self.slots[i].mount_state(table)
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
        let states = (0..self.slots.len())
            .map(|i| (self.slots[i].job.name.clone(), self.mount_state(i)))
            .collect();
        self.apply_mount_states(states, now);
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

    /// The mount checks' verdicts (job name, state), after each mount-table change.
    pub fn apply_mount_states(&mut self, states: Vec<(String, MountState)>, now: Instant) {
        for (name, state) in states {
            if let Some(i) = self.slots.iter().position(|s| s.job.name == name) {
                let actions = self.slots[i].machine.on_mount(state, now);
                self.apply(i, actions);
            }
        }
    }
}

/// The mount-table watcher, registered for priority events (None: mount changes are not
/// noticed; logged).
pub(super) fn mount_watcher(poll: &Poll) -> Option<MountWatcher> {
    let mut w = match MountWatcher::new() {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!("cannot watch the mount table: {e}");
            return None;
        }
    };
    match poll
        .registry()
        .register(&mut w, tokens::MOUNTS, Interest::PRIORITY)
    {
        Ok(()) => Some(w),
        Err(e) => {
            tracing::warn!("cannot watch the mount table: {e}");
            None
        }
    }
}
