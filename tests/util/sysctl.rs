//! Lowering an inotify limit under `/proc/sys/fs/inotify` for one test, restored on drop.
//!
//! The limits are system-wide and a daemon reads them when it creates its inotify
//! instance, which it does on its setup thread after its first mount verdict, i.e. after
//! `Daemon::start` returns: a test keeps the guard until its job is watching. Tests that
//! lower a limit run one at a time (one lock for all of them), so one test's restore
//! cannot undo another's lowering, or restore a lowered value as the "old" one.
//!
//! Only `max_queued_events` is lowered this way: a daemon of another test that makes its
//! instance in that window overflows sooner, which it handles (it rescans). The watch
//! limit is never lowered here: an `ENOSPC` would hit every test's daemon at once, so the
//! watch-limit test runs its daemon in a user namespace with a limit of its own
//! (`Daemon::start_watch_limited` in tests/daemon.rs).

use std::sync::{Mutex, MutexGuard};

static LOWERED: Mutex<()> = Mutex::new(());

/// A lowered limit; the old value comes back on drop.
pub struct Sysctl {
    file: &'static str,
    old: String,
    _one_at_a_time: MutexGuard<'static, ()>,
}

impl Sysctl {
    /// Lower `file` to `to` (`Err` with the reason where that is not permitted).
    pub fn lower(file: &'static str, to: u64) -> Result<Sysctl, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err(format!("lowering {file} needs root"));
        }
        let guard = LOWERED.lock().unwrap_or_else(|e| e.into_inner());
        let old = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
        std::fs::write(file, to.to_string()).map_err(|e| format!("{file}: {e}"))?;
        Ok(Sysctl {
            file,
            old,
            _one_at_a_time: guard,
        })
    }
}

impl Drop for Sysctl {
    fn drop(&mut self) {
        let _ = std::fs::write(self.file, self.old.trim());
    }
}
